"""The Model contract: what a model plugin implements.

A model owns its generators and critics and the order of its updates. It never
knows which adversarial objective it trains with: it asks the objective which
critic to build (:meth:`Model.add_critic`) and routes every critic and generator
loss through it (:meth:`Model.critic_update`, :meth:`Model.adversarial_loss`).

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

from translate.nets import build_critic
from translate.objective import CriticFn, CriticOutput, Objective
from translate.options import OptionError, option_defaults

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
    #: Option values that restore the reference implementation's training where translate's
    #: defaults differ from it (``translate train --preset reference``). Checkpoints saved
    #: before such an option existed were trained this way and load with these values.
    reference_options: ClassVar[dict[str, Any]] = {}

    def __init__(self, make_objective: ObjectiveFactory | None, image_size: int = 256):
        super().__init__()
        self.make_objective = make_objective
        self.image_size = image_size
        self.objectives: dict[str, Objective] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        #: Gradient scalers of the optimisers that need one (fp16 on CUDA); set by the trainer.
        self.grad_scalers: dict[str, torch.amp.GradScaler] = {}
        #: Data-parallel wrappers that attribute access returns instead of the plain networks (see distribute).
        self.replicas: dict[str, nn.Module] = {}

    # -- what subclasses implement ----------------------------------------------------

    @classmethod
    def dataset(cls, root: str, split: str, image_size: int, train: bool, options: dict[str, Any]) -> "Dataset":
        """The data set this model trains on (``root`` is the user's ``--data``)."""
        raise NotImplementedError

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

        Used by ``translate export``; models whose translation is more than one
        generator call leave it unimplemented.
        """
        raise OptionError(f"model {self.name!r} cannot be exported as one generator")

    def conversion_targets(self) -> dict[str, dict[str, Any]]:
        """Named conditions for ``convert --every-target`` (e.g. both directions); empty for one output."""
        return {}

    # -- shared machinery -------------------------------------------------------------

    def options(self) -> dict[str, Any]:
        """The options this model was built with (saved in checkpoints)."""
        return {name: getattr(self, name) for name in option_defaults(type(self)) if name != "image_size"}

    @property
    def trains(self) -> bool:
        """True when built with an objective (critics exist); False for inference only."""
        return self.make_objective is not None

    def add_critic(self, name: str, in_channels: int, ndf: int = 64, norm: str = "batch") -> nn.Module | None:
        """Build the critic the objective asks for and give it its own objective instance.

        ``name`` is the attribute the model stores the critic under (``self.D_A = self.add_critic("D_A", ...)``).

        Returns ``None`` for an inference-only model. Batch norm is replaced by
        instance norm when the objective needs per-sample critics (gradient penalty).
        """
        if self.make_objective is None:
            return None
        objective = self.make_objective()
        if objective.per_sample_critic and norm == "batch":
            norm = "instance"
        kwargs = dict(objective.critic_options)
        if objective.critic == "patch":
            kwargs["norm"] = norm
        critic = build_critic(objective.critic, in_channels, ndf=ndf, **kwargs)
        self.objectives[name] = objective
        return critic

    def optimizer_settings(self, group: str) -> dict[str, Any]:
        """Adam settings of optimiser ``group`` (default: the model's ``lr``, ``beta1``, ``beta2``)."""
        return {"lr": self.lr, "betas": (self.beta1, self.beta2)}

    def optimize(self, group: str, loss: Tensor) -> None:
        """Back-propagate ``loss`` and step the optimiser of ``group`` (through its gradient scaler, if any)."""
        optimizer = self.optimizers[group]
        optimizer.zero_grad(set_to_none=True)
        scaler = self.grad_scalers.get(group)
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
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
        Returns ``{name: loss, "name/penalty": ..., "name/<state>": ...}``.
        """
        total: Tensor | None = None
        logged: dict[str, float] = {}
        after_step = []
        for name, critic, real, fake in updates:
            objective = self.objectives[name]
            fake = fake.detach()
            real_out, fake_out = critic(real), critic(fake)
            loss = objective.critic_loss(real_out, fake_out)
            logged[name] = loss.item()
            with self._penalty_precision(group, real.device):
                penalty = objective.penalty(critic, real, fake)
            if penalty is not None:
                logged[f"{name}/penalty"] = penalty.item()
                loss = loss + penalty
            total = loss if total is None else total + loss
            after_step.append((name, objective, real_out.detach(), fake_out.detach()))
        assert total is not None, "critic_step needs at least one critic"
        self.optimize(group, total)
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

    def adversarial_loss(self, name: str, critic_output: CriticOutput) -> Tensor:
        """The generator's adversarial loss against critic ``name``."""
        return self.objectives[name].generator_loss(critic_output)

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
        """Extra tensors a resumed run needs (e.g. image pools); saved with optimiser state."""
        return {}

    def load_training_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`training_state` returned."""



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
