"""translate's pytest plugin (entry point ``pytest11``): the ``check_objective`` fixture.

Installed with translate, so a plugin package's tests can say::

    def test_my_objective_keeps_the_contract(check_objective):
        check_objective(MyObjective)

    def test_my_objective_is_installed_and_keeps_the_contract(check_objective):
        check_objective("my-loss")      # by name: through the entry point, as users' runs find it

The fixture runs :func:`translate.testing.check_objective` and fails the test with every
problem found. torch is imported only when a test uses it, so pytest starts as fast as
without translate.
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
