"""The command line: help, one-line errors, train -> convert end to end, third-party losses."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import click
import pytest
from PIL import Image

from helpers import TRANSLATE, cli, objective_plugin, tiny_flags, write_distribution
from translate.cli import main


def test_every_option_of_every_command_has_help():
    for name, command in main.commands.items():
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"translate {name} {param.opts[0]} has no help"


def test_help_does_not_import_torch():
    code = "import sys; from translate.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\nprint('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_python_dash_m_runs_the_cli():
    result = subprocess.run([sys.executable, "-m", "translate", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "train" in result.stdout and "convert" in result.stdout


def test_unknown_loss_option_is_one_line_with_the_valid_ones(tmp_path):
    result = cli("train", "--loss", "began", "--loss-opt", "gama=0.5", "--out", str(tmp_path / "r"))
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "translate: error: objective 'began' has no option 'gama' (valid: gamma, k, lambda_k)"
    )


def test_malformed_option_pair_names_the_option(tmp_path):
    result = cli("train", "--model-opt", "ngf", "--out", str(tmp_path / "r"))
    assert result.exit_code == 2
    assert "--model-opt" in result.stderr and "expected KEY=VALUE" in result.stderr


def test_unknown_model_lists_the_available_ones(tmp_path):
    result = cli("train", "--model", "stargun", "--out", str(tmp_path / "r"))
    assert result.exit_code == 2
    assert "unknown model 'stargun' (available: cut, cyclegan, munit, pix2pix, stargan, unit)" in result.stderr


def test_missing_data_folder_is_a_one_line_error(tmp_path):
    (tmp_path / "data" / "trainA").mkdir(parents=True)
    result = cli("train", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "r"))
    assert result.exit_code == 2
    assert result.stderr.startswith("translate: error: ") and "trainA" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def trained_run(tiny_run):
    """A tiny CycleGAN run trained to convert B to A by default (shared: read-only)."""
    return tiny_run("cyclegan", model_options={"direction": "BtoA"})


def make_tree(root):
    """Valid images of several modes and sizes, nested, plus files that are not images."""
    (root / "nested" / "deeper").mkdir(parents=True)
    Image.new("RGB", (300, 200), (200, 30, 30)).save(root / "wide photo.jpg")
    Image.new("L", (7, 5), 128).save(root / "nested" / "gray.png")
    Image.new("RGBA", (257, 263), (10, 200, 10, 128)).save(root / "nested" / "deeper" / "ünïcode.png")
    (root / "nested" / "empty.png").write_bytes(b"")
    (root / "nested" / "text.png").write_text("not an image")
    Image.new("RGB", (64, 64)).save(root / "whole.png")
    (root / "truncated.png").write_bytes((root / "whole.png").read_bytes()[:60])
    (root / "whole.png").unlink()
    (root / "notes.txt").write_text("ignored: not an image extension")
    return {"wide photo.jpg": (300, 200), "nested/gray.png": (7, 5), "nested/deeper/ünïcode.png": (257, 263)}


def test_convert_a_tree_keeps_paths_and_sizes_and_reports_bad_files(trained_run, tmp_path):
    source, target = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    expected = make_tree(source)
    result = cli("convert", str(trained_run), str(source), str(target))
    assert result.exit_code == 1  # some inputs could not be read
    for relative, size in expected.items():
        with Image.open(target / relative) as output:
            assert output.size == size
            assert output.mode == ("RGBA" if "ünïcode" in relative else "RGB")
    failed = [line for line in result.stderr.splitlines() if line.startswith("failed: ")]
    assert sorted(line.split(": ")[1] for line in failed) == sorted(
        str(source / name) for name in ("nested/empty.png", "nested/text.png", "truncated.png")
    )
    assert "3 converted, 0 skipped (output exists), 3 failed" in result.stdout
    assert not list(target.rglob("*.partial"))

    again = cli("convert", str(trained_run), str(source), str(target))
    assert "0 converted, 3 skipped (output exists), 3 failed" in again.stdout


#: Runs the command line given as arguments in this process, then reports whether a 64 MiB CPU tensor lies in
#: memory advised for huge pages (the ``hg`` flag of its mapping in /proc/self/smaps).
HUGE_PAGE_PROBE = """
import sys
from translate.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    assert not exit.code, exit.code
import torch
tensor, inside = torch.empty(2**24), False
for line in open("/proc/self/smaps"):
    fields = line.split()
    if not fields[0].endswith(":"):
        start, end = (int(bound, 16) for bound in fields[0].split("-"))
        inside = start <= tensor.data_ptr() < end
    elif inside and fields[0] == "VmFlags:":
        print("hg" in fields[1:])
"""


def test_convert_backs_large_activations_with_huge_pages(trained_run, tmp_path):
    """Activations above glibc's mmap threshold are faulted in afresh for every layer; huge pages make
    that 20 times fewer faults on 768² tiles. torch reads the switch once, so the command sets it
    before importing torch."""
    (tmp_path / "in").mkdir()
    Image.new("RGB", (40, 30), "red").save(tmp_path / "in" / "a.png")
    env = {name: value for name, value in os.environ.items() if name != "THP_MEM_ALLOC_ENABLE"}
    command = [sys.executable, "-c", HUGE_PAGE_PROBE, "convert", str(trained_run), str(tmp_path / "in"),
               str(tmp_path / "out")]
    converted = subprocess.run(command, capture_output=True, text=True, env=env)
    assert converted.returncode == 0, converted.stderr
    assert converted.stdout.strip().splitlines()[-1] == "True"
    assert (tmp_path / "out" / "a.png").exists()
    helped = subprocess.run([sys.executable, "-c", HUGE_PAGE_PROBE, "--help"], capture_output=True, text=True,
                            env=env)
    assert helped.stdout.strip().splitlines()[-1] == "False"  # other commands leave torch's default alone


def test_convert_uses_the_direction_in_the_checkpoint_unless_told(trained_run, tmp_path):
    from translate.convert import Translator

    translator = Translator.load(trained_run, device="cpu")
    image = Image.new("RGB", (40, 24), (20, 120, 220))
    trained_direction = translator(image)
    assert trained_direction.tobytes() == translator(image, direction="BtoA").tobytes()
    assert trained_direction.tobytes() != translator(image, direction="AtoB").tobytes()


def test_convert_never_writes_inside_its_input(trained_run, tmp_path):
    (tmp_path / "in").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "in" / "a.png")
    result = cli("convert", str(trained_run), str(tmp_path / "in"), str(tmp_path / "in" / "out"))
    assert result.exit_code == 2 and "inside the input folder" in result.stderr
    assert not (tmp_path / "in" / "out").exists()


def test_convert_overwrite_replaces_existing_outputs(trained_run, tmp_path):
    (tmp_path / "in").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "in" / "a.png")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.png").write_text("placeholder")
    assert cli("convert", str(trained_run), str(tmp_path / "in"), str(tmp_path / "out")).exit_code == 0
    assert (tmp_path / "out" / "a.png").read_text() == "placeholder"
    assert cli("convert", str(trained_run), str(tmp_path / "in"), str(tmp_path / "out"), "--overwrite").exit_code == 0
    with Image.open(tmp_path / "out" / "a.png") as image:
        assert image.size == (8, 8)


@pytest.mark.slow
def test_a_pip_visible_third_party_loss_trains_from_the_console_script(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    write_distribution(site, "meanscore-loss", {"meanscore_loss": objective_plugin("meanscore")},
                       {"meanscore": "meanscore_loss"})
    env = {**os.environ, "PYTHONPATH": str(site)}
    listed = subprocess.run([str(TRANSLATE), "plugins"], capture_output=True, text=True, env=env)
    assert "meanscore-loss 1.2.3" in listed.stdout
    result = subprocess.run(
        [str(TRANSLATE), "train", "--model", "pix2pix", "--loss", "meanscore", "--loss-opt", "scale=0.5",
         "--steps", "2", "--image-size", "32", *tiny_flags("pix2pix"), "--out", str(tmp_path / "run")],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert '"objective": "meanscore"' in (tmp_path / "run" / "latest" / "checkpoint.json").read_text()


def test_the_command_line_choices_are_the_librarys():
    """The CLI spells directions, precisions and presets out (no torch at start-up); they must not drift."""
    from translate.cli.common import DIRECTION_CHOICES, PRECISION_CHOICES, PRESET_CHOICES
    from translate.models.directions import DIRECTIONS
    from translate.devices import PRECISIONS
    from translate.train.trainer import PRESETS

    assert DIRECTION_CHOICES == DIRECTIONS
    assert PRECISION_CHOICES == tuple(PRECISIONS)
    assert PRESET_CHOICES == PRESETS


#: Train, convert, export and import reference weights from the CLI in one process, under the umask in argv[1]
#: (the tiny model's --model-opt flags in argv[3], as JSON).
MODES_SCRIPT = """
import json, os, sys
from pathlib import Path
import torch
from PIL import Image
from translate.cli import main
from translate.nets import build_generator

os.umask(int(sys.argv[1], 8))
work = Path(sys.argv[2])
(work / "in").mkdir()
Image.new("RGB", (20, 12), (90, 10, 10)).save(work / "in" / "a.png")
torch.save(build_generator("resnet_6blocks", ngf=8).state_dict(), work / "latest_net_G.pth")
for args in (
    ["train", "--model", "cyclegan", "--steps", "1", "--image-size", "32", *json.loads(sys.argv[3]),
     "--logger", "jsonl", "--out", str(work / "run")],
    ["convert", str(work / "run"), str(work / "in"), str(work / "out")],
    ["export", str(work / "run"), str(work / "g.pt"), "--format", "torchscript"],
    ["import-weights", str(work / "latest_net_G.pth"), "--arch", "resnet_6blocks", str(work / "imported")],
):
    try:
        main(args, standalone_mode=False)
    except SystemExit as exit:
        assert not exit.code, (args, exit.code)
"""


@pytest.mark.parametrize("umask, file_mode, folder_mode", [("022", 0o644, 0o755), ("077", 0o600, 0o700)],
                         ids=["umask-022", "umask-077"])
def test_outputs_get_the_modes_a_plain_open_gives_under_the_umask(tmp_path, umask, file_mode, folder_mode):
    tiny = json.dumps(tiny_flags("cyclegan"))
    result = subprocess.run([sys.executable, "-c", MODES_SCRIPT, umask, str(tmp_path), tiny], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    checkpoint = tmp_path / "run" / "latest"
    written = {
        "converted image": tmp_path / "out" / "a.png",
        "checkpoint weights": checkpoint / "model.safetensors",
        "checkpoint metadata": checkpoint / "checkpoint.json",
        "training state": checkpoint / "training.pt",
        "exported graph": tmp_path / "g.pt",
        "imported weights": tmp_path / "imported" / "model.safetensors",
    }
    for what, path in written.items():
        assert oct(path.stat().st_mode & 0o777) == oct(file_mode), what
    for what, path in {"checkpoint folder": checkpoint, "imported folder": tmp_path / "imported"}.items():
        assert oct(path.stat().st_mode & 0o777) == oct(folder_mode), what
