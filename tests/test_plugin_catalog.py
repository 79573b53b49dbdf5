"""`translate plugins --json` / `plugins show`: options, critic, state and source."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from conftest import objective_plugin
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
                "extra": {"default": None, "type": "float | None"}},
    "critic": "energy", "critic_steps": 3, "state_keys": ["steps", "seen"],
}


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def listed(*args: str) -> dict:
    result = run("plugins", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


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
    assert models["stargan"]["options"]["n_critic"]["type"] == "int"
    assert models["pix2pix"]["doc"] and models["pix2pix"]["module"] == "translate.models.pix2pix"


def test_plugins_show_describes_an_objective(installed):
    installed("counting-loss", {"counting_loss": COUNTING}, {"counting": "counting_loss"})
    result = run("plugins", "show", "counting")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "objective counting",
        "  from:          plugin 'counting', counting-loss 1.2.3, class counting_loss.Counting",
        "  options:       --loss-opt KEY=VALUE",
        "    weight   float  default 0.5",
        '    mode     str    default "mean"',
        "    warmup   int    default 0",
        "    enabled  bool   default true",
        "    extra    float | None default null",
        "  critic:        energy",
        "  critic steps:  3 per generator step",
        "  state keys:    steps, seen",
        "",
        "  Counts critic steps.",
        "",
        "  Used by tests only.",
    ]


def test_plugins_show_describes_a_model_and_a_builtin_objective():
    model = run("plugins", "show", "cyclegan")
    assert model.exit_code == 0, model.output
    assert "  options:       --model-opt KEY=VALUE" in model.stdout.splitlines()
    assert "    lambda_cycle     float  default 10.0" in model.stdout.splitlines()
    assert "critic steps" not in model.stdout
    began = run("plugins", "show", "began").stdout.splitlines()
    assert began[:2] == ["objective began",
                         "  from:          plugin 'began', image-translate 0.1.0, class translate_plugins.began.BEGAN"]
    assert "  critic:        energy" in began and "  state keys:    k, gamma" in began
    assert run("plugins", "show", "lsgan").stdout.splitlines()[-3] == "  state keys:    none"


def test_plugins_show_json_is_the_entry_of_plugins_json(installed):
    installed("counting-loss", {"counting_loss": COUNTING}, {"counting": "counting_loss"})
    result = run("plugins", "show", "counting", "--json")
    assert json.loads(result.stdout) == [COUNTING_ENTRY]


def test_plugins_show_lists_every_provider_of_a_clashing_name(installed):
    installed("loss-one", {"loss_one": objective_plugin("twin", "One")}, {"loss-one": "loss_one"})
    installed("loss-two", {"loss_two": objective_plugin("twin", "Two")}, {"loss-two": "loss_two"})
    result = run("plugins", "show", "twin")
    assert result.exit_code == 0
    sources = [line for line in result.stdout.splitlines() if line.startswith("  from:")]
    assert sources == ["  from:          plugin 'loss-one', loss-one 1.2.3, class loss_one.One",
                       "  from:          plugin 'loss-two', loss-two 1.2.3, class loss_two.Two"]


def test_plugins_show_of_an_unknown_name_is_one_line_listing_the_names():
    result = run("plugins", "show", "lsgn")
    assert result.exit_code == 2
    assert result.stderr.startswith("translate: error: no objective, model or logger is called 'lsgn' (objectives: ")
    assert "lsgan" in result.stderr and "cyclegan" in result.stderr and len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("failure", ["raise ValueError('needs a path')", "raise SystemExit(4)"],
                         ids=["ValueError", "sys.exit"])
def test_an_objective_that_cannot_be_built_with_its_defaults_is_a_problem(installed, failure):
    source = objective_plugin("fragile").replace("self.scale = scale", failure)
    installed("fragile-loss", {"fragile_loss": source}, {"fragile": "fragile_loss"})
    result = run("plugins", "--json")
    assert result.exit_code == 1
    catalog = json.loads(result.stdout)
    error = "ValueError: needs a path" if "Value" in failure else "SystemExit: 4"
    assert catalog["problems"] == [f"objective 'fragile' cannot be built with its default options: {error}"]
    fragile = next(entry for entry in catalog["objectives"] if entry["name"] == "fragile")
    assert fragile["state_keys"] is None and fragile["options"] == {"scale": {"default": 1.0, "type": "float"}}
    shown = run("plugins", "show", "fragile").stdout
    assert "  state keys:    unknown (cannot be built with its defaults)" in shown


def test_option_help_points_at_plugins_show():
    options = {param.name: param.help for param in main.commands["train"].params}
    assert "`translate plugins show MODEL`" in options["model_options"]
    assert "`translate plugins show LOSS`" in options["loss_options"]
