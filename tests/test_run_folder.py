"""A run folder's guarantees: one trainer at a time, resume keeps the run's settings and survives torn
files and leftovers of a killed run, and a full or read-only disk is one line that loses nothing."""

from __future__ import annotations

import errno
import json
import os
import pathlib
import resource
import signal
import subprocess
import sys
import time

import pytest

from helpers import TRANSLATE, cli, logged_steps, tiny_config, tiny_flags
from translate.cli import main
from translate.train import checkpoint
from translate.train.run_folder import RunFolderError
from translate.train.trainer import RESUME_MAY_CHANGE, Trainer, TrainConfig, TrainingError

TINY = ("--image-size", "32", *tiny_flags("cyclegan"), "--device", "cpu")


def config(tmp_path, name="run", **overrides) -> TrainConfig:
    """A tiny CycleGAN run of two steps on the CPU into ``tmp_path/name``, sampled and saved every two."""
    settings = dict(out=tmp_path / name, steps=2, sample_every=2, checkpoint_every=2, device="cpu")
    return tiny_config(**{**settings, **overrides})


def partial_files(run) -> list[str]:
    return sorted(str(path.relative_to(run)) for path in run.rglob("*.partial"))


# -- one trainer per run folder ------------------------------------------------------------------------

HOLD_LOCK = """
import sys, time
from pathlib import Path
from translate.train.run_folder import RunLock
lock = RunLock(Path(sys.argv[1]))
print("locked", flush=True)
time.sleep(120)
"""


def test_a_run_folder_held_by_another_process_is_refused_naming_its_pid(tmp_path):
    Trainer(config(tmp_path, steps=1)).train(progress=False)
    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        for resume in (True, False):  # a second --resume, and a new run racing for the same --out
            with pytest.raises(RunFolderError, match=rf"run folder '{run}' is in use by another trainer "
                                                     rf"\(pid {holder.pid} on "):
                Trainer(config(tmp_path, steps=2), resume=resume)
    finally:
        holder.kill()
        holder.wait()
    resumed = Trainer(config(tmp_path, steps=2), resume=True)  # the lock died with its process
    resumed.train(progress=False)
    assert logged_steps(run) == [1, 2]


HOLD_LOCK_AND_FORK = """
import multiprocessing, os, signal, sys, time
from pathlib import Path
from translate.train.run_folder import RunLock
lock = RunLock(Path(sys.argv[1]))
worker = multiprocessing.get_context("fork").Process(target=time.sleep, args=(120,))  # as a DataLoader worker
worker.start()
print(worker.pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_forked_worker_that_outlives_its_killed_trainer_does_not_keep_the_folder_locked(tmp_path):
    Trainer(config(tmp_path, steps=1)).train(progress=False)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK_AND_FORK, str(tmp_path / "run")],
                              stdout=subprocess.PIPE, text=True)
    worker = int(holder.stdout.readline())
    try:
        assert holder.wait() == -signal.SIGKILL
        pathlib.Path(f"/proc/{worker}").stat()  # the orphaned worker is still alive ...
        Trainer(config(tmp_path, steps=2), resume=True).train(progress=False)  # ... and holds no lock
    finally:
        os.kill(worker, signal.SIGKILL)
    assert logged_steps(tmp_path / "run") == [1, 2]


def test_a_trainer_holds_its_run_folder_until_it_is_done(tmp_path):
    first = Trainer(config(tmp_path, steps=1))
    with pytest.raises(RunFolderError, match="is in use by another trainer"):
        Trainer(config(tmp_path, steps=1), resume=True)
    first.train(progress=False)
    Trainer(config(tmp_path, steps=2), resume=True).train(progress=False)


def test_a_folder_taken_while_a_new_run_sets_up_is_an_error_not_a_traceback(tmp_path, monkeypatch):
    sample_batch = Trainer._sample_batch

    def someone_else_creates_the_folder(self):
        (tmp_path / "run").mkdir(exist_ok=True)
        return sample_batch(self)

    monkeypatch.setattr(Trainer, "_sample_batch", someone_else_creates_the_folder)
    result = cli("train", "--out", str(tmp_path / "run"), "--steps", "1", *TINY)
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"translate: error: run folder '{tmp_path / 'run'}' exists; pass --resume to "
                                     "continue it or choose another --out")


def test_a_default_run_folder_taken_while_setting_up_gives_way_to_the_next_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sample_batch = Trainer._sample_batch

    def someone_else_creates_the_folder(self):
        (tmp_path / "runs" / "cyclegan-lsgan").mkdir(parents=True, exist_ok=True)
        return sample_batch(self)

    monkeypatch.setattr(Trainer, "_sample_batch", someone_else_creates_the_folder)
    trainer = Trainer(config(tmp_path, out=None, steps=1))
    assert trainer.run_dir == pathlib.Path("runs/cyclegan-lsgan-2")
    trainer.train(progress=False)


@pytest.mark.slow
def test_two_trainer_processes_on_one_run_folder(tmp_path):
    """Real trainers: of two racing for one --out the loser stops with one line, a --resume of a running
    run is refused with the runner's pid, and after a kill -9 the folder is free (and cleaned) again."""
    run = tmp_path / "run"
    command = [str(TRANSLATE), "train", "--out", str(run), *TINY, "--checkpoint-every", "1", "--sample-every", "1000"]
    racers = [subprocess.Popen([*command, "--steps", "100000"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True) for _ in range(2)]
    try:
        deadline = time.monotonic() + 600
        while all(racer.poll() is None for racer in racers) and time.monotonic() < deadline:
            time.sleep(0.05)
        loser = next(racer for racer in racers if racer.poll() is not None)
        winner = next(racer for racer in racers if racer is not loser)
        assert loser.returncode == 2
        error = loser.stderr.read().strip()
        assert error.count("\n") == 0 and error.startswith(f"translate: error: run folder '{run}' "), error
        assert f"in use by another trainer (pid {winner.pid} on " in error or "exists; pass --resume" in error
        while not (run / "latest").exists() and winner.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert winner.poll() is None, winner.stderr.read()
        second = subprocess.run([*command, "--resume", "--steps", "3"], capture_output=True, text=True, timeout=600)
        assert second.returncode == 2
        assert second.stderr.strip().count("\n") == 0
        assert f"run folder '{run}' is in use by another trainer (pid {winner.pid} on " in second.stderr
    finally:
        for racer in racers:
            racer.send_signal(signal.SIGKILL)
            racer.wait()
    stale = run / "checkpoints" / ".999999.partial"  # what a kill during a checkpoint write leaves
    stale.mkdir(exist_ok=True)
    resumed = subprocess.run([*command, "--resume", "--steps", str(checkpoint.load(run).metadata["step"] + 1)],
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert partial_files(run) == []


# -- resume keeps what the run was started with ---------------------------------------------------------


def test_resume_keeps_the_runs_own_cadence_and_loggers_unless_given_again(tmp_path):
    run = tmp_path / "run"
    started = cli("train", "--out", str(run), *TINY, "--steps", "2", "--checkpoint-every", "1",
                  "--sample-every", "1", "--log-every", "2", "--logger", "jsonl")
    assert started.exit_code == 0, started.output
    resumed = cli("train", "--out", str(run), "--resume", "--steps", "4")
    assert resumed.exit_code == 0, resumed.output
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["000002", "000003", "000004"]
    assert sorted(p.name for p in (run / "samples").iterdir()) == [f"step_00000{i}.png" for i in range(1, 5)]
    assert logged_steps(run) == [2, 4]
    assert not (run / "index.html").exists() and not (run / "tensorboard").exists()
    changed = cli("train", "--out", str(run), "--resume", "--steps", "6", "--checkpoint-every", "10",
                  "--log-every", "1")
    assert changed.exit_code == 0, changed.output
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["000003", "000004", "000006"]
    assert logged_steps(run) == [2, 4, 5, 6]
    assert json.loads((run / "config.json").read_text())["checkpoint_every"] == 1  # the start's, for the next resume


def test_a_new_run_saves_the_defaults_it_used():
    assert TrainConfig().with_defaults() == TrainConfig(**RESUME_MAY_CHANGE)
    assert all(getattr(TrainConfig(), key) is None for key in RESUME_MAY_CHANGE)


def test_the_command_line_states_the_trainers_defaults():
    params = {param.name: param for param in main.commands["train"].params}
    for key, default in RESUME_MAY_CHANGE.items():
        if isinstance(default, (int, str)) and not isinstance(default, bool):
            assert f"(default: {default};" in params[key].help, key
        assert params[key].multiple or params[key].default is None, key  # not given: the trainer decides


# -- torn files and leftovers of a killed run ---------------------------------------------------------


def test_resume_drops_a_torn_last_line_of_the_metrics_and_the_gallery_and_says_so(tmp_path):
    run = tmp_path / "run"
    started = cli("train", "--out", str(run), *TINY, "--steps", "2", "--checkpoint-every", "2",
                  "--sample-every", "1", "--logger", "gallery")
    assert started.exit_code == 0, started.output
    with open(run / "metrics.jsonl", "a") as metrics:
        metrics.write('{"step": 3, "G": 0.7, "cyc')  # killed mid-line, or the disk filled up
    gallery = (run / "gallery.json").read_text()
    (run / "gallery.json").write_text(gallery[: gallery.rindex('"image"')])  # the second entry torn
    resumed = cli("train", "--out", str(run), "--resume", "--steps", "3")
    assert resumed.exit_code == 0, resumed.output
    warnings = [line for line in resumed.stderr.splitlines() if line.startswith("translate: warning:")]
    assert any(f"'{run / 'metrics.jsonl'}': dropped 1 unreadable line(s) (line 3)" in line for line in warnings)
    assert any(f"'{run / 'gallery.json'}' ends in a torn entry" in line and "dropped it, 1 entries kept" in line
               for line in warnings)
    assert logged_steps(run) == [1, 2, 3]
    assert [entry["step"] for entry in json.loads((run / "gallery.json").read_text())] == [1, 3]


def test_resume_removes_what_a_killed_run_left_half_written(tmp_path):
    Trainer(config(tmp_path)).train(progress=False)
    run = tmp_path / "run"
    (run / "checkpoints" / ".000004.partial").mkdir()
    (run / "checkpoints" / ".000004.partial" / "model.safetensors").write_bytes(b"half")
    (run / ".latest.partial").symlink_to("checkpoints/.000004.partial")
    (run / ".gallery.json.partial").write_text("[{")
    (run / "samples" / ".step_000003.png.partial").write_bytes(b"\x89PNG")
    Trainer(config(tmp_path, steps=3), resume=True).train(progress=False)
    assert partial_files(run) == []
    assert (run / "latest").resolve().name == "000003"


# -- full and read-only disks ---------------------------------------------------------------------------


def limit_file_size(size: int):
    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return limit


def test_a_disk_full_during_a_checkpoint_is_one_line_and_keeps_the_last_checkpoint(tmp_path):
    last = Trainer(config(tmp_path)).train(progress=False)
    run = tmp_path / "run"
    weights, training = (last / checkpoint.WEIGHTS).stat().st_size, (last / checkpoint.TRAINING).stat().st_size
    assert weights < training
    limit = (weights + training) // 2  # the next checkpoint's weights fit, its optimiser state does not
    resumed = subprocess.run([str(TRANSLATE), "train", "--out", str(run), "--resume", "--steps", "4"],
                             capture_output=True, text=True, timeout=600, preexec_fn=limit_file_size(limit))
    assert resumed.returncode == 2
    lines = resumed.stderr.strip().splitlines()
    assert lines[-1].startswith(f"translate: error: cannot write checkpoint '{run / 'checkpoints' / '000004'}' "
                                "(out of disk space? ")
    assert lines[-1].endswith(f"the partial folder was removed and '{run / 'latest'}' still points to the last "
                              "complete checkpoint (checkpoints/000002)")
    assert "Traceback" not in resumed.stderr
    assert partial_files(run) == []
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["000002"]
    assert checkpoint.load(run).metadata["step"] == 2
    assert Trainer(config(tmp_path, steps=3), resume=True).step == 2  # and it resumes


def test_an_out_folder_on_a_read_only_file_system_is_one_line(tmp_path, monkeypatch):
    target = tmp_path / "mnt" / "run"
    mkdir = pathlib.Path.mkdir

    def read_only(self, *args, **kwargs):
        if self == target:
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return mkdir(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "mkdir", read_only)
    result = cli("train", "--out", str(target), "--steps", "1", *TINY)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"translate: error: cannot create run folder '{target}': Read-only file system"


def test_a_failed_write_while_training_is_one_line(tmp_path, monkeypatch):
    trainer = Trainer(config(tmp_path, steps=2, checkpoint_every=1))

    def disk_full(self):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "run" / "samples" / "x.png"))

    monkeypatch.setattr(Trainer, "save_samples", disk_full)
    with pytest.raises(TrainingError, match=r"cannot write '.*x\.png': No space left on device; stopped at step 2"):
        trainer.train(progress=False)
    assert checkpoint.load(tmp_path / "run").metadata["step"] == 1
