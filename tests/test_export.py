"""`translate export`: TorchScript and ONNX graphs that match PyTorch on odd sizes."""

from __future__ import annotations

import onnx
import onnxruntime
import pytest
import torch
from click.testing import CliRunner

from translate.cli import main
from translate.convert import Translator


@pytest.fixture(scope="module", params=["cyclegan", "pix2pix", "cut"])
def run_dir(request, tiny_run):
    """A tiny run of each model with one generator per direction (shared: read-only)."""
    return tiny_run(request.param)


def reference(run_dir, images, **condition):
    translator = Translator.load(run_dir, device="cpu")
    with torch.no_grad():
        return translator.model.translate(images, **condition)


@pytest.mark.parametrize("size", [(67, 45), (40, 97)])
def test_torchscript_matches_pytorch_on_odd_sizes(run_dir, tmp_path, size):
    result = CliRunner().invoke(main, ["export", str(run_dir), str(tmp_path / "g.pt"), "--format", "torchscript"])
    assert result.exit_code == 0, result.output
    scripted = torch.jit.load(str(tmp_path / "g.pt"))
    images = torch.rand(2, 3, *size) * 2 - 1
    assert torch.allclose(scripted(images), reference(run_dir, images), atol=1e-5)


def test_onnx_matches_pytorch_on_an_odd_size(run_dir, tmp_path):
    result = CliRunner().invoke(main, ["export", str(run_dir), str(tmp_path / "out" / "g.onnx"), "--format", "onnx"])
    assert result.exit_code == 0, result.output
    assert [path.name for path in (tmp_path / "out").iterdir()] == ["g.onnx"]  # weights inside, no .data file
    moved = (tmp_path / "out" / "g.onnx").rename(tmp_path / "moved.onnx")
    operators = {node.op_type for node in onnx.load(str(moved)).graph.node}
    assert "Resize" not in operators  # the resize-convolutions of the default decoders are folded
    kernels = [tuple(attribute.ints) for node in onnx.load(str(moved)).graph.node if node.op_type == "Conv"
               for attribute in node.attribute if attribute.name == "kernel_shape"]
    if run_dir.name != "pix2pix":  # ResNet generators: the 7x7 RGB head goes by kernel rows, the first conv stays
        assert kernels.count((7, 7)) == 1 and (1, 7) in kernels
    session = onnxruntime.InferenceSession(str(moved))
    for size in [(67, 45), (99, 33)]:
        images = torch.rand(1, 3, *size) * 2 - 1
        (output,) = session.run(None, {"images": images.numpy()})
        assert torch.allclose(torch.from_numpy(output), reference(run_dir, images), atol=1e-4)


def test_export_picks_the_direction_and_refuses_to_overwrite(tiny_run, tmp_path):
    run_dir = tiny_run("cyclegan")
    out = tmp_path / "ba.pt"
    assert CliRunner().invoke(main, ["export", str(run_dir), str(out), "--format", "torchscript",
                                     "--direction", "BtoA"]).exit_code == 0
    images = torch.rand(1, 3, 36, 44) * 2 - 1
    assert torch.allclose(torch.jit.load(str(out))(images), reference(run_dir, images, direction="BtoA"), atol=1e-5)
    again = CliRunner().invoke(main, ["export", str(run_dir), str(out), "--format", "torchscript"])
    assert again.exit_code == 2 and "pass --overwrite" in again.stderr
