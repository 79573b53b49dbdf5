"""The learning tasks' styles: shapes, ranges, what they change, and that the structural ones are structural."""

from __future__ import annotations

import pytest
import torch

from translate.data.images import list_images, load_rgb, to_tensor
from translate.data.photo_tasks import (
    INK_LEVEL,
    UNPAIRED_STYLES,
    best_colour_map,
    cartoon,
    flat_regions,
    held_out_pairs,
    ink_lines,
    outlines,
    write_unpaired_task,
)
from translate.metrics import psnr

STRUCTURAL = ("outlines", "flat", "cartoon")


def edge_and_flat(size: int = 32) -> torch.Tensor:
    """A dark square on a light ground: one edge, flat on both sides."""
    image = torch.full((3, size, size), 0.6)
    image[:, size // 4:3 * size // 4, size // 4:3 * size // 4] = -0.4
    return image


@pytest.mark.parametrize("name", sorted(UNPAIRED_STYLES))
def test_every_style_maps_images_in_range_one_at_a_time_or_batched(name):
    style = UNPAIRED_STYLES[name]
    images = torch.rand(2, 3, 20, 24) * 2 - 1
    styled = style(images)
    assert styled.shape == images.shape and styled.min() >= -1 and styled.max() <= 1
    assert torch.allclose(style(images[1]), styled[1], atol=1e-5)


def test_outlines_ink_the_dark_side_of_an_edge_and_leave_flat_ground_alone():
    image = edge_and_flat()
    lines, inked = ink_lines(image), outlines(image)
    ink = INK_LEVEL * 2 - 1
    assert torch.allclose(inked[:, 16, 16], image[:, 16, 16]) and torch.allclose(inked[:, 2, 2], image[:, 2, 2])
    assert torch.allclose(inked[:, 16, 9], torch.full((3,), ink))  # just inside the square
    assert torch.allclose(lines[0, 16, 7:12], -torch.ones(5))  # a bold line, widened by one pixel each way
    assert torch.allclose(lines[0, 16, :7], torch.ones(7), atol=1e-4)  # no ink on the light side or in the square
    assert torch.allclose(lines[0, 16, 15:17], torch.ones(2), atol=1e-4)


def test_flat_regions_remove_texture_but_keep_edges():
    torch.manual_seed(0)
    image = edge_and_flat() + 0.1 * torch.randn(3, 32, 32)
    flat = flat_regions(image)
    assert flat[:, 12:20, 12:20].std() < 0.2 * image[:, 12:20, 12:20].std()
    assert (flat[:, 16, 7] - flat[:, 16, 8]).abs().min() > 0.8  # the 1-unit step stays a step
    assert torch.allclose(cartoon(image), outlines(flat), atol=0.05)


@pytest.fixture(scope="module")
def tasks(tmp_path_factory):
    """Every task with the learning tests' held-out crops (24 at 64 px) and one training crop per photo."""
    root = tmp_path_factory.mktemp("tasks")
    return {name: write_unpaired_task(root / name, name, size=64, train_per_photo=1) for name in UNPAIRED_STYLES}


def test_every_task_is_the_same_crops_with_the_style_as_truth(tasks):
    grading = tasks["grading"]
    for name, root in tasks.items():
        for folder in ("trainA", "testA"):
            assert [p.name for p in list_images(root / folder)] == [p.name for p in list_images(grading / folder)]
            assert all(torch.equal(to_tensor(load_rgb(p)), to_tensor(load_rgb(grading / folder / p.name)))
                       for p in list_images(root / folder))
        inputs, truth = held_out_pairs(root, 64)
        assert psnr(UNPAIRED_STYLES[name](inputs), truth) > 40, name  # up to 8-bit rounding


def test_no_colour_map_makes_a_structural_style_but_one_makes_the_grading(tasks):
    """The best per-pixel colour map fitted on the held-out pairs themselves reaches the grading, not the
    structural styles: they change pixels by their surroundings."""
    gains = {}
    for name, root in tasks.items():
        inputs, truth = held_out_pairs(root, 64)
        gains[name] = psnr(best_colour_map(inputs, truth), truth) - psnr(inputs, truth)
    assert gains["grading"] > 15, gains
    assert all(gains[name] < 3.5 for name in STRUCTURAL), gains


def test_a_style_by_function_or_by_name_and_unknown_names(tmp_path):
    by_function = write_unpaired_task(tmp_path / "f", lambda image: -image, size=32, train_per_photo=1,
                                      test_per_photo=1)
    inputs, truth = held_out_pairs(by_function, 32)
    assert torch.allclose(truth, -inputs, atol=1 / 127)
    with pytest.raises(ValueError, match="unknown style 'sketch'; valid styles: grading, outlines, flat, cartoon"):
        write_unpaired_task(tmp_path / "s", "sketch")
