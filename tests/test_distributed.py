"""DDP through torchrun on CPU (gloo): identical ranks, equal to one process with the same global batch."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch

from helpers import read_metrics, tiny_flags, tiny_model_options
from translate.train.trainer import Trainer, TrainConfig

#: Trains with the Trainer API under torchrun and leaves each rank's weights and objective state.
RANK_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import torch
    from translate.train.trainer import Trainer, TrainConfig

    out, dump = sys.argv[1], sys.argv[2]
    config = TrainConfig(**json.loads(sys.argv[3]), out=out, device="cpu")
    trainer = Trainer(config)
    trainer.train(progress=False)
    rank = trainer.distributed.rank
    optimizers = {group: optimizer.state_dict() for group, optimizer in trainer.model.optimizers.items()}
    torch.save({"weights": trainer.model.state_dict(), "objective": trainer.model.objective_state(),
                "optimizers": optimizers, "world_size": trainer.distributed.world_size},
               os.path.join(dump, f"rank{rank}.pt"))
    """
)


def torchrun(*args: str, processes: int = 2) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def run_ranks(tmp_path, **config) -> list[dict]:
    script = tmp_path / "train_rank.py"
    script.write_text(RANK_SCRIPT)
    dump = tmp_path / "dump"
    dump.mkdir()
    result = torchrun(str(script), str(tmp_path / "run"), str(dump), json.dumps(config))
    assert result.returncode == 0, result.stderr[-3000:]
    return [torch.load(dump / f"rank{rank}.pt", weights_only=True) for rank in range(2)]


def test_two_ranks_stay_identical_and_match_one_process_with_the_global_batch(tmp_path):
    """BEGAN on CycleGAN: the ranks' k_t come from all-reduced energies, the weights from averaged gradients.

    Against one process with batch 2 the gradients are compared (Adam's first moment after
    one step, (1 - β1)·g), not the weights: Adam moves every weight by about ±lr whatever
    its gradient, so weights whose gradient is rounding noise (a conv bias before instance
    norm) would differ by 2·lr from a different summation order alone.
    """
    # The reference preset's random untrained generators move BEGAN's k in the first steps; translate's
    # residual ones start as the identity, whose outputs a critic scores like real images (k stays 0 at first).
    config = dict(model="cyclegan", loss="began", steps=1, batch_size=1, image_size=32,
                  model_options=tiny_model_options("cyclegan"), sample_every=10**6, preset="reference",
                  precision="fp32")  # tolerances of fp32 sums
    rank0, rank1 = run_ranks(tmp_path, **config)
    assert rank0["world_size"] == 2
    for name, tensor in rank0["weights"].items():
        assert torch.equal(tensor, rank1["weights"][name]), f"{name} differs between the ranks"
    assert rank0["objective"] == rank1["objective"]

    alone = Trainer(TrainConfig(**{**config, "batch_size": 2}, out=str(tmp_path / "alone"), device="cpu"))
    alone.train(progress=False)
    assert alone.distributed.world_size == 1
    for group, optimizer in alone.model.optimizers.items():
        ranked = rank0["optimizers"][group]["state"]
        expected = torch.cat([state["exp_avg"].flatten() for state in optimizer.state_dict()["state"].values()])
        got = torch.cat([ranked[index]["exp_avg"].flatten() for index in optimizer.state_dict()["state"]])
        error = (got - expected).norm() / expected.norm()
        assert error < 1e-4, f"{group}: gradients differ by {error:.2e} (relative to their norm)"
    for critic, state in alone.model.objective_state().items():
        assert state["k"] == pytest.approx(rank0["objective"][critic]["k"], rel=1e-4)
        assert state["k"] > 0  # the objective state moved, so the comparison says something

    # The logged losses are the mean over the ranks (each saw half the global batch), not rank 0's own.
    (logged,), (expected,) = (read_metrics(tmp_path / run) for run in ("run", "alone"))
    for name in ("G", "cycle", "D_A", "D_B"):
        assert logged[name] == pytest.approx(expected[name], rel=1e-4), name


@pytest.mark.slow
@pytest.mark.parametrize("model", ["pix2pix", "cyclegan", "unit", "stargan", "cut", "munit"])
def test_every_model_trains_under_ddp_with_identical_ranks(tmp_path, model):
    """Each model's networks, UNIT's shared blocks, StarGAN's classifier and CUT's heads are synchronised.

    CUT's PatchNCE runs the plain generator's encoder besides the wrapped translation; its gradients
    join the same backward pass and must be averaged too, or the ranks' generators drift apart.
    """
    rank0, rank1 = run_ranks(tmp_path, model=model, loss="lsgan", steps=2, batch_size=2, image_size=32,
                             model_options=tiny_model_options(model), sample_every=1)
    for name, tensor in rank0["weights"].items():
        if "running_" in name or "num_batches_tracked" in name:
            continue  # batch-norm statistics are per rank (see translate.train.distributed)
        assert torch.equal(tensor, rank1["weights"][name]), f"{model}: {name} differs between the ranks"
    assert (tmp_path / "run" / "samples" / "step_000002.png").exists()  # rank 0 drew samples alone


def test_torchrun_runs_the_training_command(tmp_path):
    run = tmp_path / "run"
    result = torchrun("-m", "translate", "train", "--model", "cyclegan", "--loss", "lsgan", "--steps", "2",
                      "--image-size", "32", *tiny_flags("cyclegan"), "--out", str(run),
                      "--device", "cpu")
    assert result.returncode == 0, result.stderr[-3000:]
    saved = json.loads((run / "latest" / "checkpoint.json").read_text())
    assert saved["world_size"] == 2 and saved["step"] == 2
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2]  # rank 0 logs, once per step
    assert result.stdout.count("checkpoint:") == 1
