"""The plugin guide's smallest objective is as short as it says, keeps the contract and trains every model."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from translate.testing import check_objective

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
MARKER = "<!-- smallest-objective:"


def smallest_objective_source() -> str:
    """The code block right after the guide's marker."""
    text = GUIDE.read_text(encoding="utf-8")
    after = text[text.index(MARKER):]
    return re.search(r"```python\n(.*?)```", after, re.DOTALL).group(1)


def code_lines(source: str) -> int:
    """Lines of code: not blank, not a comment, not part of a docstring."""
    docstrings = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            docstrings.update(range(body[0].lineno, body[0].end_lineno + 1))
    return sum(1 for number, line in enumerate(source.splitlines(), 1)
               if line.strip() and not line.strip().startswith("#") and number not in docstrings)


def test_the_smallest_objective_is_at_most_35_lines_of_code_as_the_guide_says():
    source = smallest_objective_source()
    count = code_lines(source)
    assert count <= 35
    assert f"Its {count} lines of code" in GUIDE.read_text(encoding="utf-8")


@pytest.mark.slow
def test_the_smallest_objective_keeps_the_contract_with_every_model():
    namespace: dict = {}
    exec(compile(smallest_objective_source(), str(GUIDE), "exec"), namespace)  # noqa: S102 -- the guide's own code
    report = check_objective(namespace["DRAGAN"])
    assert report.ok, report.summary()
    assert {entry.split(" ")[0] for entry in report.checked} == {"cut", "cyclegan", "munit", "pix2pix", "stargan", "unit"}
