"""The conformance kit (translate.testing): the built-ins pass, each broken rule is named in plain words."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch
from click.testing import CliRunner

from translate.cli import main
from translate.objective import Objective
from translate.plugins import PluginRegistry
from translate.testing import ConformanceError, check_objective

REGISTRY = PluginRegistry()
BUILTINS = ["lsgan", "vanilla", "hinge", "wgan-gp", "began", "ebgan"]


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_objective_keeps_the_contract_with_every_model(name):
    report = check_objective(REGISTRY.objective(name), registry=REGISTRY)
    assert report.ok, report.summary()
    kind = REGISTRY.objective(name).critic
    assert report.checked == [f"{model} ({kind} critic)" for model in REGISTRY.names("model")]
    assert report.summary().startswith(f"objective {name!r} keeps the contract with ")


class Good(Objective):
    """A correct stateless objective; the broken ones below each change one thing."""

    name = "good"

    def __init__(self, scale: float = 1.0):
        self.scale = scale

    def critic_loss(self, real, fake):
        return self.scale * (fake.score.mean() - real.score.mean())

    def generator_loss(self, fake):
        return -self.scale * fake.score.mean()


class PerSampleLoss(Good):
    def critic_loss(self, real, fake):
        return (fake.score - real.score).flatten(1).mean(1)  # forgot the final mean: shape (N,)


class FloatLoss(Good):
    def generator_loss(self, fake):
        return -fake.score.mean().item()


class DetachedGenerator(Good):
    def generator_loss(self, fake):
        return -fake.score.detach().mean()


class ConstantCritic(Good):
    def critic_loss(self, real, fake):
        return (real.score - real.score).mean()  # a graph, but a zero gradient


class NaNLoss(Good):
    def critic_loss(self, real, fake):
        return super().critic_loss(real, fake) * float("nan")


class NaNUpdate(Good):
    def update(self, real, fake):
        return {"ratio": float("inf")}


class ForgetsState(Good):
    def __init__(self, scale: float = 1.0):
        super().__init__(scale)
        self.k = 0.0

    def update(self, real, fake):
        self.k += 0.25  # changes during training, but state_dict() does not carry it
        return {"k": self.k}


class IgnoresLoadedState(ForgetsState):
    def state_dict(self):
        return {"k": self.k}

    def load_state_dict(self, state):
        pass


class TensorState(ForgetsState):
    def state_dict(self):
        return {"k": torch.tensor(self.k)}

    def load_state_dict(self, state):
        self.k = float(state["k"])


class NoDefault(Good):
    def __init__(self, scale: float):
        super().__init__(scale)


class AnyKeyword(Good):
    def __init__(self, scale: float = 1.0, **extra):
        super().__init__(scale)


class UnstoredOption(Good):
    def __init__(self, scale: float = 1.0, margin: float = 2.0):
        super().__init__(scale)
        self._margin = margin  # not kept under its own name: options() cannot find it


class TupleOption(Good):
    def __init__(self, scale: float = 1.0, targets: tuple = (0.0, 1.0)):
        super().__init__(scale)
        self.targets = tuple(float(t) for t in targets)  # "--loss-opt targets=..." arrives as a string


class DoubledOption(Good):
    def __init__(self, scale: float = 1.0):
        super().__init__(2 * scale)


class Raises(Good):
    def critic_loss(self, real, fake):
        raise RuntimeError("critic exploded")


class BadCriticKind(Good):
    critic = "wasserstein"


BROKEN = [
    (PerSampleLoss, "critic_loss returned a tensor of shape (2,) with pix2pix (patch critic); it must return a "
                    "0-dim (scalar) tensor"),
    (FloatLoss, "generator_loss returned float with pix2pix (patch critic); it must return a 0-dim torch.Tensor"),
    (DetachedGenerator, "generator_loss gives no gradient to the generator with pix2pix (patch critic)"),
    (ConstantCritic, "critic_loss gives no gradient to the critic with pix2pix (patch critic)"),
    (NaNLoss, "critic_loss returned nan with pix2pix (patch critic); losses must be finite"),
    (NaNUpdate, "update returned {'ratio': inf} with pix2pix (patch critic); every value must be a finite number"),
    (ForgetsState, "attribute 'k' changed during training (0.0 -> 0.5) but a restored objective has 0.0 with "
                   "pix2pix (patch critic): return it from state_dict() and set it in load_state_dict()"),
    (IgnoresLoadedState, "state does not round-trip through a checkpoint with pix2pix (patch critic): saved "
                         "{'k': 0.5}, restored {'k': 0.0}"),
    (TensorState, "state_dict() is not JSON-serialisable with pix2pix (patch critic)"),
    (NoDefault, "option 'scale' has no default"),
    (AnyKeyword, "an unknown option is accepted silently"),
    (UnstoredOption, "options() failed (AttributeError:"),
    (TupleOption, "option 'targets' given on the command line (--loss-opt targets=(0.0, 1.0)) is rejected: "
                  "ValueError"),
    (DoubledOption, "option 'scale' given on the command line as '1.0' reads back as 2.0, not its default 1.0"),
    (Raises, "training with pix2pix (patch critic) failed at iteration 1: RuntimeError: critic exploded"),
    (BadCriticKind, "critic must be one of patch, energy, got 'wasserstein'"),
]


@pytest.mark.parametrize("broken, problem", BROKEN, ids=[cls.__name__ for cls, _ in BROKEN])
def test_each_broken_rule_is_named(broken, problem):
    report = check_objective(broken, models=["pix2pix"], registry=REGISTRY)
    assert not report.ok
    assert any(problem in found for found in report.problems), report.problems
    with pytest.raises(ConformanceError, match="breaks the contract") as raised:
        report.raise_if_failed()
    assert problem in str(raised.value)
    assert all("\n" not in found for found in report.problems)  # plain one-line sentences


def test_the_correct_objective_passes_and_a_non_objective_is_refused():
    assert check_objective(Good, models=["pix2pix"], registry=REGISTRY).ok
    assert check_objective(dict).problems == ["<class 'dict'> is not a subclass of translate.objective.Objective"]


def test_another_critic_kind_runs_through_a_subclass():
    report = check_objective(Good, models=["cyclegan"], critics=("patch", "energy"), registry=REGISTRY)
    assert report.ok, report.summary()
    assert report.checked == ["cyclegan (patch critic)", "cyclegan (energy critic)"]


def test_models_whose_generator_steps_rarely_are_trained_until_it_does():
    wgan_gp = REGISTRY.objective("wgan-gp")  # StarGAN: 5 critic steps per generator step with a penalty
    calls = []

    class Counting(wgan_gp):
        def generator_loss(self, fake):
            calls.append(1)
            return super().generator_loss(fake)

    assert check_objective(Counting, models=["stargan"], steps=1, registry=REGISTRY).ok
    assert calls


def test_plugins_check_command_reports_and_sets_the_exit_status(tmp_path, monkeypatch):
    (tmp_path / "broken_objective.py").write_text(textwrap.dedent('''
        from translate import hookimpl
        from translate.objective import Objective

        class Detached(Objective):
            name = "detached"

            def critic_loss(self, real, fake):
                return fake.score.mean() - real.score.mean()

            def generator_loss(self, fake):
                return -fake.score.detach().mean()

        @hookimpl
        def translate_objectives():
            return [Detached]
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    passed = CliRunner().invoke(main, ["plugins", "check", "lsgan", "--model", "pix2pix"])
    assert passed.exit_code == 0, passed.output
    assert passed.output == "objective 'lsgan' keeps the contract with pix2pix (patch critic)\n"
    failed = CliRunner().invoke(main, ["plugins", "--plugin", "broken_objective", "check", "detached",
                                       "--model", "pix2pix", "--critic", "energy"])
    assert failed.exit_code == 1
    assert failed.output.splitlines() == [
        "objective 'detached' breaks the contract (1 problem):",
        "  - generator_loss gives no gradient to the generator with pix2pix (energy critic) (detached or constant?)",
    ]
    unknown = CliRunner().invoke(main, ["plugins", "check", "nope"])
    assert unknown.exit_code == 2 and "unknown objective 'nope'" in unknown.stderr


def test_the_pytest_fixture_fails_a_test_with_the_problems(tmp_path):
    (tmp_path / "test_fixture.py").write_text(textwrap.dedent('''
        from translate.objective import Objective

        class Detached(Objective):
            name = "detached"

            def critic_loss(self, real, fake):
                return fake.score.mean() - real.score.mean()

            def generator_loss(self, fake):
                return -fake.score.detach().mean()

        def test_detached(check_objective):
            check_objective(Detached, models=["pix2pix"])
    '''))
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "translate.pytest_plugin", "test_fixture.py"],
                            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert "1 failed" in result.stdout, result.stdout[-3000:]
    assert "generator_loss gives no gradient to the generator with pix2pix" in result.stdout


def test_the_pytest_plugin_and_the_kit_import_without_torch_or_pytest():
    code = ("import sys, translate.pytest_plugin; assert 'torch' not in sys.modules; "
            "sys.modules['pytest'] = None; del sys.modules['translate.pytest_plugin']; "
            "import translate.testing; print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr
