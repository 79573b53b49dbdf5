"""The conformance kit (translate.testing): the built-ins pass, each broken rule is named in plain words, once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch
from click.testing import CliRunner

from translate import hookimpl
from translate.cli import main
from translate.models.cyclegan import CycleGAN
from translate.models.pix2pix import Pix2Pix
from translate.objective import Objective
from translate.plugin_host.manager import PluginRegistry
from translate.testing import ConformanceError, check_objective

REGISTRY = PluginRegistry()
BUILTINS = ["lsgan", "vanilla", "hinge", "wgan-gp", "began", "ebgan", "ragan", "ralsgan", "rahinge", "r1", "r2"]


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


class NoCriticSteps(Good):
    critic_steps = 0


class NeedsRealButTakesFakeOnly(Good):
    generator_needs_real = True


class TakesRealUndeclared(Good):
    def generator_loss(self, fake, real):
        return -(fake.score.mean() - real.score.mean())


def r1_penalty(critic, images, create_graph=True):
    images = images.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(images).score.sum(), images, create_graph=create_graph)
    return 0.5 * grad.flatten(1).square().sum(1).mean()


class PenaltyWithoutGraph(Good):
    per_sample_critic = True

    def penalty(self, critic, real_input, fake_input):
        return r1_penalty(critic, real_input, create_graph=False)  # a constant: R1 does nothing


class PenaltyThroughBatchNorm(Good):
    # per_sample_critic forgotten: pix2pix keeps batch norm in its critic
    def penalty(self, critic, real_input, fake_input):
        return r1_penalty(critic, real_input)


BROKEN = [
    (PerSampleLoss, "critic_loss returned a tensor of shape (2,) with pix2pix (patch critic); it must return a "
                    "0-dim (scalar) tensor"),
    (FloatLoss, "generator_loss returned float with pix2pix (patch critic); it must return a 0-dim torch.Tensor"),
    (DetachedGenerator, "generator_loss gives no gradient to the generator with pix2pix (patch critic)"),
    (ConstantCritic, "critic_loss gives no gradient to the critic with pix2pix (patch critic)"),
    (NaNLoss, "critic_loss returned nan with pix2pix (patch critic); losses must be finite"),
    (NaNUpdate, "update returned {'ratio': inf} with pix2pix (patch critic); every value must be a finite number"),
    (ForgetsState, "attribute 'k' changed during training but is not in state_dict() with pix2pix (patch critic), "
                   "so a resumed run starts it afresh: return it from state_dict() and set it in load_state_dict()"),
    (IgnoresLoadedState, "state does not round-trip through a checkpoint with pix2pix (patch critic): state_dict() "
                         "returns other values after load_state_dict() of what it returned"),
    (TensorState, "state_dict() is not JSON-serialisable with pix2pix (patch critic)"),
    (NoDefault, "option 'scale' has no default"),
    (AnyKeyword, "an unknown option is accepted silently"),
    (UnstoredOption, "options() failed (AttributeError:"),
    (TupleOption, "option 'targets' given on the command line (--loss-opt targets=(0.0, 1.0)) is rejected: "
                  "ValueError"),
    (DoubledOption, "option 'scale' given on the command line as '1.0' reads back as 2.0, not its default 1.0"),
    (Raises, "training with pix2pix (patch critic) failed at iteration 1: RuntimeError: critic exploded"),
    (BadCriticKind, "critic must be one of patch, energy, got 'wasserstein'"),
    (NoCriticSteps, "critic_steps must be an integer >= 1 (critic steps per generator step), got 0"),
    (NeedsRealButTakesFakeOnly, "generator_needs_real is True but generator_loss takes no second argument"),
    (TakesRealUndeclared, "generator_loss requires a second argument but generator_needs_real is False"),
    (PenaltyWithoutGraph, "penalty gives no gradient to the critic with pix2pix (patch critic), so it trains nothing "
                          "(a gradient penalty needs torch.autograd.grad(..., create_graph=True), and no .detach())"),
    (PenaltyThroughBatchNorm, "penalty runs the critic, which has batch norm with pix2pix (patch critic) because "
                              "per_sample_critic is False"),
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


def test_each_problem_is_reported_once_for_every_model_it_happens_with():
    """Not once per model, and not followed by the error it causes (the step failing on a non-scalar loss)."""
    report = check_objective(PerSampleLoss, models=["pix2pix", "cyclegan"], registry=REGISTRY)
    assert report.problems == [
        "critic_loss returned a tensor of shape (2,) with pix2pix, cyclegan (patch critic); it must return a 0-dim "
        "(scalar) tensor, e.g. reduce with .mean()"]
    both = check_objective(DetachedGenerator, models=["pix2pix"], critics=("patch", "energy"), registry=REGISTRY)
    assert both.problems == ["generator_loss gives no gradient to the generator with pix2pix (patch critic) and "
                             "pix2pix (energy critic) (detached or constant?)"]


def test_the_generator_steps_in_a_short_check_whatever_the_critic_steps():
    wgan_gp = REGISTRY.objective("wgan-gp")  # 5 critic steps per generator step
    calls = []

    class Counting(wgan_gp):
        def generator_loss(self, fake):
            calls.append(1)
            return super().generator_loss(fake)

    assert check_objective(Counting, models=["stargan"], steps=1, registry=REGISTRY).ok
    assert calls


class TensorAttribute(Good):
    """Keeps its state in a tensor attribute: state_dict() says nothing, plain attributes do not change."""

    def __init__(self, scale: float = 1.0):
        super().__init__(scale)
        self.k = torch.zeros(())

    def update(self, real, fake):
        self.k = self.k + 0.25
        return {"k": float(self.k)}

    def generator_loss(self, fake):
        return -(1.0 + self.k) * fake.score.mean()


def test_state_kept_in_a_tensor_attribute_is_found_at_the_checkpoint_once_for_every_model():
    report = check_objective(TensorAttribute, models=["cyclegan", "pix2pix"], registry=REGISTRY)
    assert report.problems == [
        "attribute 'k' changed during training but is not in state_dict() with cyclegan, pix2pix (patch critic), "
        "so a resumed run starts it afresh: return it from state_dict() and set it in load_state_dict()"]


class TensorHistory(Good):
    """Keeps its state in a list of tensors, which no attribute comparison reads: only resuming finds it."""

    def __init__(self, scale: float = 1.0):
        super().__init__(scale)
        self.history = [torch.zeros(())]

    def update(self, real, fake):
        self.history = [self.history[0] + 0.25]
        return {"k": float(self.history[0])}

    def generator_loss(self, fake):
        return -(1.0 + self.history[0]) * fake.score.mean()


def test_state_kept_where_no_attribute_comparison_looks_is_found_by_resuming_a_real_checkpoint():
    report = check_objective(TensorHistory, models=["cyclegan", "pix2pix"], registry=REGISTRY)
    assert report.problems == [
        "a run resumed from its checkpoint after 2 iterations does not continue as the uninterrupted run with "
        "cyclegan, pix2pix (patch critic): the objective's attribute 'history' (list) differs, so it is state that "
        "state_dict() must return and load_state_dict() set (as plain values)"]


class EveryIteration(Good):
    critic_steps = 3


class EagerPix2Pix(Pix2Pix):
    """Steps its generator on every iteration, whatever the objective's critic_steps."""

    name = "eager-pix2pix"

    def start_iteration(self):
        super().start_iteration()
        return True


class ForgetfulCycleGAN(CycleGAN):
    """Saves its image pools but not the base class's schedule counter."""

    name = "forgetful-cyclegan"

    def training_state(self):
        return {"pool_A": self.pool_A.state_dict(), "pool_B": self.pool_B.state_dict()}


class BrokenModels:
    @hookimpl
    def translate_models(self):
        return [EagerPix2Pix, ForgetfulCycleGAN]


def test_models_that_ignore_the_critic_schedule_or_lose_it_on_resume_are_named():
    registry = PluginRegistry()
    registry.register(BrokenModels(), "broken-models")
    eager = check_objective(EveryIteration, models=["eager-pix2pix"], registry=registry)
    assert eager.problems == [
        "the generator stepped on iterations [1, 2, 3] of 3 with eager-pix2pix (patch critic); with critic_steps = 3 "
        "it must step on [1] (models call Model.start_iteration() in train_step)"]
    forgetful = check_objective(EveryIteration, models=["forgetful-cyclegan"], registry=registry)
    assert forgetful.problems == [
        "a run resumed from its checkpoint after 2 iterations does not continue as the uninterrupted run with "
        "forgetful-cyclegan (patch critic): something a checkpoint does not carry changed the next step (state "
        "outside the objective's state_dict(), or outside the model's training_state())"]


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
    assert "translate finds plugins through the entry-point group 'translate'" in unknown.stderr
    assert len(unknown.stderr.splitlines()) == 1


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
