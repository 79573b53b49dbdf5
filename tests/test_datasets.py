"""Data set recipes end to end against an HTTP server on 127.0.0.1: resume, checksums, safe extraction."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import socket
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from translate.cli import main
from translate.data.download import DownloadError, download, part_path, safe_extract
from translate.data.recipes import RecipeError, find_recipe, load_recipes, parse_recipes


class Server(http.server.ThreadingHTTPServer):
    """Serves ``files`` (path -> bytes) with Range support; ``cut`` paths close the connection halfway."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.files: dict[str, bytes] = {}
        self.cut: set[str] = set()
        self.ignore_range = False
        self.requests: list[tuple[str, str | None]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        server: Server = self.server
        server.requests.append((self.path, self.headers.get("Range")))
        body = server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        if self.headers.get("Range") and not server.ignore_range:
            start = int(self.headers["Range"].removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.path in server.cut:
            payload = payload[: len(payload) // 2]
            self.close_connection = True
        self.wfile.write(payload)


@pytest.fixture
def server():
    httpd = Server()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def png_bytes(color=(200, 30, 30), size=(8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def zip_archive(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def tar_archive(entries: dict[str, bytes], links: dict[str, tuple[bytes, str]] | None = None) -> bytes:
    """A tar.gz; ``links`` maps a member name to (tar type, link target)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, (kind, target) in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            archive.addfile(info)
    return buffer.getvalue()


def unpaired_set(name: str) -> dict[str, bytes]:
    return {f"{name}/{split}/{i}.png": png_bytes((i * 40, 10, 10))
            for split in ("trainA", "trainB", "testA", "testB") for i in range(2)}


def recipe_file(tmp_path: Path, name: str, url: str, archive: str, sha256: str, group: str = "datasets",
                expect: str = '["trainA", "trainB", "testA", "testB"]', extra: str = "") -> Path:
    path = tmp_path / "recipes.toml"
    path.write_text(
        f'[{group}.{name}]\nkind = "unpaired"\ndescription = "test set"\nurls = ["{url}"]\n'
        f'archive = "{archive}"\nsha256 = "{sha256}"\nexpect = {expect}\n{extra}'
    )
    return path


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env=env)


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_download_verifies_extracts_and_lays_out_the_folders(server, tmp_path):
    archive = zip_archive(unpaired_set("tinyzebra"))
    server.files["/tiny.zip"] = archive
    recipes = recipe_file(tmp_path, "tinyzebra", f"{server.url}/tiny.zip", "zip", hashlib.sha256(archive).hexdigest())
    root = tmp_path / "datasets"
    result = run("data", "download", "tinyzebra", "--root", str(root), "--recipes", str(recipes))
    assert result.exit_code == 0, result.output
    assert "verified: SHA-256" in result.stdout
    assert sorted(p.name for p in (root / "tinyzebra").iterdir()) == ["testA", "testB", "trainA", "trainB"]
    assert (root / "tinyzebra" / "trainA" / "1.png").read_bytes() == png_bytes((40, 10, 10))
    assert leftovers(root) == ["tinyzebra"]  # no archive, .part or staging folder left
    again = run("data", "download", "tinyzebra", "--root", str(root), "--recipes", str(recipes))
    assert again.exit_code == 0 and "nothing downloaded" in again.stdout
    assert len(server.requests) == 1


@pytest.mark.parametrize("umask, folder_mode", [(0o022, 0o755), (0o077, 0o700)], ids=["umask-022", "umask-077"])
def test_an_extracted_data_set_gets_the_folder_mode_a_plain_mkdir_gives(server, tmp_path, umask, folder_mode):
    archive = zip_archive({f"{split}/0.png": png_bytes() for split in ("trainA", "trainB", "testA", "testB")})
    server.files["/flat.zip"] = archive  # no top-level folder: the extraction folder itself becomes the data set
    recipes = recipe_file(tmp_path, "flat", f"{server.url}/flat.zip", "zip", hashlib.sha256(archive).hexdigest())
    previous = os.umask(umask)
    try:
        result = run("data", "download", "flat", "--root", str(tmp_path / "datasets"), "--recipes", str(recipes))
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    assert oct((tmp_path / "datasets" / "flat").stat().st_mode & 0o777) == oct(folder_mode)


def test_environment_variable_selects_the_recipe_file_and_list_shows_it(server, tmp_path):
    recipes = recipe_file(tmp_path, "tinyzebra", f"{server.url}/tiny.zip", "zip", "unknown")
    result = run("data", "list", "--json", env={"TRANSLATE_RECIPES": str(recipes)})
    assert result.exit_code == 0
    import json

    listed = {r["name"]: r for r in json.loads(result.stdout)}
    assert listed["tinyzebra"]["status"] == "unverified" and listed["tinyzebra"]["source"] == str(recipes)
    assert listed["horse2zebra"]["status"] == "verified"  # built-ins stay
    assert listed["cityscapes"]["status"] == "refused"


def test_an_interrupted_download_resumes_with_a_range_request(server, tmp_path):
    archive = tar_archive({f"tinyfacades/{split}/{i}.png": png_bytes() for split in ("train", "val")
                           for i in range(3)})
    server.files["/facades.tar.gz"] = archive
    recipes = recipe_file(tmp_path, "tinyfacades", f"{server.url}/facades.tar.gz", "tar.gz",
                          hashlib.sha256(archive).hexdigest(), expect='["train", "val"]')
    root = tmp_path / "datasets"
    root.mkdir()
    part_path(find_recipe("tinyfacades", "datasets", recipes), root).write_bytes(archive[:100])
    result = run("data", "download", "tinyfacades", "--root", str(root), "--recipes", str(recipes))
    assert result.exit_code == 0, result.output
    assert server.requests == [("/facades.tar.gz", "bytes=100-")]
    assert len(list((root / "tinyfacades" / "train").iterdir())) == 3
    assert leftovers(root) == ["tinyfacades"]


def test_a_server_that_ignores_ranges_gets_a_fresh_complete_download(server, tmp_path):
    archive = zip_archive(unpaired_set("tinyzebra"))
    server.files["/tiny.zip"] = archive
    server.ignore_range = True
    recipes = recipe_file(tmp_path, "tinyzebra", f"{server.url}/tiny.zip", "zip", hashlib.sha256(archive).hexdigest())
    root = tmp_path / "datasets"
    root.mkdir()
    part_path(find_recipe("tinyzebra", "datasets", recipes), root).write_bytes(b"stale bytes from another file")
    result = run("data", "download", "tinyzebra", "--root", str(root), "--recipes", str(recipes))
    assert result.exit_code == 0, result.output
    assert server.requests == [("/tiny.zip", "bytes=29-")]
    assert leftovers(root) == ["tinyzebra"]


def test_a_truncated_download_is_reported_extracts_nothing_and_resumes_next_time(server, tmp_path):
    archive = zip_archive(unpaired_set("tinyzebra"))
    server.files["/tiny.zip"] = archive
    server.cut.add("/tiny.zip")
    recipes = recipe_file(tmp_path, "tinyzebra", f"{server.url}/tiny.zip", "zip", hashlib.sha256(archive).hexdigest())
    root = tmp_path / "datasets"
    result = run("data", "download", "tinyzebra", "--root", str(root), "--recipes", str(recipes))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "stopped after" in result.stderr and "resume" in result.stderr
    part = part_path(find_recipe("tinyzebra", "datasets", recipes), root)
    assert leftovers(root) == [part.name]
    assert part.name.startswith(".tinyzebra-") and part.name.endswith(".tiny.zip.part")
    assert part.stat().st_size == len(archive) // 2
    server.cut.clear()
    result = run("data", "download", "tinyzebra", "--root", str(root), "--recipes", str(recipes))
    assert result.exit_code == 0, result.output
    assert server.requests[-1] == ("/tiny.zip", f"bytes={len(archive) // 2}-")
    assert leftovers(root) == ["tinyzebra"]


def test_a_checksum_mismatch_deletes_the_file_and_extracts_nothing(server, tmp_path):
    server.files["/tiny.zip"] = zip_archive(unpaired_set("tinyzebra"))
    recipes = recipe_file(tmp_path, "tinyzebra", f"{server.url}/tiny.zip", "zip", "0" * 64)
    root = tmp_path / "datasets"
    result = run("data", "download", "tinyzebra", "--root", str(root), "--recipes", str(recipes))
    assert result.exit_code == 2
    assert result.stderr.startswith("translate: error: checksum mismatch for tiny.zip: expected SHA-256 0000")
    assert result.stderr.count("\n") == 1
    assert leftovers(root) == []


def test_an_unknown_checksum_warns_with_the_value_to_pin_and_strict_mode_refuses(server, tmp_path):
    archive = zip_archive(unpaired_set("tinyzebra"))
    server.files["/tiny.zip"] = archive
    recipes = recipe_file(tmp_path, "tinyzebra", f"{server.url}/tiny.zip", "zip", "unknown")
    root = tmp_path / "datasets"
    strict = run("data", "download", "tinyzebra", "--root", str(root), "--recipes", str(recipes), "--require-checksum")
    assert strict.exit_code == 2 and "no published SHA-256" in strict.stderr
    assert server.requests == [] and leftovers(root) == []
    result = run("data", "download", "tinyzebra", "--root", str(root), "--recipes", str(recipes))
    assert result.exit_code == 0
    digest = hashlib.sha256(archive).hexdigest()
    assert 'translate: warning: tiny.zip could not be verified' in result.stderr
    assert f'sha256 = "{digest}"' in result.stderr
    assert (root / "tinyzebra" / "testB").is_dir()


def test_an_unreachable_host_is_one_clear_line(tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    recipes = recipe_file(tmp_path, "tinyzebra", f"http://127.0.0.1:{port}/tiny.zip", "zip", "unknown")
    root = tmp_path / "datasets"
    result = run("data", "download", "tinyzebra", "--root", str(root), "--recipes", str(recipes))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("translate: error: cannot download tinyzebra (http://127.0.0.1:")
    assert "offline, or the host is blocked?" in result.stderr
    assert leftovers(root) == []


def test_a_missing_file_on_the_first_mirror_falls_back_to_the_next(server, tmp_path):
    archive = zip_archive(unpaired_set("tinyzebra"))
    server.files["/mirror/tiny.zip"] = archive
    recipes = tmp_path / "recipes.toml"
    recipes.write_text(
        f'[datasets.tinyzebra]\nurls = ["{server.url}/gone/tiny.zip", "{server.url}/mirror/tiny.zip"]\n'
        f'archive = "zip"\nsha256 = "{hashlib.sha256(archive).hexdigest()}"\nsize = {len(archive)}\n'
    )
    result = download(find_recipe("tinyzebra", "datasets", recipes), tmp_path / "d", progress=False)
    assert result.verified and (tmp_path / "d" / "tinyzebra" / "trainA").is_dir()
    assert [path for path, _ in server.requests] == ["/gone/tiny.zip", "/mirror/tiny.zip"]


@pytest.mark.parametrize("entry", ["../evil.png", "/tmp/evil.png", "tinyzebra/../../evil.png"])
def test_an_archive_entry_outside_the_target_is_refused(server, tmp_path, entry):
    archive = zip_archive({**unpaired_set("tinyzebra"), entry: b"pwned"})
    server.files["/tiny.zip"] = archive
    recipes = recipe_file(tmp_path, "tinyzebra", f"{server.url}/tiny.zip", "zip", hashlib.sha256(archive).hexdigest())
    root = tmp_path / "sandbox" / "datasets"
    result = run("data", "download", "tinyzebra", "--root", str(root), "--recipes", str(recipes))
    assert result.exit_code == 2
    assert f"entry '{entry}'" in result.stderr and "nothing was extracted" in result.stderr
    assert not (tmp_path / "sandbox" / "evil.png").exists() and not (root / "evil.png").exists()
    assert leftovers(root) == []


def test_tar_links_pointing_outside_are_refused_and_inside_ones_kept(tmp_path):
    outside = tar_archive({"set/train/a.png": png_bytes()}, links={"set/train/b.png": (tarfile.SYMTYPE, "../../../etc/passwd")})
    (tmp_path / "out.tar.gz").write_bytes(outside)
    with pytest.raises(DownloadError, match="symbolic link to '../../../etc/passwd', outside the target"):
        safe_extract(tmp_path / "out.tar.gz", "tar.gz", tmp_path / "x")
    assert not (tmp_path / "x" / "set").exists()
    hard = tar_archive({"set/train/a.png": png_bytes()}, links={"set/train/c.png": (tarfile.LNKTYPE, "/etc/passwd")})
    (tmp_path / "hard.tar.gz").write_bytes(hard)
    with pytest.raises(DownloadError, match="hard link"):
        safe_extract(tmp_path / "hard.tar.gz", "tar.gz", tmp_path / "y")
    inside = tar_archive({"set/train/a.png": png_bytes()}, links={"set/train/b.png": (tarfile.SYMTYPE, "a.png")})
    (tmp_path / "in.tar.gz").write_bytes(inside)
    safe_extract(tmp_path / "in.tar.gz", "tar.gz", tmp_path / "z")
    assert (tmp_path / "z" / "set" / "train" / "b.png").read_bytes() == png_bytes()


def test_an_archive_without_the_expected_folders_is_not_moved_into_place(server, tmp_path):
    archive = zip_archive({"tinyzebra/trainA/1.png": png_bytes()})
    server.files["/tiny.zip"] = archive
    recipes = recipe_file(tmp_path, "tinyzebra", f"{server.url}/tiny.zip", "zip", hashlib.sha256(archive).hexdigest())
    root = tmp_path / "datasets"
    result = run("data", "download", "tinyzebra", "--root", str(root), "--recipes", str(recipes))
    assert result.exit_code == 2
    assert "without the folder(s) trainB, testA, testB" in result.stderr
    assert leftovers(root) == []


def test_refused_recipes_explain_the_licence_and_download_nothing(tmp_path):
    result = run("data", "download", "cityscapes", "--root", str(tmp_path / "d"))
    assert result.exit_code == 2
    assert "Cityscapes licence" in result.stderr and "cityscapes-dataset.com" in result.stderr
    assert not (tmp_path / "d").exists()


def test_every_built_in_recipe_is_valid_and_names_the_reference_urls():
    datasets = load_recipes("datasets")
    for name in ("facades", "maps", "edges2shoes", "edges2handbags", "night2day"):
        assert datasets[name].urls[0] == f"http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/{name}.tar.gz"
        assert datasets[name].archive == "tar.gz" and datasets[name].expect[:1] == ("train",)
    for name in ("horse2zebra", "apple2orange", "summer2winter_yosemite", "monet2photo", "cezanne2photo",
                 "ukiyoe2photo", "vangogh2photo", "iphone2dslr_flower", "ae_photos"):
        assert datasets[name].urls[0] == f"http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/{name}.zip"
    assert datasets["cyclegan-maps"].urls[0].endswith("/cyclegan/datasets/maps.zip")
    assert datasets["cityscapes"].refuse and not datasets["cityscapes"].urls
    assert all(recipe.arch for recipe in load_recipes("weights").values())


def test_malformed_recipes_are_one_line_errors_naming_file_and_key(tmp_path):
    with pytest.raises(RecipeError, match=r"\[datasets.x\]: 'sha256' must be 64 hexadecimal digits"):
        parse_recipes('[datasets.x]\nurls = ["http://h/x.zip"]\narchive = "zip"\nsha256 = "abc"\n', "f.toml")
    with pytest.raises(RecipeError, match=r"\[datasets.x\]: 'archive' must be one of zip"):
        parse_recipes('[datasets.x]\nurls = ["http://h/x.rar"]\narchive = "rar"\nsha256 = "unknown"\n', "f.toml")
    with pytest.raises(RecipeError, match=r"has unknown key\(s\) checksum"):
        parse_recipes('[datasets.x]\nurls = ["http://h/x.zip"]\narchive = "zip"\nchecksum = "a"\n', "f.toml")
    with pytest.raises(RecipeError, match=r"URL 'file:///etc/x.zip' must start with http"):
        parse_recipes('[datasets.x]\nurls = ["file:///etc/x.zip"]\narchive = "zip"\nsha256 = "unknown"\n', "f.toml")
    result = run("data", "download", "nosuchset")
    assert result.exit_code == 2 and "no data set recipe named 'nosuchset' (available: " in result.stderr


def test_every_option_of_the_data_and_weights_commands_has_help():
    import click

    for group in ("data", "weights"):
        for name, command in main.commands[group].commands.items():
            for param in command.params:
                if isinstance(param, click.Option):
                    assert param.help, f"translate {group} {name} {param.opts[0]} has no help"


def test_a_corrupt_zip_without_a_checksum_is_one_line_and_leaves_nothing(server, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in unpaired_set("tinyzebra").items():
            archive.writestr(name, data * 50)  # compressible, so the deflate stream is long enough to break
    corrupt = bytearray(buffer.getvalue())
    start = 30 + len("tinyzebra/trainA/0.png")  # the first entry's deflate stream follows its local header
    corrupt[start : start + 4] = b"\xff" * 4  # an invalid block type: zlib fails while extracting
    server.files["/tiny.zip"] = bytes(corrupt)
    recipes = recipe_file(tmp_path, "tinyzebra", f"{server.url}/tiny.zip", "zip", "unknown")
    root = tmp_path / "datasets"
    result = run("data", "download", "tinyzebra", "--root", str(root), "--recipes", str(recipes))
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("translate: error:")]
    assert errors == [line for line in result.stderr.splitlines() if not line.startswith("translate: warning:")]
    assert len(errors) == 1 and "tiny.zip is not a readable zip archive" in errors[0]
    assert leftovers(root) == []  # no staging folder, no half-extracted set, no unusable archive


def zeros_zip(name: str, mebibytes: int) -> bytes:
    """A zip of folders the recipe expects, one holding ``mebibytes`` MiB of zeros (compressed a thousandfold)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for split in ("trainA", "trainB", "testA", "testB"):
            archive.writestr(f"{name}/{split}/0.png", png_bytes())
        archive.writestr(f"{name}/trainA/zeros.bin", bytes(mebibytes << 20))
    return buffer.getvalue()


def test_an_archive_declaring_far_more_than_its_size_is_refused_unless_allowed(server, tmp_path):
    from translate.data.download import EXPANSION_FLOOR, MAX_EXPANSION

    archive = zeros_zip("tinyzebra", 80)
    assert 80 << 20 > EXPANSION_FLOOR and (80 << 20) / len(archive) > 10 * MAX_EXPANSION
    server.files["/tiny.zip"] = archive
    recipes = recipe_file(tmp_path, "tinyzebra", f"{server.url}/tiny.zip", "zip", hashlib.sha256(archive).hexdigest())
    root = tmp_path / "datasets"
    result = run("data", "download", "tinyzebra", "--root", str(root), "--recipes", str(recipes))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "refusing to extract tiny.zip: its entries declare 80 MiB" in result.stderr
    assert "--max-expansion" in result.stderr and "nothing was extracted" in result.stderr
    assert leftovers(root) == []
    allowed = run("data", "download", "tinyzebra", "--root", str(root), "--recipes", str(recipes),
                  "--max-expansion", "100000")
    assert allowed.exit_code == 0, allowed.output
    assert (root / "tinyzebra" / "trainA" / "zeros.bin").stat().st_size == 80 << 20


def test_two_recipes_whose_files_share_a_name_never_share_a_partial_download(server, tmp_path):
    first, second = zip_archive(unpaired_set("first")), zip_archive(unpaired_set("second"))
    server.files["/one/good.zip"], server.files["/two/good.zip"] = first, second
    recipes = tmp_path / "recipes.toml"
    recipes.write_text("".join(
        f'[datasets.{name}]\nurls = ["{server.url}/{folder}/good.zip"]\narchive = "zip"\n'
        f'sha256 = "{hashlib.sha256(data).hexdigest()}"\nexpect = ["trainA"]\n'
        for name, folder, data in (("first", "one", first), ("second", "two", second))
    ))
    root = tmp_path / "datasets"
    root.mkdir()
    one, two = find_recipe("first", "datasets", recipes), find_recipe("second", "datasets", recipes)
    assert part_path(one, root) != part_path(two, root)
    part_path(one, root).write_bytes(first[:100])  # an interrupted download of the first recipe
    result = run("data", "download", "second", "--root", str(root), "--recipes", str(recipes))
    assert result.exit_code == 0, result.output
    assert server.requests == [("/two/good.zip", None)]  # a fresh download, not a resume of the other file
    assert (root / "second" / "trainA" / "0.png").exists()
    assert part_path(one, root).read_bytes() == first[:100]  # the first recipe's download can still resume


def test_the_command_line_expansion_limit_is_the_librarys():
    from translate.cli.data import MAX_EXPANSION as CLI_DEFAULT
    from translate.data.download import MAX_EXPANSION

    assert CLI_DEFAULT == MAX_EXPANSION
    params = {param.name: param for param in main.commands["data"].commands["download"].params}
    assert params["max_expansion"].default == MAX_EXPANSION
    assert "max_expansion" not in {param.name for param in main.commands["weights"].commands["download"].params}


def test_a_disk_full_while_extracting_keeps_the_download_for_the_next_run(server, tmp_path, monkeypatch):
    import errno

    archive = zip_archive(unpaired_set("tinyzebra"))
    server.files["/tiny.zip"] = archive
    recipes = recipe_file(tmp_path, "tinyzebra", f"{server.url}/tiny.zip", "zip", hashlib.sha256(archive).hexdigest())
    recipe, root = find_recipe("tinyzebra", "datasets", recipes), tmp_path / "datasets"
    extract = zipfile.ZipFile.extractall

    def disk_full(self, path=None, members=None, pwd=None):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(zipfile.ZipFile, "extractall", disk_full)
    with pytest.raises(DownloadError, match=r"cannot extract tiny\.zip into .*: No space left on device; "
                                            r"the download is kept in '.*\.tiny\.zip\.part' for the next run"):
        download(recipe, root, progress=False)
    assert leftovers(root) == [part_path(recipe, root).name]
    monkeypatch.setattr(zipfile.ZipFile, "extractall", extract)
    download(recipe, root, progress=False)
    assert (root / "tinyzebra" / "trainA").is_dir()
    assert server.requests[1:] == [("/tiny.zip", f"bytes={len(archive)}-")]  # nothing downloaded twice
