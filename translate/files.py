"""Atomic writes that end with the file modes a plain ``open()`` gives, and what a killed writer left.

Every output translate writes (converted images, checkpoints, exported graphs, imported
weights, extracted data sets) first goes to a hidden temporary next to its target,
``.NAME.TOKEN.partial``, and is then renamed over the target, so nobody ever sees a
half-written file. Temporaries made with :mod:`tempfile` are private (``0600`` files,
``0700`` folders), and some writers (safetensors) make their files ``0600`` too; a
rename keeps that mode, so :func:`publish` first gives the temporary the mode that
``open()``/``mkdir()`` would have given under the process's umask (``0644``/``0755``
under the usual ``022``).

A writer killed between the two steps leaves its ``.partial`` behind;
:func:`remove_stale_partials` deletes those of given targets (``translate convert``
calls it for every output it is about to consider).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import stat
import threading
from collections import defaultdict
from pathlib import Path
from typing import Iterable, Iterator

#: Suffix of every temporary a target is written to before the rename.
PARTIAL_SUFFIX = ".partial"
_PARTIAL_NAME = re.compile(r"^\.(?P<target>.+)\.[^.]+" + re.escape(PARTIAL_SUFFIX) + "$")
_UMASK_LOCK = threading.Lock()


def umask() -> int:
    """The process's file mode creation mask, read without changing it where the OS allows."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    with _UMASK_LOCK:  # elsewhere the only way to read it is to set it (and set it back)
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def plain_mode(directory: bool = False) -> int:
    """The permission bits ``mkdir()`` (``directory``) or ``open(..., "w")`` give a new entry now."""
    return (0o777 if directory else 0o666) & ~umask()


def give_plain_modes(path: Path) -> None:
    """Give ``path``, and every file and folder below it, the modes a plain ``open``/``mkdir`` gives."""
    file_mode, folder_mode = plain_mode(), plain_mode(directory=True)
    if not path.is_dir():
        os.chmod(path, file_mode)
        return
    for folder, folders, files in os.walk(path):
        os.chmod(folder, folder_mode)
        for name in files:
            os.chmod(os.path.join(folder, name), file_mode)


def partial_path(target: Path) -> Path:
    """A fresh hidden name next to ``target`` to write it under before :func:`publish`."""
    return target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}{PARTIAL_SUFFIX}")


def publish(partial: Path, target: Path, tree: bool = True) -> None:
    """Rename the finished ``partial`` over ``target``, first giving it the modes of a plain ``open``.

    A folder gets the plain mode for itself and, with ``tree``, for everything in it
    (pass ``tree=False`` for content whose modes came from elsewhere, e.g. an archive).
    """
    if tree:
        give_plain_modes(partial)
    else:
        os.chmod(partial, plain_mode(directory=partial.is_dir()))
    os.replace(partial, target)


@contextlib.contextmanager
def atomic_file(target: Path) -> Iterator[Path]:
    """Write ``target`` atomically: yields a temporary path to write; renamed into place on success.

    The temporary is created empty with the mode ``open()`` gives (writers that reopen it
    keep that mode) and removed if the block raises.
    """
    partial = partial_path(target)
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield partial
        publish(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def stale_partials(targets: Iterable[Path]) -> list[Path]:
    """The ``.NAME.TOKEN.partial`` files and folders that writers of ``targets`` left (one listing per folder)."""
    names: dict[Path, set[str]] = defaultdict(set)
    for target in targets:
        names[target.parent].add(target.name)
    found = []
    for folder, wanted in names.items():
        with contextlib.suppress(FileNotFoundError, NotADirectoryError), os.scandir(folder) as entries:
            for entry in entries:
                match = _PARTIAL_NAME.match(entry.name)
                if match and match["target"] in wanted:
                    found.append(Path(entry.path))
    return sorted(found)


def remove_stale_partials(targets: Iterable[Path]) -> list[Path]:
    """Delete what interrupted writers of ``targets`` left (see :func:`stale_partials`); returns it."""
    removed = stale_partials(targets)
    for path in removed:
        with contextlib.suppress(FileNotFoundError):  # another process may have cleaned it up meanwhile
            if stat.S_ISDIR(path.lstat().st_mode):
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink()
    return removed
