"""The trainer: run folders, checkpoints, resume, sample grids, guard rails."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from helpers import (
    cli,
    fresh_copy,
    objective_plugin,
    one_error_line,
    read_metrics,
    tiny_config,
    tiny_flags,
    tiny_model_options,
    tiny_options,
)
from translate.options import OptionError
from translate.plugin_host.manager import PluginError, PluginRegistry
from translate.train import checkpoint
from translate.train.trainer import Trainer, TrainConfig, TrainingError


def config(tmp_path, name="run", **overrides) -> TrainConfig:
    """A tiny CycleGAN run of four steps into ``tmp_path/name``, sampled and saved every two."""
    return tiny_config(**{"out": tmp_path / name, "steps": 4, "sample_every": 2, "checkpoint_every": 2, **overrides})


def test_run_folder_holds_config_metrics_samples_and_checkpoints(tmp_path):
    trainer = Trainer(config(tmp_path))
    last = trainer.train(progress=False)
    run = tmp_path / "run"
    assert last == run / "checkpoints" / "000004"
    assert (run / "latest").resolve() == last.resolve()
    assert sorted(p.name for p in last.iterdir()) == ["checkpoint.json", "model.safetensors", "training.pt"]
    meta = json.loads((last / "checkpoint.json").read_text())
    assert meta["model"] == "cyclegan" and meta["objective"] == "lsgan" and meta["step"] == 4
    assert meta["model_options"]["ngf"] == tiny_options("cyclegan")["ngf"]  # typed, not the string given
    assert meta["model_options"]["generator"] == "resnet_6blocks"
    assert set(meta["objective_state"]) == {"D_A", "D_B"}
    assert json.loads((run / "config.json").read_text())["model_options"] == tiny_model_options("cyclegan")
    lines = read_metrics(run)
    assert [line["step"] for line in lines] == [1, 2, 3, 4]
    assert {"G", "cycle", "D_A", "D_B", "lr/generator", "lr/critic"} <= set(lines[-1])
    grids = sorted(p.name for p in (run / "samples").iterdir())
    assert grids == ["step_000002.png", "step_000004.png"]
    with Image.open(run / "samples" / grids[-1]) as grid:
        # 4 test images at the 32 px training size (rows), 6 columns: A, G_AB(A), cycle, B, G_BA(B), cycle
        assert grid.size == (6 * 32 + 5 * 2, 4 * 32 + 3 * 2)


def test_only_the_newest_checkpoints_are_kept(tmp_path):
    Trainer(config(tmp_path, steps=8, checkpoint_every=1, keep_checkpoints=3)).train(progress=False)
    kept = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert kept == ["000006", "000007", "000008"]


def test_retention_orders_checkpoints_by_step_number_past_999999(tmp_path):
    trainer = Trainer(config(tmp_path, steps=1_000_002, checkpoint_every=1, sample_every=10**9, keep_checkpoints=2))
    trainer.step = 999_998  # as if resumed there: the next four checkpoints cross a million
    last = trainer.train(progress=False)
    run = tmp_path / "run"
    assert last == run / "checkpoints" / "1000002" and last.is_dir()
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["1000001", "1000002"]
    assert checkpoint.load(run).metadata["step"] == 1_000_002


def test_retention_never_deletes_the_checkpoint_latest_points_to(tmp_path):
    for step in (100, 200, 300):
        checkpoint.folder(tmp_path, step).mkdir(parents=True)
    (tmp_path / "latest").symlink_to("checkpoints/000100")
    checkpoint.prune(tmp_path, keep=1)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["000100", "000300"]


def test_training_does_not_finish_without_a_loadable_last_checkpoint(tmp_path, monkeypatch):
    save = checkpoint.save

    def save_then_lose_the_weights(run_dir, step, *args, **kwargs):
        final = save(run_dir, step, *args, **kwargs)
        (final / checkpoint.WEIGHTS).write_bytes(b"")  # e.g. a file system that lost the write
        return final

    monkeypatch.setattr(checkpoint, "save", save_then_lose_the_weights)
    with pytest.raises(checkpoint.CheckpointError, match=r"cannot read '.*000004/model\.safetensors'"):
        Trainer(config(tmp_path)).train(progress=False)


def test_learning_rate_decays_linearly_over_the_second_half(tmp_path):
    trainer = Trainer(config(tmp_path, steps=8))
    trainer.train(progress=False)
    lrs = [json.loads(line)["lr/generator"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    # the rate each step used: constant for 4 steps, then (8 - i) / 4 for step index i = 4..7
    assert lrs == pytest.approx([2e-4 * f for f in (1, 1, 1, 1, 1, 0.75, 0.5, 0.25)])


def weights(run_dir):
    return checkpoint.load(run_dir).weights


def test_resume_continues_exactly_where_the_run_stopped(tmp_path):
    # a stateful objective (BEGAN's k per critic) and an image pool must both come back
    # The reference preset's random untrained generators move BEGAN's k in the first steps; translate's
    # residual ones start as the identity, whose outputs a critic scores like real images (k stays 0 at first).
    common = dict(loss="began", steps=6, lr_decay_from=1.0, checkpoint_every=3, preset="reference")
    Trainer(config(tmp_path, "straight", **common)).train(progress=False)
    Trainer(config(tmp_path, "split", **{**common, "steps": 3})).train(progress=False)
    resumed = Trainer(config(tmp_path, "split", **common), resume=True)
    assert resumed.step == 3
    resumed.train(progress=False)
    straight, split = weights(tmp_path / "straight"), weights(tmp_path / "split")
    assert straight.keys() == split.keys()
    for key in straight:
        assert torch.equal(straight[key], split[key]), key
    meta = lambda run: json.loads((tmp_path / run / "latest" / "checkpoint.json").read_text())  # noqa: E731
    assert meta("straight")["objective_state"] == meta("split")["objective_state"]
    assert meta("split")["objective_state"]["D_A"]["k"] > 0


def test_an_existing_run_folder_is_never_reused_without_resume(tmp_path):
    Trainer(config(tmp_path, steps=1)).train(progress=False)
    with pytest.raises(TrainingError, match="exists; pass --resume"):
        Trainer(config(tmp_path, steps=1))


def test_default_run_folders_get_a_new_suffix(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = Trainer(config(tmp_path, out=None, steps=1))
    first.train(progress=False)
    second = Trainer(config(tmp_path, out=None, steps=1))
    second.train(progress=False)
    assert (first.run_dir.name, second.run_dir.name) == ("cyclegan-lsgan", "cyclegan-lsgan-2")
    resumed = Trainer(config(tmp_path, out=None, steps=2), resume=True)
    assert resumed.run_dir.resolve() == second.run_dir.resolve()
    assert resumed.step == 1


def test_resume_refuses_another_model_or_loss(tmp_path):
    Trainer(config(tmp_path, steps=1)).train(progress=False)
    with pytest.raises(TrainingError, match="trained --loss lsgan, not vanilla"):
        Trainer(config(tmp_path, loss="vanilla"), resume=True)


def test_non_finite_loss_stops_with_the_name_and_step(tmp_path, installed):
    """With the plugin checks on, the first non-finite loss names the plugin; without them the trainer's own
    check names the loss and the step. Either way nothing non-finite is saved."""
    source = objective_plugin("explodes").replace(
        "return -self.scale * fake.score.mean()", "return fake.score.mean() * float('nan')"
    )
    installed("explodes", {"explodes_loss": source}, {"explodes": "explodes_loss"})
    trainer = Trainer(config(tmp_path, loss="explodes", checkpoint_every=1))
    with pytest.raises(PluginError, match=r"plugin 'explodes' \(explodes 1\.2\.3\) breaks the objective contract in "
                                          r"TestObjective: generator_loss returned nan; losses must be finite"):
        trainer.train(progress=False)
    assert not (tmp_path / "run" / "latest").exists()
    trainer = Trainer(config(tmp_path, name="unchecked", loss="explodes", checkpoint_every=1, plugin_checks=False))
    with pytest.raises(TrainingError, match=r"loss 'G' is nan at step 1"):
        trainer.train(progress=False)
    assert not (tmp_path / "unchecked" / "latest").exists()


def test_corrupt_weights_are_reported_with_the_file_name(tmp_path):
    last = Trainer(config(tmp_path, steps=1)).train(progress=False)
    (last / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(checkpoint.CheckpointError, match=r"cannot read '.*model\.safetensors'"):
        checkpoint.load(tmp_path / "run")


def test_a_checkpoint_of_another_model_does_not_load_silently(tmp_path):
    Trainer(config(tmp_path, steps=1)).train(progress=False)
    meta_path = tmp_path / "run" / "latest" / "checkpoint.json"
    meta = json.loads(meta_path.read_text())
    meta["model"], meta["model_options"] = "pix2pix", {"ngf": 8}
    meta_path.write_text(json.dumps(meta))
    from translate.convert import Translator

    with pytest.raises(checkpoint.CheckpointError, match="lacks weights for model 'pix2pix'"):
        Translator.load(tmp_path / "run", device="cpu")


def test_unknown_objective_option_lists_the_valid_ones(tmp_path):
    from translate.options import OptionError

    with pytest.raises(OptionError, match=r"objective 'began' has no option 'gama' \(valid: gamma, k, lambda_k\)"):
        Trainer(config(tmp_path, loss="began", loss_options={"gama": "0.5"}))
    assert not (tmp_path / "run").exists()


def test_weights_of_another_shape_are_reported_with_the_file_and_tensor(tmp_path):
    Trainer(config(tmp_path, steps=1)).train(progress=False)
    path = tmp_path / "run" / "latest" / "model.safetensors"
    weights = load_file(path)
    name = next(key for key in weights if key.endswith("weight") and weights[key].dim() == 4)
    weights[name] = torch.zeros(1, 1, 1, 1)
    save_file(weights, path)
    with pytest.raises(checkpoint.CheckpointError, match=rf"model\.safetensors' does not fit model 'cyclegan'.*{name}"):
        Trainer(config(tmp_path, steps=2), resume=True)


#: What the SIGKILL test trains: CycleGAN (image pools, two critics), FastCUT (projection heads, random flips) and
#: MUNIT (random styles drawn every step).
KILLED_MODELS = {"cyclegan": ("--model", "cyclegan"), "fastcut": ("--model", "cut", "--model-opt", "mode=fastcut"),
                 "munit": ("--model", "munit", "--model-opt", "n_res=1", "--model-opt", "mlp_dim=16")}


def launch_training(run, *extra: str, model: tuple[str, ...] = KILLED_MODELS["cyclegan"]) -> subprocess.Popen:
    command = [sys.executable, "-m", "translate", "train", *model, "--loss", "began", "--out", str(run),
               "--image-size", "32", *tiny_flags(model[1]), "--sample-every", "1000",
               "--checkpoint-every", "5", "--steps", "40", "--ema", "0.9", "--workers", "1", "--device", "cpu", *extra]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def logged_steps(run) -> int:
    path = run / "metrics.jsonl"
    text = path.read_text() if path.exists() else ""
    return text.count("\n")


def learning_record(run) -> list[dict]:
    """metrics.jsonl without the timing columns."""
    return [{k: v for k, v in line.items() if k not in ("s_per_iter", "images_per_s")} for line in read_metrics(run)]


@pytest.mark.slow
@pytest.mark.parametrize("model", KILLED_MODELS)
def test_a_run_killed_with_sigkill_resumes_as_if_never_stopped(tmp_path, model):
    """BEGAN's k, CycleGAN's pools, FastCUT's heads and flips, MUNIT's random styles, the EMA, RNG and data position
    all come back."""
    straight = launch_training(tmp_path / "straight", model=KILLED_MODELS[model])
    assert straight.wait(timeout=600) == 0, straight.stderr.read()

    killed = launch_training(tmp_path / "killed", model=KILLED_MODELS[model])
    deadline = time.monotonic() + 600
    while logged_steps(tmp_path / "killed") < 12 and killed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    killed.send_signal(signal.SIGKILL)
    assert killed.wait() == -signal.SIGKILL
    saved_step = json.loads((tmp_path / "killed" / "latest" / "checkpoint.json").read_text())["step"]
    assert 10 <= saved_step < 40 and logged_steps(tmp_path / "killed") > saved_step  # it died between checkpoints

    resumed = launch_training(tmp_path / "killed", "--resume", model=KILLED_MODELS[model])
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()
    assert learning_record(tmp_path / "killed") == learning_record(tmp_path / "straight")
    for name in ("model.safetensors", "ema.safetensors"):
        expected, got = load_file(tmp_path / "straight" / "latest" / name), load_file(tmp_path / "killed" / "latest" / name)
        assert all(torch.equal(expected[key], got[key]) for key in expected), name


# -- values the parser accepts but the code cannot: refused before a run folder exists -------------


TINY_FLAGS = (*tiny_flags("cyclegan"), "--steps", "1", "--device", "cpu")


@pytest.mark.parametrize("size", ["16", "17", "23"])
def test_an_image_size_below_what_the_critic_needs_is_refused_before_the_run_folder_exists(tmp_path, size):
    line = one_error_line(cli("train", "--image-size", size, "--out", str(tmp_path / "run"), *TINY_FLAGS))
    assert f"--image-size {size} is too small for model 'cyclegan' with --loss 'lsgan'" in line
    assert "PatchDiscriminator needs inputs of at least 24 px" in line
    assert not (tmp_path / "run").exists()


def test_a_critic_without_a_minimum_size_trains_at_16_pixels(tmp_path):
    last = Trainer(config(tmp_path, loss="began", image_size=16, steps=1)).train(progress=False)
    assert checkpoint.load(last).metadata["image_size"] == 16


@pytest.mark.parametrize("seed", [str(2**63), str(2**64), str(-(2**63) - 1)])
def test_a_seed_beyond_64_bits_is_refused(tmp_path, seed):
    result = cli("train", "--seed", seed, "--out", str(tmp_path / "run"), "--image-size", "32", *TINY_FLAGS)
    assert result.exit_code == 2 and "--seed" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()
    with pytest.raises(TrainingError, match=r"training setting 'seed' must be an integer in \[-9223372036854775808, "):
        Trainer(config(tmp_path, seed=int(seed)))
    assert not (tmp_path / "run").exists()


def test_the_largest_64_bit_seed_trains(tmp_path):
    Trainer(config(tmp_path, seed=2**63 - 1, steps=1)).train(progress=False)


@pytest.mark.parametrize("model, option, message", [
    ("cyclegan", "ngf=0", "model 'cyclegan' option 'ngf' must be an integer >= 1, got 0"),
    ("cyclegan", "ngf=-8", "model 'cyclegan' option 'ngf' must be an integer >= 1, got -8"),
    ("cyclegan", "lr=-1", "model 'cyclegan' option 'lr' must be a number > 0, got -1.0"),
    ("cyclegan", "beta1=1.5", "model 'cyclegan' option 'beta1' must be a number in [0, 1), got 1.5"),
    ("pix2pix", "lambda_l1=-100", "model 'pix2pix' option 'lambda_l1' must be a number >= 0, got -100.0"),
    ("unit", "lambda_kl=nan", "model 'unit' option 'lambda_kl' must be a number >= 0, got nan"),
    ("stargan", "repeat_num=-1", "model 'stargan' option 'repeat_num' must be an integer >= 0, got -1"),
])
def test_model_options_out_of_range_are_one_line_before_the_run_folder_exists(tmp_path, model, option, message):
    result = cli("train", "--model", model, "--model-opt", option, "--out", str(tmp_path / "run"), "--steps", "1")
    assert one_error_line(result) == f"translate: error: {message}"
    assert not (tmp_path / "run").exists()


def test_every_numeric_option_of_every_model_has_a_range():
    from translate.options import option_defaults

    registry = PluginRegistry()
    for name in registry.names("model"):
        model_cls = registry.model(name)
        numeric = {key for key, default in option_defaults(model_cls).items()
                   if isinstance(default, (int, float)) and not isinstance(default, bool) and key != "image_size"}
        assert not numeric - set(model_cls.option_limits), f"{name}: {sorted(numeric - set(model_cls.option_limits))}"


def test_models_built_from_python_check_their_options_too():
    model_cls = PluginRegistry().model("pix2pix")
    with pytest.raises(OptionError, match="model 'pix2pix' option 'ndf' must be an integer >= 1, got 0"):
        model_cls(None, ndf=0)


# -- checkpoint.json of the wrong shape: one line naming the file, for every command that reads it ------


@pytest.fixture(scope="module")
def saved_run(tiny_run):
    """A tiny CycleGAN run (shared: the tests damage copies of it)."""
    return tiny_run("cyclegan")


def damaged_copy(run, tmp_path, change) -> tuple:
    """A copy of ``run`` whose latest ``checkpoint.json`` is ``change(meta)``: the copy and that file."""
    copy = fresh_copy(run, tmp_path)
    path = copy / "latest" / "checkpoint.json"
    meta = json.loads(path.read_text())
    path.write_text(json.dumps(change(meta)))
    return copy, path.resolve()


def without(key):
    return lambda meta: {k: v for k, v in meta.items() if k != key}


SHAPES = {
    "a list": (lambda meta: [meta], "is not a checkpoint description: expected a JSON object, got an array"),
    "no model": (without("model"), "lacks the key 'model'"),
    "options not an object": (lambda meta: {**meta, "model_options": [8]}, "'model_options' must be an object"),
    "an unknown option": (lambda meta: {**meta, "model_options": {**meta["model_options"], "wings": 2}},
                          "model 'cyclegan' has no option 'wings' (valid: beta1, beta2"),
    "an option out of range": (lambda meta: {**meta, "model_options": {**meta["model_options"], "ngf": -8}},
                               "model 'cyclegan' option 'ngf' must be an integer >= 1, got -8"),
}


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("command", ["convert", "export", "eval", "resume"])
def test_a_checkpoint_description_of_the_wrong_shape_is_one_line_naming_it(saved_run, tmp_path, shape, command):
    change, message = SHAPES[shape]
    run, described = damaged_copy(saved_run, tmp_path, change)
    (tmp_path / "in").mkdir()
    Image.new("RGB", (32, 32)).save(tmp_path / "in" / "x.png")
    args = {
        "convert": ("convert", str(run), str(tmp_path / "in"), str(tmp_path / "out"), "--device", "cpu"),
        "export": ("export", str(run), str(tmp_path / "g.pt"), "--format", "torchscript"),
        "eval": ("eval", str(run), "--data", "sample", "--device", "cpu", "--out", str(tmp_path / "e.json")),
        "resume": ("train", "--out", str(run), "--resume", "--steps", "2", "--device", "cpu"),
    }[command]
    line = one_error_line(cli(*args))
    assert f"'{described}'" in line and message in line
    assert not (tmp_path / "out").exists() and not (tmp_path / "g.pt").exists()


@pytest.mark.parametrize("state, message", [
    ({"D_A": {"k": 0.5}, "D_B": {}},
     "'objective_state' does not fit objective 'lsgan': objective 'lsgan' has no state"),
    ({"D": {}}, "holds objective state for D, but model 'cyclegan' has the critics D_A, D_B"),
    ({"D_A": [1], "D_B": {}}, "the objective state of 'D_A' must be an object, got an array"),
])
def test_a_foreign_objective_state_is_refused_on_resume(saved_run, tmp_path, state, message):
    run, described = damaged_copy(saved_run, tmp_path, lambda meta: {**meta, "objective_state": state})
    with pytest.raises(checkpoint.CheckpointError) as caught:
        Trainer(config(tmp_path, steps=2), resume=True)
    assert f"'{described}'" in str(caught.value) and message in str(caught.value)
