"""The helpers model plugins may rely on: documented in the plugin guide with their signatures and the stability
promise, importable from the documented paths, and the signatures in the guide are the code's."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
#: module -> the names the guide promises model authors (kept until a major version).
HELPERS = {
    "translate.models.base": ["Model", "ObjectiveFactory"],
    "translate.models.generators": ["build_translator_net", "resnet_name", "unet_name"],
    "translate.models.pool": ["ImagePool"],
    "translate.models.directions": ["check_direction", "BothWays", "DIRECTIONS"],
    "translate.nets": ["init_weights", "PadCrop"],
    "translate.testing_models": ["check_model"],
    "translate.pytest_plugin": ["check_model"],
}


def helpers_section() -> str:
    text = GUIDE.read_text()
    start = text.index("### Helpers you can rely on")
    return text[start:text.index("\n### ", start + 1)]


@pytest.mark.parametrize("module, name", [(module, name) for module, names in HELPERS.items() for name in names])
def test_each_helper_imports_from_its_documented_path_and_says_what_it_does(module, name):
    helper = getattr(importlib.import_module(module), name)
    assert name in helpers_section() and module in helpers_section()
    if inspect.isfunction(helper) or inspect.isclass(helper):
        assert inspect.getdoc(helper), f"{module}.{name} has no docstring"


def test_the_guide_promises_stability():
    section = " ".join(helpers_section().split())
    assert "each is kept until a major version of image-translate" in section
    assert "deprecated (a `DeprecationWarning` naming its replacement) for at least one minor version before" in section


def test_the_signatures_in_the_guide_are_the_codes():
    documented = re.findall(r"`(translate\.[\w.]+)\.(\w+)\(([^)`]*)\)`", helpers_section())
    assert len(documented) >= 4
    for module, name, arguments in documented:
        function = getattr(importlib.import_module(module), name)
        names = [part.split("=")[0].strip() for part in arguments.split(",") if part.strip() not in ("", "*")]
        assert names == list(inspect.signature(function).parameters), f"{module}.{name}"
