"""Thetas that tie a feature map to a bounding box on the canvas.

A box is (x, y, w, h) in pixels of the canvas (64x64 by default): x, y are
the left and top edges, w, h the width and height, so the box covers columns
x .. x + w - 1 and rows y .. y + h - 1. Normalised coordinates (see
`stn.sampler`) do not depend on the map size, so the same theta serves a
16x16 feature map and the 64x64 canvas. For a canvas of size C, the box's left
edge is at 2 x / C - 1 and its right edge at 2 (x + w) / C - 1.
"""

import tensorflow as tf

CANVAS_SIZE = 64


def crop_theta(boxes, canvas_size=CANVAS_SIZE):
    """Return thetas whose output grid covers exactly the box (the discriminator's crop).

        theta = [[w / C, 0, (2 x + w) / C - 1],
                 [0, h / C, (2 y + h) / C - 1]]

    On a 16x16 map this is [[w'/16, 0, (x' + w'/2 - 8) / 8], ...] with the box
    scaled to map units (x' = x * 16 / C).

    Args:
      boxes: float tensor (B, 4) of x, y, w, h in canvas pixels.
      canvas_size: C, the canvas side in pixels.

    Returns:
      float tensor (B, 2, 3).
    """
    boxes = tf.convert_to_tensor(boxes)
    x, y, w, h = tf.unstack(tf.cast(boxes, tf.float32) / canvas_size, axis=-1)
    return _axis_aligned_theta(scale_x=w, shift_x=2.0 * x + w - 1.0,
                               scale_y=h, shift_y=2.0 * y + h - 1.0)


def paste_theta(boxes, canvas_size=CANVAS_SIZE):
    """Return thetas that place a whole map inside the box (the generator's paste).

    The inverse of `crop_theta`:

        theta = [[C / w, 0, (C - 2 x) / w - 1],
                 [0, C / h, (C - 2 y) / h - 1]]

    On a 16x16 map this is [[16/w', 0, (16 - 2 x') / w' - 1], ...] in map
    units. Output pixels outside the box sample outside the local map and
    read zero.

    Args:
      boxes: float tensor (B, 4) of x, y, w, h in canvas pixels; w, h > 0.
      canvas_size: C, the canvas side in pixels.

    Returns:
      float tensor (B, 2, 3).
    """
    boxes = tf.convert_to_tensor(boxes)
    x, y, w, h = tf.unstack(tf.cast(boxes, tf.float32), axis=-1)
    size = float(canvas_size)
    return _axis_aligned_theta(scale_x=size / w, shift_x=(size - 2.0 * x) / w - 1.0,
                               scale_y=size / h, shift_y=(size - 2.0 * y) / h - 1.0)


def _axis_aligned_theta(scale_x, shift_x, scale_y, shift_y):
    zeros = tf.zeros_like(scale_x)
    return tf.stack([tf.stack([scale_x, zeros, shift_x], axis=-1),
                     tf.stack([zeros, scale_y, shift_y], axis=-1)], axis=-2)
