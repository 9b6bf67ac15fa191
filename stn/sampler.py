"""Affine grid generator and bilinear sampler of a spatial transformer.

Coordinate convention (used everywhere in this package): normalised
coordinates run from -1 at the outer edge of the first pixel to +1 at the
outer edge of the last pixel. The centre of pixel i of a map of size n is
therefore at (2 i + 1) / n - 1. This is the half-pixel convention of
`tf.image.resize` and of PyTorch's `grid_sample(align_corners=False)`.
theta (B, 2, 3) maps normalised *output* coordinates (u, v, 1) to normalised
*input* coordinates: [u_in, v_in] = theta @ [u_out, v_out, 1], with u along
the width (x) and v along the height (y).

Samples that fall outside the input read zeros: bilinear weights only go to
pixels that exist, so a map pasted into a larger canvas stays inside its box
instead of smearing its border values over the canvas.

Sampling positions and bilinear weights are computed in float32, or float64
for float64 images (`geometry_dtype`), even for bfloat16 images. Only the
products with the images use the images' dtype.
"""

import tensorflow as tf


def affine_grid(theta, output_size):
    """Compute where each output pixel samples the input.

    Args:
      theta: float tensor (B, 2, 3), normalised output -> input coordinates.
      output_size: (height, width) of the output map, in pixels.

    Returns:
      float tensor (B, height, width, 2) of normalised input coordinates
      (u, v) = (x, y) for every output pixel centre.
    """
    height, width = output_size
    theta = tf.convert_to_tensor(theta)
    v = pixel_centres(height, theta.dtype)
    u = pixel_centres(width, theta.dtype)
    v_grid, u_grid = tf.meshgrid(v, u, indexing="ij")

    # Homogeneous coordinates (3, H * W), mapped by each theta to (B, 2, H * W).
    points = tf.stack([tf.reshape(u_grid, [-1]), tf.reshape(v_grid, [-1]),
                       tf.ones([height * width], theta.dtype)])
    source = tf.einsum("bij,jn->bin", theta, points)
    source = tf.transpose(source, [0, 2, 1])
    return tf.reshape(source, [-1, height, width, 2])


def geometry_dtype(images_dtype):
    """Return the dtype of sampling positions and weights for images of `images_dtype`.

    float64 for float64 images, float32 otherwise. A bfloat16 coordinate has
    8 significant bits, so between 8 and 16 pixels it is a multiple of 1/16
    pixel, too coarse for a sampling position.
    """
    return tf.float64 if tf.as_dtype(images_dtype) == tf.float64 else tf.float32


def pixel_centres(size, dtype=tf.float32):
    """Return the normalised coordinates of the `size` pixel centres of one axis."""
    return (2.0 * tf.range(size, dtype=dtype) + 1.0) / size - 1.0


def bilinear_sample(images, grid):
    """Sample `images` bilinearly at normalised coordinates, reading zeros outside.

    Args:
      images: float tensor (B, H, W, C).
      grid: float tensor (B, H_out, W_out, 2) of normalised (u, v) coordinates,
        as returned by `affine_grid`; give it in `geometry_dtype(images.dtype)`.

    Returns:
      float tensor (B, H_out, W_out, C) in the images' dtype.
    """
    images = tf.convert_to_tensor(images)
    grid = tf.convert_to_tensor(grid)
    height, width = tf.shape(images)[1], tf.shape(images)[2]

    # Continuous pixel coordinates, pixel centres at integers.
    x = to_pixel_coordinates(grid[..., 0], width)
    y = to_pixel_coordinates(grid[..., 1], height)
    x0, y0 = tf.floor(x), tf.floor(y)

    output = 0.0
    for dy in (0.0, 1.0):
        for dx in (0.0, 1.0):
            corner_x, corner_y = x0 + dx, y0 + dy
            weight = (1.0 - tf.abs(x - corner_x)) * (1.0 - tf.abs(y - corner_y))
            weight = tf.cast(weight, images.dtype)
            output += weight[..., None] * gather_or_zero(images, corner_x, corner_y)
    return output


def to_pixel_coordinates(normalised, size):
    """Map normalised coordinates to pixel coordinates with pixel centres at 0 .. size - 1."""
    size = tf.cast(size, normalised.dtype)
    return (normalised + 1.0) * size / 2.0 - 0.5


def gather_or_zero(images, x, y):
    """Gather images[b, y, x, :] at integer-valued float coordinates; zero where outside."""
    height, width = tf.shape(images)[1], tf.shape(images)[2]
    x, y = tf.cast(x, tf.int32), tf.cast(y, tf.int32)
    inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)

    x = tf.clip_by_value(x, 0, width - 1)
    y = tf.clip_by_value(y, 0, height - 1)
    values = tf.gather_nd(images, tf.stack([y, x], axis=-1), batch_dims=1)
    return values * tf.cast(inside, images.dtype)[..., None]


def interpolation_matrix(scale, shift, output_size, input_size):
    """Build the bilinear interpolation matrix of one axis of an axis-aligned theta.

    For theta without rotation or shear, input coordinate = scale * output
    coordinate + shift on each axis independently, so bilinear sampling
    separates into one matrix per axis. Row i contains the weights
    max(0, 1 - |s_i - j|) of input pixel j for output pixel i, where s_i is
    the input pixel coordinate that output pixel i samples. Input pixels
    outside the map simply have no column, which is sampling zeros outside.

    Args:
      scale, shift: float tensors (B,), one row of theta: theta[:, k, k] and theta[:, k, 2].
      output_size, input_size: number of pixels along this axis.

    Returns:
      float tensor (B, output_size, input_size).
    """
    centres = pixel_centres(output_size, scale.dtype)
    source = scale[:, None] * centres[None, :] + shift[:, None]
    source = to_pixel_coordinates(source, input_size)
    columns = tf.range(input_size, dtype=scale.dtype)
    return tf.nn.relu(1.0 - tf.abs(source[:, :, None] - columns[None, None, :]))


def separable_transform(images, theta, output_size):
    """Bilinear spatial transform for thetas without rotation or shear.

    Equal to `bilinear_sample(images, affine_grid(theta, output_size))` when
    theta[:, 0, 1] == theta[:, 1, 0] == 0, which holds for every box theta of
    `stn.boxes`, but computed as two small batched matrix products. That is
    several times faster than gathering four corners per sample, forward and
    backward. The off-diagonal entries of theta are ignored.

    Args:
      images: float tensor (B, H, W, C).
      theta: float tensor (B, 2, 3).
      output_size: (height, width) of the output, in pixels.

    Returns:
      float tensor (B, height, width, C) in the images' dtype.
    """
    images = tf.convert_to_tensor(images)
    theta = tf.cast(theta, geometry_dtype(images.dtype))
    out_height, out_width = output_size
    in_height, in_width = images.shape[1], images.shape[2]

    rows = interpolation_matrix(theta[:, 1, 1], theta[:, 1, 2], out_height, in_height)
    columns = interpolation_matrix(theta[:, 0, 0], theta[:, 0, 2], out_width, in_width)
    rows, columns = tf.cast(rows, images.dtype), tf.cast(columns, images.dtype)
    output = tf.einsum("bij,bjwc->biwc", rows, images)
    return tf.einsum("bkw,biwc->bikc", columns, output)
