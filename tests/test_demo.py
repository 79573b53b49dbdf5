"""translate demo without a browser: what the page offers for a run, its card, its test images, one upload
translated as convert translates it, bad uploads, and the one-line errors (tests/test_demo_browser.py drives
the page in Chromium)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image

from helpers import cli, fresh_copy, one_error_line
from translate.data.sample import SAMPLE_ROOT


@pytest.fixture(scope="module")
def runs(tiny_run):
    """Tiny two-way (CycleGAN), multi-domain (StarGAN) and one-way B to A (pix2pix) runs, loaded for the page
    (PyTorch: nothing is written into the shared runs), by model name."""
    from translate.demo.runs import load_runs

    folders = [tiny_run("cyclegan"), tiny_run("stargan"), tiny_run("pix2pix", model_options={"direction": "BtoA"})]
    return {run.metadata["model"]: run for run in load_runs(folders, backend="torch", device="cpu")}


def test_the_page_offers_what_each_model_declares(runs):
    cyc, star, p2p = runs["cyclegan"].choices, runs["stargan"].choices, runs["pix2pix"].choices
    assert (cyc.directions, cyc.default_direction, cyc.targets) == (("AtoB", "BtoA"), "AtoB", ())
    assert cyc.condition("BtoA", None) == {"direction": "BtoA"} and cyc.input_side("BtoA") == "B"
    assert (star.directions, star.targets, star.several_targets) == ((), ("A", "B"), False)
    assert star.condition(None, "B") == {"to": "B"} and star.input_side(None) is None
    assert (p2p.directions, p2p.targets, p2p.default_direction) == ((), (), "BtoA")
    assert p2p.condition(None, None) == {} and p2p.input_side(None) == "B"


def test_several_attributes_go_to_the_model_as_convert_passes_them():
    from translate.demo.runs import Choices

    attributes = Choices.of({"domains": [], "attrs": ["Blond_Hair", "Male"], "targets": ["Blond_Hair", "Male"]})
    assert attributes.several_targets
    assert attributes.condition(None, ["Blond_Hair", "Male"]) == {"to": "Blond_Hair,Male"}  # convert's --to A,B
    with pytest.raises(Exception, match="choose one or more target attributes above"):
        attributes.condition(None, [])


def test_the_card_shows_model_objective_steps_options_and_the_eval_numbers(runs, tiny_run, tmp_path):
    from translate.demo.runs import card, load_runs

    folder = fresh_copy(tiny_run("cyclegan"), tmp_path)  # translate eval writes into the run folder
    run = load_runs([folder], backend="torch", device="cpu")[0]
    assert "none yet" in card(run)
    result = cli("eval", folder)
    assert result.exit_code == 0, result.output
    after = card(run)
    steps = run.metadata["step"]
    assert "### run: cyclegan with lsgan" in after and f"step {steps} of {steps}, trained at 32 px" in after
    assert f"`ngf={run.metadata['model_options']['ngf']}`" in after
    assert "translates A → B and B → A (trained A → B)" in after
    assert "**Objective**: lsgan" in after and "the embedded sample set" in after and "PyTorch on cpu" in after
    psnr_row = next(line for line in result.output.splitlines() if line.startswith("PSNR"))
    assert "`eval-test.json`" in after and psnr_row in after  # the numbers translate eval printed
    assert "eval mode" not in after  # instance norm, no dropout: nothing to say
    assert "generator in eval mode: batch norm with running statistics, dropout off" in card(runs["pix2pix"])


def test_an_unreadable_eval_file_is_named_not_fatal(runs, tmp_path):
    from translate.demo.runs import evaluations

    (tmp_path / "eval-broken.json").write_text("{not json")
    (tmp_path / "eval-list.json").write_text("[1, 2]")
    found = dict(evaluations(tmp_path))
    assert set(found) == {"eval-broken.json", "eval-list.json"}
    assert all(lines[0].startswith("not a translate eval result") for lines in found.values())


def rotated_rgba_jpeg_and_png(folder):
    """A photograph-like RGBA PNG and an RGB JPEG whose EXIF orientation turns it a quarter."""
    from skimage import data

    photo = Image.fromarray(data.coffee()).crop((40, 30, 141, 97))  # 101×67: no multiple of anything
    rgba = photo.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(photo.size))
    rgba.save(folder / "alpha.png")
    exif = Image.Exif()
    exif[0x0112] = 6
    photo.save(folder / "turned.jpg", exif=exif, quality=90)
    return [folder / "alpha.png", folder / "turned.jpg"]


@pytest.mark.parametrize("name", ["cyclegan", "stargan", "pix2pix"])
def test_an_upload_is_translated_to_the_pixels_convert_writes(runs, tmp_path, name):
    from translate.demo.translation import translate_upload

    run = runs[name]
    inputs = tmp_path / "in"
    inputs.mkdir()
    uploads = rotated_rgba_jpeg_and_png(inputs)
    condition = run.default_condition()
    report = run.translator.convert_folder(inputs, tmp_path / "convert", fmt="png", **condition)
    assert report.ok and len(report.converted) == 2
    for upload in uploads:
        done = translate_upload(run, upload, condition, None, tmp_path / "page")
        page, converted = Image.open(done.output), Image.open(tmp_path / "convert" / f"{upload.stem}.png")
        assert page.mode == converted.mode and page.size == converted.size == (done.width, done.height)
        assert np.array_equal(np.asarray(page), np.asarray(converted))
    assert Image.open(tmp_path / "convert" / "turned.png").size == (67, 101)  # upright, as the EXIF tag says


def test_bad_uploads_get_a_reason_and_a_single_pixel_is_translated(runs, tmp_path):
    from translate.demo.translation import DemoInputError, translate_upload

    run = runs["cyclegan"]
    (tmp_path / "notes.png").write_text("these are notes, not an image\n")
    (tmp_path / "empty.jpg").write_bytes(b"")
    Image.new("RGB", (300, 200), (40, 90, 160)).save(tmp_path / "large.png")
    Image.new("RGB", (1, 1), (200, 30, 30)).save(tmp_path / "dot.png")
    reasons = {}
    for name in ("notes.png", "empty.jpg", "large.png"):
        with pytest.raises(DemoInputError) as caught:
            translate_upload(run, tmp_path / name, {"direction": "AtoB"}, 50_000, tmp_path / "out")
        reasons[name] = str(caught.value)
    assert reasons["notes.png"] == "cannot read notes.png: not a recognised image format"
    assert reasons["empty.jpg"] == "cannot read empty.jpg: file is empty"
    assert reasons["large.png"].startswith("cannot read large.png: 300×200 is 60,000 pixels, more than the limit "
                                           "of 50,000") and "--max-pixels" in reasons["large.png"]
    dot = translate_upload(run, tmp_path / "dot.png", {"direction": "BtoA"}, 50_000, tmp_path / "out")
    assert Image.open(dot.output).size == (1, 1) and dot.output.name == "dot-B_to_A.png"
    assert f"1×1 px, B → A by {run.name} on PyTorch" in dot.status("dot.png", run, {"direction": "BtoA"})


def test_the_page_says_why_and_keeps_serving(runs, tmp_path):
    from translate.demo.page import DemoPage

    page = DemoPage(list(runs.values()), 50_000, tmp_path)
    (tmp_path / "notes.png").write_text("not an image")
    Image.new("RGB", (40, 30), (10, 200, 10)).save(tmp_path / "green.png")
    cyclegan, stargan = runs["cyclegan"].name, runs["stargan"].name
    output, status = page.translate(cyclegan, str(tmp_path / "notes.png"), "AtoB", None)
    assert output is None and status == "⚠️ cannot read notes.png: not a recognised image format"
    output, status = page.translate(stargan, str(tmp_path / "green.png"), None, "B")
    assert Image.open(output).size == (40, 30) and status.startswith(f"**green.png**: 40×30 px, to B by {stargan}")
    assert page.translate(cyclegan, None, "AtoB", None) == (None, "")


def test_gradio_hands_uploads_over_unopened(tmp_path):
    import gradio as gr
    from gradio.data_classes import ImageData

    from translate.demo.page import hand_over_uploads

    notes = tmp_path / "notes.png"
    notes.write_text("not an image")
    with pytest.raises(Exception):  # what Gradio's own preprocessing does with it
        gr.Image(type="filepath").preprocess(ImageData(path=str(notes), orig_name="notes.png"))
    image = hand_over_uploads(gr.Image(type="filepath"))
    assert image.preprocess(ImageData(path=str(notes), orig_name="notes.png")) == str(notes)
    assert image.preprocess(None) is None


def test_test_images_come_from_the_side_the_model_reads(tmp_path):
    from translate.demo.examples import copy_examples, input_images

    side_a, side_b = input_images(SAMPLE_ROOT, "A"), input_images(SAMPLE_ROOT, "B")
    assert [path.parent.name for path, _ in side_a + side_b] == ["testA"] * len(side_a) + ["testB"] * len(side_b)
    assert 0 < len(side_a) <= 12
    domains = input_images(SAMPLE_ROOT, None, limit=4)
    assert [path.parent.name for path, _ in domains] == ["testA", "testB", "testA", "testB"]

    aligned = tmp_path / "aligned"
    (aligned / "test").mkdir(parents=True)
    for path in sorted((SAMPLE_ROOT / "test").iterdir())[:3]:
        (aligned / "test" / path.name).write_bytes(path.read_bytes())
    halves = input_images(aligned, "B")
    assert [half for _, half in halves] == ["B"] * 3
    copies = copy_examples(halves, tmp_path / "copies")
    whole = Image.open(halves[0][0]).convert("RGB")
    right = whole.crop((whole.width // 2, 0, whole.width, whole.height))
    assert np.array_equal(np.asarray(Image.open(copies[0]).convert("RGB")), np.asarray(right))
    assert input_images(tmp_path / "nowhere", "A") == [] and input_images(tmp_path / "nowhere", None) == []


def test_without_the_extra_the_command_says_what_to_install(runs, monkeypatch):
    monkeypatch.setitem(sys.modules, "gradio", None)  # as if not installed: importing it fails
    assert one_error_line(cli("demo", runs["cyclegan"].folder)) == (
        "translate: error: translate demo needs the 'demo' extra: pip install 'image-translate[demo]' (Gradio)")


def test_a_folder_that_is_not_a_run_is_a_one_line_error(tmp_path):
    assert "is not a checkpoint or run folder" in one_error_line(cli("demo", tmp_path))


def test_gradio_is_imported_offline(monkeypatch):
    from translate.demo.offline import OFFLINE_ENVIRONMENT, require_gradio

    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "True")
    require_gradio()
    import gradio.analytics

    assert OFFLINE_ENVIRONMENT["GRADIO_ANALYTICS_ENABLED"] == "False" and not gradio.analytics.analytics_enabled()


def test_auto_backend_is_onnxruntime_when_installed_else_torch(monkeypatch):
    import importlib.util

    from translate.demo.runs import resolve_backend

    assert resolve_backend("auto") == "onnxruntime"  # the test extra installs the onnx extra
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    assert resolve_backend("auto") == "torch" and resolve_backend("onnxruntime") == "onnxruntime"


def test_cli_defaults_match_the_library():
    from translate.cli.common import BACKEND_CHOICES
    from translate.cli.demo import DEMO_MAX_PIXELS_DEFAULT
    from translate.demo.runs import DEMO_BACKENDS
    from translate.demo.translation import DEMO_MAX_PIXELS

    assert DEMO_MAX_PIXELS_DEFAULT == DEMO_MAX_PIXELS
    assert ("auto",) + BACKEND_CHOICES == DEMO_BACKENDS


def test_demo_help_imports_neither_torch_nor_gradio():
    import subprocess

    code = ("import sys; from translate.cli import main\ntry:\n    main(['demo', '--help'])\nexcept SystemExit:\n"
            "    pass\nprint('torch' in sys.modules, 'gradio' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "--max-pixels" in result.stdout and result.stdout.strip().splitlines()[-1] == "False False"


def test_auto_runs_a_model_without_an_exportable_generator_in_torch(runs):
    from translate.demo.runs import exports_as_one_generator
    from translate.models.base import Model

    class Unexportable(Model):
        name = "unexportable"

    assert all(exports_as_one_generator(run.translator.model) for run in runs.values())
    assert not exports_as_one_generator(Unexportable.__new__(Unexportable))


def test_a_taken_port_is_a_one_line_error_before_any_run_loads(runs):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_error_line(cli("demo", runs["cyclegan"].folder, "--port", port))  # alone: nothing was loaded
    assert line.startswith(f"translate: error: --port {port}: 127.0.0.1:{port} is taken")
