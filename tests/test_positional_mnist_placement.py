"""Cropping, stretching and placing digits on the 64x64 canvas."""

import numpy as np
import pytest

from positional_mnist.placement import (INK_THRESHOLD, draw_positions, ink_boxes, render_images,
                                        stretch_digits, stretched_size)


def block_digit(width, height, value=255, left=4, top=3):
    """A 28x28 digit that is a solid block of `value`."""
    digit = np.zeros((28, 28), dtype=np.uint8)
    digit[top:top + height, left:left + width] = value
    return digit


def test_ink_boxes_exact():
    images = np.zeros((3, 28, 28), dtype=np.uint8)
    images[0, 5:9, 2:4] = 1
    images[1, 0, 0] = 200
    images[2, 27, 27] = 9
    images[2, 10, 20] = 9
    assert ink_boxes(images).tolist() == [[2, 5, 2, 4], [0, 0, 1, 1], [20, 10, 8, 18]]


def test_ink_boxes_rejects_empty_image():
    with pytest.raises(ValueError, match="image 1 has no non-zero pixel"):
        ink_boxes(np.stack([block_digit(3, 3), np.zeros((28, 28), dtype=np.uint8)]))


def test_case3_positions_reach_both_edges():
    rng = np.random.default_rng(0)
    widths = np.full(2000, 10)
    x, y = draw_positions(rng, widths, widths)

    assert x.min() == 0
    assert (x + widths).max() == 64
    assert y.min() == 0
    assert (y + widths).max() == 64
    # 55 positions and 2,000 draws: every position occurs (a miss has probability < 1e-14).
    assert set(x.tolist()) == set(range(55))
    assert set(y.tolist()) == set(range(55))


def test_case3_rendered_digits_reach_both_edges():
    digits = np.stack([block_digit(10, 10)] * 2000)
    images, boxes = render_images(np.random.default_rng(1), digits, ink_boxes(digits), 1.0, 1.0)

    assert (boxes[:, 2:] == 10).all()
    assert boxes[:, 0].min() == 0
    assert (boxes[:, 0] + boxes[:, 2]).max() == 64
    assert boxes[:, 1].min() == 0
    assert (boxes[:, 1] + boxes[:, 3]).max() == 64
    assert images[boxes[:, 0] == 0][:, :, 0].any(axis=1).all()
    assert images[boxes[:, 0] + 10 == 64][:, :, 63].any(axis=1).all()


@pytest.mark.parametrize("factors, expected_size", [
    ((0.8, 0.8), (16, 8)),
    ((1.0, 1.0), (20, 10)),
    ((0.8, 1.0), (16, 10)),
    ((0.5, 0.3), (10, 3)),
    ((2.0, 1.5), (40, 15)),
])
def test_stretch_gives_rounded_size(factors, expected_size):
    digits = block_digit(20, 10)[np.newaxis]
    stretched, boxes = stretch_digits(digits, ink_boxes(digits), np.array([factors]))

    width, height = expected_size
    assert boxes.tolist() == [[0, 0, width, height]]
    assert (stretched[0, :height, :width] == 255).all()
    assert stretched[0].sum() == 255 * width * height


def test_stretched_size_rounds_and_keeps_one_pixel():
    assert stretched_size(20, 10, 0.8, 0.86) == (16, 9)
    assert stretched_size(3, 18, 0.1, 1.0) == (1, 18)


def test_stretch_by_one_keeps_thresholded_pixels():
    rng = np.random.default_rng(2)
    digit = np.zeros((28, 28), dtype=np.uint8)
    digit[6:22, 9:17] = rng.integers(0, 256, size=(16, 8))
    digit[6, 9] = digit[21, 16] = 255  # ink in the corners keeps the crop 8x16
    digits = digit[np.newaxis]

    stretched, boxes = stretch_digits(digits, ink_boxes(digits), np.array([[1.0, 1.0]]))
    expected = np.where(digit[6:22, 9:17] >= INK_THRESHOLD, digit[6:22, 9:17], 0)
    assert boxes.tolist() == [[0, 0, 8, 16]]
    np.testing.assert_array_equal(stretched[0, :16, :8], expected)


def test_threshold_removes_faint_border():
    digit = block_digit(10, 10)
    digit[3:13, 14] = INK_THRESHOLD - 1  # a faint column right of the block
    digits = digit[np.newaxis]
    stretched, boxes = stretch_digits(digits, ink_boxes(digits), np.array([[1.0, 1.0]]))
    assert boxes.tolist() == [[0, 0, 10, 10]]
    assert stretched[0].max() == 255
    assert set(np.unique(stretched[0]).tolist()) == {0, 255}


def test_stretch_rejects_vanishing_digit():
    digit = np.zeros((28, 28), dtype=np.uint8)
    digit[0, 0] = 40
    digit[27, 27] = 40
    digits = digit[np.newaxis]
    message = "digit 0 has no pixel >= 13 left after resizing its 28x28"
    with pytest.raises(ValueError, match=message):
        stretch_digits(digits, ink_boxes(digits), np.array([[0.04, 0.04]]))


def test_render_box_is_ink_box():
    rng = np.random.default_rng(4)
    digits = rng.integers(0, 256, size=(300, 28, 28)).astype(np.uint8)
    digits[:, :4] = 0
    digits[:, :, 25:] = 0
    images, boxes = render_images(rng, digits, ink_boxes(digits), 0.8, 1.0)

    np.testing.assert_array_equal(ink_boxes(images), boxes)
    assert images.dtype == np.uint8
    assert images.shape == (300, 64, 64)
    assert ((images == 0) | (images >= INK_THRESHOLD)).all()
