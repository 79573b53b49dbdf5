"""``translate data check``: which layout a data folder uses, what is in it, and what is wrong.

:func:`check_data` walks a data root without loading a model: it recognises the
layouts the loaders read (aligned A|B splits, ``trainA/`` + ``trainB/`` paired by name
or unpaired, one folder per domain, CelebA's attribute file), counts images per split
and domain, decodes every image (or only its header with ``decode=False``), and
collects problems, each with what to do about it:

- **errors** stop training or evaluation: unreadable files, empty or one-sided splits,
  duplicate names in paired folders, images listed in CelebA's file but missing, no
  layout at all, or a ``model`` that cannot read the folder;
- **warnings** change what a model sees: non-RGB files (converted, alpha dropped),
  odd or non-square A|B images, images smaller than the training crop, pairs of
  different sizes, folders that almost pair up by name, files that are not images,
  no test split.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from PIL import Image

from translate.errors import TranslateError

from .domains import CELEBA_ATTR_FILE, celeba_image_dir, read_celeba_attributes
from .folders import DataError
from .images import IMAGE_EXTENSIONS, ImageReadError, list_images, open_upright

#: Split names recognised besides any ``<split>A`` / ``<split>B`` pair.
SPLITS = ("train", "val", "test")
#: Examples of affected files printed per problem (JSON lists them all).
EXAMPLES = 5


@dataclass
class Problem:
    """One thing wrong with a data folder, and how to fix it."""

    severity: str  # "error" or "warning"
    where: str  # a path relative to the data root ("." for the root itself)
    message: str
    fix: str
    files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "where": self.where, "message": self.message, "fix": self.fix,
                "files": self.files}


@dataclass
class FolderSummary:
    """Images found in one split or domain folder."""

    name: str  # relative to the data root, e.g. "train", "trainA", "train/happy"
    role: str  # "aligned", "A", "B", "domain", "celeba", "photos"
    images: int = 0
    unreadable: int = 0
    sizes: Counter = field(default_factory=Counter)
    modes: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {"folder": self.name, "role": self.role, "images": self.images, "unreadable": self.unreadable,
                "sizes": {f"{w}x{h}": n for (w, h), n in self.sizes.most_common()},
                "modes": dict(self.modes.most_common())}


@dataclass
class CheckReport:
    """What :func:`check_data` found."""

    root: Path
    layouts: list[str] = field(default_factory=list)
    folders: list[FolderSummary] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    model: str | None = None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def error(self, where: str, message: str, fix: str, files: Iterable[str] = ()) -> None:
        self.problems.append(Problem("error", where, message, fix, list(files)))

    def warn(self, where: str, message: str, fix: str, files: Iterable[str] = ()) -> None:
        self.problems.append(Problem("warning", where, message, fix, list(files)))

    def as_dict(self) -> dict[str, Any]:
        return {"root": str(self.root), "layouts": self.layouts, "model": self.model,
                "folders": [f.as_dict() for f in self.folders], "problems": [p.as_dict() for p in self.problems],
                "errors": len(self.errors), "warnings": len(self.warnings), "ok": self.ok}

    def lines(self) -> list[str]:
        """A human-readable report."""
        out = [f"data folder: {self.root}"]
        out += [f"layout: {layout}" for layout in self.layouts] or ["layout: none recognised"]
        for folder in self.folders:
            sizes = ", ".join(f"{w}x{h} ({n})" for (w, h), n in folder.sizes.most_common(3))
            if len(folder.sizes) > 3:
                sizes += f", {len(folder.sizes) - 3} more sizes"
            unreadable = f", {folder.unreadable} unreadable" if folder.unreadable else ""
            out.append(f"  {folder.name + '/':<24} {folder.images:>6} images{unreadable}   {sizes}")
        if self.model:
            out.append(f"model: {self.model}")
        for problem in self.problems:
            examples = ""
            if problem.files and not (len(problem.files) == 1 and problem.files[0] == problem.where):
                shown = ", ".join(problem.files[:EXAMPLES])
                more = f" and {len(problem.files) - EXAMPLES} more" if len(problem.files) > EXAMPLES else ""
                examples = f" [{shown}{more}]"
            out.append(f"{problem.severity:<7} {problem.where}: {problem.message}{examples}")
            out.append(f"        fix: {problem.fix}")
        if self.problems:
            out.append(f"{len(self.errors)} error(s), {len(self.warnings)} warning(s)")
        else:
            out.append("no problems found")
        return out


@dataclass
class _Image:
    path: Path
    size: tuple[int, int] | None
    mode: str | None
    error: str | None


def check_data(root: str | os.PathLike, model: type | None = None, image_size: int = 256, decode: bool = True,
               workers: int = 4, progress: Callable[[int], None] | None = None) -> CheckReport:
    """Check the data folder ``root``; with ``model``, also whether that model can read it.

    :param model: a model class (:class:`translate.models.base.Model`, e.g. from
        :meth:`PluginRegistry.model <translate.plugin_host.manager.PluginRegistry.model>`), whose own
        data set class is asked to read ``root``.
    :param image_size: the training crop; smaller images are reported.
    :param decode: decode every image fully (finds truncated files); ``False`` reads headers only.
    :param progress: called with the number of images inspected so far.
    :raises DataError: when ``root`` is not a folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data folder '{root}' does not exist")
    report = CheckReport(root=root, model=None if model is None else model.name)
    checker = _Checker(root, report, image_size, decode, workers, progress)
    checker.run()
    if model is not None:
        _check_model(report, root, model, image_size)
    return report


class _Checker:
    def __init__(self, root: Path, report: CheckReport, image_size: int, decode: bool, workers: int,
                 progress: Callable[[int], None] | None):
        self.root, self.report, self.image_size = root, report, image_size
        self.decode, self.workers, self.progress = decode, max(1, workers), progress
        self.inspected = 0

    # -- helpers -------------------------------------------------------------------------------

    def rel(self, path: Path) -> str:
        relative = path.relative_to(self.root).as_posix()
        return relative or "."

    def inspect(self, files: list[Path]) -> list[_Image]:
        def one(path: Path) -> _Image:
            try:
                if self.decode:
                    img = open_upright(path)
                    return _Image(path, img.size, img.mode, None)
                if path.stat().st_size == 0:
                    return _Image(path, None, None, "file is empty")
                with Image.open(path) as img:
                    return _Image(path, img.size, img.mode, None)
            except ImageReadError as exc:
                return _Image(path, None, None, exc.reason)
            except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
                return _Image(path, None, None, str(exc) or type(exc).__name__)

        results = []
        with ThreadPoolExecutor(self.workers) as pool:
            for result in pool.map(one, files):
                results.append(result)
                self.inspected += 1
                if self.progress is not None:
                    self.progress(self.inspected)
        return results

    def summarise(self, folder: Path, role: str, images: list[_Image], name: str | None = None) -> FolderSummary:
        summary = FolderSummary(name or self.rel(folder), role)
        bad = [i for i in images if i.error]
        for image in images:
            if image.error:
                continue
            summary.images += 1
            summary.sizes[image.size] += 1
            summary.modes[image.mode] += 1
        summary.unreadable = len(bad)
        self.report.folders.append(summary)
        for image in bad:
            self.report.error(self.rel(image.path), f"cannot read image: {image.error}",
                              "delete or replace the file (training stops at it)", [self.rel(image.path)])
        odd_modes = [i for i in images if i.mode and i.mode != "RGB"]
        if odd_modes:
            counted = sorted(Counter(i.mode for i in odd_modes).items(), key=lambda item: (-item[1], item[0]))
            kinds = ", ".join(f"{m} ({n})" for m, n in counted)
            self.report.warn(
                summary.name, f"{len(odd_modes)} image(s) are not RGB: {kinds}; they are converted to RGB "
                "when loaded (alpha and extra channels dropped)",
                "nothing to do if that is intended; otherwise convert them to RGB yourself",
                [self.rel(i.path) for i in odd_modes])
        small = [i for i in images if i.size and min(i.size) < self.image_size and role != "aligned"]
        small += [i for i in images if i.size and role == "aligned"
                  and min(i.size[0] // 2, i.size[1]) < self.image_size]
        if small:
            self.report.warn(
                summary.name, f"{len(small)} image(s) are smaller than the {self.image_size}-pixel training crop "
                "and are scaled up", "train with a smaller --image-size, or use larger images",
                [self.rel(i.path) for i in small])
        return summary

    def non_images(self, folder: Path) -> None:
        others = sorted(
            p for p in folder.rglob("*")
            if p.is_file() and p.suffix.lower() not in IMAGE_EXTENSIONS
            and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        )
        if others:
            self.report.warn(
                self.rel(folder), f"{len(others)} file(s) are not images by their extension and are ignored",
                f"convert them to one of {' '.join(IMAGE_EXTENSIONS)} or move them out",
                [self.rel(p) for p in others])

    # -- layouts -------------------------------------------------------------------------------

    def run(self) -> None:
        root, report = self.root, self.report
        if (root / CELEBA_ATTR_FILE).is_file():
            self.celeba()
            return
        subfolders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        names = {p.name for p in subfolders}
        pairs = sorted(n[:-1] for n in names if n.endswith("A") and n[:-1] + "B" in names and n[:-1])
        used: set[str] = set()
        for split in pairs:
            used |= {split + "A", split + "B"}
        for name in sorted(names - used):
            if name.endswith(("A", "B")) and name[:-1] and name[:-1] in SPLITS:
                other = name[:-1] + ("B" if name.endswith("A") else "A")
                report.error(name, f"has no partner folder '{other}/'",
                             f"add '{other}/' (A and B sides come in pairs) or rename '{name}/'")
                used.add(name)
        if {"A", "B"} <= names and any((root / "A" / s).is_dir() for s in SPLITS):
            report.layouts.append("separate A/ and B/ trees (pix2pix's combine input)")
            report.error("A, B", "A and B halves are in separate trees, which no loader reads directly",
                         f"build aligned A|B images: translate data combine {root / 'A'} {root / 'B'} OUT")
            used |= {"A", "B"}
        aligned, domains = [], []
        for folder in subfolders:
            if folder.name in used:
                continue
            direct = list_images(folder, recursive=False)
            nested = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
            if direct:
                aligned.append(folder)
            elif nested and any(list_images(p) for p in nested):
                domains.append(folder)
            elif folder.name in SPLITS or nested:
                report.error(folder.name, "has no images", f"put images in '{folder.name}/' or remove it")
            else:
                report.warn(folder.name, "is not a split folder and holds no images; loaders ignore it",
                            "remove it, or move its contents into a split folder")
        for split in pairs:
            self.ab_pair(split)
        if aligned:
            report.layouts.append("aligned A|B side by side (" + ", ".join(f.name + "/" for f in aligned) + ")")
            for folder in aligned:
                self.aligned_split(folder)
        if domains:
            report.layouts.append("domain folders (" + ", ".join(f.name + "/<domain>/" for f in domains) + ")")
            self.domain_splits(domains)
        loose = list_images(root, recursive=False)
        if loose:
            report.warn(".", f"{len(loose)} image(s) lie directly in the data folder; no loader reads them",
                        "move them into train/ (aligned) or trainA/ trainB/ (unpaired)",
                        [self.rel(p) for p in loose])
        if not report.layouts:
            report.error(".", "no data layout found",
                         "use train/ val/ test/ (A|B side by side), trainA/ trainB/ testA/ testB/, "
                         f"train/<domain>/ folders, or CelebA's {CELEBA_ATTR_FILE}")
            return
        splits = {f.name for f in aligned + domains} | set(pairs)
        if "train" in splits and "test" not in splits:
            report.warn(".", "no test split", "add test/ (or testA/ testB/): translate eval and the sample grids "
                        "shown during training use it")

    def aligned_split(self, folder: Path) -> None:
        images = self.inspect(list_images(folder))
        self.summarise(folder, "aligned", images)
        self.non_images(folder)
        readable = [i for i in images if i.size]
        odd = [i for i in readable if i.size[0] % 2]
        if odd:
            self.report.warn(self.rel(folder), f"{len(odd)} A|B image(s) have an odd width; the B half loses "
                             "a pixel column", "crop or pad them to an even width", [self.rel(i.path) for i in odd])
        narrow = [i for i in readable if i.size[0] < 2]
        if narrow:
            self.report.error(self.rel(folder), f"{len(narrow)} image(s) are too narrow to hold A|B side by side",
                              "remove them", [self.rel(i.path) for i in narrow])
        skewed = [i for i in readable if i.size[0] >= 2 and i.size[0] // 2 != i.size[1]]
        if skewed:
            self.report.warn(self.rel(folder), f"{len(skewed)} image(s) are not two squares side by side (each half "
                             "is resized to a square for training)",
                             "nothing to do if the halves are meant to be stretched; otherwise crop them",
                             [self.rel(i.path) for i in skewed])

    def ab_pair(self, split: str) -> None:
        folder_a, folder_b = self.root / f"{split}A", self.root / f"{split}B"
        files = {side: list_images(folder) for side, folder in (("A", folder_a), ("B", folder_b))}
        inspected = {side: self.inspect(paths) for side, paths in files.items()}
        for side, folder in (("A", folder_a), ("B", folder_b)):
            self.summarise(folder, side, inspected[side])
            self.non_images(folder)
            if not files[side]:
                self.report.error(self.rel(folder), "has no images", f"put the {side} side's images in it")
        keys = {}
        for side, folder in (("A", folder_a), ("B", folder_b)):
            by_name: dict[str, list[Path]] = defaultdict(list)
            for path in files[side]:
                by_name[path.relative_to(folder).with_suffix("").as_posix()].append(path)
            keys[side] = by_name
        names_a, names_b = set(keys["A"]), set(keys["B"])
        common = names_a & names_b
        if names_a and names_a == names_b:
            self.report.layouts.append(f"paired folders {split}A/ + {split}B/ (matched by file name)")
            for side, folder in (("A", folder_a), ("B", folder_b)):
                duplicates = [p for paths in keys[side].values() if len(paths) > 1 for p in paths]
                if duplicates:
                    self.report.error(self.rel(folder), "several images share a name (pairs are matched by name "
                                      "without the extension)", "rename or remove the extra files",
                                      [self.rel(p) for p in duplicates])
            sizes = {side: {i.path.relative_to(folder).with_suffix("").as_posix(): i.size
                            for i in inspected[side] if i.size}
                     for side, folder in (("A", folder_a), ("B", folder_b))}
            mismatched = [name for name in sorted(common)
                          if name in sizes["A"] and name in sizes["B"] and sizes["A"][name] != sizes["B"][name]]
            if mismatched:
                self.report.warn(f"{split}A, {split}B", f"{len(mismatched)} pair(s) differ in size; both sides are "
                                 "resized to the same square", "check that the pairs belong together",
                                 [f"{split}A/{n}" for n in mismatched])
        else:
            self.report.layouts.append(f"unpaired {split}A/ + {split}B/")
            smaller = min(len(names_a), len(names_b))
            if smaller and len(common) >= smaller / 2:
                unmatched = sorted(names_a ^ names_b)
                self.report.warn(
                    f"{split}A, {split}B", f"{len(common)} file names appear on both sides but {len(unmatched)} "
                    "do not, so the folders are read as unpaired (pix2pix cannot use them)",
                    "if they are pairs, add or remove the unmatched files",
                    [f"{split}A/{n}" if n in names_a else f"{split}B/{n}" for n in unmatched])

    def domain_splits(self, splits: list[Path]) -> None:
        domains_per_split = {}
        for split in splits:
            domains = sorted(p for p in split.iterdir() if p.is_dir() and not p.name.startswith("."))
            domains_per_split[split.name] = {d.name for d in domains}
            for domain in domains:
                files = list_images(domain)
                self.summarise(domain, "domain", self.inspect(files))
                self.non_images(domain)
                if not files:
                    self.report.error(self.rel(domain), "domain folder has no images",
                                      "put the domain's images in it or remove it")
            if len(domains) < 2:
                self.report.error(split.name, f"has {len(domains)} domain folder(s); a multi-domain model needs "
                                  "at least two", f"add another '{split.name}/<domain>/' folder")
        if "train" in domains_per_split:
            for split, names in domains_per_split.items():
                missing = sorted(domains_per_split["train"] - names)
                if split != "train" and missing:
                    self.report.warn(split, f"has no folder for domain(s) {', '.join(missing)} of train/",
                                     f"add {', '.join(f'{split}/{m}/' for m in missing)}")

    def celeba(self) -> None:
        report, attr_file = self.report, self.root / CELEBA_ATTR_FILE
        report.layouts.append(f"CelebA attributes ({CELEBA_ATTR_FILE})")
        try:
            names, entries = read_celeba_attributes(attr_file)
        except DataError as exc:
            report.error(CELEBA_ATTR_FILE, str(exc), "fix the file (line 1: count, line 2: attribute names, then "
                         "'filename 1 -1 ...' per image)")
            return
        first_line = attr_file.read_text().splitlines()[0].strip()
        if first_line.isdigit() and int(first_line) != len(entries):
            report.warn(CELEBA_ATTR_FILE, f"line 1 says {first_line} images but {len(entries)} are listed",
                        "correct the count on line 1")
        try:
            image_dir = celeba_image_dir(self.root)
        except DataError as exc:
            report.error(".", str(exc), "put the aligned images in img_align_celeba/")
            return
        listed = [image_dir / name for name, _ in entries]
        missing = [p for p in listed if not p.is_file()]
        if missing:
            report.error(self.rel(image_dir), f"{len(missing)} image(s) listed in {CELEBA_ATTR_FILE} do not exist",
                         "add the files or remove their lines", [self.rel(p) for p in missing])
        present = [p for p in listed if p.is_file()]
        self.summarise(image_dir, "celeba", self.inspect(present))
        unlisted = sorted(set(list_images(image_dir)) - set(listed))
        if unlisted:
            report.warn(self.rel(image_dir), f"{len(unlisted)} image(s) are not listed in {CELEBA_ATTR_FILE} and are "
                        "not used", "add lines for them or move them out", [self.rel(p) for p in unlisted])


def _check_model(report: CheckReport, root: Path, model_cls: type, image_size: int) -> None:
    """Ask the model's own data set class whether it can read ``root`` (train and, if present, test)."""
    model = model_cls.name
    try:
        options = model_cls.options_from_data(str(root), {})
        model_cls.dataset(str(root), split="train", image_size=image_size, train=False, options=options)
    except (TranslateError, OSError) as exc:
        report.error(".", f"model {model!r} cannot train on this folder: {exc}",
                     f"lay the data out as {model!r} expects (see docs/training.md, 'Data layouts') or choose "
                     "another --model")
        return
    has_test = any((root / name).exists() for name in ("test", "testA", "testB")) or (root / CELEBA_ATTR_FILE).exists()
    if has_test:
        try:
            model_cls.dataset(str(root), split="test", image_size=image_size, train=False, options=options)
        except (TranslateError, OSError) as exc:
            report.error(".", f"model {model!r} cannot evaluate on the test split: {exc}",
                         "fix the test split's layout to match the train split")
