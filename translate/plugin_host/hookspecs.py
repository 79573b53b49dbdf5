"""The plugin contract of translate: every hook a plugin may implement.

A plugin is a module (or object) with functions marked ``@translate.hookimpl``
whose names match the hooks below. Distributions announce plugins through the
entry-point group ``translate``::

    [project.entry-points.translate]
    my-loss = "my_loss_package"

The built-in objectives and models are registered through the same entry points,
so ``translate plugins`` shows them beside third-party ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from translate.models.base import Model
    from translate.objective import Objective
    from translate.run_logger import RunLogger

hookspec = pluggy.HookspecMarker("translate")


@hookspec
def translate_objectives() -> list[type["Objective"]]:
    """Provide adversarial objectives (loss plugins).

    :return: subclasses of :class:`translate.objective.Objective`. Each class's
        ``name`` is what ``translate train --loss NAME`` selects; it must be unique
        across every installed plugin (a clash is reported, never resolved silently).

    .. versionadded:: 0.1
    """


@hookspec
def translate_models() -> list[type["Model"]]:
    """Provide translation models (pix2pix, CycleGAN, ...).

    :return: subclasses of :class:`translate.models.base.Model`. Each class's
        ``name`` is what ``translate train --model NAME`` selects; unique across
        every installed plugin.

    .. versionadded:: 0.1
    """


@hookspec
def translate_loggers() -> list[type["RunLogger"]]:
    """Provide training loggers: sinks for metrics and sample grids (TensorBoard, a web service, ...).

    :return: subclasses of :class:`translate.run_logger.RunLogger`. Each class's
        ``name`` is what ``translate train --logger NAME`` selects; without ``--logger``
        every logger whose :meth:`~translate.run_logger.RunLogger.available` is true
        runs. Loggers receive every metric (losses, ``lr/<group>``, objective state,
        ``s_per_iter``, ``images_per_s``) and every sample grid, on rank 0 only.

    .. versionadded:: 0.1
    """
