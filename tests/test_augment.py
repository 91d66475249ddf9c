"""Batch augmentation: shapes, determinism from the generator, identity at zero strength, and glyph
mass kept plausible (a distortion moves ink, it does not create or delete much of it)."""

import math

import pytest
import torch

from letterlab.run_config import AugmentConfig
from letterlab.training.augment import STYLES, affine_theta, augment_batch, gaussian_blur, ink_box, recrop, restyle, stretch, stroke_width, warp

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


FONT_LIKE = {"aspect": 0.3, "crop": 0.2, "blur": 1.5}


@pytest.mark.parametrize("name", sorted(FONT_LIKE))
def test_font_like_distortions_keep_shape_and_range_and_change_the_batch(name):
    x = _glyphs()
    out = augment_batch(x, AugmentConfig(**{name: FONT_LIKE[name]}), torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    changed = (out - x).abs().amax((1, 2, 3)) > 0.05
    assert changed.float().mean() > 0.5  # most images (a blur's sigma, uniform from 0, can be tiny)


def test_older_configs_draw_and_give_what_they_did_before_the_font_like_distortions():
    """Two configs that differ only in whether a font-like distortion is on share the older draws:
    the older config's generator ends exactly where 6 + 32 numbers per image leave it."""
    x, n = _glyphs(), 16
    old, reference = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    augment_batch(x, GLYPH_CONFIG, old)
    torch.rand(n, 6, generator=reference)
    torch.rand(n, 2, 4, 4, generator=reference)
    assert torch.equal(old.get_state(), reference.get_state())
    torch.rand(n, 6, generator=reference)  # the font-like distortions' 6 per image come after
    new = torch.Generator().manual_seed(5)
    augment_batch(x, AugmentConfig(**{**vars(GLYPH_CONFIG), "blur": 1.0}), new)
    assert torch.equal(new.get_state(), reference.get_state())


def test_zero_stretch_crop_and_blur_are_the_identity():
    x, n = _glyphs(4), 4
    theta = affine_theta(torch.zeros(n), torch.ones(n), torch.zeros(n), torch.zeros(n, 2))
    assert torch.equal(stretch(theta, torch.zeros(n)), theta)
    cropped, window = recrop(theta, ink_box(x), torch.zeros(n, 2, 2))
    assert torch.equal(cropped, theta)
    assert torch.allclose(warp(x, cropped, window=window), x, atol=1e-5)
    assert torch.allclose(gaussian_blur(x, torch.zeros(n), 3), x, atol=1e-6)


def test_stretch_doubles_the_width_and_halves_the_height():
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 10:18, 12:16] = 1.0  # 8 rows high, 4 columns wide, centred
    theta = affine_theta(torch.zeros(1), torch.ones(1), torch.zeros(1), torch.zeros(1, 2))
    out = warp(x, stretch(theta, torch.tensor([math.log(4.0)])))  # ratio 4: width x2, height /2
    rows, cols = (out[0, 0] > 0.5).any(1).sum(), (out[0, 0] > 0.5).any(0).sum()
    assert (rows, cols) == (4, 8)


def test_ink_box_finds_the_glyph_and_the_whole_frame_when_empty():
    x = torch.zeros(2, 1, 28, 28)
    x[0, 0, 7:21, 14:21] = 0.5  # rows 7..20, columns 14..20
    box = ink_box(x)
    edges = lambda first, last: [first * 2 / 28 - 1, (last + 1) * 2 / 28 - 1]
    assert torch.allclose(box[0], torch.tensor([edges(14, 20), edges(7, 20)]))
    assert torch.allclose(box[1], torch.tensor([[-1.0, 1.0], [-1.0, 1.0]]))


def test_crop_inwards_enlarges_and_cuts_outwards_shrinks_into_the_box():
    x = torch.zeros(2, 1, 28, 28)
    x[:, 0, 4:24, 4:24] = 1.0
    x[:, 0, 4:24, 4] = 0.5  # a marked left column
    theta = affine_theta(torch.zeros(2), torch.ones(2), torch.zeros(2), torch.zeros(2, 2))
    moves = torch.tensor([[[-0.25, 0.0], [0.0, 0.0]], [[0.25, 0.0], [0.0, 0.0]]])  # left edge in, then out, by 5 px
    cropped, window = recrop(theta, ink_box(x), moves)
    out = warp(x, cropped, window=window)
    # the marked column cut off, the rest stretched over the box (its last column half-read from outside: bilinear)
    assert torch.allclose(out[0, 0, 4:24, 4:23], torch.ones(20, 19), atol=1e-5) and out[0, 0, 4:24, 23].min() > 0.8
    assert out[0, 0, :, :4].abs().max() < 1e-6 and out[0, 0, :, 24:].abs().max() < 1e-6  # still the same box
    ink = (out[1, 0] > 0.25).any(0).nonzero().flatten()  # 25 columns squeezed into the box's 20: a blank left margin
    assert ink.min() >= 7 and ink.max() == 23


def test_blur_keeps_the_ink_and_spreads_it():
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 14, 14] = 1.0
    out = gaussian_blur(x, torch.tensor([1.0]), 3)
    assert out.sum().item() == pytest.approx(1.0, abs=1e-5)  # a normalised kernel, far from the border
    offsets = torch.arange(-3, 4, dtype=torch.float32)
    g = torch.exp(-offsets**2 / 2)
    g = g / g.sum()
    assert torch.allclose(out[0, 0, 11:18, 11:18], g[:, None] * g[None, :], atol=1e-6)


def _restyled(style, a=0.0, b=0.0, x=None):
    x = _glyphs(2) if x is None else x
    n = len(x)
    return x, restyle(x, torch.full((n,), STYLES.index(style)), torch.full((n,), a), torch.full((n,), b))


def test_outline_is_the_glyphs_edge_band():
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 8:20, 8:20] = 1.0  # a 12x12 square
    _, out = _restyled("outline", x=x)
    ring = torch.zeros(28, 28)
    ring[7:21, 7:21] = 1.0
    ring[9:19, 9:19] = 0.0  # one pixel either side of the square's edge
    assert torch.equal(out[0, 0], ring)


def test_outline_closes_at_the_frame():
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, :, :10] = 1.0  # a bar filling the left of the frame, as notMNIST's glyphs fill it
    _, out = _restyled("outline", x=x)
    assert torch.equal(out[0, 0, :, 0], torch.ones(28)) and torch.equal(out[0, 0, 0, :11], torch.ones(11))
    assert out[0, 0, 1:-1, 1:9].abs().max() == 0  # hollow inside


def test_inverse_is_a_dark_glyph_on_a_light_square():
    x, out = _restyled("inverse")
    assert torch.equal(out, 1 - x)


@pytest.mark.parametrize("b, axis", [(0.0, 1), (0.5, 0)])  # angle 0: stripes across the columns; pi / 2: across the rows
def test_stripes_keep_half_of_each_period(b, axis):
    x = torch.ones(1, 1, 28, 28)
    _, out = _restyled("stripes", a=2 / 3, b=b, x=x)  # period 4 px
    line = out[0, 0, 0, :] if axis == 1 else out[0, 0, :, 0]
    assert torch.equal(line, torch.tensor([1.0, 1.0, 0.0, 0.0] * 7))
    assert torch.equal(out[0, 0], out[0, 0, :1, :].expand(28, 28) if axis == 1 else out[0, 0, :, :1].expand(28, 28))


@pytest.mark.parametrize("a, b", [(0.0, 0.99), (0.0, 0.7), (0.5, 0.9), (0.9, 0.3)])
def test_stripes_cover_the_whole_image_at_any_angle(a, b):
    x = torch.ones(1, 1, 28, 28)
    _, out = _restyled("stripes", a=a, b=b, x=x)
    for part in (out[0, 0, :, :14], out[0, 0, :, 14:], out[0, 0, :14], out[0, 0, 14:]):  # each half of the image
        assert 0.4 < part.mean() < 0.6


def test_shadow_adds_a_grey_copy_moved_to_a_diagonal():
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 10:14, 10:14] = 1.0
    _, out = _restyled("shadow", a=0.5, b=0.0, x=x)  # 1 + floor(1.5) = 2 px, direction (+1, +1): right and down
    moved = torch.zeros(28, 28)
    moved[12:16, 12:16] = 0.55
    assert torch.allclose(out[0, 0], torch.maximum(x[0, 0], moved), atol=1e-5)


def test_each_image_gets_its_own_style():
    x = _glyphs(5)
    kind, a, b = torch.tensor([-1, 0, 1, 2, 3]), torch.linspace(0.1, 0.9, 5), torch.linspace(0.9, 0.1, 5)
    out = restyle(x, kind, a, b)
    assert torch.equal(out[0], x[0])
    for i in range(1, 5):
        alone = restyle(x[i:i + 1], kind[i:i + 1], a[i:i + 1], b[i:i + 1])
        assert torch.allclose(out[i], alone[0], atol=1e-6) and not torch.equal(out[i], x[i])


def test_style_draws_after_the_others_and_leaves_the_other_images_as_they_were():
    """From the same seed, a config with `style` gives exactly the images the config without it gives,
    except the restyled ones (about `style` of them)."""
    x = _glyphs(200)
    font_like = {**vars(GLYPH_CONFIG), "aspect": 0.2, "crop": 0.1, "blur": 0.5}
    plain = augment_batch(x, AugmentConfig(**font_like), torch.Generator().manual_seed(5))
    styled = augment_batch(x, AugmentConfig(**{**font_like, "style": 0.3}), torch.Generator().manual_seed(5))
    same = (plain == styled).flatten(1).all(1).float().mean().item()
    assert 0.6 < same < 0.8


def test_style_alone_restyles_about_its_share():
    x = _glyphs(400)
    out = augment_batch(x, AugmentConfig(style=0.25), torch.Generator().manual_seed(0))
    changed = ((out - x).abs().flatten(1).amax(1) > 1e-4).float().mean().item()  # the rest only resampled in place
    assert 0.17 < changed < 0.33  # a quarter, give or take the draw


@pytest.mark.parametrize("augment, message", [({"aspect": 1.5}, "aspect <= 1"), ({"crop": 0.5}, "crop < 0.5"),
                                              ({"blur": 5}, "blur <= 4"), ({"blur": -1}, "must be >= 0"),
                                              ({"style": 1.5}, "style <= 1")])
def test_bad_font_like_settings_are_refused(augment, message):
    from letterlab.errors import ConfigError
    from letterlab.run_config import run_from_dict

    with pytest.raises(ConfigError, match=message):
        run_from_dict({"train": {"augment": augment}})
