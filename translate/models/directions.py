"""The two directions between domains A and B, shared by pix2pix, CycleGAN and UNIT."""

from __future__ import annotations

from typing import Any

from translate.options import OptionError

DIRECTIONS = ("AtoB", "BtoA")


def check_direction(direction: str) -> str:
    """``direction`` itself when it is AtoB or BtoA, else an :class:`OptionError`."""
    if direction not in DIRECTIONS:
        raise OptionError(f"direction must be AtoB or BtoA, got {direction!r}")
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
