"""`translate data check` finds every planted problem; `translate data combine` builds A|B pairs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from helpers import cli
from translate.data.check import check_data
from translate.data.folders import AlignedDataset
from translate.data.sample import SAMPLE_ROOT


def image(path: Path, size=(64, 32), mode="RGB", color=100, fmt=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color if mode in ("L", "P", "I;16") else (color,) * len(mode)).save(path, format=fmt)
    return path


def checked(root: Path, *options: str) -> tuple[int, dict]:
    result = cli("data", "check", str(root), "--image-size", "16", "--json", *options)
    return result.exit_code, json.loads(result.stdout)


def problems(report: dict) -> list[tuple[str, str, str]]:
    return [(p["severity"], p["where"], p["message"]) for p in report["problems"]]


def find(report: dict, severity: str, where: str, fragment: str) -> dict:
    matches = [p for p in report["problems"]
               if p["severity"] == severity and p["where"] == where and fragment in p["message"]]
    assert matches, f"no {severity} at {where!r} containing {fragment!r} in {problems(report)}"
    return matches[0]


def test_the_embedded_sample_set_is_clean_and_every_layout_is_named():
    code, report = checked(SAMPLE_ROOT)
    assert code == 0, problems(report)
    assert report["problems"] == []
    assert report["layouts"] == [
        "paired folders testA/ + testB/ (matched by file name)",
        "unpaired trainA/ + trainB/",
        "aligned A|B side by side (test/, train/)",
    ]
    counts = {f["folder"]: f["images"] for f in report["folders"]}
    assert counts == {"testA": 16, "testB": 16, "trainA": 72, "trainB": 72, "test": 16, "train": 72}
    assert {f["folder"]: f["sizes"] for f in report["folders"]}["train"] == {"128x64": 72}


def test_every_problem_planted_in_an_aligned_set_is_found(tmp_path):
    root = tmp_path / "facades"
    for i in range(3):
        image(root / "train" / f"{i}.jpg")
    (root / "train" / "empty.jpg").write_bytes(b"")
    good = image(root / "train" / "whole.png")
    (root / "train" / "truncated.png").write_bytes(good.read_bytes()[:60])
    image(root / "train" / "gray.png", mode="L")
    image(root / "train" / "alpha.png", mode="RGBA")
    image(root / "train" / "odd.png", size=(65, 32))
    image(root / "train" / "tall.png", size=(64, 48))
    image(root / "train" / "tiny.png", size=(16, 8))
    (root / "train" / "notes.txt").write_text("not an image")
    image(root / "loose.png")
    code, report = checked(root)
    assert code == 1
    assert report["layouts"] == ["aligned A|B side by side (train/)"]
    unreadable = {p["where"] for p in report["problems"] if p["message"].startswith("cannot read image")}
    assert unreadable == {"train/empty.jpg", "train/truncated.png"}
    assert find(report, "error", "train/empty.jpg", "cannot read image: file is empty")
    modes = find(report, "warning", "train", "are not RGB: L (1), RGBA (1)")
    assert sorted(modes["files"]) == ["train/alpha.png", "train/gray.png"]
    assert find(report, "warning", "train", "odd width")["files"] == ["train/odd.png"]
    assert find(report, "warning", "train", "not two squares side by side")["files"] == ["train/tall.png"]
    assert find(report, "warning", "train", "smaller than the 16-pixel training crop")["files"] == ["train/tiny.png"]
    assert find(report, "warning", "train", "not images by their extension")["files"] == ["train/notes.txt"]
    assert find(report, "warning", ".", "lie directly in the data folder")["files"] == ["loose.png"]
    assert find(report, "warning", ".", "no test split")
    assert report["errors"] == 2 and report["warnings"] == 7
    counts = {f["folder"]: (f["images"], f["unreadable"]) for f in report["folders"]}
    assert counts == {"train": (9, 2)}


def test_problems_of_two_folder_layouts_are_found(tmp_path):
    root = tmp_path / "pairs"
    for name in ("a", "b", "c", "d"):
        image(root / "trainA" / f"{name}.png")
    for name in ("a", "b", "c", "e"):
        image(root / "trainB" / f"{name}.png")
    image(root / "testA" / "x.png")
    image(root / "testA" / "x.jpg")
    image(root / "testA" / "y.png")
    image(root / "testB" / "x.png")
    image(root / "testB" / "y.png", size=(32, 32))
    (root / "valA").mkdir()
    code, report = checked(root)
    assert code == 1
    assert "unpaired trainA/ + trainB/" in report["layouts"]
    assert "paired folders testA/ + testB/ (matched by file name)" in report["layouts"]
    almost = find(report, "warning", "trainA, trainB", "3 file names appear on both sides but 2 do not")
    assert almost["files"] == ["trainA/d", "trainB/e"]
    assert sorted(find(report, "error", "testA", "share a name")["files"]) == ["testA/x.jpg", "testA/x.png"]
    assert find(report, "warning", "testA, testB", "1 pair(s) differ in size")["files"] == ["testA/y"]
    assert find(report, "error", "valA", "has no partner folder 'valB/'")


def test_model_option_asks_the_model_whether_it_can_read_the_folder(tmp_path):
    root = tmp_path / "unpaired"
    image(root / "trainA" / "a.png")
    image(root / "trainB" / "b.png")
    code, report = checked(root, "--model", "pix2pix")
    assert code == 1
    assert find(report, "error", ".", "model 'pix2pix' cannot train on this folder")
    code, report = checked(root, "--model", "cyclegan")
    assert code == 0 and report["model"] == "cyclegan"
    result = cli("data", "check", str(root), "--model", "nosuchmodel")
    assert result.exit_code == 2 and "unknown model 'nosuchmodel'" in result.stderr


def test_domain_folders_and_celeba_problems_are_found(tmp_path):
    root = tmp_path / "faces"
    image(root / "train" / "happy" / "1.png")
    (root / "train" / "sad").mkdir(parents=True)
    image(root / "test" / "happy" / "1.png")
    image(root / "test" / "angry" / "1.png")
    code, report = checked(root)
    assert code == 1
    assert report["layouts"] == ["domain folders (test/<domain>/, train/<domain>/)"]
    assert find(report, "error", "train/sad", "domain folder has no images")
    assert find(report, "warning", "test", "has no folder for domain(s) sad of train/")

    celeba = tmp_path / "celeba"
    image(celeba / "img_align_celeba" / "000001.jpg", size=(20, 24))
    image(celeba / "img_align_celeba" / "000003.jpg", size=(20, 24))
    (celeba / "list_attr_celeba.txt").write_text(
        "3\nBlond_Hair Male\n000001.jpg  1 -1\n000002.jpg -1  1\n"
    )
    code, report = checked(celeba)
    assert code == 1
    assert report["layouts"] == ["CelebA attributes (list_attr_celeba.txt)"]
    assert find(report, "warning", "list_attr_celeba.txt", "line 1 says 3 images but 2 are listed")
    missing = find(report, "error", "img_align_celeba", "1 image(s) listed in list_attr_celeba.txt do not exist")
    assert missing["files"] == ["img_align_celeba/000002.jpg"]
    unlisted = find(report, "warning", "img_align_celeba", "not listed")
    assert unlisted["files"] == ["img_align_celeba/000003.jpg"]


def test_separate_a_and_b_trees_point_to_combine_and_no_layout_is_an_error(tmp_path):
    root = tmp_path / "halves"
    image(root / "A" / "train" / "1.png", size=(32, 32))
    image(root / "B" / "train" / "1.png", size=(32, 32))
    code, report = checked(root)
    assert code == 1
    combine_hint = find(report, "error", "A, B", "separate trees")
    assert "translate data combine" in combine_hint["fix"]
    empty = tmp_path / "empty"
    empty.mkdir()
    code, report = checked(empty)
    assert code == 1 and find(report, "error", ".", "no data layout found")


def test_the_text_report_names_layout_counts_problems_and_fixes(tmp_path):
    root = tmp_path / "set"
    image(root / "train" / "1.png")
    (root / "train" / "2.png").write_bytes(b"garbage")
    image(root / "test" / "1.png")
    result = cli("data", "check", str(root), "--image-size", "16")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[1] == "layout: aligned A|B side by side (test/, train/)"
    assert any(line.split()[:3] == ["train/", "1", "images,"] for line in lines)
    assert "error   train/2.png: cannot read image: not a recognised image format" in lines
    assert "        fix: delete or replace the file (training stops at it)" in lines
    assert lines[-1] == "1 error(s), 0 warning(s)"
    strict = cli("data", "check", str(SAMPLE_ROOT), "--strict", "--quick", "--image-size", "64")
    assert strict.exit_code == 0 and strict.stdout.splitlines()[-1] == "no problems found"


def test_quick_mode_reads_headers_only_and_misses_truncation(tmp_path):
    root = tmp_path / "set"
    (root / "train").mkdir(parents=True)
    Image.frombytes("RGB", (64, 32), bytes(range(256)) * 24).save(root / "train" / "1.png")
    data = (root / "train" / "1.png").read_bytes()
    (root / "train" / "2.png").write_bytes(data[: len(data) // 2])  # header intact, pixel data cut
    image(root / "test" / "1.png")
    assert [p.where for p in check_data(root, image_size=16).errors] == ["train/2.png"]
    assert check_data(root, image_size=16, decode=False).errors == []


def test_combine_builds_aligned_pairs_that_the_loader_reads(tmp_path):
    a_dir, b_dir, out = tmp_path / "A", tmp_path / "B", tmp_path / "AB"
    for split in ("train", "test"):
        for i in range(2):
            image(a_dir / split / f"{i}.jpg", size=(24, 16), color=40 * i)
            image(b_dir / split / f"{i}.png", size=(24, 16), color=200)
    image(a_dir / "train" / "lonely.png", size=(24, 16))
    image(b_dir / "train" / "big.png", size=(30, 16))
    image(a_dir / "train" / "big.png", size=(24, 16))
    result = cli("data", "combine", str(a_dir), str(b_dir), str(out), "--format", "png")
    assert result.exit_code == 1
    assert "only in A: train/lonely" in result.stderr
    assert "size 30x16 differs from A's 24x16" in result.stderr
    assert result.stdout.strip() == "4 written, 0 skipped (output exists), 1 failed, 1 only in A, 0 only in B"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == [
        "test/0.png", "test/1.png", "train/0.png", "train/1.png"]
    pair = Image.open(out / "train" / "1.png")
    assert pair.size == (48, 16)
    assert pair.getpixel((0, 0)) == (40, 40, 40) and pair.getpixel((30, 0)) == (200, 200, 200)
    dataset = AlignedDataset(out, split="train", image_size=16, train=False)
    item = dataset[1]
    assert item["A"].mean().item() == pytest.approx(40 / 127.5 - 1, abs=1e-6)
    assert item["B"].mean().item() == pytest.approx(200 / 127.5 - 1, abs=1e-6)
    again = cli("data", "combine", str(a_dir), str(b_dir), str(out), "--format", "png")
    assert "0 written, 4 skipped" in again.stdout
    unrelated = cli("data", "combine", str(a_dir / "test"), str(tmp_path / "B"), str(tmp_path / "x"))
    assert unrelated.exit_code == 2 and unrelated.stderr.count("\n") == 1
    assert "no file name is in both" in unrelated.stderr and not (tmp_path / "x").exists()
