"""The two directions between domains A and B, shared by pix2pix, CycleGAN, UNIT, CUT and model plugins.

Part of the helpers model authors may rely on (docs/plugins.md, "a third-party model"):
:func:`check_direction` and :class:`BothWays` are kept until a major version, and deprecated one
minor version before they change.
"""

from __future__ import annotations

from typing import Any, Sequence

from translate.options import OptionError

DIRECTIONS = ("AtoB", "BtoA")


def check_direction(direction: str | None, *, model: str | None = None, ways: Sequence[str] = DIRECTIONS) -> str:
    """``direction`` itself when the model translates that way, else an :class:`OptionError`.

    Without ``ways``: ``direction`` must be AtoB or BtoA. A one-way model passes its name and its
    one way, ``check_direction(direction, model=self.name, ways=("AtoB",))``: then ``None`` (no
    direction asked for) means that way, and the other direction is refused with a line naming the
    model and what to do instead. ``translate()`` and ``inference_network()`` of a one-way model
    call it, so ``translate(images, direction="BtoA")`` is an error, never A to B in disguise.
    """
    if direction is None and len(ways) == 1:
        return ways[0]
    if direction not in DIRECTIONS:
        raise OptionError(f"direction must be AtoB or BtoA, got {direction!r}")
    if direction not in ways:
        source, target = ways[0][0], ways[0][-1]
        who = f"model {model!r}" if model else "this model"
        raise OptionError(f"{who} translates {source} to {target} only (one generator), got direction {direction!r}; "
                          f"to translate {target} to {source}, train a model with train{source} and train{target} "
                          "swapped")
    return direction


class BothWays:
    """Mixin of models that translate both ways (CycleGAN, UNIT); ``self.direction`` is the default way.

    List it before :class:`~translate.models.base.Model` so its conversion hooks win.
    """

    direction: str

    def way(self, direction: str | None) -> str:
        """The direction to translate in: ``direction``, else the model's default, checked."""
        return check_direction(direction or self.direction)

    def conversion_targets(self) -> dict[str, dict[str, Any]]:
        """``convert --every-target``: both directions."""
        return {direction: {"direction": direction} for direction in DIRECTIONS}

    def metadata(self) -> dict[str, Any]:
        return {"directions": list(DIRECTIONS), "default_direction": self.direction}
