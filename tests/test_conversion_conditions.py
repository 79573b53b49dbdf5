"""What convert and export pass to a model (translate.convert.conditions): a direction only to a model that
declares it, so a model that ignores the argument never writes A to B under a B to A name."""

from __future__ import annotations

import textwrap

import pytest
import torch
from click.testing import CliRunner

from translate.cli import main
from translate.convert import Translator
from translate.convert.conditions import conversion_condition
from translate.data.sample import SAMPLE_ROOT
from translate.models.directions import check_direction
from translate.options import OptionError

ONE_WAY_REFUSAL = ("model 'ignoring' translates A to B only (one generator), got direction 'BtoA'; "
                   "to translate B to A, train a model with trainA and trainB swapped")

#: A one-way model whose translate() takes any keyword and ignores it: before conditions were checked,
#: ``convert --direction BtoA`` silently wrote its A -> B output.
IGNORING = '''
import torch

from translate import hookimpl
from translate.data import UnpairedDataset
from translate.models.base import Model
from translate.models.generators import build_translator_net
from translate.nets import init_weights


class Ignoring(Model):
    """One-way A -> B that takes any conversion keyword and ignores it."""

    name = "ignoring"
    tiny_options = {"ngf": 8, "ndf": 8}

    def __init__(self, make_objective, image_size=256, *, ngf=64, ndf=64, lr=2e-4, beta1=0.5, beta2=0.999):
        super().__init__(make_objective, image_size)
        self.ngf, self.ndf, self.lr, self.beta1, self.beta2 = ngf, ndf, lr, beta1, beta2
        self.G = build_translator_net("resnet_6blocks", ngf=ngf, norm="instance", dropout=False)
        self.D = self.add_critic("D", in_channels=3, ndf=ndf, norm="instance")
        self.seen = []
        init_weights(self)

    @classmethod
    def dataset(cls, root, split, image_size, train, options):
        return UnpairedDataset(root, split=split, image_size=image_size, train=train)

    def parameter_groups(self):
        return {"generator": list(self.G.parameters()), "critic": list(self.D.parameters())}

    def train_step(self, batch):
        generator_steps = self.start_iteration()
        fake = self.G(batch["A"])
        logged = self.critic_step([("D", self.D, batch["B"], fake)])
        if generator_steps:
            with self.frozen(self.D):
                self.optimize("generator", self.adversarial_loss("D", self.D, fake, batch["B"]))
        return logged

    def translate(self, images, **condition):
        self.seen.append(condition)
        return self.G(images)

    def inference_network(self, **condition):
        self.seen.append(condition)
        return self.G

    def sample_columns(self, batch):
        return [batch["A"], self.G(batch["A"])]


@hookimpl
def translate_models():
    return [Ignoring]
'''


@pytest.fixture
def ignoring(tmp_path, monkeypatch):
    """The module ``ignoring_model`` (for ``--plugin``) and its model class."""
    (tmp_path / "ignoring_model.py").write_text(textwrap.dedent(IGNORING))
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib
    import sys

    sys.modules.pop("ignoring_model", None)
    yield importlib.import_module("ignoring_model").Ignoring
    sys.modules.pop("ignoring_model", None)


def test_check_direction_refuses_what_a_one_way_model_does_not_do():
    assert check_direction("BtoA") == "BtoA"
    assert check_direction(None, model="m", ways=("AtoB",)) == "AtoB"
    assert check_direction("AtoB", model="m", ways=("AtoB",)) == "AtoB"
    with pytest.raises(OptionError) as refused:
        check_direction("AtoB", model="m", ways=("BtoA",))
    assert str(refused.value) == ("model 'm' translates B to A only (one generator), got direction 'AtoB'; "
                                  "to translate A to B, train a model with trainB and trainA swapped")
    with pytest.raises(OptionError, match="direction must be AtoB or BtoA, got 'up'"):
        check_direction("up", model="m", ways=("AtoB",))
    with pytest.raises(OptionError, match="direction must be AtoB or BtoA, got None"):
        check_direction(None)


@pytest.mark.parametrize("metadata, condition, passed", [
    ({"directions": ["AtoB", "BtoA"]}, {"direction": "BtoA"}, {"direction": "BtoA"}),  # two-way: passed on
    ({"input": "A", "output": "B"}, {"direction": "AtoB"}, {}),                         # its only way: nothing to pass
    ({}, {"direction": "AtoB"}, {}),                                                   # declares nothing: A to B
    ({"input": "B", "output": "A"}, {"direction": "BtoA"}, {}),
    ({"targets": ["Blond_Hair"]}, {"to": "Blond_Hair"}, {"to": "Blond_Hair"}),
    ({"directions": ["AtoB", "BtoA"], "style_dim": 8}, {"style": 3}, {"style": 3}),     # multimodal: a style
    ({}, {"original": "kept"}, {"original": "kept"}),                                  # other keys from Python
])
def test_what_conversion_passes(metadata, condition, passed):
    assert conversion_condition("m", metadata, condition) == passed


@pytest.mark.parametrize("metadata, condition, message", [
    ({}, {"direction": "BtoA"}, "model 'm' translates A to B only (one generator), got direction 'BtoA'"),
    ({"input": "B", "output": "A"}, {"direction": "AtoB"}, "model 'm' translates B to A only"),
    ({"directions": ["AtoB"]}, {"direction": "BtoA"}, "model 'm' translates A to B only"),
    ({"directions": ["AtoB", "BtoA"]}, {"to": "x"}, "model 'm' has a single output (its metadata() lists no "
                                                   "'targets'), got --to 'x'; drop --to"),
    ({"directions": ["AtoB", "BtoA"]}, {"style": 3}, "model 'm' has no styles (its metadata() declares no "
                                                      "'style_dim'): it gives one output per input; drop --styles"),
])
def test_what_conversion_refuses(metadata, condition, message):
    with pytest.raises(OptionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        conversion_condition("m", metadata, condition)


def test_the_translator_passes_no_direction_to_a_model_that_does_not_declare_it(ignoring):
    model = ignoring(None, image_size=32, ngf=8)
    translator = Translator(model, torch.device("cpu"), {"model": "ignoring"})
    images = torch.rand(1, 3, 32, 32) * 2 - 1
    translator.translate_batch(images, direction="AtoB")
    assert model.seen == [{}]
    with pytest.raises(OptionError) as refused:
        translator.translate_batch(images, direction="BtoA")
    assert str(refused.value) == ONE_WAY_REFUSAL
    with pytest.raises(OptionError, match="has a single output"):
        translator.variants(False, to="Blond_Hair")
    assert model.seen == [{}]  # nothing refused reached the model


def test_convert_and_export_refuse_a_direction_the_model_would_ignore(ignoring, tmp_path):
    run = tmp_path / "run"
    trained = CliRunner().invoke(main, ["train", "--plugin", "ignoring_model", "--model", "ignoring", "--steps", "1",
                                        "--image-size", "32", "--model-opt", "ngf=8", "--model-opt", "ndf=8",
                                        "--out", str(run)])
    assert trained.exit_code == 0, trained.output
    source = str(SAMPLE_ROOT / "testA")
    for command, made in ((["convert", str(run), source, str(tmp_path / "ba")], tmp_path / "ba"),
                          (["export", str(run), str(tmp_path / "ba.pt"), "--format", "torchscript"], tmp_path / "ba.pt")):
        refused = CliRunner().invoke(main, [command[0], "--plugin", "ignoring_model", *command[1:], "--direction", "BtoA"])
        assert refused.exit_code == 2, command
        assert refused.stderr.strip() == f"translate: error: {ONE_WAY_REFUSAL}"
        assert not made.exists()
    converted = CliRunner().invoke(main, ["convert", "--plugin", "ignoring_model", str(run), source,
                                          str(tmp_path / "ab"), "--direction", "AtoB", "--device", "cpu"])
    assert converted.exit_code == 0, converted.output
    assert len(list((tmp_path / "ab").iterdir())) == len(list((SAMPLE_ROOT / "testA").iterdir()))
