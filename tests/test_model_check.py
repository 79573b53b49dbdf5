"""The model check (translate.testing_models): the built-in models pass, and each broken rule is named in one
sentence naming the model — above all a second generator that never trains."""

from __future__ import annotations

import importlib
import sys
import textwrap

import pytest
from click.testing import CliRunner

from translate.cli import main
from translate.plugin_host.manager import PluginRegistry
from translate.testing import ConformanceError
from translate.testing_models import check_model

REGISTRY = PluginRegistry()
FAST = {"objectives": ["lsgan"], "export": "torchscript", "registry": REGISTRY}

#: A one-way model with a second generator, as a third party writes it (GcGAN's shape, with a flip), and
#: variants that each break one rule. Written to a module so that --plugin can load it too.
MODELS = '''
import torch
import torch.nn.functional as F

from translate import hookimpl
from translate.data import UnpairedDataset
from translate.models.base import Model
from translate.models.directions import check_direction
from translate.models.generators import build_translator_net
from translate.models.pool import ImagePool
from translate.nets import init_weights


class Pair(Model):
    """One-way A -> B; a second generator translates flipped images, and the two must agree."""

    name = "pair"
    tiny_options = {"ngf": 8, "ndf": 8, "pool_size": 2}

    def __init__(self, make_objective, image_size=256, *, ngf=64, ndf=64, pool_size=50, lr=2e-4, beta1=0.5,
                 beta2=0.999):
        super().__init__(make_objective, image_size)
        self.ngf, self.ndf, self.pool_size, self.lr, self.beta1, self.beta2 = ngf, ndf, pool_size, lr, beta1, beta2
        self.G = build_translator_net("resnet_6blocks", ngf=ngf, norm="instance", dropout=False)
        self.G2 = build_translator_net("resnet_6blocks", ngf=ngf, norm="instance", dropout=False)
        self.D = self.add_critic("D", in_channels=3, ndf=ndf, norm="instance")
        self.pool = ImagePool(pool_size)
        init_weights(self)

    @classmethod
    def dataset(cls, root, split, image_size, train, options):
        return UnpairedDataset(root, split=split, image_size=image_size, train=train)

    def parameter_groups(self):
        return {"generator": [*self.G.parameters(), *self.G2.parameters()], "critic": list(self.D.parameters())}

    def outputs(self, real_a):
        return self.G(real_a), self.G2(real_a.flip(3)).flip(3)

    def train_step(self, batch):
        real_a, real_b = batch["A"], batch["B"]
        reals = torch.cat([real_b, real_b])
        generator_steps = self.start_iteration()
        with torch.set_grad_enabled(generator_steps):
            fake, flipped = self.outputs(real_a)
        logged = {}
        if generator_steps:
            with self.frozen(self.D):
                adversarial = self.adversarial_loss("D", self.D, torch.cat([fake, flipped]), reals)
                self.optimize("generator", adversarial + 10 * F.l1_loss(fake, flipped))
            logged["G"] = adversarial.item()
        return {**logged, **self.critic_step([("D", self.D, reals, self.pool.query(torch.cat([fake, flipped])))])}

    def translate(self, images, direction=None):
        return self.inference_network(direction)(images)

    def inference_network(self, direction=None):
        check_direction(direction, model=self.name, ways=("AtoB",))
        return self.G

    def metadata(self):
        return {"input": "A", "output": "B"}

    def sample_columns(self, batch):
        return [batch["A"], *self.outputs(batch["A"]), batch["B"]]

    def training_state(self):
        return {**super().training_state(), "pool": self.pool.state_dict()}

    def load_training_state(self, state):
        super().load_training_state(state)
        self.pool.load_state_dict(state["pool"])


class LazySecond(Pair):
    name = "lazy-second"

    def outputs(self, real_a):  # G2 is built and in the generator group, but no loss reaches it
        return self.G(real_a), self.G(real_a.flip(3)).flip(3)


class Outside(Pair):
    name = "outside"

    def parameter_groups(self):
        return {"generator": list(self.G.parameters()), "critic": list(self.D.parameters())}


class Unsaved(Pair):
    name = "unsaved"

    def training_state(self):
        return Model.training_state(self)

    def load_training_state(self, state):
        Model.load_training_state(self, state)


class Unloaded(Pair):
    name = "unloaded"

    def load_training_state(self, state):
        Model.load_training_state(self, state)


class Ignoring(Pair):
    name = "ignoring"

    def translate(self, images, **condition):
        return self.G(images)

    def inference_network(self, **condition):
        return self.G


class Mismatched(Pair):
    name = "mismatched"

    def translate(self, images, direction=None):
        super().inference_network(direction)
        return self.G(images)

    def inference_network(self, direction=None):
        super().inference_network(direction)
        return self.G2


class ShortColumns(Pair):
    name = "short-columns"

    def sample_columns(self, batch):
        return [batch["A"], self.G(batch["A"])[:1]]


class Drifting(Pair):
    name = "drifting"

    def options(self):
        return {**super().options(), "lr": self.lr * 2}


class BadMetadata(Pair):
    name = "bad-metadata"

    def metadata(self):
        return {"directions": ["up"], "input": "A", "output": "A"}


class NotJson(Pair):
    name = "not-json"

    def metadata(self):
        return {"input": torch.tensor(1)}


@hookimpl
def translate_models():
    return [Pair, LazySecond, Outside, Unsaved, Unloaded, Ignoring, Mismatched, ShortColumns, Drifting, BadMetadata,
            NotJson]
'''


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """The module of test models, importable as ``model_check_models`` (and by ``--plugin``)."""
    folder = tmp_path_factory.mktemp("model-check")
    (folder / "model_check_models.py").write_text(textwrap.dedent(MODELS))
    sys.path.insert(0, str(folder))
    yield importlib.import_module("model_check_models")
    sys.path.remove(str(folder))
    sys.modules.pop("model_check_models", None)


def only_problem(report) -> str:
    assert len(report.problems) == 1, report.summary()
    return report.problems[0]


@pytest.mark.parametrize("name", REGISTRY.names("model"))
def test_every_builtin_model_keeps_the_model_contract(name):
    report = check_model(name, export="torchscript", registry=REGISTRY)
    assert report.ok, report.summary()
    assert report.checked[:2] == ["trained and resumed with lsgan (patch critic)",
                                  "trained and resumed with began (energy critic)"]
    assert report.summary().startswith(f"model {name!r} keeps the contract: ")


def test_a_two_generator_model_passes_with_its_onnx_export(models):
    report = check_model(models.Pair, objectives=["lsgan"], export="onnx", registry=REGISTRY)
    assert report.ok, report.summary()
    assert report.checked == ["trained and resumed with lsgan (patch critic)", "converted from its checkpoint (1 condition)",
                              "exported as ONNX (1 condition)"]


def test_a_second_generator_that_never_trains_is_named(models):
    report = check_model(models.LazySecond, registry=REGISTRY, export="torchscript")
    assert report.problems == [
        "model 'lazy-second': network 'G2' (optimiser group 'generator') did not change in 3 iterations of training "
        "with lsgan (patch critic) and began (energy critic): none of its parameters gets a gradient; use its "
        "output in a loss that self.optimize('generator', ...) steps"]
    assert report.summary().splitlines()[0] == "model 'lazy-second' breaks the contract (1 problem):"
    with pytest.raises(ConformanceError, match="network 'G2'"):
        report.raise_if_failed()


def test_a_network_outside_every_optimiser_group_is_named(models):
    assert only_problem(check_model(models.Outside, **FAST)) == (
        "model 'outside': network 'G2' is in no optimiser group, so it never trains: return its parameters from "
        "parameter_groups() (or freeze it with requires_grad_(False) if it must not learn)")


def test_an_image_pool_left_out_of_the_training_state_is_named_while_in_use(models):
    assert only_problem(check_model(models.Unsaved, **FAST)) == (
        "model 'unsaved': --resume does not restore the attribute 'pool' (ImagePool) with lsgan (patch critic): "
        "after 2 iterations a resumed model holds another value; return it from training_state() and set it in "
        "load_training_state() (extend the base class's: {**super().training_state(), ...})")


def test_an_image_pool_saved_but_not_loaded_is_named(models):
    assert only_problem(check_model(models.Unloaded, **FAST)) == (
        "model 'unloaded': --resume does not restore training_state()['pool'] with lsgan (patch critic): after 2 "
        "iterations it differs from what a model resumed from that checkpoint holds; set it in load_training_state()")


def test_a_one_way_model_that_ignores_the_direction_is_named(models):
    fix = ("refuse it with an OptionError: translate.models.directions.check_direction(direction, "
           "model='ignoring', ways=('AtoB',))")
    assert check_model(models.Ignoring, **FAST).problems == [
        f"model 'ignoring': translate(images, direction='BtoA') runs although the model translates AtoB only "
        f"(metadata() lists no such direction); {fix}",
        f"model 'ignoring': inference_network(direction='BtoA') runs although the model translates AtoB only "
        f"(metadata() lists no such direction); {fix}"]


def test_an_export_that_computes_something_else_than_translate_is_named(models):
    problem = only_problem(check_model(models.Mismatched, **FAST))
    assert problem.startswith("model 'mismatched': the torchscript export differs from translate() by up to ")
    assert problem.endswith(" for the default conversion (no condition) on a 32x40 image: "
                            "inference_network(**condition) must return the network translate(**condition) runs")


def test_sample_columns_of_another_size_than_the_batch_are_named(models):
    assert only_problem(check_model(models.ShortColumns, **FAST)) == (
        "model 'short-columns': sample_columns() returned column 1 as (1, 3, 32, 32) for a batch of 2 images of "
        "32x32 with lsgan (patch critic); every column must be (2, 3, 32, 32), one image per input at the input's "
        "size")


def test_an_option_that_does_not_round_trip_through_a_checkpoint_is_named(models):
    assert only_problem(check_model(models.Drifting, **FAST)) == (
        "model 'drifting': option 'lr' does not round-trip through a checkpoint: trained with 0.0004, the model "
        "built from the checkpoint has 0.0008; keep each option as an attribute of the same name holding the value "
        "it was given")


def test_metadata_that_conversion_cannot_read_is_named(models):
    assert check_model(models.BadMetadata, **FAST).problems[:2] == [
        "model 'bad-metadata': metadata() has 'directions' ['up']; it must list AtoB and/or BtoA, the directions "
        "convert --direction may choose (leave it out for a one-way model)",
        "model 'bad-metadata': metadata() has 'input' 'A' and 'output' 'A'; a one-way model declares both, one 'A' "
        "and the other 'B'"]
    assert check_model(models.NotJson, **FAST).problems == [
        "model 'not-json': metadata() is not JSON (TypeError: Object of type Tensor is not JSON serializable); "
        "checkpoints store it as JSON"]


def test_a_name_no_plugin_provides_is_reported_with_how_plugins_are_found():
    problem = only_problem(check_model("no-such-model", **FAST))
    assert problem.startswith("unknown model 'no-such-model' (available: ")
    assert "entry-point group 'translate'" in problem


def test_the_command_line_checks_a_model(models):
    passed = CliRunner().invoke(main, ["plugins", "check", "--model", "pix2pix", "--loss", "lsgan",
                                       "--export", "torchscript"])
    assert passed.exit_code == 0, passed.output
    assert passed.output == ("model 'pix2pix' keeps the contract: trained and resumed with lsgan (patch critic); "
                             "converted from its checkpoint (1 condition); exported as TorchScript (1 condition)\n")
    failed = CliRunner().invoke(main, ["plugins", "--plugin", "model_check_models", "check", "--model", "outside",
                                       "--loss", "lsgan", "--export", "torchscript"])
    assert failed.exit_code == 1
    assert failed.output.splitlines() == [
        "model 'outside' breaks the contract (1 problem):",
        "  - network 'G2' is in no optimiser group, so it never trains: return its parameters from "
        "parameter_groups() (or freeze it with requires_grad_(False) if it must not learn)"]


@pytest.mark.parametrize("args, message", [
    (["check"], "name an objective (translate plugins check NAME) or a model (translate plugins check --model MODEL)"),
    (["check", "pix2pix"], "'pix2pix' is a model: check it with translate plugins check --model pix2pix"),
    (["check", "lsgan", "--loss", "began"], "--loss and --export are for a model check"),
    (["check", "--model", "pix2pix", "--critic", "energy"], "--critic is for an objective check"),
    (["check", "--model", "pix2pox"], "unknown model 'pix2pox'"),
    (["check", "--model", "pix2pix", "--loss", "lsgn"], "unknown objective 'lsgn'"),
])
def test_the_command_line_refuses_what_it_cannot_check_in_one_line(args, message):
    result = CliRunner().invoke(main, ["plugins", *args])
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.splitlines()) == 1


def test_the_pytest_fixture_fails_a_test_with_the_problems(models, check_model):
    with pytest.raises(ConformanceError, match=r"model 'outside' breaks the contract \(1 problem\):\n  - network 'G2'"):
        check_model(models.Outside, objectives=["lsgan"], export="torchscript")
    assert check_model(models.Pair, objectives=["lsgan"], export="torchscript").ok
