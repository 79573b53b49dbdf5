"""`translate plugins --json` / `plugins show`: options, critic, state and source; the cache that spares torch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from helpers import cli, objective_plugin
from translate.plugin_host import catalog_cache
from translate.cli import main

#: A third-party objective with options of every type, a critic schedule and state.
COUNTING = '''
from translate import hookimpl
from translate.objective import Objective


class Counting(Objective):
    """Counts critic steps.

    Used by tests only.
    """

    name = "counting"
    critic = "energy"
    critic_steps = 3

    def __init__(self, weight: float = 0.5, mode: str = "mean", warmup: int = 0, enabled: bool = True,
                 extra: float | None = None):
        self.weight, self.mode, self.warmup, self.enabled, self.extra = weight, mode, warmup, enabled, extra
        self.steps = 0

    def critic_loss(self, real, fake):
        return fake.score.mean() - real.score.mean()

    def generator_loss(self, fake):
        return -fake.score.mean()

    def state_dict(self):
        return {"steps": self.steps, "seen": 0}

    def load_state_dict(self, state):
        self.steps = state["steps"]


@hookimpl
def translate_objectives():
    return [Counting]
'''
COUNTING_ENTRY = {
    "kind": "objective", "name": "counting", "plugin": "counting", "distribution": "counting-loss",
    "version": "1.2.3", "module": "counting_loss", "class": "Counting", "doc": "Counts critic steps.\n\nUsed by tests only.",
    "options": {"weight": {"default": 0.5, "type": "float"}, "mode": {"default": "mean", "type": "str"},
                "warmup": {"default": 0, "type": "int"}, "enabled": {"default": True, "type": "bool"},
                "extra": {"default": None, "type": "float"}},
    "critic": "energy", "critic_steps": 3, "state_keys": ["steps", "seen"],
}


def listed(*args: str) -> dict:
    result = cli("plugins", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def builds(monkeypatch):
    """Every time the catalog was built by importing the plugins instead of read from the cache."""
    made = []
    build = catalog_cache._build

    def counted(extra_modules):
        made.append(extra_modules)
        return build(extra_modules)

    monkeypatch.setattr(catalog_cache, "_build", counted)
    return made


# -- what is listed ------------------------------------------------------------------------


def test_plugins_json_lists_every_objective_with_options_critic_steps_state_and_source(installed):
    installed("counting-loss", {"counting_loss": COUNTING}, {"counting": "counting_loss"})
    catalog = listed()
    objectives = {entry["name"]: entry for entry in catalog["objectives"]}
    assert objectives["counting"] == COUNTING_ENTRY
    lsgan = objectives["lsgan"]
    assert lsgan["options"] == {"real_target": {"default": 1.0, "type": "float"},
                                "fake_target": {"default": 0.0, "type": "float"},
                                "generator_target": {"default": 1.0, "type": "float"}}
    assert (lsgan["critic"], lsgan["critic_steps"], lsgan["state_keys"]) == ("patch", 1, [])
    assert (lsgan["plugin"], lsgan["distribution"], lsgan["module"], lsgan["class"]) == (
        "lsgan", "image-translate", "translate_plugins.lsgan", "LSGAN")
    assert objectives["began"]["critic"] == "energy" and "k" in objectives["began"]["state_keys"]
    assert {p["name"] for p in catalog["plugins"]} >= {"lsgan", "counting"}  # the plugin list stays as it was


def test_plugins_json_lists_every_model_with_its_model_opt_options():
    models = {entry["name"]: entry for entry in listed()["models"]}
    assert set(models) >= {"pix2pix", "cyclegan", "stargan", "unit"}
    cyclegan = models["cyclegan"]["options"]
    assert cyclegan["ngf"] == {"default": 64, "type": "int"}
    assert cyclegan["dropout"] == {"default": False, "type": "bool"}
    assert cyclegan["direction"] == {"default": "AtoB", "type": "str"}
    assert "image_size" not in cyclegan  # set by --image-size, not --model-opt
    assert models["stargan"]["options"]["repeat_num"] == {"default": 6, "type": "int"}
    assert models["pix2pix"]["doc"] and models["pix2pix"]["module"] == "translate.models.pix2pix"


def test_plugins_show_describes_an_objective(installed):
    installed("counting-loss", {"counting_loss": COUNTING}, {"counting": "counting_loss"})
    result = cli("plugins", "show", "counting")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "objective counting",
        "  from:          plugin 'counting', counting-loss 1.2.3, class counting_loss.Counting",
        "  options:       --loss-opt KEY=VALUE",
        "    weight   float  default 0.5",
        '    mode     str    default "mean"',
        "    warmup   int    default 0",
        "    enabled  bool   default true",
        "    extra    float  default null",
        "  critic:        energy",
        "  critic steps:  3 per generator step",
        "  state keys:    steps, seen",
        "",
        "  Counts critic steps.",
        "",
        "  Used by tests only.",
    ]


def test_plugins_show_describes_a_model_and_a_builtin_objective():
    model = cli("plugins", "show", "cyclegan")
    assert model.exit_code == 0, model.output
    assert "  options:       --model-opt KEY=VALUE" in model.stdout.splitlines()
    assert "    lambda_cycle     float  default 1.0" in model.stdout.splitlines()
    assert "critic steps" not in model.stdout
    began = cli("plugins", "show", "began").stdout.splitlines()
    assert began[:2] == ["objective began",
                         "  from:          plugin 'began', image-translate 0.1.0, class translate_plugins.began.BEGAN"]
    assert "  critic:        energy" in began and "  state keys:    k, gamma" in began
    assert cli("plugins", "show", "lsgan").stdout.splitlines()[-3] == "  state keys:    none"


def test_plugins_show_json_is_the_entry_of_plugins_json(installed):
    installed("counting-loss", {"counting_loss": COUNTING}, {"counting": "counting_loss"})
    result = cli("plugins", "show", "counting", "--json")
    assert json.loads(result.stdout) == [COUNTING_ENTRY]


def test_plugins_show_lists_every_provider_of_a_clashing_name(installed):
    installed("loss-one", {"loss_one": objective_plugin("twin", "One")}, {"loss-one": "loss_one"})
    installed("loss-two", {"loss_two": objective_plugin("twin", "Two")}, {"loss-two": "loss_two"})
    result = cli("plugins", "show", "twin")
    assert result.exit_code == 0
    sources = [line for line in result.stdout.splitlines() if line.startswith("  from:")]
    assert sources == ["  from:          plugin 'loss-one', loss-one 1.2.3, class loss_one.One",
                       "  from:          plugin 'loss-two', loss-two 1.2.3, class loss_two.Two"]


def test_plugins_show_of_an_unknown_name_is_one_line_listing_the_names():
    result = cli("plugins", "show", "lsgn")
    assert result.exit_code == 2
    assert result.stderr.startswith("translate: error: no objective, model or logger is called 'lsgn' (objectives: ")
    assert "lsgan" in result.stderr and "cyclegan" in result.stderr and len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("failure", ["raise ValueError('needs a path')", "raise SystemExit(4)"],
                         ids=["ValueError", "sys.exit"])
def test_an_objective_that_cannot_be_built_with_its_defaults_is_a_problem(installed, failure):
    source = objective_plugin("fragile").replace("self.scale = scale", failure)
    installed("fragile-loss", {"fragile_loss": source}, {"fragile": "fragile_loss"})
    result = cli("plugins", "--json")
    assert result.exit_code == 1
    catalog = json.loads(result.stdout)
    error = "ValueError: needs a path" if "Value" in failure else "SystemExit: 4"
    assert catalog["problems"] == [f"objective 'fragile' cannot be built with its default options: {error}"]
    fragile = next(entry for entry in catalog["objectives"] if entry["name"] == "fragile")
    assert fragile["state_keys"] is None and fragile["options"] == {"scale": {"default": 1.0, "type": "float"}}
    shown = cli("plugins", "show", "fragile").stdout
    assert "  state keys:    unknown (cannot be built with its defaults)" in shown


def test_option_help_points_at_plugins_show():
    options = {param.name: param.help for param in main.commands["train"].params}
    assert "`translate plugins show MODEL`" in options["model_options"]
    assert "`translate plugins show LOSS`" in options["loss_options"]


# -- the cache -----------------------------------------------------------------------------


def test_a_second_call_reads_the_cache_and_lists_the_same(builds, plugin_cache):
    first = cli("plugins", "--json")
    assert len(builds) == 1 and list(plugin_cache.iterdir()) == [catalog_cache.cache_file()]
    for args in (("plugins", "--json"), ("plugins", "show", "lsgan", "--json")):
        assert cli(*args).exit_code == 0
    assert len(builds) == 1
    assert cli("plugins", "--json").stdout == first.stdout
    assert cli("plugins", "--refresh").exit_code == 0 and len(builds) == 2


def test_installing_changing_and_removing_a_plugin_invalidates_the_cache(builds, installed):
    listed()
    site = installed("counting-loss", {"counting_loss": COUNTING}, {"counting": "counting_loss"})
    assert "counting" in {entry["name"] for entry in listed()["objectives"]} and len(builds) == 2
    listed()
    assert len(builds) == 2

    module = site / "counting_loss.py"
    module.write_text(COUNTING.replace("warmup: int = 0", "warmup: int = 7"))
    stat = module.stat()
    os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # an edit a second later
    sys.modules.pop("counting_loss")  # what a new process would import
    counting = next(entry for entry in listed()["objectives"] if entry["name"] == "counting")
    assert counting["options"]["warmup"]["default"] == 7 and len(builds) == 3

    (site / "counting_loss-1.2.3.dist-info").rename(site / "counting_loss-2.0.0.dist-info")
    metadata = site / "counting_loss-2.0.0.dist-info" / "METADATA"
    metadata.write_text(metadata.read_text().replace("1.2.3", "2.0.0"))  # an upgrade
    assert next(p for p in listed()["plugins"] if p["name"] == "counting")["version"] == "2.0.0"
    assert len(builds) == 4

    shutil.rmtree(site / "counting_loss-2.0.0.dist-info")  # uninstalled
    assert "counting" not in {entry["name"] for entry in listed()["objectives"]} and len(builds) == 5


def test_the_autoload_switch_is_part_of_the_key(builds, installed, monkeypatch):
    installed("counting-loss", {"counting_loss": COUNTING}, {"counting": "counting_loss"})
    assert "counting" in {entry["name"] for entry in listed()["objectives"]}
    monkeypatch.setenv("TRANSLATE_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert "counting" not in {entry["name"] for entry in listed()["objectives"]} and len(builds) == 2


def test_a_broken_plugin_is_never_cached(builds, installed):
    installed("broken-loss", {"broken_loss": "raise RuntimeError('boom')\n"}, {"broken": "broken_loss"})
    for _ in range(2):
        result = cli("plugins")
        assert result.exit_code == 1 and "failed to load: RuntimeError: boom" in result.stderr
    assert len(builds) == 2 and not catalog_cache.cache_file().exists()


def test_plugin_modules_given_with_plugin_option_are_not_cached(builds, tmp_path, monkeypatch):
    (tmp_path / "loose_loss.py").write_text(objective_plugin("loose"))
    monkeypatch.syspath_prepend(str(tmp_path))
    for _ in range(2):
        assert "loose" in {entry["name"] for entry in listed("--plugin", "loose_loss")["objectives"]}
    assert len(builds) == 2 and not catalog_cache.cache_file().exists()
    assert "loose" not in {entry["name"] for entry in listed()["objectives"]}


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'{"format": 1, "key": 3}', b"\xff\xfe"],
                         ids=["torn", "list", "wrong-key", "binary"])
def test_a_corrupt_cache_is_ignored_and_rewritten(builds, content):
    expected = listed()
    catalog_cache.cache_file().write_bytes(content)
    assert listed() == expected and len(builds) == 2
    assert json.loads(catalog_cache.cache_file().read_text())["catalog"] == expected
    assert listed() == expected and len(builds) == 2


def test_a_failed_cache_write_keeps_the_previous_cache_and_leaves_no_partial_file(builds, installed, monkeypatch):
    listed()
    before = catalog_cache.cache_file().read_bytes()
    installed("counting-loss", {"counting_loss": COUNTING}, {"counting": "counting_loss"})

    def disk_full(record, file):
        file.write(json.dumps(record)[:100])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(catalog_cache.json, "dump", disk_full)
    assert "counting" in {entry["name"] for entry in listed()["objectives"]}
    assert catalog_cache.cache_file().read_bytes() == before
    assert [path.name for path in catalog_cache.cache_file().parent.iterdir()] == [catalog_cache.cache_file().name]


def test_a_cache_folder_that_cannot_be_made_is_not_an_error(builds, tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("TRANSLATE_CACHE_DIR", str(tmp_path / "a-file" / "cache"))
    assert "lsgan" in {entry["name"] for entry in listed()["objectives"]}


def test_the_cache_lives_in_xdg_cache_home_or_home_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("TRANSLATE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert catalog_cache.cache_file().parent == tmp_path / "xdg" / "translate"
    assert cli("plugins").exit_code == 0 and catalog_cache.cache_file().is_file()
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the XDG spec: only absolute paths count
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert catalog_cache.cache_file().parent == tmp_path / "home" / ".cache" / "translate"


def test_the_second_call_imports_no_torch_and_check_refuses_unknown_names_without_it(plugin_cache):
    """Fresh processes, as a user runs them: the cached catalog answers without importing torch."""
    code = ("import sys\nfrom translate.cli import main\ntry:\n    main(sys.argv[1:], prog_name='translate')\n"
            "finally:\n    print('torch imported:', 'torch' in sys.modules, file=sys.stderr)")

    def translate(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)

    first = translate("plugins")
    assert first.returncode == 0 and first.stderr.splitlines()[-1] == "torch imported: True"
    for args in (("plugins",), ("plugins", "--json"), ("plugins", "show", "lsgan")):
        again = translate(*args)
        assert again.returncode == 0 and again.stderr.splitlines()[-1] == "torch imported: False", args
    assert translate("plugins").stdout == first.stdout
    check = translate("plugins", "check", "lsgn")
    assert check.returncode == 2
    error, imported = check.stderr.splitlines()
    assert error.startswith("translate: error: unknown objective 'lsgn' (available: began, ebgan, hinge, lsgan, ")
    assert "entry-point group 'translate'" in error and imported == "torch imported: False"


def test_plugins_check_warns_once_about_a_broken_plugin_and_refuses_an_unknown_model(installed):
    installed("broken-loss", {"broken_loss": "raise RuntimeError('boom')\n"}, {"broken": "broken_loss"})
    result = cli("plugins", "check", "lsgan", "--model", "pix2pix", "--steps", "1")
    assert result.exit_code == 0, result.output
    assert result.stderr.count("failed to load: RuntimeError: boom; skipped") == 1
    unknown = cli("plugins", "check", "lsgan", "--model", "pix2pox")
    assert unknown.exit_code == 2
    assert unknown.stderr.splitlines()[-1].startswith("translate: error: unknown model 'pix2pox' (available: cut, "
                                                      "cyclegan, munit, pix2pix, stargan, unit); translate finds plugins "
                                                      "through")
