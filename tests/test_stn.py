"""Tests of the spatial transformer: sampler, box thetas and Keras layers.

Expected values are computed independently of stn/: by hand, with numpy, or
with tf.image.crop_and_resize. Coordinates follow stn.sampler: normalised
-1/+1 at the outer edges of a map, pixel centre i of n at (2 i + 1) / n - 1,
zeros outside the input. Boxes are (x, y, w, h) in pixels of the 64x64
canvas. Scaled by 16 / 64, they are in pixels of a 16x16 feature map.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from stn import (BoxToTheta, SpatialTransformer, affine_grid, bilinear_sample, crop_theta,
                 paste_theta, separable_transform)

MAP_SIZE = 16
CANVAS = 64
MAP_SCALE = MAP_SIZE / CANVAS

IDENTITY = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]


def gather_transform(images, theta, output_size):
    return bilinear_sample(images, affine_grid(theta, output_size))


# Both samplers must satisfy every geometric promise for box thetas.
SAMPLERS = {"gather": gather_transform, "separable": separable_transform}


def sample(sampler, images, theta, output_size):
    images = tf.convert_to_tensor(images, tf.float32)
    theta = tf.convert_to_tensor(theta, tf.float32)
    return SAMPLERS[sampler](images, theta, output_size).numpy()


def ramp(height, width, channels=1):
    """Return a map (1, H, W, C) that is linear in x and y and nowhere zero."""
    rows, columns = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    maps = [0.1 + 0.037 * columns + 0.081 * rows + 0.2 * channel for channel in range(channels)]
    return np.stack(maps, axis=-1)[None].astype(np.float32)


def random_maps(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def local_samples(start, size, count=MAP_SIZE):
    """Return the pixel coordinates at which a crop samples a map, for one axis.

    The box spans [start, start + size) in map units with pixel edges at
    integers. The returned coordinates put pixel centres at integers: output
    pixel i samples the centre of the i-th of `count` equal parts of the box.
    """
    return start + (np.arange(count) + 0.5) * size / count - 0.5


# Identity. The TF1 original failed this because its sampler mapped -1/+1 to
# pixel coordinates 0 and W, not to the coordinates its grid meant.

@pytest.mark.parametrize("sampler", SAMPLERS)
def test_identity_returns_4x4_ramp(sampler):
    images = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    output = sample(sampler, images, [IDENTITY], (4, 4))
    np.testing.assert_allclose(output, images, atol=1e-5)


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("shape", [(2, 5, 7, 3), (3, 16, 16, 64), (1, 1, 9, 2), (2, 64, 64, 1)])
def test_identity_returns_input(sampler, shape):
    images = random_maps(shape)
    theta = [IDENTITY] * shape[0]
    output = sample(sampler, images, theta, shape[1:3])
    assert output.shape == shape
    np.testing.assert_allclose(output, images, atol=1e-5)


@pytest.mark.parametrize("axis_aligned", [False, True])
def test_layer_identity_returns_input(axis_aligned):
    images = random_maps((2, 5, 7, 3))
    theta = np.array([IDENTITY] * 2, np.float32)
    layer = SpatialTransformer((5, 7), axis_aligned=axis_aligned)
    np.testing.assert_allclose(layer([images, theta]).numpy(), images, atol=1e-5)


# Grid and sampler conventions, checked by hand.

def test_affine_grid_is_pixel_centres():
    grid = affine_grid(tf.constant([IDENTITY]), (2, 4)).numpy()
    assert grid.shape == (1, 2, 4, 2)
    np.testing.assert_allclose(grid[0, 0, :, 0], [-0.75, -0.25, 0.25, 0.75], atol=1e-7)
    np.testing.assert_allclose(grid[0, :, 0, 1], [-0.5, 0.5], atol=1e-7)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_shift_by_half_pixel_interpolates(sampler):
    # Half a pixel of a 4-wide map is 0.25 in normalised units. Each output is
    # the mean of two neighbours, and the last one averages the last pixel
    # with the zero outside the map.
    images = np.array([1.0, 2.0, 4.0, 8.0], np.float32).reshape(1, 1, 4, 1)
    theta = [[[1.0, 0.0, 0.25], [0.0, 1.0, 0.0]]]
    output = sample(sampler, images, theta, (1, 4))
    np.testing.assert_allclose(output.ravel(), [1.5, 3.0, 6.0, 4.0], atol=1e-6)


# Box thetas: the formulas, in map units.

BOXES = [(0, 0, 64, 64), (16, 16, 32, 32), (10, 22, 20, 30), (0, 0, 20, 20),
         (40, 40, 24, 24), (44, 3, 20, 18), (7, 0, 1, 64)]


def test_crop_theta_formula():
    for box in BOXES:
        x, y, w, h = np.array(box) * MAP_SCALE
        expected = [[w / 16, 0, (x + w / 2 - 8) / 8], [0, h / 16, (y + h / 2 - 8) / 8]]
        np.testing.assert_allclose(crop_theta([box]).numpy()[0], expected, atol=1e-6,
                                   err_msg=f"box {box}")


def test_paste_theta_formula():
    for box in BOXES:
        x, y, w, h = np.array(box) * MAP_SCALE
        expected = [[16 / w, 0, (16 - 2 * x) / w - 1], [0, 16 / h, (16 - 2 * y) / h - 1]]
        np.testing.assert_allclose(paste_theta([box]).numpy()[0], expected, atol=1e-5,
                                   err_msg=f"box {box}")


def test_paste_theta_inverts_crop_theta():
    boxes = np.array(BOXES, np.float32)
    last_row = np.broadcast_to([0.0, 0.0, 1.0], (len(BOXES), 1, 3))
    crop = np.concatenate([crop_theta(boxes).numpy(), last_row], axis=1)
    paste = np.concatenate([paste_theta(boxes).numpy(), last_row], axis=1)
    np.testing.assert_allclose(crop @ paste, np.broadcast_to(np.eye(3), crop.shape), atol=1e-5)


def test_box_thetas_accept_int_boxes():
    np.testing.assert_allclose(crop_theta(tf.constant([[0, 0, 64, 64]])).numpy(), [IDENTITY])
    np.testing.assert_allclose(paste_theta(np.array([[0, 0, 64, 64]])).numpy(), [IDENTITY])


# Crop (the discriminator's local pathway).

@pytest.mark.parametrize("sampler", SAMPLERS)
def test_crop_full_canvas_returns_map(sampler):
    images = random_maps((2, MAP_SIZE, MAP_SIZE, 64))
    theta = crop_theta(np.array([[0, 0, 64, 64]] * 2, np.float32))
    output = sample(sampler, images, theta, (MAP_SIZE, MAP_SIZE))
    np.testing.assert_allclose(output, images, atol=1e-5)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_crop_centre_matches_crop_and_resize(sampler):
    # Box (16, 16, 32, 32) is map pixels 4..11, and the crop samples them at
    # 3.75, 4.25, ..., 11.25. crop_and_resize samples box [y1, x1, y2, x2] at
    # y1 (H - 1) + i (y2 - y1) (H - 1) / 15, which gives the same points for
    # the box divided by the canvas size: [0.25, 0.25, 0.75, 0.75].
    images = random_maps((2, MAP_SIZE, MAP_SIZE, 3))
    theta = crop_theta(np.array([[16, 16, 32, 32]] * 2, np.float32))
    output = sample(sampler, images, theta, (MAP_SIZE, MAP_SIZE))

    np.testing.assert_allclose(local_samples(4, 8), 3.75 + 0.5 * np.arange(16))
    expected = tf.image.crop_and_resize(images, [[0.25, 0.25, 0.75, 0.75]] * 2, [0, 1],
                                        (MAP_SIZE, MAP_SIZE)).numpy()
    np.testing.assert_allclose(output, expected, atol=1e-5)


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("box", [(8, 20, 40, 24), (4, 4, 56, 56), (13, 30, 17, 9)])
def test_crop_matches_crop_and_resize(sampler, box):
    # The crop's first and last sample points, divided by H - 1, are the
    # crop_and_resize box that samples the same points. These boxes keep all
    # samples between pixel centres, where crop_and_resize does not
    # extrapolate.
    x, y, w, h = np.array(box) * MAP_SCALE
    columns, rows = local_samples(x, w), local_samples(y, h)
    assert columns.min() >= 0
    assert rows.min() >= 0
    assert columns.max() <= MAP_SIZE - 1
    assert rows.max() <= MAP_SIZE - 1
    normalised_box = np.array([rows[0], columns[0], rows[-1], columns[-1]]) / (MAP_SIZE - 1)

    images = random_maps((1, MAP_SIZE, MAP_SIZE, 5), seed=3)
    output = sample(sampler, images, crop_theta(np.array([box], np.float32)),
                    (MAP_SIZE, MAP_SIZE))
    expected = tf.image.crop_and_resize(images, normalised_box[None].astype(np.float32), [0],
                                        (MAP_SIZE, MAP_SIZE)).numpy()
    np.testing.assert_allclose(output, expected, atol=1e-5)


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("box", [(0, 0, 64, 64), (5, 9, 20, 18), (0, 40, 13, 24), (63, 0, 1, 1)])
def test_crop_on_canvas_is_slice(sampler, box):
    # On the 64x64 canvas itself, a crop to an output of the box's size
    # samples exactly the pixel centres inside the box.
    x, y, w, h = box
    images = random_maps((1, CANVAS, CANVAS, 2))
    output = sample(sampler, images, crop_theta(np.array([box], np.float32)), (h, w))
    np.testing.assert_allclose(output, images[:, y:y + h, x:x + w], atol=1e-4)


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("box", [(0, 0, 64, 64), (5, 9, 20, 18), (51, 40, 13, 24)])
def test_paste_on_canvas_places_patch(sampler, box):
    x, y, w, h = box
    patch = random_maps((1, h, w, 2))
    output = sample(sampler, patch, paste_theta(np.array([box], np.float32)), (CANVAS, CANVAS))

    expected = np.zeros((1, CANVAS, CANVAS, 2), np.float32)
    expected[:, y:y + h, x:x + w] = patch
    np.testing.assert_allclose(output, expected, atol=1e-4)
    # A canvas pixel next to the box is exactly one pixel from the patch,
    # where the bilinear weight is zero up to the rounding of theta.
    outside = np.ones((CANVAS, CANVAS), bool)
    outside[y:y + h, x:x + w] = False
    assert np.abs(output[0][outside]).max(initial=0.0) <= 1e-5


# Paste (the generator's local pathway): samples outside the local map read zeros.

@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("box, region, expected_sum", [
    ((0, 0, 32, 32), (slice(0, 8), slice(0, 8)), 64.0),
    ((40, 40, 24, 24), (slice(10, 16), slice(10, 16)), 36.0),
])
def test_paste_ones_stays_in_box(sampler, box, region, expected_sum):
    # Clamping samples to the border pixel would fill all 256 pixels.
    ones = np.ones((1, MAP_SIZE, MAP_SIZE, 1), np.float32)
    output = sample(sampler, ones, paste_theta(np.array([box], np.float32)),
                    (MAP_SIZE, MAP_SIZE))[0, :, :, 0]

    inside = np.zeros((MAP_SIZE, MAP_SIZE), bool)
    inside[region] = True
    np.testing.assert_allclose(output[inside], 1.0, atol=1e-6)
    assert np.all(output[~inside] == 0.0)
    assert output.sum() == pytest.approx(expected_sum, abs=1e-4)


@pytest.mark.parametrize("axis_aligned", [False, True])
def test_layers_paste_ones_stays_in_box(axis_aligned):
    ones = np.ones((2, MAP_SIZE, MAP_SIZE, 1), np.float32)
    boxes = np.array([[0, 0, 32, 32], [40, 40, 24, 24]], np.float32)
    theta = BoxToTheta("paste")(boxes)
    output = SpatialTransformer((MAP_SIZE, MAP_SIZE), axis_aligned=axis_aligned)([ones, theta])
    np.testing.assert_allclose(output.numpy().sum(axis=(1, 2, 3)), [64.0, 36.0], atol=1e-4)


# Paste and crop on linear maps, which bilinear sampling reproduces exactly.

ROUND_TRIP_BOXES = [(16, 16, 32, 32), (10, 22, 20, 30), (0, 0, 64, 64), (0, 0, 20, 20),
                    (44, 40, 20, 24), (26, 2, 11, 19), (3, 41, 58, 13)]


def exact_samples(points, exact_source):
    """Return which bilinear samples at `points` reproduce a linear source exactly.

    A sample at pixel coordinate s (pixel centres at integers) is exact when it
    lies on the source, 0 <= s <= n - 1, and both pixels it interpolates
    between, floor(s) and floor(s) + 1, are exact themselves. Elsewhere it
    blends in the zeros outside the source or an inexact pixel.
    """
    size = len(exact_source)
    on_source = (points >= 0) & (points <= size - 1)
    left = np.clip(np.floor(points), 0, size - 1).astype(int)
    right = np.minimum(left + 1, size - 1)
    return on_source & exact_source[left] & exact_source[right]


def paste_points(start, size):
    """Return where each map pixel samples the local map in a paste into [start, start + size).

    The paste puts local pixel k at map coordinate local_samples(start,
    size)[k], so map pixel p samples local coordinate (p - first) / spacing.
    """
    centres = local_samples(start, size)
    return (np.arange(MAP_SIZE) - centres[0]) / (centres[1] - centres[0])


def fully_inside(start, size):
    """Return which map pixels lie entirely inside [start, start + size) in map units."""
    pixels = np.arange(MAP_SIZE)
    return (pixels >= start - 1e-9) & (pixels + 1 <= start + size + 1e-9)


def centre_inside(start, size):
    """Return which map pixels have their centre strictly inside [start, start + size)."""
    centres = np.arange(MAP_SIZE) + 0.5
    return (centres > start) & (centres < start + size)


def touched(start, size):
    """Return which map pixels overlap [start, start + size) in map units."""
    pixels = np.arange(MAP_SIZE)
    return (pixels + 1 > start) & (pixels < start + size)


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("box", ROUND_TRIP_BOXES)
def test_paste_then_crop_returns_local_map(sampler, box):
    x, y, w, h = np.array(box) * MAP_SCALE
    local = ramp(MAP_SIZE, MAP_SIZE, channels=2)
    boxes = np.array([box], np.float32)
    pasted = sample(sampler, local, paste_theta(boxes), (MAP_SIZE, MAP_SIZE))
    output = sample(sampler, pasted, crop_theta(boxes), (MAP_SIZE, MAP_SIZE))

    # Exact rows and columns of the pasted map, then of the crop, which reads
    # the pasted map at the local pixel positions.
    all_exact = np.ones(MAP_SIZE, bool)
    rows = exact_samples(local_samples(y, h), exact_samples(paste_points(y, h), all_exact))
    columns = exact_samples(local_samples(x, w), exact_samples(paste_points(x, w), all_exact))
    assert rows.sum() >= 6
    assert columns.sum() >= 6
    if box == (16, 16, 32, 32):
        # Map pixels 4..11 hold local coordinates 0.5 .. 14.5, so only the
        # outermost ring of the crop reads the zeros outside the box.
        assert rows.tolist() == [False] + [True] * 14 + [False]

    region = np.ix_(rows, columns)
    np.testing.assert_allclose(output[0][region], local[0][region], atol=1e-5)


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("box", ROUND_TRIP_BOXES)
def test_crop_then_paste_returns_map_in_box(sampler, box):
    x, y, w, h = np.array(box) * MAP_SCALE
    images = ramp(MAP_SIZE, MAP_SIZE, channels=3)
    boxes = np.array([box], np.float32)
    cropped = sample(sampler, images, crop_theta(boxes), (MAP_SIZE, MAP_SIZE))
    output = sample(sampler, cropped, paste_theta(boxes), (MAP_SIZE, MAP_SIZE))[0]

    # Exact local pixels of the crop, then exact map pixels of the paste.
    all_exact = np.ones(MAP_SIZE, bool)
    rows = exact_samples(paste_points(y, h), exact_samples(local_samples(y, h), all_exact))
    columns = exact_samples(paste_points(x, w), exact_samples(local_samples(x, w), all_exact))
    np.testing.assert_allclose(output[np.ix_(rows, columns)], images[0][np.ix_(rows, columns)],
                               atol=1e-5)

    # Unless the crop reads off the map (a box within half a map pixel of the
    # canvas edge), that covers every map pixel entirely inside the box.
    if x >= 0.5 and x + w <= MAP_SIZE - 0.5:
        assert np.all(columns[fully_inside(x, w)])
    if y >= 0.5 and y + h <= MAP_SIZE - 0.5:
        assert np.all(rows[fully_inside(y, h)])
    assert np.all(output[~np.outer(touched(y, h), touched(x, w))] == 0.0)


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("box", ROUND_TRIP_BOXES + [(63, 63, 1, 1), (0, 30, 64, 4)])
def test_paste_is_zero_outside_box(sampler, box):
    x, y, w, h = np.array(box) * MAP_SCALE
    local = ramp(MAP_SIZE, MAP_SIZE, channels=2)
    output = sample(sampler, local, paste_theta(np.array([box], np.float32)),
                    (MAP_SIZE, MAP_SIZE))[0]

    # Map pixels that do not overlap the box read only zeros; those whose
    # centre is inside it read the positive local map.
    assert np.all(output[~np.outer(touched(y, h), touched(x, w))] == 0.0)
    assert np.all(output[np.outer(centre_inside(y, h), centre_inside(x, w))] > 0.0)


# Separable sampler against the general one.

@pytest.mark.parametrize("in_size, out_size", [((16, 16), (16, 16)), ((5, 7), (9, 4)),
                                               ((64, 64), (16, 16)), ((16, 16), (64, 64))])
def test_separable_equals_gather(in_size, out_size):
    rng = np.random.default_rng(7)
    batch = 12
    theta = np.zeros((batch, 2, 3), np.float32)
    # Scales from a strong zoom to a mirror image; shifts partly off the map.
    theta[:, 0, 0] = rng.uniform(-1.5, 4.0, batch)
    theta[:, 1, 1] = rng.uniform(-1.5, 4.0, batch)
    theta[:, :, 2] = rng.uniform(-1.5, 1.5, (batch, 2))
    images = random_maps((batch, *in_size, 3), seed=8)

    expected = sample("gather", images, theta, out_size)
    output = sample("separable", images, theta, out_size)
    assert np.abs(expected).max() > 0.5
    np.testing.assert_allclose(output, expected, atol=1e-5)


def test_separable_equals_gather_for_box_thetas():
    rng = np.random.default_rng(11)
    x, y = rng.integers(0, 60, (2, 64))
    w = rng.integers(1, 65 - x)
    h = rng.integers(1, 65 - y)
    boxes = np.stack([x, y, w, h], axis=1).astype(np.float32)
    images = random_maps((64, MAP_SIZE, MAP_SIZE, 4), seed=12)
    for theta in (crop_theta(boxes), paste_theta(boxes)):
        np.testing.assert_allclose(sample("separable", images, theta, (MAP_SIZE, MAP_SIZE)),
                                   sample("gather", images, theta, (MAP_SIZE, MAP_SIZE)),
                                   atol=1e-5)


# Gradients: finite near the canvas edges, equal to finite differences.

EDGE_BOXES = np.array([[0, 0, 64, 64], [0, 10, 20, 30], [44, 0, 20, 64], [0, 63, 1, 1],
                       [63, 0, 1, 64], [30, 30, 34, 34]], np.float32)


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("mode", ["crop", "paste"])
def test_edge_boxes_give_finite_gradients(sampler, mode):
    images = tf.constant(random_maps((len(EDGE_BOXES), MAP_SIZE, MAP_SIZE, 3)))
    boxes = tf.constant(EDGE_BOXES)
    to_theta = crop_theta if mode == "crop" else paste_theta
    with tf.GradientTape() as tape:
        tape.watch([images, boxes])
        output = SAMPLERS[sampler](images, to_theta(boxes), (MAP_SIZE, MAP_SIZE))
        loss = tf.reduce_sum(output * tf.sin(tf.range(3, dtype=tf.float32)))
    image_gradient, box_gradient = tape.gradient(loss, [images, boxes])

    assert np.all(np.isfinite(output.numpy()))
    assert np.all(np.isfinite(image_gradient.numpy()))
    assert np.all(np.isfinite(box_gradient.numpy()))
    assert np.abs(image_gradient.numpy()).sum() > 0
    assert np.abs(box_gradient.numpy()).sum() > 0


def output_weights(size):
    """Return fixed weights that turn a sampler output into a scalar loss."""
    return np.cos(np.arange(size, dtype=np.float64))


def central_differences(transform, inputs, position, delta=1e-6):
    """Return d loss / d inputs[position] by central differences, in float64.

    The loss is sum(transform(*inputs) * weights). All perturbed copies of
    the input go through the sampler as one batch: every input has the batch
    axis first, and samples do not interact.
    """
    inputs = [np.asarray(value, np.float64) for value in inputs]
    value = inputs[position]
    count, batch = value.size, value.shape[0]
    steps = delta * np.eye(count).reshape(count, *value.shape)

    def losses(perturbed):
        stacked = [np.broadcast_to(item, (count, *item.shape)) for item in inputs]
        stacked[position] = perturbed
        flat = [item.reshape(count * batch, *item.shape[2:]) for item in stacked]
        outputs = np.asarray(transform(*flat)).reshape(count, -1)
        return outputs @ output_weights(outputs.shape[1])

    gradient = (losses(value + steps) - losses(value - steps)) / (2 * delta)
    return gradient.reshape(value.shape)


def tape_gradient(function, *values):
    tensors = [tf.constant(np.array(value, np.float64)) for value in values]
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        output = function(*tensors)
        weights = output_weights(int(np.prod(output.shape))).reshape(output.shape)
        loss = tf.reduce_sum(output * weights)
    return [gradient.numpy() for gradient in tape.gradient(loss, tensors)]


# Generic thetas (no sample point on a pixel centre, where bilinear sampling
# has a kink), including one from an edge box: crop (0, 10, 20, 30).
FD_THETAS = np.array([
    [[0.43, 0.0, 0.21], [0.0, 0.71, -0.33]],
    [[5 / 16, 0.0, 5 / 16 - 1], [0.0, 15 / 32, 50 / 64 - 1]],
    [[1.9, 0.0, -0.62], [0.0, 1.3, 0.97]],
])


def gather_transform_7x4(images, theta):
    return gather_transform(images, theta, (7, 4))


def separable_transform_7x4(images, theta):
    return separable_transform(images, theta, (7, 4))


def test_gather_gradient_matches_finite_differences():
    images = random_maps((3, 6, 5, 2), seed=4).astype(np.float64)
    theta = FD_THETAS.copy()
    theta[:, 0, 1] = [0.13, 0.0, -0.21]  # shear, which only the general sampler handles
    grid = affine_grid(tf.constant(theta), (7, 4)).numpy()

    image_gradient, grid_gradient = tape_gradient(bilinear_sample, images, grid)
    np.testing.assert_allclose(
        image_gradient, central_differences(bilinear_sample, [images, grid], 0), atol=1e-6)
    np.testing.assert_allclose(
        grid_gradient, central_differences(bilinear_sample, [images, grid], 1), atol=1e-6)

    _, theta_gradient = tape_gradient(gather_transform_7x4, images, theta)
    expected = central_differences(gather_transform_7x4, [images, theta], 1)
    assert np.all(expected != 0)
    np.testing.assert_allclose(theta_gradient, expected, atol=1e-6)


def test_separable_gradient_matches_finite_differences():
    images = random_maps((3, 6, 5, 2), seed=5).astype(np.float64)
    theta = FD_THETAS

    image_gradient, theta_gradient = tape_gradient(separable_transform_7x4, images, theta)
    np.testing.assert_allclose(
        image_gradient, central_differences(separable_transform_7x4, [images, theta], 0),
        atol=1e-6)

    expected = central_differences(separable_transform_7x4, [images, theta], 1)
    # The separable sampler ignores the off-diagonal entries.
    assert np.all(expected[:, 0, 1] == 0)
    assert np.all(expected[:, 1, 0] == 0)
    assert np.all(expected[:, [0, 0, 1, 1], [0, 2, 1, 2]] != 0)
    np.testing.assert_allclose(theta_gradient, expected, atol=1e-6)


# Keras layers.

def test_spatial_transformer_config_round_trip():
    layer = SpatialTransformer((5, 7), axis_aligned=True, name="paste")
    copy = SpatialTransformer.from_config(layer.get_config())
    assert copy.output_size == (5, 7)
    assert copy.axis_aligned is True
    assert copy.name == "paste"
    assert copy.compute_output_shape(((None, 16, 16, 3), (None, 2, 3))) == (None, 5, 7, 3)


def test_box_to_theta_config_round_trip():
    layer = BoxToTheta("paste", name="paste_theta")
    copy = BoxToTheta.from_config(layer.get_config())
    assert (copy.mode, copy.canvas_size, copy.name) == ("paste", 64, "paste_theta")
    boxes = np.array([[10, 22, 20, 30]], np.float32)
    np.testing.assert_allclose(copy(boxes).numpy(), paste_theta(boxes).numpy())
    np.testing.assert_allclose(BoxToTheta("crop")(boxes).numpy(), crop_theta(boxes).numpy())


def test_box_to_theta_rejects_unknown_mode():
    with pytest.raises(ValueError, match="'crop' or 'paste'"):
        BoxToTheta("resize")


def test_layers_are_registered():
    for layer in (SpatialTransformer((4, 4)), BoxToTheta("crop")):
        registered = keras.saving.get_registered_object(
            keras.saving.get_registered_name(type(layer)))
        assert registered is type(layer)
