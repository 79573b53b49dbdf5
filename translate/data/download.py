"""Fetch a recipe's file: resumable HTTP download, SHA-256 check, safe extraction.

Nothing is half-written where a user looks:

- the download goes to ``ROOT/.RECIPE-KEY.FILE.part`` (:func:`part_path`, keyed by the recipe's
  name and URLs, so two recipes whose files share a name never share it); an interrupted or
  truncated transfer keeps it, and the next run resumes with an HTTP ``Range`` request;
- the finished file is checked against the recipe's size and SHA-256; a mismatch
  deletes it (the next run starts afresh) and nothing is extracted;
- archives are checked entry by entry *before* anything is written: absolute paths,
  ``..``, links pointing outside the target, devices and FIFOs are refused, and so is an
  archive declaring more than :data:`MAX_EXPANSION` times its own size of content (a
  "zip bomb"; at least :data:`EXPANSION_FLOOR` is always allowed);
- a corrupt archive (bad CRC, broken compressed stream) is one error, not a traceback;
- extraction goes to a temporary folder under ``ROOT`` that is renamed into place
  only once it holds the folders the recipe expects.

Only the standard library talks HTTP (``urllib``), so proxies set in the environment
(``http_proxy``, ``https_proxy``) are honoured.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import lzma
import os
import shutil
import stat
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable

from translate import __version__
from translate.errors import TranslateError
from translate.files import publish

from .recipes import Recipe

#: Seconds without data before a connection counts as stalled.
TIMEOUT = 30
_CHUNK = 1 << 16
#: Folder names macOS adds to zip files; never extracted.
_IGNORED = ("__MACOSX",)
#: An archive may declare at most this many times its own size of content (``--max-expansion``);
#: image data sets unpack to about their size, a zip bomb to thousands of times it.
MAX_EXPANSION = 100.0
#: Content an archive may always declare, whatever its ratio (small archives of text compress well).
EXPANSION_FLOOR = 64 << 20
#: What a corrupt archive raises while it is read or decompressed.
_CORRUPT = (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError)


class DownloadError(TranslateError):
    """A download failed, did not verify, or its archive is unsafe to extract."""


class _CannotWrite(DownloadError):
    """Extraction failed for want of room (or permission), not because of the archive: keep the download."""


@dataclass
class DownloadResult:
    """What :func:`download` did."""

    path: Path
    sha256: str | None = None
    verified: bool = False
    skipped: bool = False
    warnings: list[str] = field(default_factory=list)


def download(recipe: Recipe, root: str | os.PathLike, *, require_checksum: bool = False, progress: bool = True,
             keep_archive: bool = False, install: Callable[[Path, Path, Recipe], None] | None = None,
             timeout: float = TIMEOUT, max_expansion: float = MAX_EXPANSION) -> DownloadResult:
    """Download ``recipe`` into ``root/<folder>``; returns where it went and how it was checked.

    ``install(file, target, recipe)`` turns a downloaded non-archive file (weights) into
    ``target``; archives are extracted (see :func:`safe_extract` for ``max_expansion``).
    An existing target is left alone (``skipped``).
    """
    root = Path(root)
    target = root / recipe.target_name
    if recipe.refuse:
        raise DownloadError(f"{recipe.name}: {recipe.refuse}")
    if not recipe.verified and require_checksum:
        raise DownloadError(
            f"recipe {recipe.name!r} has no published SHA-256 and --require-checksum was given; "
            f"pin one in a recipe file (see datasets/README.md) or drop --require-checksum"
        )
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        return DownloadResult(target, skipped=True)
    root.mkdir(parents=True, exist_ok=True)
    part = part_path(recipe, root)
    fetch(recipe, part, progress=progress, timeout=timeout)
    digest = sha256_of(part)
    result = DownloadResult(target, sha256=digest, verified=recipe.verified)
    if recipe.verified and digest != recipe.sha256:
        part.unlink()
        raise DownloadError(
            f"checksum mismatch for {recipe.file_name}: expected SHA-256 {recipe.sha256}, got {digest}; "
            f"the file was deleted and nothing was extracted (run again to download afresh)"
        )
    if not recipe.verified:
        result.warnings.append(
            f"{recipe.file_name} could not be verified: recipe {recipe.name!r} has no published SHA-256; "
            f"it is {digest} -- pin it with sha256 = \"{digest}\" in a recipe file (see datasets/README.md)"
        )
    try:
        if recipe.archive in ("zip", "tar.gz", "tgz", "tar"):
            extract_into_place(part, recipe, target, max_expansion)
        elif install is not None:
            install(part, target, recipe)
        else:
            raise DownloadError(f"recipe {recipe.name!r}: do not know how to install a {recipe.archive!r} file")
    except _CannotWrite as exc:
        raise DownloadError(f"{exc}; the download is kept in '{part}' for the next run") from None
    except TranslateError:
        part.unlink()  # complete but unusable: downloading it again would not help
        raise
    if keep_archive:
        os.replace(part, root / recipe.file_name)
    else:
        part.unlink()
    return result


def part_path(recipe: Recipe, root: str | os.PathLike) -> Path:
    """Where ``recipe``'s download grows until complete: ``ROOT/.RECIPE-KEY.FILE.part``, with KEY a
    digest of the recipe's name and URLs."""
    key = hashlib.sha256("\n".join((recipe.name, *recipe.urls)).encode()).hexdigest()[:12]
    return Path(root) / f".{recipe.name}-{key}.{recipe.file_name}.part"


# -- HTTP ---------------------------------------------------------------------------------------------


def fetch(recipe: Recipe, part: Path, progress: bool = True, timeout: float = TIMEOUT) -> None:
    """Complete ``part`` from the recipe's URLs (tried in order), resuming what is there.

    Raises :class:`DownloadError` with every URL's reason when none answers, or when
    the transfer stops early (``part`` then keeps what arrived, for the next run).
    """
    failures = []
    for url in recipe.urls:
        try:
            _fetch_one(url, part, recipe.size, progress, timeout)
        except _Unreachable as exc:
            failures.append(f"{url}: {exc}")
            continue
        _check_size(recipe, part)
        return
    kept = f"; {part.stat().st_size} bytes kept in '{part}' for resuming" if part.exists() and part.stat().st_size else ""
    raise DownloadError(
        f"cannot download {recipe.name} ({'; '.join(failures)}) -- offline, or the host is blocked?{kept}"
    )


class _Unreachable(Exception):
    """A URL gave no data (connection refused, DNS failure, HTTP error): try the next one."""


def _fetch_one(url: str, part: Path, expected: int | None, progress: bool, timeout: float) -> None:
    start = part.stat().st_size if part.exists() else 0
    if expected is not None and start >= expected:
        return  # complete already; size and checksum are checked by the caller
    headers = {"User-Agent": f"translate/{__version__}"}
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start:  # the range starts at the end: nothing is missing
            return
        raise _Unreachable(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise _Unreachable(str(getattr(exc.reason, "strerror", None) or exc.reason)) from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise _Unreachable(str(exc) or type(exc).__name__) from None
    with response:
        if start and response.status == 206:
            content_range = response.headers.get("Content-Range", "")
            if not content_range.startswith(f"bytes {start}-"):
                raise _Unreachable(f"server answered range {content_range!r} to a request from byte {start}")
        else:
            start = 0  # a full answer (the server ignores ranges): start over
        length = response.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        total = start + length if length is not None else expected
        received = 0
        from tqdm.auto import tqdm

        with open(part, "ab" if start else "wb") as out, tqdm(
            total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024, dynamic_ncols=True,
            desc=url.rstrip("/").rsplit("/", 1)[-1], file=sys.stderr, disable=None if progress else True,
        ) as bar:
            try:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            except (OSError, http.client.HTTPException) as exc:
                raise DownloadError(
                    f"download from {url} stopped after {start + received} bytes ({exc or type(exc).__name__}); "
                    f"run the command again to resume"
                ) from None
        if length is not None and received < length:
            raise DownloadError(
                f"download from {url} stopped after {start + received} of {total} bytes (connection closed); "
                f"run the command again to resume"
            )


def _check_size(recipe: Recipe, part: Path) -> None:
    size = part.stat().st_size
    if recipe.size is None or size == recipe.size:
        return
    if size < recipe.size:
        raise DownloadError(
            f"download of {recipe.file_name} is incomplete ({size} of {recipe.size} bytes); run again to resume"
        )
    part.unlink()
    raise DownloadError(
        f"{recipe.file_name} is {size} bytes, the recipe expects {recipe.size}; the file was deleted "
        f"and nothing was extracted"
    )


def sha256_of(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


# -- extraction ---------------------------------------------------------------------------------------


def extract_into_place(archive: Path, recipe: Recipe, target: Path, max_expansion: float = MAX_EXPANSION) -> None:
    """Check and extract ``archive`` into a temporary folder, then rename it to ``target``.

    An archive holding a single top-level folder (``horse2zebra/trainA/...``) becomes
    ``target`` itself, whatever that folder was called. Raises :class:`DownloadError`,
    leaving nothing behind, for an unsafe, oversized or corrupt archive or a missing expected folder.
    """
    staging = Path(tempfile.mkdtemp(prefix=f".{recipe.target_name}.", suffix=".extracting", dir=target.parent))
    try:
        safe_extract(archive, recipe.archive, staging, label=recipe.file_name, max_expansion=max_expansion)
        entries = [p for p in staging.iterdir() if p.name not in _IGNORED and not p.name.startswith(".")]
        content = entries[0] if len(entries) == 1 and entries[0].is_dir() else staging
        missing = [name for name in recipe.expect if not (content / name).is_dir()]
        if missing:
            found = ", ".join(sorted(p.name for p in content.iterdir())) or "nothing"
            raise DownloadError(
                f"{recipe.file_name} unpacked without the folder(s) {', '.join(missing)} that recipe "
                f"{recipe.name!r} expects (found: {found}); nothing was moved into place"
            )
        for ignored in _IGNORED:
            shutil.rmtree(content / ignored, ignore_errors=True)
        publish(content, target, tree=False)  # a mkdtemp folder is 0700; the archive says its entries' modes
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def safe_extract(archive: str | os.PathLike, kind: str, dest: str | os.PathLike, label: str | None = None,
                 max_expansion: float = MAX_EXPANSION) -> None:
    """Extract a ``zip``/``tar``/``tar.gz`` into ``dest`` after checking every entry.

    Raises :class:`DownloadError` naming the first unsafe entry, or when the entries
    declare more than ``max_expansion`` times the archive's size (and more than
    :data:`EXPANSION_FLOOR`); nothing is written then. A corrupt archive or a failed
    write is a :class:`DownloadError` too (the caller removes what was written).
    """
    archive, dest = Path(archive), Path(dest)
    label = label or archive.name
    try:
        if kind == "zip":
            _extract_zip(archive, dest, label, max_expansion)
        elif kind in ("tar.gz", "tgz", "tar"):
            _extract_tar(archive, dest, label, max_expansion)
        else:
            raise ValueError(f"unknown archive type {kind!r}")
    except _CORRUPT as exc:
        raise DownloadError(f"{label} is not a readable {kind} archive ({exc})") from None
    except OSError as exc:
        raise _CannotWrite(f"cannot extract {label} into '{dest}': {exc.strerror or exc}") from None


def _check_expansion(label: str, archive: Path, declared: int, max_expansion: float) -> None:
    """Refuse an archive whose entries declare more than ``max_expansion`` times its size (a decompression bomb)."""
    size = archive.stat().st_size
    if declared > max(EXPANSION_FLOOR, max_expansion * size):
        raise DownloadError(
            f"refusing to extract {label}: its entries declare {declared / 2**20:,.0f} MiB, "
            f"{declared / max(1, size):,.0f} times the archive's size (the limit is {max_expansion:g} times; "
            f"raise it with --max-expansion if you trust the archive); nothing was extracted"
        )


def _unsafe_name(name: str) -> str | None:
    """Why an archive member name must not be extracted, or ``None`` when it is fine."""
    if not name or "\x00" in name:
        return "has an empty or binary name"
    normalised = name.replace("\\", "/")
    if normalised.startswith("/") or (len(normalised) > 1 and normalised[1] == ":"):
        return "has an absolute path"
    if ".." in PurePosixPath(normalised).parts:
        return "has a '..' path component"
    return None


def _inside(link_target: str, member: str) -> bool:
    """Whether a link at ``member`` pointing to ``link_target`` stays below the archive root."""
    if link_target.startswith("/") or "\\" in link_target:
        return False
    depth = 0
    for part in (PurePosixPath(member).parent / link_target).parts:
        if part == "..":
            depth -= 1
            if depth < 0:
                return False
        elif part != ".":
            depth += 1
    return True


def _refuse(label: str, name: str, reason: str) -> DownloadError:
    return DownloadError(f"refusing to extract {label}: entry '{name}' {reason}; nothing was extracted")


def _ignored(name: str) -> bool:
    return PurePosixPath(name.replace("\\", "/")).parts[:1] in [(i,) for i in _IGNORED]


def _extract_zip(archive: Path, dest: Path, label: str, max_expansion: float) -> None:
    with zipfile.ZipFile(archive) as zf:
        members = []
        for info in zf.infolist():
            reason = _unsafe_name(info.filename)
            if reason:
                raise _refuse(label, info.filename, reason)
            if stat.S_ISLNK(info.external_attr >> 16):
                raise _refuse(label, info.filename, "is a symbolic link (zip links are not extracted)")
            if not _ignored(info.filename):
                members.append(info)
        _check_expansion(label, archive, sum(info.file_size for info in members), max_expansion)
        zf.extractall(dest, members=members)


def _extract_tar(archive: Path, dest: Path, label: str, max_expansion: float) -> None:
    with tarfile.open(archive) as tf:
        members = []
        for member in tf.getmembers():
            reason = _unsafe_name(member.name)
            if reason:
                raise _refuse(label, member.name, reason)
            if member.issym() and not _inside(member.linkname, member.name):
                raise _refuse(label, member.name, f"is a symbolic link to '{member.linkname}', outside the target")
            if member.islnk() and (_unsafe_name(member.linkname) or not _inside(member.linkname, "x")):
                raise _refuse(label, member.name, f"is a hard link to '{member.linkname}', outside the target")
            if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
                raise _refuse(label, member.name, "is a device or FIFO")
            if not _ignored(member.name):
                members.append(member)
        _check_expansion(label, archive, sum(member.size for member in members if member.isfile()), max_expansion)
        if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4: a second line of defence
            tf.extractall(dest, members=members, filter="data")
        else:  # pragma: no cover - older Pythons; every member was checked above
            tf.extractall(dest, members=members)
