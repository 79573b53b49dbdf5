"""Batch conversion: every input kind, output names, formats, tiling, interruption, sharding."""

from __future__ import annotations

import io
import os
import signal
import struct
import subprocess
import sys
import time
import zlib

import pytest
import torch
from PIL import Image

from helpers import TRANSLATE, cli
from translate.convert import Translator
from translate.data.images import DEFAULT_MAX_PIXELS, normalize, quantize
from translate.errors import TranslateError
from translate.options import OptionError
from translate.convert.outputs import collect_inputs, plan_jobs, shard
from translate.convert.tiling import generator_multiple, tile_layout, translate_tiled


@pytest.fixture(scope="module")
def run_dir(tiny_run):
    """A tiny CycleGAN run (shared: read-only)."""
    return tiny_run("cyclegan")


@pytest.fixture(scope="module")
def translator(run_dir):
    return Translator.load(run_dir, device="cpu")


def corpus(root):
    """The kinds of input a real folder holds, with the size each output must have."""
    (root / "sub dir" / "ñested").mkdir(parents=True)
    sizes = {}

    def add(name, image, **save):
        image.save(root / name, **save)
        sizes[name] = image.size

    add("rgb.jpg", Image.new("RGB", (40, 30), (200, 20, 20)))
    add("gray.png", Image.new("L", (7, 5), 90))
    add("sub dir/rgba.png", Image.new("RGBA", (257, 263), (0, 90, 200, 77)))
    add("sub dir/palette.png", Image.new("RGB", (33, 17), (10, 200, 30)).convert("P"))
    add("sub dir/ñested/cmyk.jpg", Image.new("CMYK", (24, 20), (0, 128, 128, 0)))
    add("sixteen.png", Image.new("I;16", (19, 11), 40000))
    rotated = Image.new("RGB", (50, 20), (0, 0, 255))
    exif = rotated.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise when displayed
    rotated.save(root / "rotated.jpg", exif=exif)
    sizes["rotated.jpg"] = (20, 50)
    return sizes


def plant_bad_files(root):
    Image.new("RGB", (64, 64), (1, 2, 3)).save(root / "whole.png")
    (root / "truncated.png").write_bytes((root / "whole.png").read_bytes()[:80])
    (root / "whole.png").unlink()
    (root / "empty.jpg").write_bytes(b"")
    (root / "sub dir" / "text.png").write_text("hello")
    return {"truncated.png", "empty.jpg", "sub dir/text.png"}


def test_every_valid_input_kind_is_converted_at_its_own_size(translator, tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    sizes = corpus(source)
    bad = plant_bad_files(source)
    report = translator.convert_folder(source, tmp_path / "out")
    assert sorted(str(p.relative_to(tmp_path / "out")) for p in report.converted) == sorted(sizes)
    for name, size in sizes.items():
        with Image.open(tmp_path / "out" / name) as output:
            assert output.size == size, name
    assert sorted(str(p.relative_to(source)) for p, _ in report.failed) == sorted(bad)
    assert all(reason for _, reason in report.failed)
    assert not report.ok


def test_alpha_is_carried_over_unchanged(translator, tmp_path):
    image = Image.new("RGBA", (30, 20), (50, 60, 70, 0))
    image.putpixel((3, 4), (50, 60, 70, 200))
    output = translator(image)
    assert output.mode == "RGBA"
    assert output.getchannel("A").tobytes() == image.getchannel("A").tobytes()


def test_formats_and_name_clashes_keep_every_output(translator, tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    Image.new("RGB", (16, 16), (255, 0, 0)).save(source / "a.png")
    Image.new("RGB", (16, 16), (0, 255, 0)).save(source / "a.jpg")
    report = translator.convert_folder(source, tmp_path / "out", fmt="webp")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.webp", "a_png.webp"]
    assert len(report.clashes) == 1 and "a.png" in report.clashes[0] and "a.jpg" in report.clashes[0]
    with Image.open(tmp_path / "out" / "a.webp") as image:
        assert image.format == "WEBP"


def test_every_target_writes_both_directions(translator, tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    Image.new("RGB", (16, 12)).save(source / "x.png")
    translator.convert_folder(source, tmp_path / "out", every_target=True)
    assert sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.png")) == [
        "AtoB/x.png", "BtoA/x.png"]


def test_same_sized_images_are_batched_with_identical_results(translator, tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    for i in range(5):
        Image.effect_noise((24, 24), 40 + i * 10).convert("RGB").save(source / f"{i}.png")
    translator.convert_folder(source, tmp_path / "batched", batch_size=4)
    translator.convert_folder(source, tmp_path / "single", batch_size=1)
    for i in range(5):
        with Image.open(tmp_path / "batched" / f"{i}.png") as a, Image.open(tmp_path / "single" / f"{i}.png") as b:
            difference = torch.tensor(list(a.tobytes()), dtype=torch.int16) - torch.tensor(list(b.tobytes()))
            assert difference.abs().max() <= 1  # batched convolutions may round differently


@pytest.mark.filterwarnings("ignore::translate.devices.PrecisionWarning")  # slow on CPUs without bf16
def test_bf16_output_stays_close_to_fp32(run_dir):
    image = Image.effect_noise((48, 40), 60).convert("RGB")
    fp32 = Translator.load(run_dir, device="cpu")(image)
    bf16 = Translator.load(run_dir, device="cpu", precision="bf16")(image)
    difference = torch.tensor(list(fp32.tobytes()), dtype=torch.int16) - torch.tensor(list(bf16.tobytes()))
    assert difference.abs().float().mean() < 4


def test_tile_layout_covers_the_image_with_the_fewest_smallest_tiles():
    assert tile_layout(100, 128, 16) == ([0], 100)
    assert tile_layout(1024, 768, 64) == ([0, 480], 544)  # a 1024x768 photo: 1.06x its pixels, not 1.5x
    for tile, overlap in [(64, 0), (64, 16), (100, 31), (128, 32)]:
        for multiple in (1, 4, 32):
            for length in range(1, 400):
                starts, size = tile_layout(length, tile, overlap, multiple)
                assert starts[0] == 0 and starts[-1] + size == length and size <= min(tile, length)
                assert all(0 < b - a <= size - overlap for a, b in zip(starts, starts[1:]))
                if length > tile:
                    fewest = -(-(length - overlap) // (tile - overlap))
                    assert len(starts) == fewest
                    smallest = -(-(length + (fewest - 1) * overlap) // fewest)
                    aligned = -(-smallest // multiple) * multiple
                    assert size == (aligned if aligned <= tile else smallest)


def test_tiled_translation_matches_whole_translation_away_from_seams(translator):
    torch.manual_seed(0)
    texture = torch.rand(1, 3, 256, 256) * 2 - 1  # uniform statistics: instance norm per tile ~ whole image
    model = translator.model
    with torch.no_grad():
        whole = model.translate(texture)
        coarse = translate_tiled(model.translate, texture, tile=128, overlap=32)
        fine = translate_tiled(model.translate, texture, tile=192, overlap=64)
    assert fine.shape == whole.shape
    # away from seams (inside the first tile, far from its edges) tiles agree closely with the whole image
    assert (fine - whole)[..., 16:112, 16:112].abs().mean() < 0.02
    # larger tiles and overlaps bring the blended result closer everywhere
    assert (fine - whole).abs().mean() < (coarse - whole).abs().mean() < 0.05
    # a pure identity "network" must come back exactly: blending weights sum to one everywhere
    assert torch.allclose(translate_tiled(lambda x: x, texture, tile=96, overlap=24), texture, atol=1e-6)


def test_large_images_go_through_tiles(run_dir):
    translator = Translator.load(run_dir, device="cpu", tile=64, overlap=16)
    seen = []
    forward = translator._forward
    translator._forward = lambda x, **c: seen.append(tuple(x.shape[-2:])) or forward(x, **c)
    assert translator(Image.new("RGB", (150, 100))).size == (150, 100)
    assert max(seen) <= (64, 64) and len(seen) == 3 * 2


def test_an_image_just_over_the_tile_size_is_tiled_in_halves_of_the_generators_multiple(run_dir):
    translator = Translator.load(run_dir, device="cpu", tile=96, overlap=8)
    assert translator.tile_multiple == 4  # a ResNet generator halves the size twice
    seen = []
    forward = translator._forward
    translator._forward = lambda x, **c: seen.append(tuple(x.shape[-2:])) or forward(x, **c)
    assert translator(Image.new("RGB", (130, 96))).size == (130, 96)
    assert seen == [(96, 72), (96, 72)]  # not two tiles of 96x96: 1.1x the image's pixels rather than 1.5x


def test_models_without_one_generator_tile_in_any_size(translator):
    class TwoCalls:  # translates through more than one generator call: no inference_network
        def conversion_targets(self):
            return {}

        def inference_network(self, **condition):
            raise OptionError("model 'two-calls' cannot be exported as one generator")

    assert generator_multiple(TwoCalls()) == 1
    assert generator_multiple(translator.model) == 4


def test_inputs_may_be_a_file_or_a_glob(tmp_path):
    (tmp_path / "p" / "q").mkdir(parents=True)
    for name in ("p/a.jpg", "p/q/b.jpg", "p/q/c.png"):
        Image.new("RGB", (4, 4)).save(tmp_path / name)
    base, files = collect_inputs(str(tmp_path / "p" / "**" / "*.jpg"))
    assert base == tmp_path / "p" and [f.relative_to(base).as_posix() for f in files] == ["a.jpg", "q/b.jpg"]
    base, files = collect_inputs(tmp_path / "p" / "q" / "c.png")
    assert base == tmp_path / "p" / "q" and files == [tmp_path / "p" / "q" / "c.png"]


def test_shards_are_disjoint_and_complete(tmp_path):
    sources = [tmp_path / f"{i}.png" for i in range(11)]
    jobs, _ = plan_jobs(sources, tmp_path, tmp_path / "out")
    shares = [shard(jobs, rank, 3) for rank in range(3)]
    assert sorted(j.source for share in shares for j in share) == sorted(sources)


@pytest.mark.slow
def test_a_killed_run_leaves_no_partial_files_and_a_rerun_completes(run_dir, tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    for i in range(60):
        Image.effect_noise((160, 160), 50).convert("RGB").save(source / f"{i:03d}.png")
    out = tmp_path / "out"
    command = [str(TRANSLATE), "convert", str(run_dir), str(source), str(out), "--device", "cpu", "--batch-size", "1"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(out.glob("*.png"))) < 5:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = len(list(out.glob("*.png")))
    assert 5 <= done_before < 60, "the run was not interrupted midway"
    # a partial file can only be a hidden temporary, never an output name; the rerun removes it
    assert all(p.name.startswith(".") for p in out.glob("*.partial"))
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-1000:]
    assert f"{60 - done_before} converted, {done_before} skipped" in result.stdout
    assert not list(out.glob(".*.partial"))
    for i in range(60):
        with Image.open(out / f"{i:03d}.png") as image:
            image.load()  # decodes fully: no truncated output
            assert image.size == (160, 160)


@pytest.mark.slow
def test_torchrun_with_two_processes_converts_each_image_exactly_once(run_dir, tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    for i in range(9):
        Image.new("RGB", (16, 16), (i * 20, 0, 0)).save(source / f"{i}.png")
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    result = subprocess.run(
        [torchrun, "--nproc_per_node", "2", "-m", "translate", "convert", str(run_dir), str(source),
         str(tmp_path / "out"), "--device", "cpu"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    counts = sorted(int(line.split("rank ")[1].split(": ")[1].split()[0])
                    for line in result.stdout.splitlines() if line.startswith("rank "))
    assert counts == [4, 5]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"{i}.png" for i in range(9)]


def test_the_command_line_tiles_at_the_library_default():
    """The CLI spells the default out (importing translate.convert would slow `translate --help`)."""
    from translate.cli import main
    from translate.convert.tiling import DEFAULT_TILE

    tile = next(param for param in main.commands["convert"].params if param.name == "tile")
    assert tile.default == DEFAULT_TILE


# -- hardening: whatever the inputs, one bad case never costs the others ------------------------------------------

#: Models whose generators differ in how small an image they take.
GENERATOR_KINDS = {
    "cyclegan": "ResNet generator: reflection padding, instance norm",
    "pix2pix": "U-Net",
    "unit": "UNIT encoder/decoder",
    "stargan": "StarGAN's label-conditioned generator",
}


def convert_cli(*args: str):
    return cli("convert", *args)


@pytest.fixture(scope="module", params=sorted(GENERATOR_KINDS))
def any_model_run(request, tiny_run):
    """A tiny run of each model of :data:`GENERATOR_KINDS` (shared: read-only)."""
    return tiny_run(request.param)


def test_tiny_images_convert_at_their_size_with_every_model_kind(any_model_run, tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    sizes = {"a-1x1.png": (1, 1), "b-40x3.png": (40, 3), "c-3x40.png": (3, 40), "d-2x2.png": (2, 2),
             "e-7x5.png": (7, 5), "f-1x9.png": (1, 9), "z-33x20.png": (33, 20)}  # tiny ones sort first
    for name, size in sizes.items():
        Image.effect_noise(size, 50).convert("RGB").save(source / name)
    target = ["--to", "B"] if any_model_run.name == "stargan" else []
    result = convert_cli(any_model_run, source, tmp_path / "out", "--device", "cpu", *target)
    assert result.exit_code == 0, result.output
    assert f"{len(sizes)} converted, 0 skipped (output exists), 0 failed" in result.stdout
    for name, size in sizes.items():
        with Image.open(tmp_path / "out" / name) as output:
            assert output.size == size, name


def fail_on_odd_widths(translator: Translator) -> None:
    """Make ``translator``'s model fail (a two-line ``RuntimeError``) on batches of odd width."""
    forward = translator._forward

    def fails_on_odd_widths(images, **condition):
        if images.shape[-1] % 2:
            raise RuntimeError("simulated failure\nsecond line of a long message")
        return forward(images, **condition)

    translator._forward = fails_on_odd_widths


def test_an_image_the_model_fails_on_is_listed_and_the_rest_converts(run_dir, tmp_path):
    translator = Translator.load(run_dir, device="cpu")
    fail_on_odd_widths(translator)
    source = tmp_path / "in"
    source.mkdir()
    for name, size in {"a.png": (16, 16), "b.png": (15, 16), "c.png": (24, 8)}.items():
        Image.new("RGB", size, (40, 50, 60)).save(source / name)
    report = translator.convert_folder(source, tmp_path / "out", batch_size=1)
    assert report.failed == [(source / "b.png", "cannot translate: simulated failure")]
    assert sorted(p.name for p in report.converted) == ["a.png", "c.png"]


def test_stale_partials_of_a_killed_run_are_removed_by_the_next_convert(run_dir, tmp_path):
    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    out.mkdir()
    for name in ("a.png", "b.png"):
        Image.new("RGB", (12, 12)).save(source / name)
    Image.new("RGB", (12, 12)).save(out / "b.png")  # converted before the kill: skipped, its partial still goes
    stale = [out / ".a.png.4242-0badcafe.partial", out / ".a.png.k3j4x9q1.partial", out / ".b.png.7-1.partial"]
    for path in stale:
        path.write_bytes(b"half an image")
    unrelated = [out / ".notes.txt.1-2.partial", out / "a.png.partial"]
    for path in unrelated:
        path.write_text("not ours")
    result = convert_cli(run_dir, source, out, "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "1 converted, 1 skipped (output exists), 0 failed" in result.stdout
    assert not any(path.exists() for path in stale)
    assert all(path.exists() for path in unrelated)


@pytest.mark.parametrize("tile, overlap", [(64, 32), (100, 50), (64, 63)])
def test_a_tiling_the_tiler_cannot_do_is_one_line_and_writes_nothing(run_dir, tmp_path, tile, overlap):
    (tmp_path / "in").mkdir()
    Image.new("RGB", (900, 40)).save(tmp_path / "in" / "a.png")
    result = convert_cli(run_dir, tmp_path / "in", tmp_path / "out", "--tile", tile, "--tile-overlap", overlap)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"translate: error: --tile {tile} --tile-overlap {overlap}: ")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
    with pytest.raises(TranslateError, match="less than half the tile size"):
        Translator.load(run_dir, device="cpu", tile=tile, overlap=overlap)


def test_an_output_path_taken_by_a_folder_is_a_failure_not_a_skip(run_dir, tmp_path):
    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    for name in ("a.png", "b.png"):
        Image.new("RGB", (12, 12)).save(source / name)
    (out / "a.png").mkdir(parents=True)
    for extra in ((), ("--overwrite",)):
        result = convert_cli(run_dir, source, out, "--device", "cpu", *extra)
        assert result.exit_code == 1
        assert f"failed: {out / 'a.png'}: a folder is in the way of this output file" in result.stderr
        assert "skipped (output exists), 1 failed" in result.stdout
    assert (out / "a.png").is_dir() and (out / "b.png").is_file()


def test_symbolic_links_that_lead_nowhere_are_listed_as_failed(run_dir, tmp_path):
    source = tmp_path / "in"
    (source / "sub").mkdir(parents=True)
    Image.new("RGB", (12, 12)).save(source / "real.png")
    (source / "self.png").symlink_to("self.png")
    (source / "sub" / "ping.png").symlink_to("pong.png")
    (source / "sub" / "pong.png").symlink_to("ping.png")
    (source / "dangling.jpg").symlink_to("missing.jpg")
    (source / "alias.png").symlink_to("real.png")
    for spec in (source, f"{source}/**/*.*"):
        out = tmp_path / f"out{len(str(spec))}"
        result = convert_cli(run_dir, spec, out, "--device", "cpu")
        assert result.exit_code == 1
        failed = sorted(line for line in result.stderr.splitlines() if line.startswith("failed: "))
        assert failed == [
            f"failed: {source / 'dangling.jpg'}: symbolic link to 'missing.jpg', which does not exist",
            f"failed: {source / 'self.png'}: symbolic link loop (it leads back to itself)",
            f"failed: {source / 'sub' / 'ping.png'}: symbolic link loop (it leads back to itself)",
            f"failed: {source / 'sub' / 'pong.png'}: symbolic link loop (it leads back to itself)",
        ]
        assert "2 converted, 0 skipped (output exists), 4 failed" in result.stdout


def png_declaring(width: int, height: int) -> bytes:
    """A 1×1 PNG whose header claims ``width`` × ``height`` pixels (a decompression bomb's signature)."""
    buffer = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    header = b"IHDR" + struct.pack(">II", width, height) + bytes(data[24:29])
    data[12:33] = header + struct.pack(">I", zlib.crc32(header))
    return bytes(data)


def test_images_over_the_pixel_limit_are_one_line_failures_and_the_rest_converts(run_dir, tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    (source / "bomb.png").write_bytes(png_declaring(9500, 9500))  # inside Pillow's warning band
    (source / "huge.png").write_bytes(png_declaring(20000, 20000))  # beyond it: Pillow would raise
    Image.new("RGB", (40, 30)).save(source / "wide.png")
    Image.new("RGB", (20, 20)).save(source / "small.png")
    result = convert_cli(run_dir, source, tmp_path / "out", "--device", "cpu")
    assert result.exit_code == 1
    assert "DecompressionBomb" not in result.output and "Traceback" not in result.output
    assert [line for line in result.stderr.splitlines() if "bomb.png" in line] == [
        f"failed: {source / 'bomb.png'}: 9500×9500 is 90,250,000 pixels, more than the limit of 89,478,485 "
        "(raise it with --max-pixels)"]
    assert "2 converted, 0 skipped (output exists), 2 failed" in result.stdout
    limited = convert_cli(run_dir, source, tmp_path / "out2", "--device", "cpu", "--max-pixels", "1000")
    assert "1 converted, 0 skipped (output exists), 3 failed" in limited.stdout
    assert f"failed: {source / 'wide.png'}: 40×30 is 1,200 pixels, more than the limit of 1,000" in limited.stderr
    assert Image.MAX_IMAGE_PIXELS == DEFAULT_MAX_PIXELS  # Pillow's own limit is back after the command


def test_eight_bit_tiling_holds_only_bands_of_tile_rows_in_float_and_rounds_like_to_pil(translator):
    torch.manual_seed(0)
    image = (torch.rand(1, 3, 300, 170) * 255).round().to(torch.uint8)
    finished_rows = []

    def finish(rows):
        finished_rows.append(rows.shape[-2])
        return quantize(rows)

    run = lambda pieces: translator.model.translate(normalize(pieces))  # noqa: E731
    with torch.no_grad():
        eight_bit = translate_tiled(run, image, tile=64, overlap=16, finish=finish)
        floats = translate_tiled(run, normalize(image), tile=64, overlap=16)
    assert eight_bit.dtype == torch.uint8 and eight_bit.shape == image.shape
    assert max(finished_rows) <= 64 and sum(finished_rows) == 300
    assert (eight_bit.int() - quantize(floats).int()).abs().max() <= 1  # same blend, summed in another order
    assert torch.equal(translator.translate_batch(image), translator.translate_batch(image))


def test_cpu_batches_stay_within_a_pixel_budget_so_small_images_still_batch(run_dir, tmp_path):
    translator = Translator.load(run_dir, device="cpu")
    seen = []
    forward = translator._forward
    translator._forward = lambda images, **c: seen.append(tuple(images.shape)) or forward(images, **c)
    (tmp_path / "in").mkdir()
    for i in range(3):
        Image.new("RGB", (256, 256)).save(tmp_path / "in" / f"a{i}.png")
    for i in range(5):
        Image.new("RGB", (64, 64)).save(tmp_path / "in" / f"b{i}.png")
    translator.convert_folder(tmp_path / "in", tmp_path / "out", batch_size=4)
    assert seen == [(1, 3, 256, 256)] * 3 + [(4, 3, 64, 64), (1, 3, 64, 64)]
