"""translate.data: decoding, transforms, folder datasets, embedded sample set."""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import pytest
import torch
from PIL import Image

from helpers import tiny_flags
from translate.data import (
    IMAGE_EXTENSIONS,
    AlignedDataset,
    DataError,
    EvalTransform,
    ImageReadError,
    TrainTransform,
    UnpairedDataset,
    apply_sample_mapping,
    detect_layout,
    list_images,
    load_rgb,
    to_pil,
    to_tensor,
)
from translate.data.sample import SAMPLE_COUNTS, SAMPLE_GAMMA, SAMPLE_MATRIX, SAMPLE_ROOT

RED, BLUE = (255, 0, 0), (0, 0, 255)


def noise_image(width: int, height: int, seed: int = 0) -> Image.Image:
    """A random RGB image: any two different crops or flips of it differ."""
    generator = torch.Generator().manual_seed(seed)
    pixels = torch.randint(0, 256, (height, width, 3), dtype=torch.uint8, generator=generator)
    return Image.frombytes("RGB", (width, height), bytes(pixels.flatten().tolist()))


def side_by_side(a: Image.Image, b: Image.Image) -> Image.Image:
    pair = Image.new("RGB", (a.width + b.width, a.height))
    pair.paste(a, (0, 0))
    pair.paste(b, (a.width, 0))
    return pair


def solid(colour: tuple[int, int, int], size: tuple[int, int] = (4, 4)) -> Image.Image:
    return Image.new("RGB", size, colour)


def stored_mode(path: Path) -> str:
    with Image.open(path) as img:
        return img.mode


def psnr(x: torch.Tensor, y: torch.Tensor) -> float:
    """PSNR in dB for tensors in [-1, 1] (peak-to-peak 2)."""
    return float(10 * torch.log10(4.0 / (x - y).pow(2).mean()))


def colour_of(tensor: torch.Tensor) -> torch.Tensor:
    """The per-channel values of a (3, H, W) tensor that must be one solid colour."""
    flat = tensor.flatten(1)
    assert torch.allclose(flat, flat[:, :1], atol=1e-6), "expected a solid colour"
    return flat[:, 0]


# ---------------------------------------------------------------- load_rgb


def test_grayscale_becomes_rgb_with_equal_channels(tmp_path):
    path = tmp_path / "gray.png"
    gray = Image.new("L", (3, 2), 77)
    gray.putpixel((0, 0), 200)
    gray.save(path)
    img = load_rgb(path)
    assert img.mode == "RGB" and img.size == (3, 2)
    assert img.getpixel((0, 0)) == (200, 200, 200)
    assert img.getpixel((2, 1)) == (77, 77, 77)


@pytest.mark.parametrize("mode, value, expected", [("RGBA", (10, 20, 30, 0), (10, 20, 30)), ("LA", (90, 0), (90,) * 3)])
def test_alpha_is_dropped_not_composited(tmp_path, mode, value, expected):
    path = tmp_path / "alpha.png"
    Image.new(mode, (2, 2), value).save(path)
    img = load_rgb(path)
    assert img.mode == "RGB"
    assert img.getpixel((1, 1)) == expected


def test_palette_with_transparency_converts_without_warning(tmp_path):
    path = tmp_path / "palette.png"
    img = Image.new("P", (2, 1))
    img.putpalette([*RED, *BLUE] + [0] * 762)
    img.putpixel((1, 0), 1)
    img.info["transparency"] = bytes([128, 0])  # partial transparency: stored as bytes
    img.save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rgb = load_rgb(path)
    assert rgb.mode == "RGB"
    assert [rgb.getpixel((0, 0)), rgb.getpixel((1, 0))] == [RED, BLUE]


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(path, quality=95)  # pure red in CMYK
    assert stored_mode(path) == "CMYK"
    img = load_rgb(path)
    assert img.mode == "RGB"
    red, green, blue = img.getpixel((4, 4))
    assert red > 240 and green < 15 and blue < 15


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    path = tmp_path / "deep.png"
    deep = Image.new("I;16", (4, 1))
    for x, value in enumerate([0, 257, 32768, 65535]):
        deep.putpixel((x, 0), value)
    deep.save(path)
    assert stored_mode(path) == "I;16"
    img = load_rgb(path)
    assert img.mode == "RGB"
    assert [img.getpixel((x, 0))[0] for x in range(4)] == [0, 1, 128, 255]


def test_16_bit_big_endian_and_32_bit_integer_tiffs_are_scaled(tmp_path):
    big_endian = tmp_path / "big.tif"
    Image.frombytes("I;16B", (2, 1), struct.pack(">HH", 65535, 32768)).save(big_endian)
    assert stored_mode(big_endian) == "I;16B"
    assert [load_rgb(big_endian).getpixel((x, 0)) for x in range(2)] == [(255,) * 3, (128,) * 3]
    integer = tmp_path / "int.tif"
    Image.frombytes("I", (2, 1), struct.pack("<ii", 65535, 0)).save(integer)
    assert stored_mode(integer) == "I"
    assert [load_rgb(integer).getpixel((x, 0)) for x in range(2)] == [(255,) * 3, (0,) * 3]


@pytest.mark.parametrize("values, expected", [((0.0, 0.5, 1.0), (0, 128, 255)), ((0.0, 100.0, 300.0), (0, 100, 255))])
def test_float_tiff_is_read_as_unit_range_or_8_bit_range(tmp_path, values, expected):
    path = tmp_path / "float.tif"
    Image.frombytes("F", (3, 1), struct.pack("<fff", *values)).save(path)
    assert stored_mode(path) == "F"
    img = load_rgb(path)
    assert tuple(img.getpixel((x, 0))[1] for x in range(3)) == expected


def test_exif_orientation_is_applied(tmp_path):
    path = tmp_path / "rotated.jpg"
    stored = side_by_side(solid(RED, (20, 20)), solid(BLUE, (20, 20)))  # 40 wide, 20 high
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    stored.save(path, exif=exif, quality=95)
    img = load_rgb(path)
    assert img.size == (20, 40)
    top, bottom = img.getpixel((10, 5)), img.getpixel((10, 35))
    assert top[0] > 200 and top[2] < 50  # the stored left (red) is now on top
    assert bottom[2] > 200 and bottom[0] < 50


def make_truncated_png(path: Path) -> None:
    noise_image(64, 64).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    "name, write, reason",
    [
        ("truncated.png", make_truncated_png, "truncated"),
        ("empty.png", lambda p: p.write_bytes(b""), "empty"),
        ("notes.png", lambda p: p.write_text("these are not pixels\n"), "not a recognised image"),
        ("missing.png", lambda p: None, "no such file"),
    ],
)
def test_unreadable_files_raise_image_read_error_naming_the_path(tmp_path, name, write, reason):
    path = tmp_path / name
    write(path)
    with pytest.raises(ImageReadError) as caught:
        load_rgb(path)
    assert isinstance(caught.value, ValueError)
    assert str(caught.value).startswith(f"cannot read image '{path}': ")
    assert reason in str(caught.value).lower()
    assert caught.value.path == path


# ---------------------------------------------------------------- listing and tensors


def test_list_images_sorted_case_insensitive_skipping_hidden(tmp_path):
    for relative in ["b.PNG", "a.jpg", "c.txt", ".hidden.png", "sub/d.JpEg", ".cache/e.png", "sub/f.webp"]:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(b"x")
    names = [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)]
    assert names == ["a.jpg", "b.PNG", "sub/d.JpEg", "sub/f.webp"]
    assert [p.name for p in list_images(tmp_path, recursive=False)] == ["a.jpg", "b.PNG"]
    assert set(IMAGE_EXTENSIONS) >= {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
    with pytest.raises(NotADirectoryError, match="nowhere"):
        list_images(tmp_path / "nowhere")


def test_tensor_round_trip_range_and_layout():
    img = Image.new("RGB", (3, 2), (0, 128, 255))
    img.putpixel((2, 1), (255, 0, 0))
    tensor = to_tensor(img)
    assert tensor.shape == (3, 2, 3) and tensor.dtype == torch.float32
    assert tensor[:, 0, 0].tolist() == pytest.approx([-1.0, 128 / 127.5 - 1, 1.0], abs=1e-6)
    assert tensor[:, 1, 2].tolist() == [1.0, -1.0, -1.0]
    assert to_pil(tensor).tobytes() == img.tobytes()


def test_to_pil_clamps_and_rounds():
    tensor = torch.tensor([-3.0, 0.0, 5.0]).view(3, 1, 1)
    assert to_pil(tensor).getpixel((0, 0)) == (0, 128, 255)  # 0.0 -> 127.5 rounds to even 128
    with pytest.raises(ValueError, match="shape"):
        to_pil(torch.zeros(1, 3, 2, 2))


# ---------------------------------------------------------------- transforms


def test_train_transform_applies_the_same_crop_and_flip_to_all_images():
    half = noise_image(20, 20)
    transform = TrainTransform(image_size=16, load_size=20)
    seen = set()
    for seed in range(12):
        torch.manual_seed(seed)
        a, b = transform(half, half.copy())
        assert a.shape == (3, 16, 16) and torch.equal(a, b)
        seen.add(tuple(a[:, 0, 0].tolist()))
    assert len(seen) > 3  # the crop really is random


def test_train_transform_output_is_a_crop_of_the_resized_image_and_flips_sometimes():
    img = noise_image(20, 20, seed=3)
    full = to_tensor(img)  # load_size == image size, so resizing is the identity
    transform = TrainTransform(image_size=12, load_size=20)
    flips = 0
    for seed in range(20):
        (out,) = transform(img, generator=torch.Generator().manual_seed(seed))
        windows = [(top, left) for top in range(9) for left in range(9)]
        plain = any(torch.equal(out, full[:, t : t + 12, l : l + 12]) for t, l in windows)
        flipped = any(torch.equal(out.flip(-1), full[:, t : t + 12, l : l + 12]) for t, l in windows)
        assert plain or flipped
        flips += flipped and not plain
    assert 0 < flips < 20
    no_flip = TrainTransform(image_size=12, load_size=20, flip=False)
    for seed in range(10):
        (out,) = no_flip(img, generator=torch.Generator().manual_seed(seed))
        assert any(torch.equal(out, full[:, t : t + 12, l : l + 12]) for t, l in windows)


def test_train_transform_is_reproducible_from_torch_seed_and_generator():
    img = noise_image(40, 30)
    transform = TrainTransform(image_size=24)
    assert transform.load_size == round(24 * 286 / 256)
    torch.manual_seed(7)
    first = transform(img)[0]
    torch.manual_seed(7)
    assert torch.equal(transform(img)[0], first)
    by_generator = [transform(img, generator=torch.Generator().manual_seed(1))[0] for _ in range(2)]
    assert torch.equal(*by_generator)
    with pytest.raises(ValueError):
        TrainTransform(image_size=32, load_size=16)


def test_eval_transform_resizes_deterministically():
    img = noise_image(30, 20)
    first, second = EvalTransform(16)(img, img)
    assert first.shape == (3, 16, 16) and torch.equal(first, second)
    assert first.min() >= -1 and first.max() <= 1
    same_size = noise_image(16, 16)
    assert torch.equal(EvalTransform(16)(same_size)[0], to_tensor(same_size))


# ---------------------------------------------------------------- datasets


def test_aligned_split_and_direction(tmp_path):
    (tmp_path / "train").mkdir()
    side_by_side(solid(RED), solid(BLUE)).save(tmp_path / "train" / "x.png")
    assert detect_layout(tmp_path) == "aligned"
    item = AlignedDataset(tmp_path, image_size=4, train=False)[0]
    assert item["path"] == str(tmp_path / "train" / "x.png")
    assert colour_of(item["A"]).tolist() == [1.0, -1.0, -1.0]
    assert colour_of(item["B"]).tolist() == [-1.0, -1.0, 1.0]
    swapped = AlignedDataset(tmp_path, image_size=4, direction="BtoA", train=False)[0]
    assert torch.equal(swapped["A"], item["B"]) and torch.equal(swapped["B"], item["A"])
    with pytest.raises(ValueError, match="direction"):
        AlignedDataset(tmp_path, direction="AB")


def test_aligned_odd_width_splits_at_half(tmp_path):
    (tmp_path / "val").mkdir()
    side_by_side(solid(RED, (4, 4)), solid(BLUE, (5, 4))).save(tmp_path / "val" / "odd.png")
    item = AlignedDataset(tmp_path, split="val", image_size=4, train=False)[0]
    assert colour_of(item["A"]).tolist() == [1.0, -1.0, -1.0]
    assert colour_of(item["B"]).tolist() == [-1.0, -1.0, 1.0]


def test_aligned_training_crops_both_halves_identically(tmp_path):
    (tmp_path / "train").mkdir()
    half = noise_image(24, 24)
    side_by_side(half, half).save(tmp_path / "train" / "twins.png")
    dataset = AlignedDataset(tmp_path, image_size=16)
    crops = set()
    for seed in range(8):
        torch.manual_seed(seed)
        item = dataset[0]
        assert torch.equal(item["A"], item["B"])
        crops.add(tuple(item["A"][:, 0, 0].tolist()))
    assert len(crops) > 1


def test_paired_folders_match_by_name(tmp_path):
    for folder, colour in (("trainA", RED), ("trainB", BLUE)):
        (tmp_path / folder).mkdir()
        solid(colour).save(tmp_path / folder / "x.png")
    solid((0, 255, 0)).save(tmp_path / "trainA" / "y.png")
    solid((255, 255, 255)).save(tmp_path / "trainB" / "y.bmp")  # extensions may differ
    assert detect_layout(tmp_path) == "paired_folders"
    dataset = AlignedDataset(tmp_path, image_size=4, train=False)
    assert len(dataset) == 2
    assert colour_of(dataset[0]["A"]).tolist() == [1.0, -1.0, -1.0]
    assert colour_of(dataset[0]["B"]).tolist() == [-1.0, -1.0, 1.0]
    assert colour_of(dataset[1]["B"]).tolist() == [1.0, 1.0, 1.0]
    swapped = AlignedDataset(tmp_path, image_size=4, direction="BtoA", train=False)[0]
    assert colour_of(swapped["A"]).tolist() == [-1.0, -1.0, 1.0]
    assert swapped["path"] == str(tmp_path / "trainB" / "x.png")


def test_mismatched_names_are_unpaired_and_refused_as_pairs(tmp_path):
    for folder, name in (("trainA", "x.png"), ("trainB", "z.png")):
        (tmp_path / folder).mkdir()
        solid(RED).save(tmp_path / folder / name)
    assert detect_layout(tmp_path) == "unpaired"
    with pytest.raises(DataError, match="do not pair up by name.*'x' only in") as caught:
        AlignedDataset(tmp_path)
    assert str(tmp_path / "trainA") in str(caught.value) and "\n" not in str(caught.value)


def make_unpaired(root: Path, count_a: int, count_b: int) -> None:
    for folder, count in (("trainA", count_a), ("trainB", count_b)):
        (root / folder).mkdir()
        for index in range(count):
            noise_image(8, 8, seed=index).save(root / folder / f"{folder}_{index}.png")


def test_unpaired_lengths_and_indexing(tmp_path):
    make_unpaired(tmp_path, 3, 5)
    dataset = UnpairedDataset(tmp_path, image_size=8, train=False)
    assert len(dataset) == 5
    item = dataset[4]
    assert item["A"].shape == item["B"].shape == (3, 8, 8)
    assert Path(item["path_A"]).name == "trainA_1.png" and Path(item["path_B"]).name == "trainB_4.png"
    assert torch.equal(item["A"], to_tensor(noise_image(8, 8, seed=1)))
    with pytest.raises(IndexError):
        dataset[5]


def test_unpaired_training_draws_b_at_random_reproducibly(tmp_path):
    make_unpaired(tmp_path, 2, 6)
    dataset = UnpairedDataset(tmp_path, image_size=8)
    torch.manual_seed(0)
    draws = [dataset[0]["path_B"] for _ in range(20)]
    torch.manual_seed(0)
    assert [dataset[0]["path_B"] for _ in range(20)] == draws
    assert len(set(draws)) > 2
    assert all(Path(d).parent.name == "trainB" for d in draws)


def test_missing_and_empty_folders_are_named(tmp_path):
    with pytest.raises(DataError, match="does not exist") as caught:
        detect_layout(tmp_path / "absent")
    assert str(tmp_path / "absent") in str(caught.value)
    with pytest.raises(DataError, match=r"neither 'train/'.*'trainA/' and 'trainB/'"):
        AlignedDataset(tmp_path)
    (tmp_path / "trainA").mkdir()
    noise_image(8, 8).save(tmp_path / "trainA" / "a.png")
    with pytest.raises(DataError) as caught:
        UnpairedDataset(tmp_path)
    assert f"data folder '{tmp_path / 'trainB'}' does not exist" in str(caught.value)
    (tmp_path / "trainB").mkdir()
    (tmp_path / "trainB" / "readme.txt").write_text("no pictures here")
    with pytest.raises(DataError) as caught:
        UnpairedDataset(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"data folder '{tmp_path / 'trainB'}' has no images (looked for .png .jpg .jpeg")
    (tmp_path / "test").mkdir()
    with pytest.raises(DataError, match="has no images"):
        AlignedDataset(tmp_path, split="test")


def test_corrupt_training_image_is_an_error_naming_the_file(tmp_path):
    (tmp_path / "train").mkdir()
    side_by_side(solid(RED), solid(BLUE)).save(tmp_path / "train" / "good.png")
    bad = tmp_path / "train" / "zbad.png"
    make_truncated_png(bad)
    dataset = AlignedDataset(tmp_path, image_size=4)
    assert dataset[0]["A"].shape == (3, 4, 4)
    with pytest.raises(ImageReadError, match="zbad.png"):
        dataset[1]


# ---------------------------------------------------------------- sample set


def test_sample_mapping_formula_and_shapes():
    x = torch.rand(2, 3, 5, 4) * 2 - 1
    y = apply_sample_mapping(x)
    # batched and single einsum may round differently (AVX-512 kernels do): equal up to float rounding
    assert y.shape == x.shape and torch.allclose(y[1], apply_sample_mapping(x[1]), rtol=0, atol=1e-6)
    assert y.min() >= -1 and y.max() <= 1
    u = torch.tensor([0.2, 0.5, 0.9])
    expected = [
        (sum(m * v for m, v in zip(row, u.tolist())) ** g) * 2 - 1 for row, g in zip(SAMPLE_MATRIX, SAMPLE_GAMMA)
    ]
    got = apply_sample_mapping((u * 2 - 1).view(3, 1, 1)).flatten().tolist()
    assert got == pytest.approx(expected, abs=1e-6)
    with pytest.raises(ValueError):
        apply_sample_mapping(torch.zeros(4, 2, 2))


def load_folder(folder: Path) -> torch.Tensor:
    return torch.stack([to_tensor(load_rgb(path)) for path in list_images(folder)])


def test_sample_set_layout_counts_and_size():
    assert {p.name for p in SAMPLE_ROOT.iterdir() if p.is_dir()} == set(SAMPLE_COUNTS)
    assert (SAMPLE_ROOT / "README.md").is_file()
    for folder, count in SAMPLE_COUNTS.items():
        files = list_images(SAMPLE_ROOT / folder)
        assert len(files) == count, folder
        expected_size = (128, 64) if folder in ("train", "test") else (64, 64)
        assert {load_rgb(path).size for path in files} == {expected_size}, folder
    total = sum(path.stat().st_size for path in SAMPLE_ROOT.rglob("*") if path.is_file())
    assert total < 1.5e6


def test_sample_set_splits_are_disjoint_and_unpaired_where_promised():
    def names(folder):
        return [path.name for path in list_images(SAMPLE_ROOT / folder)]

    def photos(folder):
        return {name.rsplit("_", 1)[0] for name in names(folder)}

    assert names("testA") == names("testB") == names("test")
    assert names("trainA") == names("train")
    assert not set(names("trainA")) & set(names("trainB"))
    assert photos("trainA") == photos("trainB")
    assert not photos("train") & photos("test")
    assert detect_layout(SAMPLE_ROOT) == "aligned" and detect_layout(SAMPLE_ROOT, "test") == "aligned"


def test_sample_ground_truth_holds():
    test_a, test_b = load_folder(SAMPLE_ROOT / "testA"), load_folder(SAMPLE_ROOT / "testB")
    assert psnr(apply_sample_mapping(test_a), test_b) > 40
    assert psnr(test_a, test_b) < 30  # the mapping is clearly not the identity
    aligned = AlignedDataset(SAMPLE_ROOT, split="test", image_size=64, train=False)
    pairs = [aligned[i] for i in range(len(aligned))]
    assert torch.equal(torch.stack([p["A"] for p in pairs]), test_a)
    assert torch.equal(torch.stack([p["B"] for p in pairs]), test_b)
    train = AlignedDataset(SAMPLE_ROOT, split="train", image_size=64, train=False)
    train_a = torch.stack([train[i]["A"] for i in range(len(train))])
    train_b = torch.stack([train[i]["B"] for i in range(len(train))])
    assert psnr(apply_sample_mapping(train_a), train_b) > 35  # JPEG, quality 95


def test_sample_unpaired_dataset_loads():
    dataset = UnpairedDataset(SAMPLE_ROOT, image_size=64)
    assert len(dataset) == SAMPLE_COUNTS["trainA"]
    item = dataset[0]
    assert item["A"].shape == item["B"].shape == (3, 64, 64)


# -- training images too small for the crop: a message naming the file, never a crash ------------------------------


def train_cli(data: Path, out: Path, model: str, *extra: str):
    from click.testing import CliRunner

    from translate.cli import main

    return CliRunner().invoke(main, ["train", "--model", model, "--data", str(data), "--out", str(out), "--steps", "2",
                                     "--image-size", "32", *tiny_flags(model), *extra])


def test_training_images_smaller_than_the_crop_train_with_one_warning_naming_one(tmp_path):
    for side in ("trainA", "trainB"):
        (tmp_path / "data" / side).mkdir(parents=True)
        for i in range(3):
            noise_image(40, 40, seed=i).save(tmp_path / "data" / side / f"{i}.png")
    noise_image(1, 1).save(tmp_path / "data" / "trainA" / "dot.png")
    noise_image(40, 3).save(tmp_path / "data" / "trainB" / "strip.png")
    result = train_cli(tmp_path / "data", tmp_path / "run", "cyclegan")
    assert result.exit_code == 0, result.output
    warned = [line for line in result.stderr.splitlines() if line.startswith("translate: warning:")]
    assert warned == [
        f"translate: warning: 2 training image(s) are smaller than the 32-pixel crop and are scaled up, e.g. "
        f"'{tmp_path / 'data' / 'trainA' / 'dot.png'}' (1×1); `translate data check` lists them all"]
    assert (tmp_path / "run" / "latest" / "model.safetensors").is_file()


@pytest.mark.parametrize("workers", ["0", "2"])
def test_an_ab_image_too_narrow_to_split_stops_training_before_it_starts_in_one_line(tmp_path, workers):
    (tmp_path / "data" / "train").mkdir(parents=True)
    for i in range(12):
        side_by_side(noise_image(40, 40, seed=i), noise_image(40, 40, seed=i + 1)).save(
            tmp_path / "data" / "train" / f"{i:02d}.png")
    noise_image(1, 1).save(tmp_path / "data" / "train" / "zz.png")  # sorted last: reached mid-run before
    result = train_cli(tmp_path / "data", tmp_path / "run", "pix2pix", "--workers", workers)
    assert result.exit_code == 2
    assert result.stderr == (f"translate: error: image '{tmp_path / 'data' / 'train' / 'zz.png'}' is 1 pixel wide, "
                             "too narrow to hold A|B side by side\n")
    assert not (tmp_path / "run").exists()
