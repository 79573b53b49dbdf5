"""What ``translate convert`` and ``translate export`` pass to a model: the conversion condition.

A model's ``translate(images, **condition)`` and ``inference_network(**condition)`` receive at
most these keyword arguments from conversion (``--every-target`` passes the conditions of
:meth:`~translate.models.base.Model.conversion_targets` instead, as the model gave them):

* ``direction`` (``--direction AtoB|BtoA``), passed only to a model whose ``metadata()`` lists
  ``directions``. Any other model translates one way: ``metadata()["input"]`` to
  ``metadata()["output"]`` (A to B when it declares neither); ``--direction`` naming that way is
  accepted and not passed, any other is refused here, so a model that would ignore the argument
  never writes A to B under a B to A name.
* ``to`` (``--to NAME``), passed only to a model whose ``metadata()`` lists ``targets``; refused
  for any other model.
* ``style`` (``--styles N``, ``--style-from IMAGE``), passed only to a multimodal model, one whose
  ``metadata()`` declares ``style_dim`` (:mod:`translate.models.styles`); refused for any other model.

Other keys (from Python, e.g. StarGAN's ``original``) are passed through unchanged.
"""

from __future__ import annotations

from typing import Any

from translate.models.directions import check_direction
from translate.options import OptionError


def one_way(metadata: dict[str, Any]) -> str:
    """The direction a model without ``directions`` in its metadata translates: ``input`` to ``output``."""
    return f"{metadata.get('input', 'A')}to{metadata.get('output', 'B')}"


def conversion_condition(model_name: str, metadata: dict[str, Any], condition: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments conversion passes to the model for ``condition`` (``direction``, ``to``, ...).

    ``metadata`` is the model's :meth:`~translate.models.base.Model.metadata`. A direction or target the
    model does not declare is an :class:`~translate.options.OptionError` naming the model.
    """
    passed = dict(condition)
    direction = passed.get("direction")
    if direction is not None:
        declared = metadata.get("directions")
        if declared:
            check_direction(direction, model=model_name, ways=tuple(declared))
        else:
            check_direction(direction, model=model_name, ways=(one_way(metadata),))
            del passed["direction"]  # the model's only way: nothing to choose
    if passed.get("to") is not None and not metadata.get("targets"):
        raise OptionError(f"model {model_name!r} has a single output (its metadata() lists no 'targets'), "
                          f"got --to {passed['to']!r}; drop --to")
    if passed.get("style") is not None and not metadata.get("style_dim"):
        raise OptionError(f"model {model_name!r} has no styles (its metadata() declares no 'style_dim'): it gives one "
                          "output per input; drop --styles and --style-from")
    return passed
