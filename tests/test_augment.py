"""Batch augmentation: shapes, determinism from the generator, identity at zero strength, and glyph
mass kept plausible (a distortion moves ink, it does not create or delete much of it)."""

import math

import pytest
import torch

from letterlab.run_config import AugmentConfig
from letterlab.training.augment import affine_theta, augment_batch, stroke_width, warp

GLYPH_CONFIG = AugmentConfig(rotate=8, scale=0.1, shear=8, translate=2, stroke=0.3, elastic=1.0)


def _glyphs(n=16):
    """Blocky letter-like shapes (a bar and a stem) well inside the 28x28 frame."""
    x = torch.zeros(n, 1, 28, 28)
    for i in range(n):
        x[i, 0, 6:9, 6 + i % 4:20] = 1.0
        x[i, 0, 6:22, 8 + i % 3:11 + i % 3] = 1.0
    return x


def test_off_returns_the_batch_itself_and_draws_nothing():
    x, generator = _glyphs(), torch.Generator().manual_seed(0)
    before = generator.get_state()
    assert augment_batch(x, AugmentConfig(), generator) is x
    assert torch.equal(generator.get_state(), before)


def test_shape_range_and_determinism():
    x = _glyphs()
    a = augment_batch(x, GLYPH_CONFIG, torch.Generator().manual_seed(3))
    b = augment_batch(x, GLYPH_CONFIG, torch.Generator().manual_seed(3))
    c = augment_batch(x, GLYPH_CONFIG, torch.Generator().manual_seed(4))
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a, x)


def test_glyph_mass_stays_plausible():
    x = _glyphs()
    out = augment_batch(x, GLYPH_CONFIG, torch.Generator().manual_seed(0))
    ratio = out.sum((1, 2, 3)) / x.sum((1, 2, 3))
    # scale 1.1 squared is 1.21 times the area; a full dilation of 3-pixel strokes by 0.3 adds ~40%
    assert ratio.min() > 0.5 and ratio.max() < 2.0


def test_identity_theta_returns_the_image():
    x, n = _glyphs(4), 4
    theta = affine_theta(torch.zeros(n), torch.ones(n), torch.zeros(n), torch.zeros(n, 2))
    assert torch.allclose(warp(x, theta), x, atol=1e-5)


def test_whole_pixel_shift_moves_the_glyph():
    x, n = _glyphs(2), 2
    theta = affine_theta(torch.zeros(n), torch.ones(n), torch.zeros(n), torch.tensor([[2.0, 0.0], [0.0, -1.0]]))
    moved = warp(x, theta)
    assert torch.allclose(moved[0, 0, :, 2:], x[0, 0, :, :-2], atol=1e-5)  # 2 pixels right
    assert torch.allclose(moved[1, 0, :-1, :], x[1, 0, 1:, :], atol=1e-5)  # 1 pixel up


def test_quarter_turn_is_rot90():
    """On a 28x28 grid a quarter turn about the centre maps pixel centres onto pixel centres."""
    x = torch.rand(2, 1, 28, 28)
    turned = warp(x, affine_theta(torch.full((2,), math.pi / 2), torch.ones(2), torch.zeros(2), torch.zeros(2, 2)))
    assert torch.allclose(turned, torch.rot90(x, 1, (2, 3)), atol=1e-5)


@pytest.mark.parametrize("strength, bigger", [(1.0, True), (-1.0, False)])
def test_stroke_width_full_strength_is_dilation_or_erosion(strength, bigger):
    x = _glyphs(1)
    out = stroke_width(x, torch.tensor([strength]))
    expected = torch.nn.functional.max_pool2d(x, 3, 1, 1) if bigger else -torch.nn.functional.max_pool2d(-x, 3, 1, 1)
    assert torch.equal(out, expected)
    assert (out.sum() > x.sum()) == bigger
