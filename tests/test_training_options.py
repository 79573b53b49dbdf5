"""Speed settings, EMA and the loggers of a training run."""

from __future__ import annotations

import json
import math

import pytest
import torch
from safetensors.torch import load_file

from helpers import read_metrics, tiny_config, tiny_options, train
from translate.convert import Translator
from translate.plugin_host.manager import PluginRegistry
from translate.train.ema import ExponentialMovingAverage
from translate.train.trainer import Trainer, TrainConfig, TrainingError


def config(tmp_path, name="run", **overrides) -> TrainConfig:
    """A tiny CycleGAN run of two steps on the CPU into ``tmp_path/name``."""
    return tiny_config(**{"out": tmp_path / name, "steps": 2, "sample_every": 10**6, "device": "cpu", **overrides})


# -- precision, compile, channels-last ---------------------------------------------------------


@pytest.mark.filterwarnings("ignore::translate.devices.PrecisionWarning")  # slow on CPUs without bf16
@pytest.mark.parametrize("loss", ["lsgan", "wgan-gp", "began"])
def test_bf16_autocast_trains_and_changes_the_arithmetic(tmp_path, loss):
    # The reference's generators, whose first outputs already go through bf16 arithmetic: translate's
    # residual ones output their input exactly at step 0 in any precision (BEGAN's first G loss then
    # came out bit-identical).
    fp32 = read_metrics(train(config(tmp_path, "fp32", loss=loss, preset="reference", precision="fp32")).parents[1])
    bf16 = read_metrics(train(config(tmp_path, "bf16", loss=loss, preset="reference", precision="bf16")).parents[1])
    assert all(torch.isfinite(torch.tensor(v)) for line in bf16 for v in line.values())
    assert bf16[0]["G"] != fp32[0]["G"]  # autocast really ran in bf16 (wgan-gp's generator steps on step 1 only)
    assert bf16[0]["cycle"] == pytest.approx(fp32[0]["cycle"], rel=0.05)  # ... and computed the same thing


def test_fp16_is_refused_without_cuda(tmp_path):
    with pytest.raises(TrainingError, match="--precision fp16 needs CUDA"):
        Trainer(config(tmp_path, precision="fp16"))


def test_channels_last_computes_the_same_losses_in_another_layout(tmp_path):
    """Compared on the first step: after one Adam update, weights whose gradient is rounding noise
    (conv biases before instance norm) have moved by ±lr either way, so later steps drift apart."""
    Trainer(config(tmp_path, "plain", steps=1)).train(progress=False)
    fast = Trainer(config(tmp_path, "fast", steps=1, channels_last=True))
    assert fast.model.G_AB.net.model[1].weight.is_contiguous(memory_format=torch.channels_last)
    fast.train(progress=False)
    (expected,), (got,) = read_metrics(tmp_path / "plain"), read_metrics(tmp_path / "fast")
    for name in ("G", "cycle", "D_A", "D_B"):
        assert got[name] == pytest.approx(expected[name], rel=1e-4), name


@pytest.mark.parametrize("scaled,penalty_autocast", [(False, True), (True, False)])
def test_penalties_run_in_fp32_when_their_group_trains_with_a_gradient_scaler(scaled, penalty_autocast):
    """fp16 would underflow the penalty's inner gradients (nobody scales them); bf16 needs no such care.

    A CPU scaler and CPU autocast stand in for CUDA fp16 here."""
    objective_cls = PluginRegistry().objective("wgan-gp")
    seen = []

    class Recording(objective_cls):
        def penalty(self, critic, real_input, fake_input):
            seen.append(torch.is_autocast_enabled("cpu"))
            return super().penalty(critic, real_input, fake_input)

    model = PluginRegistry().model("pix2pix")(Recording, image_size=32, **tiny_options("pix2pix"))
    model.optimizers = {g: torch.optim.Adam(p) for g, p in model.parameter_groups().items()}
    if scaled:
        model.grad_scalers = {"critic": torch.amp.GradScaler("cpu")}
    batch = {"A": torch.rand(2, 3, 32, 32) * 2 - 1, "B": torch.rand(2, 3, 32, 32) * 2 - 1}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logged = model.train_step(batch)
    assert seen == [penalty_autocast]
    assert math.isfinite(logged["D/penalty"])


@pytest.mark.slow
def test_compile_trains_compiled_networks_and_keeps_checkpoint_keys(tmp_path):
    trainer = Trainer(config(tmp_path, "compiled", model="pix2pix", loss="wgan-gp", compile=True))
    assert trainer.model.G._compiled_call_impl is not None
    assert trainer.model.D._compiled_call_impl is None  # the gradient penalty needs double backward: eager
    last = trainer.train(progress=False)
    assert all(torch.isfinite(torch.tensor(v)) for line in read_metrics(tmp_path / "compiled") for v in line.values())
    eager = Trainer(config(tmp_path, "eager", model="pix2pix", loss="wgan-gp"))
    assert set(load_file(last / "model.safetensors")) == set(eager.model.state_dict())


# -- EMA ----------------------------------------------------------------------------------------


def test_moving_average_follows_the_weights_at_its_decay():
    net = torch.nn.Linear(2, 1)
    ema = ExponentialMovingAverage(net, list(net.parameters()), decay=0.75)
    start = net.weight.detach().clone()
    with torch.no_grad():
        net.weight.add_(4.0)
    ema.update()
    assert torch.allclose(ema.state_dict()["weight"], start + 1.0)  # 0.75·w + 0.25·(w + 4)
    with ema.applied():
        assert torch.allclose(net.weight, start + 1.0)
    assert torch.allclose(net.weight, start + 4.0)


def test_ema_weights_are_saved_resumed_and_used_for_conversion(tmp_path):
    run = tmp_path / "run"
    trainer = Trainer(config(tmp_path, ema=0.5, steps=3, sample_every=3))
    last = trainer.train(progress=False)
    averaged = load_file(last / "ema.safetensors")
    raw = load_file(last / "model.safetensors")
    generator_names = set(averaged)
    assert generator_names and all(name.startswith(("G_AB.", "G_BA.")) for name in generator_names)
    assert any(not torch.equal(averaged[name], raw[name]) for name in generator_names)

    translator = Translator.load(run, device="cpu")
    state = translator.model.state_dict()
    assert all(torch.equal(state[name], averaged[name]) for name in generator_names)

    resumed = Trainer(config(tmp_path, ema=0.5, steps=4), resume=True)
    assert all(torch.equal(resumed.ema.state_dict()[name], averaged[name]) for name in generator_names)
    resumed.train(progress=False)


# -- loggers ------------------------------------------------------------------------------------


def test_every_sink_gets_learning_rates_objective_state_and_speed(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    Trainer(config(tmp_path, loss="began", steps=4, sample_every=2, batch_size=2)).train(progress=False)
    lines = read_metrics(run)
    expected = {"lr/generator", "lr/critic", "D_A/k", "D_A/M", "s_per_iter", "images_per_s"}
    assert all(expected <= set(line) for line in lines)
    assert lines[-1]["images_per_s"] == pytest.approx(2 / lines[-1]["s_per_iter"])

    gallery = (run / "index.html").read_text()
    assert gallery.count("<figure>") == 2 and 'src="samples/step_000004.png"' in gallery
    assert "epoch 1" in gallery and "D_A/k" in gallery and "s_per_iter" in gallery

    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    assert expected <= scalars
    assert [event.step for event in events.Scalars("D_A/k")] == [1, 2, 3, 4]
    assert len(events.Images("samples")) == 2
    assert events.Images("samples")[-1].encoded_image_string == (run / "samples" / "step_000004.png").read_bytes()


def test_the_gallery_groups_samples_by_epoch_and_survives_resume(tmp_path):
    run = tmp_path / "run"
    # the sample set has 72 training pairs: batch 36 makes an epoch two steps long
    Trainer(config(tmp_path, steps=2, sample_every=1, batch_size=36)).train(progress=False)
    Trainer(config(tmp_path, steps=3, sample_every=1, batch_size=36), resume=True).train(progress=False)
    page = (run / "index.html").read_text()
    assert page.index("epoch 2") < page.index("epoch 1")  # newest first
    assert page.count("<figure>") == 3


def test_loggers_can_be_chosen_and_unknown_ones_are_named(tmp_path):
    Trainer(config(tmp_path, "only-jsonl", loggers=("jsonl",))).train(progress=False)
    assert (tmp_path / "only-jsonl" / "metrics.jsonl").exists()
    assert not (tmp_path / "only-jsonl" / "index.html").exists()
    assert not (tmp_path / "only-jsonl" / "tensorboard").exists()
    with pytest.raises(Exception, match=r"unknown logger 'wandb' \(available: gallery, jsonl, tensorboard\)"):
        Trainer(config(tmp_path, "x", loggers=("wandb",)))


def test_a_plugin_logger_receives_the_run(tmp_path, installed):
    source = '''
import json
from translate import hookimpl
from translate.run_logger import RunLogger


class Recorder(RunLogger):
    name = "recorder"

    def log_metrics(self, step, values):
        with open(self.run_dir / "recorded.jsonl", "a") as file:
            file.write(json.dumps({"step": step, **values}) + "\\n")


@hookimpl
def translate_loggers():
    return [Recorder]
'''
    installed("recorder", {"recorder_logger": source}, {"recorder": "recorder_logger"})
    assert "recorder" in PluginRegistry().names("logger")
    Trainer(config(tmp_path, loggers=("recorder",))).train(progress=False)
    recorded = [json.loads(line) for line in (tmp_path / "run" / "recorded.jsonl").read_text().splitlines()]
    assert [line["step"] for line in recorded] == [1, 2] and "lr/generator" in recorded[0]
