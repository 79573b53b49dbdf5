"""The plugin manager: entry points, --plugin, clashes, broken plugins, `translate plugins`."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from helpers import objective_plugin, tiny_flags
from translate.cli import main
from translate.objective import Objective
from translate.plugin_host.manager import PluginError, PluginRegistry, PluginWarning

BUILTIN_OBJECTIVES = {"lsgan", "vanilla", "hinge", "wgan-gp", "began", "ebgan"}


def test_builtins_come_through_entry_points_of_the_distribution():
    registry = PluginRegistry()
    lsgan = registry.plugins["lsgan"]
    assert lsgan.distribution == "image-translate"
    assert lsgan.module == "translate_plugins.lsgan"
    assert lsgan.objectives == ["lsgan"]
    assert registry.plugins["vanilla"].objectives == ["vanilla"]
    assert BUILTIN_OBJECTIVES <= set(registry.names("objective"))
    assert {"pix2pix", "cyclegan"} <= set(registry.names("model"))
    assert registry.problems == []


def test_the_four_builtin_models_are_plugins_of_the_distribution():
    registry = PluginRegistry()
    for name in ("pix2pix", "cyclegan", "stargan", "unit"):
        info = registry.plugins[name]
        assert (info.distribution, info.module) == ("image-translate", f"translate.models.{name}")
        assert info.models == [name] and info.hooks == ["translate_models"]
        assert registry.model(name).name == name


def test_plugins_json_lists_builtins_with_source_and_provides():
    result = CliRunner().invoke(main, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    listed = {p["name"]: p for p in json.loads(result.output)["plugins"]}
    for name in ("lsgan", "vanilla"):
        assert listed[name]["objectives"] == [name]
        assert listed[name]["distribution"] == "image-translate"
        assert listed[name]["module"] == f"translate_plugins.{name}"
        assert listed[name]["hooks"] == ["translate_objectives"]
    assert listed["cyclegan"]["models"] == ["cyclegan"]


def test_third_party_entry_point_is_loaded_and_selectable(installed):
    installed("my-loss", {"my_loss_pkg": objective_plugin("meanscore")}, {"meanscore": "my_loss_pkg"})
    registry = PluginRegistry()
    objective = registry.objective("meanscore")
    assert issubclass(objective, Objective)
    assert registry.plugins["meanscore"].distribution == "my-loss"
    assert registry.plugins["meanscore"].version == "1.2.3"


def test_autoload_switch_keeps_builtins_and_drops_third_party(installed, monkeypatch):
    installed("my-loss", {"my_loss_pkg": objective_plugin("meanscore")}, {"meanscore": "my_loss_pkg"})
    monkeypatch.setenv("TRANSLATE_DISABLE_PLUGIN_AUTOLOAD", "1")
    registry = PluginRegistry()
    assert "meanscore" not in registry.names("objective")
    assert "lsgan" in registry.names("objective")


def test_same_objective_name_from_two_plugins_is_reported_not_shadowed(installed):
    installed("loss-one", {"loss_one": objective_plugin("twin", "One")}, {"loss-one": "loss_one"})
    installed("loss-two", {"loss_two": objective_plugin("twin", "Two")}, {"loss-two": "loss_two"})
    registry = PluginRegistry()
    assert any("objective 'twin'" in p and "loss-one" in p and "loss-two" in p for p in registry.problems)
    with pytest.raises(PluginError, match="'loss-one' and 'loss-two'"):
        registry.objective("twin")
    assert registry.objective("lsgan").name == "lsgan"  # other names keep working


def test_same_entry_point_name_in_two_distributions_is_reported(installed):
    installed("dist-a", {"pkg_a": objective_plugin("from-a")}, {"shared": "pkg_a"})
    installed("dist-b", {"pkg_b": objective_plugin("from-b")}, {"shared": "pkg_b"})
    registry = PluginRegistry()
    assert any("'shared'" in p and "dist-a" in p and "dist-b" in p for p in registry.problems)
    assert {"from-a", "from-b"} <= set(registry.names("objective"))  # neither is silently dropped


def test_clash_with_a_builtin_name_is_reported(installed):
    installed("fake-lsgan", {"fake_lsgan": objective_plugin("lsgan")}, {"fake-lsgan": "fake_lsgan"})
    registry = PluginRegistry()
    with pytest.raises(PluginError, match="'lsgan' is provided by"):
        registry.objective("lsgan")
    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 1
    assert "problem: objective 'lsgan' is provided by" in result.stderr


BROKEN_AT_IMPORT = "raise RuntimeError('boom')\n"
MISSPELT_HOOK = "from translate import hookimpl\n\n@hookimpl\ndef translate_objectivs():\n    return []\n"
RAISES_IN_HOOK = "from translate import hookimpl\n\n@hookimpl\ndef translate_models():\n    raise KeyError('x')\n"


def test_broken_entry_point_is_skipped_with_a_warning_naming_it(installed):
    installed("broken-loss", {"broken_loss": BROKEN_AT_IMPORT}, {"broken": "broken_loss"})
    problem = "plugin 'broken' from 'broken-loss' (broken_loss) failed to load: RuntimeError: boom; skipped"
    with pytest.warns(PluginWarning) as warned:
        registry = PluginRegistry()
    assert [str(w.message) for w in warned] == [problem]
    assert registry.problems == [problem]
    assert "broken" not in registry.plugins
    assert registry.objective("lsgan").name == "lsgan"  # the rest works


def test_misspelt_hook_is_skipped_with_a_contract_warning_naming_the_plugin(installed):
    installed("typo-loss", {"typo_loss": MISSPELT_HOOK}, {"typo": "typo_loss"})
    with pytest.warns(PluginWarning, match=r"plugin 'typo' does not follow the contract: .*translate_objectivs.*"
                                           r"\(from 'typo-loss'\); skipped"):
        registry = PluginRegistry()
    assert "typo" not in registry.plugins
    assert BUILTIN_OBJECTIVES <= set(registry.names("objective"))


def test_plugin_failing_in_its_hook_is_skipped_and_unregistered(installed):
    installed("odd-model", {"odd_model": RAISES_IN_HOOK}, {"odd": "odd_model"})
    with pytest.warns(PluginWarning, match=r"plugin 'odd' failed in translate_models: KeyError: 'x'; skipped"):
        registry = PluginRegistry()
    assert "odd" not in registry.plugins and not registry.manager.has_plugin("odd")
    assert {"pix2pix", "cyclegan"} <= set(registry.names("model"))


def test_a_plugin_asked_for_by_name_fails_loudly(tmp_path, monkeypatch):
    (tmp_path / "typo_module.py").write_text(MISSPELT_HOOK)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError, match="plugin 'typo_module' does not follow the contract"):
        PluginRegistry(extra_modules=("typo_module",))


def test_the_autoload_switch_keeps_a_broken_plugin_from_being_imported(installed, monkeypatch):
    installed("broken-loss", {"broken_loss": BROKEN_AT_IMPORT}, {"broken": "broken_loss"})
    monkeypatch.setenv("TRANSLATE_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = CliRunner().invoke(main, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert listed["problems"] == []
    assert {p["distribution"] for p in listed["plugins"]} == {"image-translate"}


def test_plugins_json_lists_hooks_and_problems_of_broken_plugins(installed):
    both = objective_plugin("both") + "\n\n@hookimpl\ndef translate_models():\n    return []\n"
    installed("both-hooks", {"both_hooks": both}, {"both": "both_hooks"})
    installed("broken-loss", {"broken_loss": BROKEN_AT_IMPORT}, {"broken": "broken_loss"})
    result = CliRunner().invoke(main, ["plugins", "--json"])
    assert result.exit_code == 1  # problems found
    listed = json.loads(result.stdout)
    plugins = {p["name"]: p for p in listed["plugins"]}
    assert plugins["both"]["hooks"] == ["translate_models", "translate_objectives"]
    assert "broken" not in plugins and "lsgan" in plugins
    assert listed["problems"] == ["plugin 'broken' from 'broken-loss' (broken_loss) failed to load: "
                                  "RuntimeError: boom; skipped"]
    table = CliRunner().invoke(main, ["plugins"])
    assert table.stderr == f"problem: {listed['problems'][0]}\n"  # listed once, not warned as well


def test_training_works_beside_a_broken_plugin_and_warns_in_one_line(installed, tmp_path):
    installed("broken-loss", {"broken_loss": BROKEN_AT_IMPORT}, {"broken": "broken_loss"})
    result = CliRunner().invoke(main, ["train", "--model", "pix2pix", "--steps", "1", "--image-size", "32",
                                       *tiny_flags("pix2pix"), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert ("translate: warning: plugin 'broken' from 'broken-loss' (broken_loss) failed to load: "
            "RuntimeError: boom; skipped\n") in result.stderr
    assert (tmp_path / "run" / "latest" / "checkpoint.json").is_file()


def test_plugin_module_option_loads_one_module(installed, tmp_path, monkeypatch):
    site = tmp_path / "loose"
    site.mkdir()
    (site / "loose_loss.py").write_text(objective_plugin("loose"))
    monkeypatch.syspath_prepend(str(site))
    assert "loose" not in PluginRegistry().names("objective")
    registry = PluginRegistry(extra_modules=("loose_loss",))
    assert registry.objective("loose").name == "loose"
    assert registry.plugins["loose_loss"].distribution is None


def test_missing_plugin_module_is_a_one_line_cli_error():
    result = CliRunner().invoke(main, ["plugins", "--plugin", "no_such_module_xyz"])
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("translate: error: plugin module 'no_such_module_xyz' failed to import")
    assert "Traceback" not in result.output


def test_returning_something_that_is_not_an_objective_is_skipped(installed):
    source = "from translate import hookimpl\n\n@hookimpl\ndef translate_objectives():\n    return [object]\n"
    installed("odd-loss", {"odd_loss": source}, {"odd": "odd_loss"})
    with pytest.warns(PluginWarning, match="plugin 'odd' returned <class 'object'> from translate_objectives"):
        registry = PluginRegistry()
    assert "odd" not in registry.plugins
    with pytest.raises(PluginError, match="plugin 'odd-again' returned"):  # registered by name: an error
        registry.register(__import__("odd_loss"), "odd-again")
    assert "odd-again" not in registry.plugins and registry.objective("lsgan").name == "lsgan"


def test_unknown_objective_lists_the_available_ones():
    with pytest.raises(PluginError, match=r"unknown objective 'nope' \(available: .*lsgan.*vanilla"):
        PluginRegistry().objective("nope")


EXITS_AT_IMPORT = "import sys\nsys.exit()\n"
EXITS_IN_HOOK = "import sys\nfrom translate import hookimpl\n\n@hookimpl\ndef translate_objectives():\n    sys.exit(3)\n"
RAISES_BASE_EXCEPTION = "class Stop(BaseException):\n    pass\n\nraise Stop('halt')\n"


@pytest.mark.parametrize("source, error", [(EXITS_AT_IMPORT, "SystemExit"), (RAISES_BASE_EXCEPTION, "Stop: halt")],
                         ids=["sys.exit", "BaseException"])
def test_a_plugin_that_exits_or_raises_a_base_exception_at_import_is_skipped(installed, source, error):
    installed("quitter", {"quitter_mod": source}, {"quitter": "quitter_mod"})
    problem = f"plugin 'quitter' from 'quitter' (quitter_mod) failed to load: {error}; skipped"
    with pytest.warns(PluginWarning) as warned:
        registry = PluginRegistry()
    assert [str(w.message) for w in warned] == [problem]
    assert "quitter" not in registry.plugins and BUILTIN_OBJECTIVES <= set(registry.names("objective"))
    result = CliRunner().invoke(main, ["plugins", "--json"])
    assert result.exit_code == 1  # not 0 having done nothing
    listed = json.loads(result.stdout)
    assert listed["problems"] == [problem] and "lsgan" in {p["name"] for p in listed["plugins"]}


def test_a_plugin_that_exits_in_its_hook_is_skipped(installed):
    installed("quitter", {"quitter_hook": EXITS_IN_HOOK}, {"quitter": "quitter_hook"})
    with pytest.warns(PluginWarning, match=r"plugin 'quitter' failed in translate_objectives: SystemExit: 3; skipped"):
        registry = PluginRegistry()
    assert "quitter" not in registry.plugins


def test_keyboard_interrupt_while_importing_a_plugin_is_not_swallowed(installed):
    installed("slow-loss", {"slow_loss": "raise KeyboardInterrupt\n"}, {"slow": "slow_loss"})
    with pytest.raises(KeyboardInterrupt):
        PluginRegistry()


def test_a_plugin_module_asked_for_by_name_that_exits_is_a_one_line_error(tmp_path, monkeypatch):
    (tmp_path / "exiting_module.py").write_text(EXITS_AT_IMPORT)
    monkeypatch.syspath_prepend(str(tmp_path))
    result = CliRunner().invoke(main, ["plugins", "--plugin", "exiting_module"])
    assert result.exit_code == 2
    assert result.stderr == "translate: error: plugin module 'exiting_module' failed to import: SystemExit\n"


@pytest.mark.parametrize("name", ["42", "['x']", "None"])
def test_an_objective_whose_name_is_not_a_string_is_skipped(installed, name):
    source = objective_plugin("placeholder").replace('name = "placeholder"', f"name = {name}")
    installed("odd-name", {"odd_name": source}, {"odd-name": "odd_name"})
    with pytest.warns(PluginWarning, match=rf"plugin 'odd-name' returned <class 'odd_name.TestObjective'> whose name "
                                           rf"is {re.escape(name)} from translate_objectives; expected an? Objective "
                                           "subclass whose name is a non-empty string; skipped"):
        registry = PluginRegistry()
    assert "odd-name" not in registry.plugins
    result = CliRunner().invoke(main, ["plugins"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "problem: plugin 'odd-name' returned" in result.stderr
