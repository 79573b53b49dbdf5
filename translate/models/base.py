"""The Model contract: what a model plugin implements.

A model owns its generators and critics and the order of its updates. It never
knows which adversarial objective it trains with: it asks the objective which
critic to build (:meth:`Model.add_critic`) and routes every critic and generator
loss through it. Three calls of this base class are the whole adversarial part of
a ``train_step``:

* ``generator_steps = self.start_iteration()`` first: counts the iteration and says
  whether the generator steps in it. Every iteration makes one critic step; the
  generator steps on the first of every ``critic_steps`` iterations, as the
  objective declares (:attr:`Model.critic_steps`). The counter is part of
  :meth:`Model.training_state`, so ``--resume`` keeps the schedule.
* ``self.critic_step([(name, critic, real_input, fake_input), ...])``: one critic
  step through the objective (loss, penalty, state update).
* ``self.adversarial_loss(name, critic, fake_input, real_input)`` in the generator
  step, with the critic frozen (:meth:`Model.frozen`): the objective's generator loss
  from the critic's output on ``fake_input`` and, for objectives that ask for it
  (relativistic ones), on ``real_input`` computed without a graph.

Each critic gets its own objective instance, so a stateful objective (BEGAN's
k_t) keeps one state per critic. A model built with ``make_objective=None`` has
no critics at all: that is how :mod:`translate.convert` loads a checkpoint
without needing the objective plugin that trained it.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import torch
from torch import Tensor, nn

from translate.errors import first_line
from translate.models.objective_checks import finite_problem, loss_problem, penalty_gradient_problem
from translate.nets import build_critic
from translate.nets.multiscale import MultiScaleCritic
from translate.objective import CriticFn, CriticOutput, Objective, ObjectiveError
from translate.options import BETA, RATE, WEIGHT, WIDTH, Limit, OptionError, check_limits, option_defaults

if TYPE_CHECKING:
    from torch.utils.data import Dataset

ObjectiveFactory = Callable[[], Objective]


class Model(nn.Module):
    """Base class of translation models.

    Subclasses set :attr:`name`, take their options as keyword arguments of
    ``__init__`` with defaults (``--model-opt key=value`` fills them) and keep
    each as an attribute of the same name, build their networks, and implement
    :meth:`dataset`, :meth:`train_step`, :meth:`translate` and :meth:`sample_columns`.
    """

    #: What ``--model`` selects; unique across all installed plugins.
    name: ClassVar[str] = ""
    #: Names of the optimiser groups, in the order :meth:`parameter_groups` returns them.
    optimizer_names: ClassVar[tuple[str, ...]] = ("generator", "critic")
    #: Options of the smallest instance that still runs every network at 32 px, used by
    #: :mod:`translate.testing` to check objectives against this model in seconds.
    tiny_options: ClassVar[dict[str, Any]] = {}
    #: Valid ranges of numeric options (:class:`translate.options.Limit`), enforced for ``--model-opt``,
    #: for checkpoints and by :meth:`check_options`; subclasses extend it with their own.
    option_limits: ClassVar[dict[str, Limit]] = {"lr": RATE, "beta1": BETA, "beta2": BETA, "critic_scales": WIDTH,
                                                 "lambda_fm": WEIGHT}
    #: Options an earlier version of the model took and that no longer change what it computes at
    #: inference; checkpoints that still hold them load with these keys dropped.
    retired_options: ClassVar[frozenset[str]] = frozenset()
    #: Length of a run on the user's data when neither ``--steps`` nor ``--epochs`` is given
    #: (the references' pix2pix and CycleGAN: 100 epochs at a constant rate + 100 decaying).
    #: A model may set it per instance in ``__init__`` (FastCUT trains 200 epochs, CUT 400).
    default_epochs: int = 200
    #: Fraction of the run after which the learning rate decays linearly to 0 (the trainer's
    #: ``TrainConfig.lr_decay_from`` overrides it). Per instance like :attr:`default_epochs`.
    lr_decay_from: float = 0.5
    #: Option values that restore the reference implementation's training where translate's
    #: defaults differ from it (``translate train --preset reference``). Checkpoints saved
    #: before such an option existed were trained this way and load with these values.
    reference_options: ClassVar[dict[str, Any]] = {}

    def __init__(self, make_objective: ObjectiveFactory | None, image_size: int = 256, *, critic_scales: int = 1,
                 lambda_fm: float = 0.0):
        super().__init__()
        self.make_objective = make_objective
        self.image_size = image_size
        #: Critics per adversarial critic, each on the input at half the last one's size (:meth:`add_critic`).
        self.critic_scales = critic_scales
        #: Weight of critic feature matching in the generator's adversarial loss (:meth:`adversarial_loss`).
        self.lambda_fm = lambda_fm
        self.objectives: dict[str, Objective] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        #: Gradient scalers of the optimisers that need one (fp16 on CUDA); set by the trainer.
        self.grad_scalers: dict[str, torch.amp.GradScaler] = {}
        #: Data-parallel wrappers that attribute access returns instead of the plain networks (see distribute).
        self.replicas: dict[str, nn.Module] = {}
        #: Training iterations started so far (:meth:`start_iteration`); saved in :meth:`training_state`.
        self.iteration = 0
        #: Check what objectives return (:mod:`translate.models.objective_checks`); the trainer's
        #: ``--no-plugin-checks`` turns it off.
        self.objective_checks = True
        self._checked_once: set[tuple[str, str]] = set()  # (critic, method) whose first result was checked

    # -- what subclasses implement ----------------------------------------------------

    @classmethod
    def dataset(cls, root: str, split: str, image_size: int, train: bool, options: dict[str, Any]) -> "Dataset":
        """The data set this model trains on (``root`` is the user's ``--data``)."""
        raise NotImplementedError

    @classmethod
    def reference_preset(cls, options: dict[str, Any]) -> dict[str, Any]:
        """The model options ``--preset reference`` trains with: :attr:`reference_options`, then the
        parsed ``--model-opt`` values ``options`` over them. A model whose reference values depend on
        another option (CUT's ``mode``) overrides this."""
        return {**cls.reference_options, **options}

    @classmethod
    def options_from_data(cls, root: str, options: dict[str, Any]) -> dict[str, Any]:
        """Complete ``options`` from the training data before the model is built.

        The trainer calls this with the data root and the parsed ``--model-opt`` values
        (given keys only); options a model cannot know without the data, such as
        StarGAN's domain names, are filled in here. They then travel in
        :meth:`options` into checkpoints, so conversion never needs the data.
        The default returns ``options`` unchanged.
        """
        return options

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters of each optimiser, keyed by :attr:`optimizer_names`."""
        raise NotImplementedError

    def train_step(self, batch: dict[str, Tensor]) -> dict[str, float]:
        """Run one training iteration (all its updates); return scalars to log."""
        raise NotImplementedError

    def translate(self, images: Tensor, **condition: Any) -> Tensor:
        """Translate a batch ``(N, 3, H, W)`` in [-1, 1] of any size; same shape out."""
        raise NotImplementedError

    def sample_columns(self, batch: dict[str, Tensor]) -> list[Tensor]:
        """Image columns of a sample grid, e.g. ``[input, output, target]``."""
        raise NotImplementedError

    def metadata(self) -> dict[str, Any]:
        """What conversion needs to know besides the options (directions, domains)."""
        return {}

    def inference_network(self, **condition: Any) -> nn.Module:
        """The padded generator (:class:`translate.nets.PadCrop`) that ``translate`` runs for ``condition``.

        Used by ``translate export`` and ``convert --backend onnxruntime``; models whose
        translation is more than one generator call leave it unimplemented.
        """
        raise OptionError(f"model {self.name!r} cannot be exported as one generator")

    def conversion_targets(self) -> dict[str, dict[str, Any]]:
        """Named conditions for ``convert --every-target`` (e.g. both directions); empty for one output."""
        return {}

    # -- shared machinery -------------------------------------------------------------

    def options(self) -> dict[str, Any]:
        """The options this model was built with (saved in checkpoints)."""
        return {name: getattr(self, name) for name in option_defaults(type(self)) if name != "image_size"}

    def check_options(self) -> None:
        """Refuse options outside :attr:`option_limits` with an :class:`OptionError` naming the option.

        Subclasses call it once their options are attributes, before building networks.
        """
        check_limits(f"model {self.name!r} option", self.options(), self.option_limits)

    @property
    def trains(self) -> bool:
        """True when built with an objective (critics exist); False for inference only."""
        return self.make_objective is not None

    def add_critic(self, name: str, in_channels: int, ndf: int = 64, norm: str = "batch") -> nn.Module | None:
        """Build the critic the objective asks for and give it its own objective instance.

        ``name`` is the attribute the model stores the critic under (``self.D_A = self.add_critic("D_A", ...)``).

        Returns ``None`` for an inference-only model. Batch norm is replaced by
        instance norm when the objective needs per-sample critics (gradient penalty).
        With :attr:`critic_scales` > 1 it is a :class:`~translate.nets.multiscale.MultiScaleCritic`
        of that many critics, each with its own objective instance (``name``, ``name@1``, ...,
        :func:`scale_name`), whose losses :meth:`critic_step` and :meth:`adversarial_loss` average.
        """
        if self.make_objective is None:
            return None
        critics = []
        for scale in range(self.critic_scales):
            objective = self.make_objective()
            if self.lambda_fm and objective.critic != "patch":
                raise OptionError(f"model {self.name!r} option 'lambda_fm' matches the intermediate features of a "
                                  f"patch critic; objective {objective.name!r} asks for an {objective.critic} critic, "
                                  "which has none: leave lambda_fm at 0")
            critic_norm = "instance" if objective.per_sample_critic and norm == "batch" else norm
            kwargs = dict(objective.critic_options)
            if objective.critic == "patch":
                kwargs["norm"] = critic_norm
            critics.append(build_critic(objective.critic, in_channels, ndf=ndf, **kwargs))
            self.objectives[scale_name(name, scale)] = objective
        return critics[0] if len(critics) == 1 else MultiScaleCritic(critics)

    def optimizer_settings(self, group: str) -> dict[str, Any]:
        """Adam settings of optimiser ``group`` (default: the model's ``lr``, ``beta1``, ``beta2``)."""
        return {"lr": self.lr, "betas": (self.beta1, self.beta2)}

    def optimize(self, group: str | tuple[str, ...], loss: Tensor) -> None:
        """Back-propagate ``loss`` and step the optimiser of ``group`` (through its gradient scaler, if any).

        ``group`` may name several groups that learn from one loss (CUT's generator and its
        projection heads): each optimiser steps, through the first group's scaler if it has one.
        """
        optimizers = [self.optimizers[name] for name in ((group,) if isinstance(group, str) else group)]
        for optimizer in optimizers:
            optimizer.zero_grad(set_to_none=True)
        scaler = self.grad_scalers.get(group if isinstance(group, str) else group[0])
        if scaler is None:
            loss.backward()
            for optimizer in optimizers:
                optimizer.step()
        else:
            scaler.scale(loss).backward()
            for optimizer in optimizers:
                scaler.step(optimizer)
            scaler.update()

    def distribute(self, wrap: Callable[[nn.Module], nn.Module]) -> None:
        """Wrap every trainable network for data-parallel training (DDP under ``torchrun``).

        Each child network with trainable parameters gets ``wrap(child)`` as the value of
        its attribute, so ``self.G(x)`` runs the wrapper and its gradients are averaged
        over the ranks, while the module tree, ``state_dict()`` keys and parameters stay
        those of the plain networks. Frozen networks (:meth:`frozen`) and sampling
        (:meth:`unwrapped`) run the plain modules, whose gradients nobody waits for.
        Models that call a network other than through its attribute (UNIT's shared
        blocks) extend this.
        """
        for name, child in self.named_children():
            if any(parameter.requires_grad for parameter in child.parameters()):
                self.replicas[name] = wrap(child)
                object.__setattr__(self, name, self.replicas[name])  # shadows the child for attribute access

    def compile_networks(self) -> None:
        """``torch.compile`` every trainable network in place (state-dict keys unchanged).

        Critics whose objective takes a gradient penalty stay eager: compiled graphs do
        not support the double backward the penalty needs. Critics are found by the
        name given to :meth:`add_critic`, which is the attribute they are stored under.
        """
        penalised = {name for name, objective in self.objectives.items()
                     if type(objective).penalty is not Objective.penalty}
        for name, child in self.named_children():
            if name not in penalised and any(parameter.requires_grad for parameter in child.parameters()):
                child.compile()

    def unwrapped(self, *modules: nn.Module | None) -> contextlib.AbstractContextManager:
        """Context in which ``modules`` (default: all) are the plain networks, not their DDP wrappers."""
        chosen = [m for m in modules if m is not None]
        names = [name for name, wrapper in self.replicas.items() if not chosen or wrapper in chosen]
        return _Unwrapped(self, names)

    def critic_step(
        self, updates: list[tuple[str, CriticFn, Tensor, Tensor]], group: str = "critic"
    ) -> dict[str, float]:
        """One step of the critics in ``updates``, which share the optimiser ``group``.

        Each update is ``(critic name, critic, real images, generated images)``;
        ``critic`` maps images to a :class:`CriticOutput` with any condition bound,
        so a penalty interpolates images only. The losses are summed into one
        backward pass and one optimiser step (CycleGAN's two critics); afterwards
        each objective updates its state from its own critic's pre-step outputs.
        A multi-scale critic (a list of outputs) is one objective call per scale, the
        losses averaged. Returns ``{name: loss, "name/penalty": ..., "name/<state>": ...}``
        (a scale's state as ``"name@1/<state>"``).
        """
        total: Tensor | None = None
        logged: dict[str, float] = {}
        after_step = []
        for name, critic, real, fake in updates:
            fake = fake.detach()
            real_outs, fake_outs = scales_of(critic(real)), scales_of(critic(fake))
            losses, penalties = [], []
            for scale, (real_out, fake_out) in enumerate(zip(real_outs, fake_outs)):
                key = scale_name(name, scale)
                objective = self.objectives[key]
                losses.append(self._checked(key, "critic_loss", objective.critic_loss(real_out, fake_out)))
                with self._penalty_precision(group, real.device):
                    penalty = objective.penalty(at_scale(critic, scale, len(real_outs)), real, fake)
                if penalty is not None:
                    penalties.append(self._checked(key, "penalty", penalty))
                    self._check_penalty(name, key, penalty)
                after_step.append((key, objective, real_out.detach(), fake_out.detach()))
            loss = _mean(losses)
            logged[name] = loss.item()
            if penalties:
                penalty = _mean(penalties)
                logged[f"{name}/penalty"] = penalty.item()
                loss = loss + penalty
            total = loss if total is None else total + loss
        assert total is not None, "critic_step needs at least one critic"
        try:
            self.optimize(group, total)
        except RuntimeError as exc:  # e.g. a graph kept from the previous step in the objective's state
            if not self.objective_checks:
                raise
            objective = self.objectives[updates[0][0]]
            raise ObjectiveError(type(objective), "critic_loss", f"critic_loss (with its penalty) could not be "
                                 f"backpropagated in a critic step of model {self.name!r}: {first_line(exc)}") from exc
        for name, objective, real_out, fake_out in after_step:
            for key, value in objective.update(real_out, fake_out).items():
                logged[f"{name}/{key}"] = value
        return logged

    def _penalty_precision(self, group: str, device: torch.device) -> contextlib.AbstractContextManager:
        """fp32 for penalties of a group trained in fp16 (with a gradient scaler), else the current precision.

        A penalty differentiates the critic inside the loss (``autograd.grad``); in fp16 those
        gradients underflow unless the critic's output is scaled first, which an objective
        plugin cannot know about. bf16 keeps fp32's range and needs nothing.
        """
        if group in self.grad_scalers:
            return torch.autocast(device.type, enabled=False)
        return contextlib.nullcontext()

    @property
    def critic_steps(self) -> int:
        """Critic steps per generator step, as the objective declares them (1 without critics).

        See :attr:`translate.objective.Objective.critic_steps`.
        """
        return next((objective.critic_steps for objective in self.objectives.values()), 1)

    def start_iteration(self) -> bool:
        """Count one training iteration; True when the generator steps in it.

        Call it once at the start of :meth:`train_step`. Every iteration makes one critic
        step; the generator steps on the first iteration of every :attr:`critic_steps`,
        so a run of any length updates the generator.
        """
        generator_steps = self.iteration % self.critic_steps == 0
        self.iteration += 1
        return generator_steps

    def adversarial_loss(self, name: str, critic: CriticFn, fake_input: Tensor, real_input: Tensor) -> Tensor:
        """The generator's adversarial loss against critic ``name``, for a generator step.

        ``critic`` maps images to a :class:`CriticOutput` with any condition bound (call it
        inside :meth:`frozen`). Its output on ``fake_input`` carries the generator's
        gradient. Only an objective that sets ``generator_needs_real`` also gets the
        critic's output on ``real_input``, computed without a graph (the critic does not
        learn in a generator step); the others cost no second critic pass.
        """
        fakes = scales_of(critic(fake_input))
        reals: list[CriticOutput] = []
        needs_real = self.objectives[name].generator_needs_real
        if needs_real or self.lambda_fm:
            with torch.no_grad():
                reals = scales_of(critic(real_input))
        losses = []
        for scale, fake in enumerate(fakes):
            key = scale_name(name, scale)
            loss = (self.objectives[key].generator_loss(fake, reals[scale]) if needs_real
                    else self.objectives[key].generator_loss(fake))
            losses.append(self._checked(key, "generator_loss", loss))
        loss = _mean(losses)
        if self.lambda_fm:
            loss = loss + self.lambda_fm * feature_matching(reals, fakes)
        return loss

    def _checked(self, name: str, method: str, value: Any) -> Any:
        """``value``, which ``method`` of critic ``name``'s objective returned, if it keeps the contract: a 0-dim
        tensor, and finite the first time; else an :class:`~translate.objective.ObjectiveError`."""
        if not self.objective_checks:
            return value
        problem = loss_problem(value, method)
        if problem is None and (name, method) not in self._checked_once:
            self._checked_once.add((name, method))
            problem = finite_problem(value, method)
        if problem is not None:
            raise ObjectiveError(type(self.objectives[name]), method, problem)
        return value

    def _check_penalty(self, name: str, key: str, penalty: Tensor) -> None:
        """The first penalty of critic ``key`` must reach the critic's parameters (the network stored as ``name``)."""
        critic = self._modules.get(name)
        if not self.objective_checks or critic is None or (key, "penalty gradient") in self._checked_once:
            return
        self._checked_once.add((key, "penalty gradient"))
        problem = penalty_gradient_problem(penalty, critic)
        if problem is not None:
            raise ObjectiveError(type(self.objectives[key]), "penalty", problem)

    def objective_state(self) -> dict[str, dict[str, Any]]:
        """Every critic's objective state, for checkpoints."""
        return {name: objective.state_dict() for name, objective in self.objectives.items()}

    def load_objective_state(self, state: dict[str, dict[str, Any]]) -> None:
        """Restore what :meth:`objective_state` returned."""
        for name, objective in self.objectives.items():
            objective.load_state_dict(state.get(name, {}))

    def frozen(self, *modules: nn.Module | None) -> contextlib.AbstractContextManager:
        """Context in which ``modules`` get no gradients (critics during a generator step).

        Under DDP they run unwrapped, as no gradient of theirs is synchronised.
        """
        stack = contextlib.ExitStack()
        stack.enter_context(_Frozen([m for m in modules if m is not None]))
        if self.replicas and any(m is not None for m in modules):
            stack.enter_context(self.unwrapped(*modules))
        return stack

    def training_state(self) -> dict[str, Any]:
        """What a resumed run needs besides weights, saved with the optimiser state.

        The iteration counter of the critic schedule; subclasses add theirs (image pools)
        with ``{**super().training_state(), ...}``.
        """
        return {"iteration": self.iteration}

    def load_training_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`training_state` returned (subclasses call ``super()`` first)."""
        self.iteration = int(state.get("iteration", 0))  # absent in checkpoints from before the shared schedule


def scale_name(name: str, scale: int) -> str:
    """The objective key of critic ``name`` at ``scale`` (0: the input's size): ``D``, ``D@1``, ``D@2``, ..."""
    return name if scale == 0 else f"{name}@{scale}"


def scales_of(output: CriticOutput | list[CriticOutput]) -> list[CriticOutput]:
    """A critic's output as one :class:`CriticOutput` per scale (a single-scale critic: a list of one)."""
    return output if isinstance(output, list) else [output]


def at_scale(critic: CriticFn, scale: int, scales: int) -> CriticFn:
    """``critic`` narrowed to one scale's output, for an objective's penalty (``critic`` itself for one scale)."""
    if scales == 1:
        return critic
    return lambda images: scales_of(critic(images))[scale]


def _mean(values: list[Tensor]) -> Tensor:
    """The mean of 0-dim tensors; one is returned as it is (a single-scale critic computes what it always did)."""
    return values[0] if len(values) == 1 else torch.stack(values).mean()


def feature_matching(reals: list[CriticOutput], fakes: list[CriticOutput]) -> Tensor:
    """pix2pixHD's critic feature matching: Σ over scales and layers of (4 / layers) · (1 / scales) ·
    mean |F(real) − F(fake)|, the real features cut from the graph (only the generator learns from it)."""
    total = fakes[0].score.new_zeros(())
    for real, fake in zip(reals, fakes):
        if real.features is None or fake.features is None:
            raise ValueError("feature matching needs a critic that returns its features (a patch critic)")
        weight = 4.0 / len(fake.features) / len(fakes)
        for real_feature, fake_feature in zip(real.features, fake.features):
            total = total + weight * (fake_feature - real_feature.detach()).abs().mean()
    return total


class _Unwrapped:
    def __init__(self, model: Model, names: list[str]):
        self.model, self.names = model, names

    def __enter__(self) -> None:
        self.removed = [name for name in self.names if name in self.model.__dict__]  # nested contexts
        for name in self.removed:
            del self.model.__dict__[name]  # attribute access falls back to the plain child module

    def __exit__(self, *exc: object) -> None:
        for name in self.removed:
            object.__setattr__(self.model, name, self.model.replicas[name])


class _Frozen:
    def __init__(self, modules: list[nn.Module]):
        self.parameters = [p for module in modules for p in module.parameters() if p.requires_grad]

    def __enter__(self) -> None:
        for parameter in self.parameters:
            parameter.requires_grad_(False)

    def __exit__(self, *exc: object) -> None:
        for parameter in self.parameters:
            parameter.requires_grad_(True)
