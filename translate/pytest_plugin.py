"""translate's pytest plugin (entry point ``pytest11``): the ``check_objective`` and ``check_model`` fixtures.

Installed with translate, so a plugin package's tests can say::

    def test_my_objective_keeps_the_contract(check_objective):
        check_objective(MyObjective)

    def test_my_objective_is_installed_and_keeps_the_contract(check_objective):
        check_objective("my-loss")      # by name: through the entry point, as users' runs find it

    def test_my_model_keeps_the_contract(check_model):
        check_model(MyModel)            # or check_model("my-model"), by name

The fixtures run :func:`translate.testing.check_objective` and
:func:`translate.testing_models.check_model` and fail the test with every problem found.
torch is imported only when a test uses one, so pytest starts as fast as without translate.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest


@pytest.fixture
def check_objective() -> Callable[..., Any]:
    """``check_objective(MyObjective or "name", models=None, critics=None, steps=2)``: fail on any contract problem.

    Returns the :class:`translate.testing.ConformanceReport` when the objective passes.
    """
    from translate.testing import check_objective as check

    def run(objective: type, **options: Any) -> Any:
        report = check(objective, **options)
        report.raise_if_failed()
        return report

    return run


@pytest.fixture
def check_model() -> Callable[..., Any]:
    """``check_model(MyModel or "name", objectives=None, steps=2, export=None)``: fail on any contract problem.

    Returns the :class:`translate.testing_models.ModelReport` when the model passes.
    """
    from translate.testing_models import check_model as check

    def run(model: type, **options: Any) -> Any:
        report = check(model, **options)
        report.raise_if_failed()
        return report

    return run
