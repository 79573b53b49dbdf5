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
    defocus,
    fit_colour_map,
    flat_regions,
    graduated,
    held_out_pairs,
    ink_lines,
    outlines,
    pencil,
    training_colour_map,
    vignette,
    write_unpaired_task,
)
from translate.metrics import psnr

STRUCTURAL = ("outlines", "flat", "cartoon")
#: Styles whose change depends on where a pixel lies in the frame.
SPATIAL = ("vignette", "graduated")


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


def test_pencil_darkens_edges_by_their_strength_and_defocus_blurs_them():
    image = edge_and_flat()
    shaded, blurred = pencil(image), defocus(image)
    assert torch.allclose(shaded[:, 2, 2], image[:, 2, 2]) and torch.allclose(shaded[:, 16, 16], image[:, 16, 16])
    assert (shaded[:, 16, 7] < image[:, 16, 7] - 0.5).all()  # the light side of the edge, shaded dark
    faint = image.mul(0.1)  # a tenth of the contrast: lighter shading
    assert (pencil(faint) - faint)[:, 16, 7].abs().max() < (shaded - image)[:, 16, 7].abs().min()
    assert torch.allclose(blurred[:, 16, 16], image[:, 16, 16], atol=0.01)  # 3 sigma from the edge: as it was
    assert image[0, 16, 7] > blurred[0, 16, 7] > blurred[0, 16, 8] > image[0, 16, 8]  # the step, softened


def test_vignette_and_graduated_change_a_pixel_by_where_it_lies():
    grey = torch.zeros(3, 33, 33)  # 0.5 in [0, 1]
    lit, graded = vignette(grey), graduated(grey)
    assert (lit[:, 16, 16] > 0.1).all() and (lit[:, 0, 0] < -0.5).all()  # centre brighter, corners darker
    assert torch.allclose(lit[:, 0, 0], lit[:, 32, 32]) and torch.allclose(lit[:, 0, 16], lit[:, 16, 0])
    assert graded[:, 0].mean() < -0.2 and graded[:, 32].mean() > 0.2  # a dark top row, a bright bottom row
    assert graded[2, 0, 0] > graded[0, 0, 0]  # the top tinted blue
    assert torch.equal(graded[:, 5, 0], graded[:, 5, 20])  # one factor per row


def test_a_colour_map_fitted_on_pairs_moves_each_colour_by_its_mean_change():
    inputs = torch.tensor([[-0.9, -0.9, 0.9, 0.9]]).expand(3, -1).reshape(1, 3, 2, 2)
    targets = inputs + torch.tensor([[0.1, 0.3, -0.2, -0.2]]).expand(3, -1).reshape(1, 3, 2, 2)
    greys = torch.tensor([-0.9, 0.9, 0.0]).view(1, 1, 1, 3).expand(-1, 3, -1, -1)
    mapped = fit_colour_map(inputs, targets)(greys)
    assert torch.allclose(mapped, torch.tensor([-0.7, 0.7, 0.0]).view(1, 1, 1, 3).expand(-1, 3, -1, -1))  # +0.2, -0.2, unseen


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


def test_no_colour_map_learned_from_the_training_crops_beats_the_identity_on_a_spatial_style(tasks):
    """What a grading model could learn from the training photos does not reach the spatial styles: a score
    above the identity there is a change that depends on position."""
    for name in SPATIAL:
        inputs, truth = held_out_pairs(tasks[name], 64)
        mapped = training_colour_map(tasks[name], name, 64)(inputs)
        assert psnr(mapped, truth) < psnr(inputs, truth), name
    inputs, truth = held_out_pairs(tasks["grading"], 64)
    assert psnr(training_colour_map(tasks["grading"], "grading", 64)(inputs), truth) > psnr(inputs, truth) + 5


def test_a_style_by_function_or_by_name_and_unknown_names(tmp_path):
    by_function = write_unpaired_task(tmp_path / "f", lambda image: -image, size=32, train_per_photo=1,
                                      test_per_photo=1)
    inputs, truth = held_out_pairs(by_function, 32)
    assert torch.allclose(truth, -inputs, atol=1 / 127)
    with pytest.raises(ValueError, match="unknown style 'sketch'; valid styles: grading, outlines, flat, cartoon, pencil, "
                                         "defocus, vignette, graduated"):
        write_unpaired_task(tmp_path / "s", "sketch")
