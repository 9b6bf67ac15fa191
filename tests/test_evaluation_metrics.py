"""Exact values of the evaluation metrics on hand-made images, boxes and Gaussians."""

import math

import numpy as np
import pytest

from evaluation.metrics import (INK_THRESHOLD, box_iou, feature_statistics, frechet_distance,
                                ink_boxes, ink_inside)


def blank_images(count=1):
    return np.zeros((count, 64, 64), dtype=np.float32)


def test_ink_boxes_span_extreme_pixels():
    images = blank_images()
    images[0, 10, 20] = 1.0
    images[0, 15, 30] = 0.5
    assert ink_boxes(images).tolist() == [[20, 10, 11, 6]]


def test_ink_boxes_threshold_is_exclusive():
    images = blank_images()
    images[0, 5, 5] = 0.06
    images[0, 40, 40] = INK_THRESHOLD  # not above the threshold, so not ink
    assert ink_boxes(images).tolist() == [[5, 5, 1, 1]]


def test_ink_boxes_faintest_data_set_ink():
    # The data set's faintest ink, 13/255, is ink; 12/255 never occurs in it.
    images = blank_images()
    images[0, 0, 0] = np.float32(13 / 255)
    images[0, 63, 63] = np.float32(13 / 255)
    assert ink_boxes(images).tolist() == [[0, 0, 64, 64]]


def test_ink_boxes_blank_image_is_empty():
    assert ink_boxes(blank_images(2)).tolist() == [[0, 0, 0, 0], [0, 0, 0, 0]]


def test_ink_boxes_accept_channel_axis():
    images = blank_images()[..., None]
    images[0, 63, 0, 0] = 1.0
    assert ink_boxes(images).tolist() == [[0, 63, 1, 1]]


@pytest.mark.parametrize("box, other, expected", [
    ((5, 6, 7, 8), (5, 6, 7, 8), 1.0),
    ((0, 0, 10, 10), (5, 5, 10, 10), 25 / 175),
    ((0, 0, 8, 8), (2, 2, 4, 4), 16 / 64),
    ((0, 0, 4, 4), (4, 0, 4, 4), 0.0),  # adjacent columns share no pixel
    ((0, 0, 4, 4), (10, 10, 4, 4), 0.0),
    ((0, 0, 0, 0), (0, 0, 4, 4), 0.0),  # the box of an image without ink
    ((0, 0, 0, 0), (0, 0, 0, 0), 0.0),
    ((0, 0, 64, 64), (16, 16, 32, 32), 1024 / 4096),
])
def test_box_iou_hand_cases(box, other, expected):
    assert box_iou([box], [other])[0] == pytest.approx(expected, abs=1e-12)


def test_box_iou_is_symmetric_and_batched():
    boxes = np.array([[0, 0, 10, 10], [3, 4, 20, 5]])
    others = np.array([[5, 5, 10, 10], [0, 0, 64, 64]])
    np.testing.assert_allclose(box_iou(boxes, others), [25 / 175, 100 / 4096])
    np.testing.assert_allclose(box_iou(others, boxes), box_iou(boxes, others))


def test_box_iou_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        box_iou(np.zeros((2, 4)), np.zeros((3, 4)))


def test_ink_inside_splits_mass():
    images = blank_images()
    images[0, 10, 10] = 0.6  # inside box (8, 8, 4, 4)
    images[0, 30, 30] = 0.2  # outside
    assert ink_inside(images, [[8, 8, 4, 4]])[0] == pytest.approx(0.75, abs=1e-7)


def test_ink_inside_box_edges_are_inclusive():
    # Box (8, 8, 4, 4) covers columns and rows 8..11; 12 is outside.
    images = blank_images(2)
    images[0, 11, 11] = 1.0
    images[1, 12, 8] = 1.0
    np.testing.assert_array_equal(ink_inside(images, [[8, 8, 4, 4], [8, 8, 4, 4]]), [1.0, 0.0])


def test_ink_inside_ignores_pixels_below_threshold():
    images = blank_images()
    images[0, 10, 10] = 0.5
    images[0, 50, 50] = 0.04  # faint background outside the box
    assert ink_inside(images, [[8, 8, 4, 4]])[0] == 1.0


def test_ink_inside_blank_image_is_zero():
    assert ink_inside(blank_images(), [[0, 0, 64, 64]])[0] == 0.0


def test_ink_inside_full_noise_is_box_share():
    images = np.full((1, 64, 64), 0.5, dtype=np.float32)
    assert ink_inside(images, [[0, 0, 16, 32]])[0] == pytest.approx(512 / 4096, abs=1e-12)


def test_frechet_distance_set_against_itself():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(500, 128)) * rng.uniform(0.1, 10.0, size=128)
    statistics = feature_statistics(features)
    distance = frechet_distance(*statistics, *statistics)
    assert 0.0 <= distance <= 1e-6


def test_frechet_distance_singular_covariance_against_itself():
    # Fewer samples than dimensions and dead units, as ReLU features give.
    rng = np.random.default_rng(1)
    features = np.maximum(rng.normal(size=(50, 128)), 0.0)
    features[:, :20] = 0.0
    statistics = feature_statistics(features)
    distance = frechet_distance(*statistics, *statistics)
    assert 0.0 <= distance <= 1e-6


def test_frechet_distance_diagonal_case():
    # |(3, 4)|^2 + (1 - 2)^2 + (2 - 3)^2, with standard deviations 1, 2 and 2, 3.
    distance = frechet_distance([0, 0], np.diag([1.0, 4.0]), [3, 4], np.diag([4.0, 9.0]))
    assert distance == pytest.approx(27.0, abs=1e-12)


def test_frechet_distance_non_commuting_case():
    # For 2x2 matrices tr(M^(1/2)) = sqrt(tr M + 2 sqrt(det M)). With A, B below,
    # tr(A B) = 10 and det(A B) = 3 * 4, and tr A + tr B = 9.
    covariance_a = np.array([[2.0, 1.0], [1.0, 2.0]])
    covariance_b = np.array([[1.0, 0.0], [0.0, 4.0]])
    expected = 9.0 - 2.0 * math.sqrt(10.0 + 2.0 * math.sqrt(12.0))
    distance = frechet_distance([1, 1], covariance_a, [1, 1], covariance_b)
    assert distance == pytest.approx(expected, abs=1e-12)
    swapped = frechet_distance([1, 1], covariance_b, [1, 1], covariance_a)
    assert swapped == pytest.approx(expected, abs=1e-12)


def test_feature_statistics_rejects_one_sample():
    with pytest.raises(ValueError, match="n >= 2"):
        feature_statistics(np.zeros((1, 8)))
