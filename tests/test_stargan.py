"""StarGAN: label-conditioned generator, size-agnostic classifier, targets, data, training, resume, learning."""

from __future__ import annotations

import json
import random

import pytest
import torch
from PIL import Image
from torch import nn

from translate.convert import Translator
from translate.data.domains import (
    CELEBA_DEFAULT_ATTRS,
    CelebADataset,
    CelebATransform,
    DomainFolderDataset,
    find_domains,
    read_celeba_attributes,
)
from translate.data.folders import DataError
from translate.data.images import list_images, load_rgb, to_pil, to_tensor
from translate.data.photo_tasks import (
    SEPIA_MATRIX,
    TEST_PHOTOS,
    TRAIN_PHOTOS,
    held_out_domains,
    write_domain_gradings,
)
from translate.data.sample import SAMPLE_ROOT, apply_sample_mapping
from translate.convert.export import exportable_network
from translate.metrics import psnr
from translate.models.stargan import StarGAN
from translate.nets.energy import EnergyCritic
from translate.nets.patchgan import PatchDiscriminator
from translate.nets.layers import RESIDUAL_MARGIN
from translate.nets.stargan import COLOUR_MATRIX_GAIN, DomainClassifier, StarGenerator
from translate.options import OptionError
from translate.plugin_host.manager import PluginRegistry
from translate.train.checkpoint import CheckpointError
from translate.train.trainer import Trainer, TrainConfig

#: Loaded as ``--plugin`` would (a no-op once the built-in entry point registers it).
PLUGIN = "translate.models.stargan"
REGISTRY = PluginRegistry(extra_modules=(PLUGIN,))
TINY = StarGAN.tiny_options
CELEBA_NAMES = ["5_o_Clock_Shadow", "Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair", "Male", "Young"]
HAIR = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair"]


def objective(name: str):
    cls = REGISTRY.objective(name)
    return lambda: cls()


def attach_adam(model: StarGAN, lr: float = 1e-4) -> StarGAN:
    model.optimizers = {g: torch.optim.Adam(p, lr=lr) for g, p in model.parameter_groups().items()}
    return model


def labelled_batch(n: int = 4, classes: int = 3, size: int = 32) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    labels = torch.eye(classes)[torch.arange(n) % classes]
    return {"A": torch.rand(n, 3, size, size, generator=generator) * 2 - 1, "label": labels}


def write_domains(root, split="train", names=("graded", "photo"), count=4, size=40):
    """``root/<split>/<name>/`` folders of small images; the photo domain is the sample set's trainA."""
    photos = list_images(SAMPLE_ROOT / "trainA")[:count]
    for name in names:
        folder = root / split / name
        folder.mkdir(parents=True)
        for path in photos:
            image = to_tensor(load_rgb(path).resize((size, size)))
            if name == "graded":
                image = apply_sample_mapping(image)
            elif name == "inverted":
                image = -image
            to_pil(image).save(folder / path.name)
    return root


# -- networks ------------------------------------------------------------------------------


def test_generator_follows_the_reference_layout():
    net = StarGenerator(c_dim=5)
    assert sum(p.numel() for p in net.parameters()) == pytest.approx(8.43e6, rel=1e-3)
    keys = set(net.state_dict())
    assert {"main.0.weight", "main.1.weight", "main.9.main.0.weight", "main.14.main.4.bias", "main.21.weight"} <= keys
    assert net.main[0].in_channels == 3 + 5
    convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert all(m.bias is None and m.padding_mode == "zeros" for m in convs)
    assert not any(isinstance(m, (nn.ReflectionPad2d, nn.BatchNorm2d)) for m in net.modules())
    norms = [m for m in net.modules() if isinstance(m, nn.InstanceNorm2d)]
    assert norms and all(m.affine and not m.track_running_stats for m in norms)


@pytest.mark.parametrize("height,width", [(37, 53), (128, 128), (32, 32), (7, 5)])
def test_generator_and_classifier_keep_any_size(height, width):
    torch.manual_seed(0)
    generator, classifier = StarGenerator(3, conv_dim=8, repeat_num=1), DomainClassifier(3, conv_dim=8, n_layers=6)
    images, labels = torch.rand(2, 3, height, width) * 2 - 1, torch.eye(3)[[0, 2]]
    with torch.no_grad():
        out = generator(images, labels)
        logits = classifier(images)
    assert out.shape == images.shape and out.abs().max() <= 1
    assert logits.shape == (2, 3) and torch.isfinite(logits).all()


def test_the_label_conditions_the_generator():
    torch.manual_seed(0)
    generator = StarGenerator(2, conv_dim=8, repeat_num=1)
    images = torch.rand(1, 3, 37, 53) * 2 - 1
    with torch.no_grad():
        assert not torch.allclose(generator(images, torch.eye(2)[[0]]), generator(images, torch.eye(2)[[1]]))
    with pytest.raises(ValueError, match="labels of shape"):
        generator(images, torch.zeros(1, 3))


def test_a_residual_generator_starts_as_the_identity_for_every_label():
    torch.manual_seed(0)
    generator = StarGenerator(3, conv_dim=8, repeat_num=1, upsample="nearest", residual=True, condition="norm")
    assert torch.count_nonzero(generator.main[-1].weight) == 0 and not isinstance(generator.main[-1], nn.Tanh)
    images = torch.rand(3, 3, 37, 53) * 2 - 1
    images[0, :, 0, :2] = torch.tensor([-1.0, 1.0]).view(1, 2).expand(3, 2)  # 8-bit black and white
    with torch.no_grad():
        for label in torch.eye(3):
            assert (generator(images, label.expand(3, 3)) - images).abs().max() <= RESIDUAL_MARGIN


def perturbed(generator: StarGenerator) -> StarGenerator:
    """``generator`` with every weight random (as after some training), except the input's label planes,
    which are zeroed: whatever the label changes then comes through the norms."""
    torch.manual_seed(1)
    with torch.no_grad():
        for parameter in generator.parameters():
            parameter.normal_(0.0, 0.2)
        generator.main[0].weight[:, 3:] = 0.0
    return generator


def test_the_label_reaches_a_generator_with_label_norms_past_instance_norm():
    """Constant label planes at the input are removed by the first instance norm; label norms act after it."""
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    first, second = torch.eye(2)[[0, 0]], torch.eye(2)[[1, 1]]
    with torch.no_grad():
        norms = perturbed(StarGenerator(2, conv_dim=8, repeat_num=1, residual=True, condition="norm"))
        assert (norms(images, first) - norms(images, second)).abs().mean() > 0.05
        planes = perturbed(StarGenerator(2, conv_dim=8, repeat_num=1, residual=True, condition="input"))
        assert torch.equal(planes(images, first), planes(images, second))


def test_the_new_generator_options_keep_the_reference_keys():
    """Every option keeps the ``main.N`` indices: label norms add ``.label`` keys, resize-conv a ``.conv`` level."""
    reference = set(StarGenerator(3, conv_dim=8, repeat_num=2).state_dict())
    changed = StarGenerator(3, conv_dim=8, repeat_num=2, upsample="nearest", residual=True, condition="norm",
                            colour_matrix=True)
    keys = set(changed.state_dict()) - {"colours.weight"}
    assert "colours.weight" in changed.state_dict()
    assert {key.replace(".conv.", ".") for key in keys if ".label." not in key} == reference
    norms = {key.removesuffix(".bias") for key in reference if key.endswith(".bias")}  # only norms have biases
    assert {key for key in keys if ".label." in key} == {f"{norm}.label.weight" for norm in norms}
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in changed.modules())
    with pytest.raises(ValueError, match="unknown condition 'label'; valid kinds: input, norm"):
        StarGenerator(3, condition="label")


def colour_matrix_generator() -> StarGenerator:
    """A residual generator with a colour matrix, untrained but for label 1's matrix, which is sepia's."""
    generator = StarGenerator(2, conv_dim=8, repeat_num=1, upsample="nearest", residual=True, condition="norm",
                              colour_matrix=True)
    change = torch.cat([torch.tensor(SEPIA_MATRIX) - torch.eye(3), torch.full((3, 1), -0.1)], dim=1)
    with torch.no_grad():
        generator.colours.weight[1] = change.flatten() / COLOUR_MATRIX_GAIN
    return generator


def test_the_colour_matrix_recolours_the_residual_path_for_its_label_only():
    """Label 1's matrix turns the input into its sepia mix (the untrained body adds nothing); label 0's is
    still the identity, and a label halfway between them mixes halfway."""
    generator = colour_matrix_generator()
    images = torch.rand(2, 3, 24, 24) - 0.5
    mixed = torch.einsum("oc,nchw->nohw", torch.tensor(SEPIA_MATRIX), images) - 0.1
    with torch.no_grad():
        assert (generator(images, torch.eye(2)[[0, 0]]) - images).abs().max() < 1e-5
        assert (generator(images, torch.eye(2)[[1, 1]]) - mixed.clamp(-1, 1)).abs().max() <= RESIDUAL_MARGIN
        half = generator(images, torch.full((2, 2), 0.5))
        assert (half - ((images + mixed) / 2).clamp(-1, 1)).abs().max() <= RESIDUAL_MARGIN
    with pytest.raises(ValueError, match="needs residual=True"):
        StarGenerator(2, colour_matrix=True)


def test_one_optimiser_step_moves_the_colour_matrix_its_gain_times_the_learning_rate():
    """Adam steps every weight by about the learning rate: the gain is what lets a grading's matrix (entries
    of ~0.6) appear within a few hundred steps. Only the trained label's matrix moves."""
    generator = colour_matrix_generator()
    with torch.no_grad():
        generator.colours.weight.zero_()
    images = torch.rand(2, 3, 24, 24) - 0.5
    labels = torch.eye(2)[[1, 1]]
    optimizer = torch.optim.Adam([generator.colours.weight], lr=1e-3)
    loss = (generator(images, labels) - images.mean(dim=1, keepdim=True)).abs().mean()
    loss.backward()
    optimizer.step()
    matrix = generator.colours.weight.detach() * COLOUR_MATRIX_GAIN
    assert torch.count_nonzero(matrix[0]) == 0
    assert matrix[1].abs().max() == pytest.approx(COLOUR_MATRIX_GAIN * 1e-3, rel=1e-3)


@pytest.mark.parametrize("options", [{}, {"upsample": "nearest", "residual": True, "condition": "norm"}])
def test_the_labelled_generator_for_export_computes_the_translation(options):
    model = StarGAN(None, image_size=32, domains="a,b,c", **TINY, **options).eval()
    perturbed(model.G)
    images = torch.rand(2, 3, 36, 20) * 2 - 1
    with torch.no_grad():
        expected = model.translate(images, to="b")
        assert torch.allclose(model.inference_network(to="b")(images), expected, atol=1e-5)
        scripted = torch.jit.script(exportable_network(model, to="b"))
        assert torch.allclose(scripted(images), expected, atol=1e-5)


def test_one_classifier_serves_two_image_sizes():
    """Global pooling, not a kernel the size of the training image: the same weights at 64 and 256 px."""
    torch.manual_seed(0)
    classifier = DomainClassifier(4, conv_dim=4, n_layers=6)
    kernels = [m.kernel_size for m in classifier.modules() if isinstance(m, nn.Conv2d)]
    assert kernels[-1] == (1, 1) and set(kernels[:-1]) == {(4, 4)}
    small, large = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 256, 192)
    with torch.no_grad():
        assert classifier(small).shape == classifier(large).shape == (2, 4)
        # a uniform image gives uniform features: pooling over a larger map changes nothing
        flat = torch.full((1, 3, 64, 64), 0.3)
        assert torch.allclose(classifier(flat), classifier(torch.full((1, 3, 256, 256), 0.3)), atol=1e-5)


# -- the model -------------------------------------------------------------------------------


def test_critic_comes_from_the_objective_and_the_classifier_is_separate():
    patch = StarGAN(objective("lsgan"), image_size=32, domains="a,b", **TINY)
    energy = StarGAN(objective("ebgan"), image_size=32, domains="a,b", **TINY)
    assert isinstance(patch.D, PatchDiscriminator) and isinstance(energy.D, EnergyCritic)
    assert any(isinstance(m, nn.InstanceNorm2d) for m in patch.D.modules())  # translate's default
    reference = StarGAN(objective("lsgan"), image_size=32, domains="a,b", critic_norm="none", **TINY)
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) for m in reference.D.modules())
    assert isinstance(patch.C, DomainClassifier)
    groups = patch.parameter_groups()
    assert list(groups) == list(StarGAN.optimizer_names) == ["generator", "critic", "classifier"]
    ids = [{id(p) for p in params} for params in groups.values()]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])


def test_the_critic_is_conditioned_on_the_target_and_shown_real_images_of_it():
    """Domains: D reads the target's label planes beside the image and compares the translations with
    training images of the target domain (those of a permuted batch; the latest seen, in a batch of one)."""
    torch.manual_seed(0)
    model = attach_adam(StarGAN(objective("lsgan"), image_size=32, domains="a,b,c", **TINY))
    assert model.conditional_critic is True and model.D.model[0].in_channels == 3 + 3
    batch = labelled_batch(n=3)  # domains 0, 1, 2
    seen = []
    model.D.register_forward_pre_hook(lambda _, args: seen.append(args[0].detach().clone()))
    torch.manual_seed(1)
    targets = model.sample_targets(batch["label"])
    torch.manual_seed(1)
    model.train_step(batch)
    real_input = seen[0]  # the critic's first pass: the real images, with the targets' planes
    wanted = targets.argmax(1)
    assert torch.equal(real_input[:, :3], batch["A"][wanted])
    assert torch.equal(real_input[:, 3:, 0, 0], targets)
    unconditional = StarGAN(objective("lsgan"), image_size=32, domains="a,b,c", conditional_critic=False, **TINY)
    assert unconditional.D.model[0].in_channels == 3


def test_a_batch_of_one_skips_the_critic_until_the_target_domain_was_seen():
    torch.manual_seed(0)
    model = attach_adam(StarGAN(objective("lsgan"), image_size=32, domains="a,b", **TINY))
    first = {"A": torch.rand(1, 3, 32, 32) * 2 - 1, "label": torch.tensor([[1.0, 0.0]])}
    second = {"A": torch.rand(1, 3, 32, 32) * 2 - 1, "label": torch.tensor([[0.0, 1.0]])}
    assert "D" not in model.train_step(first) and "G" in model.train_step(first)  # target b: none seen yet
    assert "D" in model.train_step(second)  # target a: the first image
    restored = attach_adam(StarGAN(objective("lsgan"), image_size=32, domains="a,b", **TINY))
    restored.load_training_state(model.training_state())
    assert torch.equal(restored.domain_reals, model.domain_reals) and restored.domains_seen.all()
    assert "D" in restored.train_step(first)


def test_attributes_train_an_unconditional_critic():
    model = StarGAN(objective("lsgan"), image_size=32, attrs="Black_Hair,Male", **TINY)
    assert model.conditional_critic is False and model.D.model[0].in_channels == 3
    with pytest.raises(OptionError, match="'conditional_critic' needs domains"):
        StarGAN(objective("lsgan"), image_size=32, attrs="Black_Hair,Male", conditional_critic=True, **TINY)


def test_inference_model_has_no_critics_and_rebuilds_from_its_options():
    trained = StarGAN(objective("lsgan"), image_size=32, domains="photo, graded ,inverted", **TINY)
    assert trained.domains == "photo,graded,inverted"
    inference = StarGAN(None, image_size=32, **trained.options())
    assert inference.D is None and inference.C is None and inference.objectives == {}
    assert set(inference.state_dict()) == {k for k in trained.state_dict() if k.startswith("G.")}
    assert inference.targets() == ["photo", "graded", "inverted"]


def test_bad_options_are_option_errors():
    with pytest.raises(OptionError, match="domains"):
        StarGAN(None, image_size=32)
    with pytest.raises(OptionError, match="not both"):
        StarGAN(None, domains="a,b", attrs="Male")
    with pytest.raises(OptionError, match="at least two"):
        StarGAN(None, domains="a")
    with pytest.raises(OptionError, match="twice"):
        StarGAN(None, domains="a,b,a")
    with pytest.raises(OptionError, match="conv_dim"):
        StarGAN(None, domains="a,b", conv_dim=0)
    with pytest.raises(OptionError, match="model option 'condition' must be one of input, norm, got 'label'"):
        StarGAN(None, domains="a,b", condition="label")
    with pytest.raises(OptionError, match="model option 'upsample' must be one of transpose, nearest, bilinear"):
        StarGAN(None, domains="a,b", upsample="pixelshuffle")
    with pytest.raises(OptionError, match="option 'colour_matrix' .* needs residual=true"):
        StarGAN(None, domains="a,b", residual=False)


def test_metadata_describes_domains_attributes_and_groups():
    folders = StarGAN(None, domains="photo,graded", **TINY)
    assert folders.metadata() == {"domains": ["photo", "graded"], "attrs": [], "exclusive_groups": [],
                                  "targets": ["photo", "graded"]}
    celeba = StarGAN(None, attrs="Black_Hair,Blond_Hair,Male,Gray_Hair", **TINY)
    assert celeba.metadata()["attrs"] == ["Black_Hair", "Blond_Hair", "Male", "Gray_Hair"]
    assert celeba.metadata()["domains"] == []
    assert celeba.metadata()["exclusive_groups"] == [["Black_Hair", "Blond_Hair", "Gray_Hair"]]
    assert celeba.conversion_targets()["Male"] == {"to": "Male"}
    json.dumps(celeba.metadata())


# -- targets -----------------------------------------------------------------------------------


def test_training_targets_are_a_permutation_of_the_real_labels():
    model = StarGAN(None, domains="a,b,c,d", **TINY)
    labels = torch.eye(4)[[0, 1, 2, 3, 3, 1]]
    torch.manual_seed(0)
    moved = 0
    for _ in range(20):
        targets = model.sample_targets(labels)
        assert sorted(map(tuple, targets.tolist())) == sorted(map(tuple, labels.tolist()))
        moved += not torch.equal(targets, labels)
    assert moved >= 15
    torch.manual_seed(0)
    first = model.sample_targets(labels)
    torch.manual_seed(0)
    assert torch.equal(model.sample_targets(labels), first)  # drawn from the global RNG


def test_a_batch_of_one_gets_another_domain():
    model = StarGAN(None, domains="a,b,c", **TINY)
    torch.manual_seed(0)
    seen = set()
    for _ in range(40):
        target = model.sample_targets(torch.eye(3)[[1]])
        assert target.sum() == 1 and target[0, 1] == 0
        seen.add(int(target.argmax()))
    assert seen == {0, 2}


def test_attribute_targets_never_hold_two_hair_colours():
    model = StarGAN(None, attrs=",".join(HAIR + ["Male", "Young"]), **TINY)
    generator = torch.Generator().manual_seed(0)
    hair = [model.labels.index(name) for name in HAIR]
    for _ in range(30):
        original = (torch.rand(1, 6, generator=generator) < 0.5).float()
        original[0, hair] = 0
        original[0, hair[int(torch.randint(4, (), generator=generator))]] = 1
        for name in model.targets():
            edited = model.target_labels(name, 1, original)
            assert edited[0, hair].sum() <= 1 and edited[0, model.labels.index(name)] == 1
        for index in range(6):
            assert model.edit_attribute(original, index)[0, hair].sum() <= 1
        torch.manual_seed(int(torch.randint(1000, (), generator=generator)))
        single = model.sample_targets(original)
        assert single[0, hair].sum() <= 1 and not torch.equal(single, original)
    labels = model.target_labels("Blond_Hair,Male", 2)
    assert labels.tolist() == [[0, 1, 0, 0, 1, 0]] * 2  # the rest stay 0 without original labels
    with pytest.raises(OptionError, match="exclude each other"):
        model.target_labels("Blond_Hair,Black_Hair", 1)


def test_conversion_needs_a_valid_target():
    model = StarGAN(None, domains="photo,graded", **TINY).eval()
    images = torch.rand(2, 3, 37, 53) * 2 - 1
    with pytest.raises(OptionError, match="photo, graded"):
        model.translate(images)
    with pytest.raises(OptionError, match="unknown target 'cartoon'|cartoon"):
        model.translate(images, to="cartoon")
    with pytest.raises(OptionError, match="one domain"):
        model.translate(images, to="photo,graded")
    with torch.no_grad():
        out = model.translate(images, to="graded")
        every = model.translate_all(images)
        exported = model.inference_network(to="graded")(images)
    assert out.shape == images.shape
    assert list(every) == ["photo", "graded"] and torch.equal(every["graded"], out)
    assert torch.allclose(exported, out, atol=1e-6)
    assert len(model.sample_columns({"A": images[:, :, :32, :32]})) == 3


# -- data ---------------------------------------------------------------------------------------


def test_domain_folders_give_one_hot_labels_in_sorted_order(tmp_path):
    write_domains(tmp_path, names=("photo", "graded", "inverted"), count=2)
    assert find_domains(tmp_path) == ["graded", "inverted", "photo"]
    dataset = DomainFolderDataset(tmp_path, "train", image_size=32, train=True)
    assert len(dataset) == 6
    item = dataset[5]
    assert item["A"].shape == (3, 32, 32) and item["label"].tolist() == [0, 0, 1] and "photo" in item["path"]
    ordered = DomainFolderDataset(tmp_path, "train", image_size=32, train=False, domains=["photo", "graded"])
    assert ordered.domains == ["photo", "graded"] and ordered[0]["label"].tolist() == [1, 0]


def test_the_graded_photo_task_loads_as_domain_folders_with_a_truth_per_domain(tmp_path):
    root = write_domain_gradings(tmp_path / "task", size=16, train_per_photo=1, test_per_photo=1)
    dataset = DomainFolderDataset(root, split="train", image_size=16)
    assert dataset.domains == ["dusk", "photo", "sepia"] and len(dataset) == 3 * len(TRAIN_PHOTOS)
    inputs, truths = held_out_domains(root, 16)
    assert inputs.shape == (len(TEST_PHOTOS), 3, 16, 16) and list(truths) == ["dusk", "photo", "sepia"]
    assert torch.equal(truths["photo"], inputs)
    assert psnr(truths["dusk"], inputs) < 20 and psnr(truths["sepia"], inputs) < 20
    assert psnr(truths["dusk"], truths["sepia"]) < 20  # the two gradings differ from each other too
    next((root / "test" / "sepia").iterdir()).unlink()
    with pytest.raises(DataError, match="does not hold the same crops as"):
        held_out_domains(root, 16)


def test_domain_folder_errors_are_clear(tmp_path):
    write_domains(tmp_path / "one", names=("photo",), count=1)
    with pytest.raises(DataError, match="one domain"):
        DomainFolderDataset(tmp_path / "one", "train", 32)
    write_domains(tmp_path / "empty", names=("photo",), count=1)
    (tmp_path / "empty" / "train" / "graded").mkdir()
    with pytest.raises(DataError, match="graded.*no images"):
        DomainFolderDataset(tmp_path / "empty", "train", 32)
    with pytest.raises(DataError, match="sketch"):
        DomainFolderDataset(tmp_path / "empty", "train", 32, domains=["photo", "sketch"])
    (tmp_path / "flat" / "train").mkdir(parents=True)
    with pytest.raises(DataError, match="train/<domain>"):
        find_domains(tmp_path / "flat")
    with pytest.raises(DataError, match="test"):
        DomainFolderDataset(tmp_path / "empty", "test", 32)


def test_unpaired_folders_are_two_domains_a_and_b():
    assert find_domains(SAMPLE_ROOT) == ["A", "B"]
    assert StarGAN.options_from_data(str(SAMPLE_ROOT), {})["domains"] == "A,B"


def write_celeba(root, count=20, image_dir="img_align_celeba", size=(30, 40)):
    """A small ``list_attr_celeba.txt`` in the original format (runs of spaces) and its images."""
    rng = random.Random(7)
    (root / image_dir).mkdir(parents=True)
    lines = [str(count), " ".join(CELEBA_NAMES)]
    table = {}
    for index in range(count):
        name = f"{index + 1:06d}.jpg"
        values = [rng.choice((1, -1)) for _ in CELEBA_NAMES]
        table[name] = values
        lines.append(name + "".join(f"{v:>3}" if i else f"  {v:>2}" for i, v in enumerate(values)))
        Image.new("RGB", size, (index * 10, 50, 200)).save(root / image_dir / name)
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    return table


@pytest.mark.parametrize("image_dir", ["img_align_celeba", "images"])
def test_celeba_attributes_split_and_labels(tmp_path, image_dir):
    table = write_celeba(tmp_path, image_dir=image_dir)
    names, entries = read_celeba_attributes(tmp_path / "list_attr_celeba.txt")
    assert names == CELEBA_NAMES and len(entries) == 20 and entries[0] == ("000001.jpg", table["000001.jpg"])
    attrs = ["Blond_Hair", "Male", "Black_Hair"]
    train = CelebADataset(tmp_path, "train", image_size=16, train=True, attrs=attrs)
    test = CelebADataset(tmp_path, "test", image_size=16, train=False, attrs=attrs)
    assert (len(train), len(test)) == (18, 2)  # a tenth of a small file; 1999 of the full one
    shuffled = sorted(table)
    random.Random(1234).shuffle(shuffled)  # the reference split: seed-1234 shuffle, test first
    assert [name for name, _ in test.items] == shuffled[:2]
    item = train[3]
    expected = [1.0 if table[train.items[3][0]][CELEBA_NAMES.index(a)] == 1 else 0.0 for a in attrs]
    assert item["label"].tolist() == expected and item["A"].shape == (3, 16, 16)
    assert item["path"].endswith(train.items[3][0]) and image_dir in item["path"]


def test_celeba_errors_name_the_problem(tmp_path):
    write_celeba(tmp_path)
    with pytest.raises(DataError, match=r"Bald.*valid: 5_o_Clock_Shadow, Black_Hair"):
        CelebADataset(tmp_path, "train", 16, attrs=["Male", "Bald"])
    lines = (tmp_path / "list_attr_celeba.txt").read_text().splitlines()
    lines[5] = lines[5].rsplit(" ", 1)[0]
    (tmp_path / "list_attr_celeba.txt").write_text("\n".join(lines))
    with pytest.raises(DataError, match="line 6"):
        CelebADataset(tmp_path, "train", 16, attrs=["Male"])
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "list_attr_celeba.txt").write_text("1\nMale\n000001.jpg  1\n")
    with pytest.raises(DataError, match="no image folder"):
        CelebADataset(tmp_path / "bad", "train", 16, attrs=["Male"])


def test_celeba_images_are_center_cropped_to_178():
    image = Image.new("RGB", (178, 218), (255, 0, 0))
    image.paste((0, 0, 255), (0, 20, 178, 198))  # 20 px red bands above and below a 178² blue square
    out = CelebATransform(32, train=False)(image)
    assert out.shape == (3, 32, 32)
    assert torch.allclose(out[0], torch.full((32, 32), -1.0)) and torch.allclose(out[2], torch.ones(32, 32))


def test_options_from_data_fill_domains_or_attributes(tmp_path):
    write_domains(tmp_path / "folders", names=("photo", "graded"), count=1)
    write_celeba(tmp_path / "celeba", count=3)
    assert StarGAN.options_from_data(str(tmp_path / "folders"), {}) == {"domains": "graded,photo"}
    assert StarGAN.options_from_data(str(tmp_path / "celeba"), {"lr": 1.0}) == {
        "lr": 1.0, "attrs": ",".join(CELEBA_DEFAULT_ATTRS)}
    given = {"domains": "photo,graded"}
    assert StarGAN.options_from_data(str(tmp_path / "folders"), given) == given
    dataset = StarGAN.dataset(str(tmp_path / "celeba"), "train", 16, True, {"attrs": "Male,Young", "domains": ""})
    assert isinstance(dataset, CelebADataset) and dataset.attrs == ["Male", "Young"]


# -- training ----------------------------------------------------------------------------------


def test_the_objective_sets_the_critic_steps_whether_or_not_it_has_a_penalty():
    assert StarGAN(objective("wgan-gp"), domains="a,b", **TINY).critic_steps == 5
    assert StarGAN(objective("lsgan"), domains="a,b", **TINY).critic_steps == 1
    assert StarGAN(objective("began"), domains="a,b", **TINY).critic_steps == 1
    assert StarGAN(objective("r1"), domains="a,b", **TINY).critic_steps == 1  # a penalty no longer means 5
    wgan_gp = REGISTRY.objective("wgan-gp")
    assert StarGAN(lambda: wgan_gp(critic_steps=2), domains="a,b", **TINY).critic_steps == 2
    assert StarGAN(None, domains="a,b", **TINY).critic_steps == 1


def test_generator_steps_on_the_first_of_every_critic_steps_iterations():
    torch.manual_seed(0)
    model = attach_adam(StarGAN(objective("wgan-gp"), image_size=32, domains="a,b,c", **TINY))
    batch, stepped = labelled_batch(), []
    for iteration in range(1, 11):
        before = [p.detach().clone() for p in model.G.parameters()]
        critic_before = [p.detach().clone() for p in model.C.parameters()]
        logged = model.train_step(batch)
        moved = any(not torch.equal(a, p) for a, p in zip(before, model.G.parameters()))
        assert moved == ("G" in logged) == ("rec" in logged) == ("cls_fake" in logged)
        assert "D/penalty" in logged and "cls_real" in logged
        assert any(not torch.equal(a, p) for a, p in zip(critic_before, model.C.parameters()))
        if moved:
            stepped.append(iteration)
    assert stepped == [1, 6]


def test_iteration_counter_survives_training_state():
    torch.manual_seed(0)
    model = attach_adam(StarGAN(objective("wgan-gp"), image_size=32, domains="a,b,c", **TINY))
    for _ in range(3):
        model.train_step(labelled_batch())
    restored = attach_adam(StarGAN(objective("wgan-gp"), image_size=32, domains="a,b,c", **TINY))
    restored.load_training_state(model.training_state())
    assert restored.iteration == 3
    assert ["G" in restored.train_step(labelled_batch()) for _ in range(3)] == [False, False, True]


def trainer_config(tmp_path, data, **overrides) -> TrainConfig:
    settings = dict(model="stargan", loss="wgan-gp", data=str(data), out=str(tmp_path / "run"), steps=3,
                    image_size=32, batch_size=2, sample_every=10**6, checkpoint_every=10**6, plugins=(PLUGIN,),
                    model_options={k: str(v) for k, v in TINY.items()})
    settings.update(overrides)
    return TrainConfig(**settings)


def test_trainer_fills_domains_from_the_data_and_resumes_the_schedule(tmp_path):
    data = write_domains(tmp_path / "data", names=("photo", "graded"), count=3)
    Trainer(trainer_config(tmp_path, data)).train(progress=False)
    saved = json.loads((tmp_path / "run" / "latest" / "checkpoint.json").read_text())
    assert saved["model_options"]["domains"] == "graded,photo"
    assert saved["model_metadata"]["domains"] == ["graded", "photo"]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["model_options"]["domains"] == "graded,photo"
    resumed = Trainer(trainer_config(tmp_path, data, steps=6), resume=True)
    assert resumed.model.iteration == 3
    resumed.train(progress=False)
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [1, 2, 3, 4, 5, 6]
    assert [line["step"] for line in lines if "G" in line] == [1, 6]  # the sixth iteration, across the resume
    translator = Translator.load(tmp_path / "run", device="cpu", registry=REGISTRY)
    image = Image.new("RGB", (37, 29), (200, 120, 40))
    assert translator(image, to="photo").size == (37, 29)


def test_a_checkpoint_from_before_the_objective_owned_the_schedule_still_converts(tmp_path):
    """StarGAN checkpoints of earlier versions hold the retired ``n_critic`` option."""
    data = write_domains(tmp_path / "data", names=("photo", "graded"), count=3)
    Trainer(trainer_config(tmp_path, data, steps=1)).train(progress=False)
    description = tmp_path / "run" / "latest" / "checkpoint.json"
    saved = json.loads(description.read_text())
    description.write_text(json.dumps({**saved, "model_options": {**saved["model_options"], "n_critic": 5}}))
    translator = Translator.load(tmp_path / "run", device="cpu", registry=REGISTRY)
    assert translator(Image.new("RGB", (37, 29), (200, 120, 40)), to="photo").size == (37, 29)
    description.write_text(json.dumps({**saved, "model_options": {**saved["model_options"], "n_critics": 5}}))
    with pytest.raises(CheckpointError, match="no option 'n_critics'"):
        Translator.load(tmp_path / "run", device="cpu", registry=REGISTRY)


@pytest.mark.parametrize("loss, generator_steps", [("r1", [1, 2, 3, 4]), ("wgan-gp", [1])])
def test_a_four_step_run_updates_the_generator_with_any_objective(tmp_path, loss, generator_steps):
    """A penalty objective used to mean 5 critic steps per generator step: 4 steps never updated G."""
    data = write_domains(tmp_path / "data", names=("photo", "graded"), count=3)
    trainer = Trainer(trainer_config(tmp_path, data, loss=loss, steps=4))
    initial = [p.detach().clone() for p in trainer.model.G.parameters()]
    trainer.train(progress=False)
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines if "G" in line] == generator_steps
    assert all("D/penalty" in line for line in lines)
    assert any(not torch.equal(a, p) for a, p in zip(initial, trainer.model.G.parameters()))


@pytest.mark.slow
def test_stargan_learns_from_domain_folders(tmp_path):
    """Domains photo (the sample set's trainA) and graded (the same photos through its mapping), from folders.

    With translate's defaults the untrained generator is the identity (a global residual path), which
    scores about 22.9 dB here; 400 steps of batch 16 at tiny widths reach 24.1 dB (seed 0). The reference's
    training (``--preset reference``) started from a grey 10 dB and reached 13.9-15.6 dB (seeds 0-3),
    never the identity: nothing but the adversarial term tied ``G(x, c)`` to ``x``, and the label reached
    the generator only through the borders of its first convolution.
    """
    data = write_domains(tmp_path / "data", names=("photo", "graded"), count=72, size=64)
    load = lambda folder: torch.stack([to_tensor(load_rgb(p)) for p in list_images(SAMPLE_ROOT / folder)])  # noqa: E731
    inputs, targets = load("testA"), load("testB")
    options = {"conv_dim": "8", "critic_dim": "8", "repeat_num": "1", "critic_layers": "3", "lr": "0.0002"}
    trainer = Trainer(trainer_config(tmp_path, data, loss="lsgan", steps=400, batch_size=16, model_options=options))
    with torch.no_grad():
        untrained = psnr(trainer.model.eval().translate(inputs, to="graded"), targets)
    trainer.train(progress=False)
    model = Translator.load(tmp_path / "run", device="cpu", registry=REGISTRY).model
    assert model.targets() == ["graded", "photo"]
    with torch.no_grad():
        trained = psnr(model.translate(inputs, to="graded"), targets)
    assert trained > untrained + 0.5, f"trained {trained:.2f} dB vs untrained (the identity) {untrained:.2f} dB"


# -- command line ---------------------------------------------------------------------------


def test_cli_trains_on_celeba_attributes_then_converts_and_exports_per_target(tmp_path):
    from click.testing import CliRunner

    from translate.cli import main

    write_celeba(tmp_path / "celeba", size=(36, 44))
    run = tmp_path / "run"
    tiny = [arg for key, value in TINY.items() for arg in ("--model-opt", f"{key}={value}")]
    trained = CliRunner().invoke(main, ["train", "--model", "stargan", "--loss", "wgan-gp", "--data",
                                        str(tmp_path / "celeba"), "--attrs", "Black_Hair,Blond_Hair,Male",
                                        "--steps", "2", "--image-size", "32", "--batch-size", "2",
                                        "--out", str(run), *tiny])
    assert trained.exit_code == 0, trained.output
    saved = json.loads((run / "latest" / "checkpoint.json").read_text())
    assert saved["model_metadata"]["attrs"] == ["Black_Hair", "Blond_Hair", "Male"]
    assert saved["model_metadata"]["exclusive_groups"] == [["Black_Hair", "Blond_Hair"]]

    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.new("RGB", (45, 31), (90, 60, 30)).save(inputs / "face.png")
    converted = CliRunner().invoke(main, ["convert", str(run), str(inputs), str(tmp_path / "blond"),
                                          "--to", "Blond_Hair", "--device", "cpu"])
    assert converted.exit_code == 0, converted.output
    translator = Translator.load(run, device="cpu")
    expected = translator(Image.open(inputs / "face.png"), to="Blond_Hair")
    written = Image.open(tmp_path / "blond" / "face.png")
    assert written.size == (45, 31)
    assert (to_tensor(written) - to_tensor(expected)).abs().max() <= 2 / 255
    every = CliRunner().invoke(main, ["convert", str(run), str(inputs), str(tmp_path / "all"), "--every-target"])
    assert every.exit_code == 0, every.output
    assert sorted(p.parent.name for p in (tmp_path / "all").rglob("*.png")) == ["Black_Hair", "Blond_Hair", "Male"]
    wrong = CliRunner().invoke(main, ["convert", str(run), str(inputs), str(tmp_path / "x"), "--to", "Bald"])
    assert wrong.exit_code == 2 and "valid targets: Black_Hair, Blond_Hair, Male" in wrong.stderr

    exported = CliRunner().invoke(main, ["export", str(run), str(tmp_path / "blond.pt"), "--format", "torchscript",
                                         "--to", "Blond_Hair"])
    assert exported.exit_code == 0, exported.output
    images = torch.rand(1, 3, 37, 50) * 2 - 1
    with torch.no_grad():
        reference = translator.model.translate(images, to="Blond_Hair")
    assert torch.allclose(torch.jit.load(str(tmp_path / "blond.pt"))(images), reference, atol=1e-5)
