"""Learning is a behaviour: models trained on photographs with a known answer move towards it.

The tasks come from :mod:`translate.data.photo_tasks` (written once per module): an
unpaired colour/tone grading at 64 px (CycleGAN, UNIT, CUT/FastCUT, MUNIT), two unpaired
structural styles at 64 px (CycleGAN, UNIT, CUT), a paired
restoration, blurred grayscale to colour, at 128 px (pix2pix), and photos with two
gradings as three domains at 64 px (StarGAN). Scores are PSNR on held-out
crops of photographs no model trains on. The budgets are issue #17's (480 steps at 64 px,
720 at 128 px, batch 1); widths are reduced so the file stays within minutes on a CPU
(``benchmarks/learning.py`` measures full widths and the reference's training).

Translate's CycleGAN, UNIT, CUT and StarGAN generators start as the identity mapping (a
global residual path), so beating the identity is beating the untrained generator.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch

from helpers import TRANSLATE
from translate.convert import Translator
from translate.data.images import list_images, load_rgb, to_tensor
from translate.data.photo_tasks import (
    held_out_domains,
    held_out_pairs,
    style_example,
    write_domain_gradings,
    write_paired_restoration,
    write_unpaired_grading,
    write_unpaired_task,
)
from translate.metrics import psnr
from translate.train.trainer import Trainer, TrainConfig

pytestmark = pytest.mark.slow

#: Crop sizes and steps of the issue's budgets.
GRADING_SIZE, GRADING_STEPS = 64, 480
RESTORATION_SIZE, RESTORATION_STEPS = 128, 720
#: Reduced widths for the budget tests (every other option is the model's default).
SMALL = {"ngf": "16", "ndf": "16"}


@pytest.fixture(scope="module")
def grading(tmp_path_factory) -> Path:
    return write_unpaired_grading(tmp_path_factory.mktemp("grading"), size=GRADING_SIZE)


@pytest.fixture(scope="module")
def structural(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("structural")
    return {style: write_unpaired_task(root / style, style, size=GRADING_SIZE) for style in STRUCTURAL_STYLES}


@pytest.fixture(scope="module")
def domains(tmp_path_factory) -> Path:
    return write_domain_gradings(tmp_path_factory.mktemp("domains"), size=GRADING_SIZE)


@pytest.fixture(scope="module")
def restoration(tmp_path_factory) -> Path:
    return write_paired_restoration(tmp_path_factory.mktemp("restoration"), size=RESTORATION_SIZE)


def trained_psnr(run: Path, data: Path, size: int) -> float:
    """PSNR on the held-out crops of the model in ``run``'s final checkpoint (what `translate convert` loads)."""
    inputs, targets = held_out_pairs(data, size)
    model = Translator.load(run, device="cpu").model
    with torch.no_grad():
        return psnr(model.translate(inputs), targets)


def train_on_grading(run: Path, data: Path, model: str, steps: int, **options: str) -> float:
    config = TrainConfig(model=model, loss="lsgan", data=str(data), out=str(run), steps=steps, image_size=GRADING_SIZE,
                         model_options={**SMALL, **options}, sample_every=10**6, loggers=("jsonl",))
    Trainer(config).train(progress=False)
    return trained_psnr(run, data, GRADING_SIZE)


# -- the budgets ----------------------------------------------------------------------------


def test_unit_beats_the_identity_by_2_db_after_480_steps_at_64_px(tmp_path, grading, record_property):
    trained = train_on_grading(tmp_path / "run", grading, "unit", GRADING_STEPS)
    identity = psnr(*held_out_pairs(grading, GRADING_SIZE))
    record_property("psnr", {"unit": trained, "identity": identity})
    assert trained > identity + 2, f"UNIT {trained:.2f} dB, identity {identity:.2f} dB"


def test_pix2pix_from_the_command_line_beats_the_identity_by_2_db_after_720_steps_at_128_px(tmp_path, restoration,
                                                                                            record_property):
    """The user's path end to end: an aligned folder, `translate train` with sample grids, `translate convert`.
    Issue #31's target, 2 dB over the identity: +2.07 to +2.44 over seeds 0-4 (one thread; +1.38 to +1.91
    with the reference's batch norm and learning rate)."""
    run = tmp_path / "run"
    translate("train", "--model", "pix2pix", "--data", str(restoration), "--out", str(run),
              "--steps", str(RESTORATION_STEPS), "--image-size", str(RESTORATION_SIZE), "--sample-every", "360",
              *(arg for key, value in SMALL.items() for arg in ("--model-opt", f"{key}={value}")), "--logger", "jsonl")
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_000360.png", "step_000720.png"]
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for path in list_images(restoration / "test"):  # the A halves, as a user's input folder
        with load_rgb(path) as pair:
            pair.crop((0, 0, pair.width // 2, pair.height)).save(inputs / path.name)
    translate("convert", str(run), str(inputs), str(tmp_path / "out"))
    outputs = torch.stack([to_tensor(load_rgb(p)) for p in list_images(tmp_path / "out")])
    sources, targets = held_out_pairs(restoration, RESTORATION_SIZE)
    trained, identity = psnr(outputs, targets), psnr(sources, targets)
    record_property("psnr", {"pix2pix": trained, "identity": identity})
    assert trained > identity + 2, f"pix2pix {trained:.2f} dB, identity {identity:.2f} dB"


def translate(*args: str) -> None:
    result = subprocess.run([str(TRANSLATE), *args], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]


# -- CycleGAN, and CUT and FastCUT at its wall-clock time (issues #16, #17) ------------------------------

#: Seconds per iteration relative to CycleGAN's at these settings (64 px, ngf 16, batch 1, fp32), from
#: `python benchmarks/train.py --image-size 64 --ngf 16 --settings "eager fp32" --models cyclegan,cut,fastcut
#: --steps 30 --warmup 5` on an idle AVX-512 Xeon: CUT 0.87, FastCUT 0.62 (rounded up here, so CUT and
#: FastCUT get at most CycleGAN's time).
TIME_PER_CYCLEGAN_TIME = {"cut": 0.9, "fastcut": 0.65}


def test_cyclegan_cut_and_fastcut_beat_the_identity_by_2_db_at_equal_wall_clock_time(tmp_path, grading,
                                                                                      record_property):
    """CycleGAN after 480 steps at 64 px, CUT and FastCUT in CycleGAN's wall-clock time: each 2 dB over the
    identity (issue #31). FastCUT with the reference's PatchNCE weight, 10, stayed within 1.3 dB of it;
    CycleGAN with the reference's cycle weight, 10, at +0.10 dB on one seed in three."""
    identity = psnr(*held_out_pairs(grading, GRADING_SIZE))
    scores = {"cyclegan": train_on_grading(tmp_path / "cyclegan", grading, "cyclegan", GRADING_STEPS)}
    for mode, ratio in TIME_PER_CYCLEGAN_TIME.items():
        scores[mode] = train_on_grading(tmp_path / mode, grading, "cut", round(GRADING_STEPS / ratio), mode=mode)
    record_property("psnr", {**scores, "identity": identity})
    short = {name: value for name, value in scores.items() if value <= identity + 2}
    assert not short, "not 2 dB over the identity: " + ", ".join(
        f"{name} {value:.2f} dB" for name, value in {**scores, "identity": identity}.items())


# -- MUNIT: example-guided and diverse (issue #29) -------------------------------------------------------

#: MUNIT's budget at 64 px: half the others' 480, as an iteration costs about three of UNIT's (two encoders per
#: domain, each translation encoded again and decoded back); its style MLP reduced too. It measured 20.89 dB
#: example-guided against the identity's 18.36 at this budget (docs/learning.md).
MUNIT_STEPS = 240
MUNIT_SMALL = {"mlp_dim": "64"}


def test_munit_guided_by_a_b_image_beats_the_identity_and_its_random_styles_differ(tmp_path, grading, record_property):
    """Example-guided A -> B (the style of a training image of B) beats the identity by 1 dB; four random styles
    give outputs that differ (mean pairwise distance at least twice that of one style translated twice, and not
    more than the distance between unrelated photos)."""
    run = tmp_path / "run"
    config = TrainConfig(model="munit", loss="lsgan", data=str(grading), out=str(run), steps=MUNIT_STEPS,
                         image_size=GRADING_SIZE, model_options={**SMALL, **MUNIT_SMALL}, sample_every=10**6,
                         loggers=("jsonl",))
    Trainer(config).train(progress=False)
    inputs, targets = held_out_pairs(grading, GRADING_SIZE)
    model = Translator.load(run, device="cpu").model
    with torch.no_grad():
        guided = model.translate(inputs, style=style_example(grading, GRADING_SIZE))
        styled = [model.translate(inputs, style=seed) for seed in range(4)]
        again = model.translate(inputs.flip(0), style=0).flip(0)  # the first style once more, in another batch order
    identity, trained = psnr(inputs, targets), psnr(guided, targets)
    between_styles = mean_distance([(a, b) for i, a in enumerate(styled) for b in styled[i + 1:]])
    same_style = mean_distance([(styled[0], again)])
    unrelated = mean_distance([(inputs, targets.roll(1, 0)), (inputs, inputs.roll(1, 0))])
    record_property("munit", {"guided": trained, "identity": identity, "between_styles": between_styles,
                              "same_style": same_style, "unrelated": unrelated})
    assert trained > identity + 1, f"MUNIT guided by a B image {trained:.2f} dB, identity {identity:.2f} dB"
    assert between_styles >= 2 * same_style and between_styles > 0, (between_styles, same_style)
    assert between_styles <= unrelated, f"styles {between_styles:.3f} apart, unrelated photos {unrelated:.3f}"


def mean_distance(pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Mean over ``pairs`` of the mean absolute pixel difference (images in [-1, 1])."""
    return sum((a - b).abs().mean().item() for a, b in pairs) / len(pairs)


# -- structural styles (issue #31) -----------------------------------------------------------------

#: Structural styles every unpaired model learns (no per-pixel colour map produces them): a graduated filter,
#: whose change depends on where a pixel lies in the frame, and pencil shading, which follows the photo's
#: edges. Seed 0, one thread: CycleGAN +3.30 / +1.07 dB (seeds 1, 2 on pencil +1.44, +1.46), UNIT +1.30 /
#: +1.52, CUT +4.61 / +1.41 dB over the identity (docs/learning.md).
STRUCTURAL_STYLES = ("graduated", "pencil")
#: Widths for them: the critic twice as wide as SMALL's, which left CycleGAN's pencil shading at +0.37 dB.
STRUCTURAL_WIDTHS = {"ngf": "16", "ndf": "32"}


@pytest.mark.parametrize("model", ["cyclegan", "unit", "cut"])
def test_unpaired_models_learn_two_structural_styles_after_480_steps_at_64_px(model, tmp_path, structural,
                                                                               record_property):
    """1 dB over the identity on each of :data:`STRUCTURAL_STYLES` (issue #31: at least two structural
    styles). Ink lines, flattened regions and blur are not reached yet (docs/learning.md)."""
    gains = {}
    for style, data in structural.items():
        trained = train_on_grading(tmp_path / style, data, model, GRADING_STEPS, **STRUCTURAL_WIDTHS)
        gains[style] = trained - psnr(*held_out_pairs(data, GRADING_SIZE))
    record_property("gain_over_identity", gains)
    assert all(gain > 1 for gain in gains.values()), f"{model}: " + ", ".join(
        f"{style} {gain:+.2f} dB over the identity" for style, gain in gains.items())


# -- StarGAN (issue #31) ---------------------------------------------------------------------------

#: StarGAN's reduced widths (its width options have their own names; every other option is the default).
STARGAN_SMALL = {"conv_dim": "16", "critic_dim": "16"}
#: dB over the identity that StarGAN's translation to each grading must reach after 480 steps (issue #31).
#: Seeds 0-4 at translate's defaults: dusk +6.2 to +10.9, sepia +1.3 to +2.9 (one thread).
STARGAN_MIN_GAIN = {"dusk": 1.0, "sepia": 1.0}
#: The translation to the photo's own domain keeps the photo: scored against each grading's truth like the
#: other translations, it stays within this many dB of the identity (seeds 0-4: -0.96 to +0.92 dB) ...
STARGAN_KEEP_TOLERANCE = 1.0
#: ... and it is closer to the photo by this many dB than either grading is (seeds 0-4: 7.3-7.9 dB).
STARGAN_KEEP_MARGIN = 5.0


def test_stargan_learns_the_target_domains_and_keeps_the_photo_after_480_steps_at_64_px(tmp_path, domains,
                                                                                        record_property):
    """One generator, three domains: held-out photos translated to ``dusk`` and to ``sepia`` beat the
    identity by 1 dB against that grading's truth, and translated to ``photo`` they stay the photo: within
    :data:`STARGAN_KEEP_TOLERANCE` dB of the identity against each grading's truth, and closer to the photo
    by :data:`STARGAN_KEEP_MARGIN` dB than either grading is. The reference's training fails all of it (its
    outputs for every label are the same blotchy change)."""
    run = tmp_path / "run"
    config = TrainConfig(model="stargan", loss="lsgan", data=str(domains), out=str(run), steps=GRADING_STEPS,
                         image_size=GRADING_SIZE, model_options=dict(STARGAN_SMALL), sample_every=10**6,
                         loggers=("jsonl",))
    Trainer(config).train(progress=False)
    model = Translator.load(run, device="cpu").model
    inputs, truths = held_out_domains(domains, GRADING_SIZE, source="photo")
    identity = {name: psnr(inputs, truths[name]) for name in STARGAN_MIN_GAIN}
    with torch.no_grad():
        outputs = {name: model.translate(inputs, to=name) for name in truths}
    gains = {name: psnr(outputs[name], truths[name]) - identity[name] for name in STARGAN_MIN_GAIN}
    own = {name: psnr(outputs["photo"], truths[name]) - identity[name] for name in STARGAN_MIN_GAIN}
    kept = psnr(outputs["photo"], inputs)
    record_property("psnr", {"gain_over_identity": gains, "identity": identity, "photo_kept": kept,
                             "photo_vs_identity": own})
    failures = [f"to {name}: {gain:+.2f} dB over the identity ({identity[name]:.2f} dB), needs "
                f"{STARGAN_MIN_GAIN[name]:+.1f}" for name, gain in gains.items() if gain < STARGAN_MIN_GAIN[name]]
    failures += [f"to photo: {change:+.2f} dB from the identity against the {name} truth, needs at most "
                 f"{STARGAN_KEEP_TOLERANCE}" for name, change in own.items() if abs(change) > STARGAN_KEEP_TOLERANCE]
    if kept < max(identity.values()) + STARGAN_KEEP_MARGIN:
        failures.append(f"to photo: {kept:.2f} dB from the photo, needs {STARGAN_KEEP_MARGIN} dB more than the "
                        f"nearest grading ({max(identity.values()):.2f} dB)")
    assert not failures, "; ".join(failures)
