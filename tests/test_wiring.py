"""Wiring: a plugin that never reaches translate is named, and "unknown objective" says how plugins are found.

The conformance kit checks a class it is given; only a check by name goes the road users' runs
take (the installed entry points), so that is where a missing entry point, one in another group
or a hook without ``@hookimpl`` show.
"""

from __future__ import annotations

import textwrap

import pytest
from click.testing import CliRunner

from helpers import objective_plugin
from translate.cli import main
from translate.plugin_host.manager import PluginRegistry, PluginWarning
from translate.testing import check_objective
from translate.plugin_host.wiring import HOW_PLUGINS_ARE_FOUND

UNMARKED = ("plugin 'unmarked' (unmarked_loss) defines translate_objectives() without @translate.hookimpl, so it is "
            "never called; mark it with @hookimpl (from translate import hookimpl)")


def test_an_installed_objective_is_checked_by_name():
    report = check_objective("lsgan", models=["pix2pix"])
    assert report.ok, report.summary()
    assert report.checked == ["pix2pix (patch critic)"]


def test_a_module_without_an_entry_point_is_unknown_by_name(tmp_path, monkeypatch):
    (tmp_path / "forgotten_loss.py").write_text(textwrap.dedent(objective_plugin("forgotten")))
    monkeypatch.syspath_prepend(str(tmp_path))
    report = check_objective("forgotten", models=["pix2pix"])
    assert report.problems == [
        f"unknown objective 'forgotten' (available: {', '.join(PluginRegistry().names('objective'))}); "
        f"{HOW_PLUGINS_ARE_FOUND}"]
    assert "[project.entry-points.translate]" in HOW_PLUGINS_ARE_FOUND and "--plugin MODULE" in HOW_PLUGINS_ARE_FOUND
    with_plugin = PluginRegistry(extra_modules=("forgotten_loss",))  # what --plugin MODULE does
    assert check_objective("forgotten", models=["pix2pix"], registry=with_plugin).ok


def test_an_entry_point_in_another_group_is_named(installed):
    installed("misgrouped-loss", {"misgrouped_loss": objective_plugin("misgrouped")},
              {"misgrouped": "misgrouped_loss"}, group="translate.objectives")
    [problem] = check_objective("misgrouped").problems
    assert problem.startswith("unknown objective 'misgrouped' (available: ")
    assert f"{HOW_PLUGINS_ARE_FOUND}; " in problem
    assert ("; distribution 'misgrouped-loss' declares misgrouped = 'misgrouped_loss' in the entry-point group "
            "'translate.objectives', which translate does not read") in problem


def test_a_hook_without_hookimpl_is_a_warning_a_listed_problem_and_named_by_the_check(installed):
    installed("unmarked-loss", {"unmarked_loss": objective_plugin("unmarked").replace("@hookimpl\n", "")},
              {"unmarked": "unmarked_loss"})
    with pytest.warns(PluginWarning) as warned:
        registry = PluginRegistry()
    assert [str(w.message) for w in warned] == [UNMARKED]
    assert registry.problems == [UNMARKED]
    [problem] = check_objective("unmarked", registry=registry).problems
    assert problem.startswith("unknown objective 'unmarked' (available: ") and problem.endswith(f"; {UNMARKED}")
    listed = CliRunner().invoke(main, ["plugins"])
    assert listed.exit_code == 1 and f"problem: {UNMARKED}" in listed.stderr
    train = CliRunner().invoke(main, ["train", "--loss", "unmarked", "--steps", "1"])
    assert train.exit_code == 2 and UNMARKED in train.stderr


def test_an_unmarked_hook_beside_a_marked_one_is_named_by_the_check(installed):
    source = objective_plugin("half") + "\n\ndef translate_models():\n    return []\n"
    installed("half-loss", {"half_loss": source}, {"half": "half_loss"})
    with pytest.warns(PluginWarning):
        registry = PluginRegistry()
    report = check_objective("half", models=["pix2pix"], registry=registry)
    assert report.problems == ["plugin 'half' (half_loss) defines translate_models() without @translate.hookimpl, so "
                               "it is never called; mark it with @hookimpl (from translate import hookimpl)"]
