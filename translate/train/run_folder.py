"""The run folder's guards: one trainer at a time, and nothing half-written left behind.

A trainer holds ``RUN/.lock`` while it works on the folder: an ``fcntl.flock`` lock,
which the kernel releases when the process ends in any way (even ``kill -9``), with the
holder's pid and host written inside. A child forked while the lock is held (a DataLoader
worker) closes its copy of the lock file at once: a ``flock`` belongs to the open file, so an
orphaned worker that outlives a killed trainer for a few seconds would otherwise keep the
folder locked against the ``--resume`` that follows. A second trainer on the same folder -- a new run
racing for one ``--out``, or a second ``--resume`` -- is refused with a
:class:`RunFolderError` naming that pid.

Files are written under a hidden ``.NAME.TOKEN.partial`` name next to ``NAME`` and renamed into
place (:func:`translate.files.partial_path`); what a killed run was writing is removed by
:func:`remove_leftovers` when the next trainer takes the folder.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import weakref
from pathlib import Path
from typing import BinaryIO

from translate.errors import TranslateError

LOCK = ".lock"
#: Folders of a run whose files are written through :func:`translate.files.partial_path`.
_WRITTEN = (".", "checkpoints", "samples")


class RunFolderError(TranslateError):
    """The run folder is in use by another trainer, or cannot be written."""


#: Locks this process holds; a forked child lets go of them (see the module docstring).
_HELD: "weakref.WeakSet[RunLock]" = weakref.WeakSet()


class RunLock:
    """An exclusive lock on a run folder, held until :meth:`release`, the lock's garbage collection
    or the end of the process."""

    def __init__(self, run_dir: Path):
        """Take the lock of ``run_dir`` (an existing folder) or raise :class:`RunFolderError`."""
        self.path = run_dir / LOCK
        try:
            self.file: BinaryIO | None = os.fdopen(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644), "r+b")
        except OSError as exc:
            raise RunFolderError(f"cannot write to run folder '{run_dir}': {exc.strerror or exc}") from None
        fd = self.file.fileno()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 256, 0).decode(errors="replace").strip() or "pid unknown"
            self.release()
            raise RunFolderError(
                f"run folder '{run_dir}' is in use by another trainer ({holder}); wait for it to finish, "
                "or stop it, before training in this folder"
            ) from None
        except OSError as exc:  # a file system without locks
            self.release()
            raise RunFolderError(f"cannot lock run folder '{run_dir}': {exc.strerror or exc}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        _HELD.add(self)

    def release(self) -> None:
        """Give the lock up (closing the file releases it); releasing twice does nothing."""
        if self.file is not None:
            self.file.close()
            self.file = None
        _HELD.discard(self)


def _let_go_in_child() -> None:
    """In a freshly forked child: close the inherited lock files (the parent keeps its locks)."""
    for lock in list(_HELD):
        lock.release()


os.register_at_fork(after_in_child=_let_go_in_child)


def remove_leftovers(run_dir: Path) -> list[Path]:
    """Remove the ``.NAME[.TOKEN].partial`` files and folders a killed run left in ``run_dir``; return them.

    Call it only while holding the folder's :class:`RunLock`: another trainer's partial
    files are in use.
    """
    removed = []
    for folder in _WRITTEN:
        for path in sorted((run_dir / folder).glob(".*.partial")):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
    return removed
