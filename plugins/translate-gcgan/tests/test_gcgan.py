"""GcGAN: the geometry, the one-way direction, the hook and translate's model check."""

from __future__ import annotations

import pytest
import torch

from translate.options import OptionError
from translate_gcgan import GcGAN, translate_models

# A 2x2 image whose pixels are numbered 0 1 / 2 3 in every channel.
NUMBERED = torch.arange(4.0).view(1, 1, 2, 2).expand(1, 3, 2, 2)


def tiny(**options) -> GcGAN:
    return GcGAN(None, image_size=32, ngf=8, ndf=8, **options)


def test_rot_turns_a_quarter_counter_clockwise_and_back():
    model = tiny(geometry="rot")
    assert model.turn(NUMBERED)[0, 0].tolist() == [[1.0, 3.0], [0.0, 2.0]]
    assert torch.equal(model.turn_back(model.turn(NUMBERED)), NUMBERED)


def test_vflip_flips_top_and_bottom_and_back():
    model = tiny(geometry="vflip")
    assert model.turn(NUMBERED)[0, 0].tolist() == [[2.0, 3.0], [0.0, 1.0]]
    assert torch.equal(model.turn_back(model.turn(NUMBERED)), NUMBERED)


def test_a_to_b_only():
    model = tiny().eval()
    images = torch.rand(1, 3, 32, 40) * 2 - 1
    with torch.no_grad():
        assert torch.equal(model.translate(images), model.G(images))
        assert torch.equal(model.translate(images, direction="AtoB"), model.G(images))
    expected = ("model 'gcgan' translates A to B only (one generator), got direction 'BtoA'; "
                "to translate B to A, train a model with trainA and trainB swapped")
    with pytest.raises(OptionError) as refused:
        model.translate(images, direction="BtoA")
    assert str(refused.value) == expected
    with pytest.raises(OptionError, match="translates A to B only"):
        model.inference_network(direction="BtoA")
    assert model.metadata() == {"input": "A", "output": "B"}


@pytest.mark.parametrize("options, option", [({"geometry": "turn"}, "'geometry'"), ({"pool_size": -1}, "'pool_size'"),
                                             ({"lambda_gc": -1.0}, "'lambda_gc'")])
def test_bad_options_name_the_option(options, option):
    with pytest.raises(OptionError, match=option):
        tiny(**options)


def test_the_hook_provides_the_model():
    assert translate_models() == [GcGAN]


def test_is_installed_and_keeps_the_model_contract(check_model):
    report = check_model("gcgan")  # by name: through the entry point, as users' runs find it
    assert "trained and resumed with lsgan (patch critic)" in report.checked
    assert "trained and resumed with began (energy critic)" in report.checked
