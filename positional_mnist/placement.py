"""Crop MNIST digits to their ink, stretch them and place them on the 64x64 canvas.

Every image of the data set is made by, in order:
1. cropping the 28x28 digit to its ink (the rows and columns with a non-zero pixel),
2. resizing it to round(w * width_factor) x round(h * height_factor) pixels
   with Pillow's bilinear filter, which averages over all source pixels it
   covers when it shrinks,
3. setting pixels below 5% of full intensity to 0 and cropping to the ink again,
4. pasting it at a position drawn uniformly from all positions that keep the
   whole digit on the canvas, so both x == 0 and x + w == 64 occur.
The box of each image is then exactly the bounding box of its non-zero pixels.
"""

import numpy as np
from PIL import Image

from positional_mnist.schema import CANVAS_SIZE

# 0.05 of full intensity is 12.75 on the uint8 scale: values up to 12 become 0.
INK_THRESHOLD = 13
MNIST_DIGIT_SIZE = 28
# The largest scale factor that keeps a 28-pixel digit on the canvas.
MAX_STRETCH = CANVAS_SIZE / MNIST_DIGIT_SIZE


def ink_boxes(images):
    """Return the ink bounding box of each image as int64 (n, 4) of x, y, w, h.

    Args:
      images: uint8 array (n, height, width). Every image needs a non-zero pixel.
    """
    columns_with_ink = images.any(axis=1)  # (n, width)
    rows_with_ink = images.any(axis=2)  # (n, height)
    empty = ~rows_with_ink.any(axis=1)
    if empty.any():
        raise ValueError(f"image {int(np.flatnonzero(empty)[0])} has no non-zero pixel")

    width, height = columns_with_ink.shape[1], rows_with_ink.shape[1]
    left = columns_with_ink.argmax(axis=1)
    right = width - columns_with_ink[:, ::-1].argmax(axis=1)
    top = rows_with_ink.argmax(axis=1)
    bottom = height - rows_with_ink[:, ::-1].argmax(axis=1)
    return np.stack([left, top, right - left, bottom - top], axis=1).astype(np.int64)


def stretched_size(width, height, width_factor, height_factor):
    """Return the resized (width, height) before thresholding, at least 1 x 1 pixels."""
    return max(1, round(width * width_factor)), max(1, round(height * height_factor))


def stretch_digits(digits, digit_boxes, factors):
    """Crop digits to their ink, resize them, threshold them and crop them to their ink again.

    Args:
      digits: uint8 array (n, 28, 28).
      digit_boxes: int array (n, 4), the ink box x, y, w, h of each digit.
      factors: float array (n, 2) of width and height scale factors in
        (0, MAX_STRETCH].

    Returns:
      stretched: uint8 array (n, 64, 64), each stretched digit at the top left
        of its own zero canvas.
      boxes: int64 array (n, 4), the ink box of each stretched digit within its
        canvas. Its w and h are at most the stretched_size of the digit, because
        thresholding can remove faint border pixels.

    Raises:
      ValueError: when a digit has no pixel left after thresholding.
    """
    # One tall Pillow image per stack (digit i in rows 28 i .. 28 i + 27) saves a
    # numpy-to-Pillow conversion per digit, which costs about as much as the resize.
    count = len(digits)
    source = Image.frombuffer("L", (MNIST_DIGIT_SIZE, MNIST_DIGIT_SIZE * count),
                              np.ascontiguousarray(digits), "raw", "L", 0, 1)
    target = Image.new("L", (CANVAS_SIZE, CANVAS_SIZE * count))
    for i, ((x, y, width, height), (width_factor, height_factor)) in enumerate(
            zip(digit_boxes.tolist(), factors.tolist())):
        top = MNIST_DIGIT_SIZE * i + y
        digit = source.crop((x, top, x + width, top + height))
        size = stretched_size(width, height, width_factor, height_factor)
        target.paste(digit.resize(size, Image.Resampling.BILINEAR), (0, CANVAS_SIZE * i))

    stretched = np.array(target).reshape(count, CANVAS_SIZE, CANVAS_SIZE)
    stretched[stretched < INK_THRESHOLD] = 0
    vanished = ~stretched.any(axis=(1, 2))
    if vanished.any():
        i = int(np.flatnonzero(vanished)[0])
        raise ValueError(
            f"digit {i} has no pixel >= {INK_THRESHOLD} left after resizing its "
            f"{digit_boxes[i][2]}x{digit_boxes[i][3]} ink by factors {factors[i].tolist()}")
    return stretched, ink_boxes(stretched)


def draw_positions(rng, widths, heights):
    """Draw top-left corners uniformly over all positions that keep each digit on the canvas.

    Args:
      rng: numpy Generator.
      widths, heights: int arrays (n,) of digit sizes in [1, 64] pixels.

    Returns:
      int64 arrays x (n,) and y (n,), with 0 <= x <= 64 - w and 0 <= y <= 64 - h.
    """
    # The upper bound of integers() is exclusive, hence the + 1.
    x = rng.integers(0, CANVAS_SIZE - np.asarray(widths) + 1)
    y = rng.integers(0, CANVAS_SIZE - np.asarray(heights) + 1)
    return x.astype(np.int64), y.astype(np.int64)


def render_images(rng, digits, digit_boxes, stretch_min, stretch_max):
    """Make one canvas per digit: stretch it, then place it at a random position.

    Draws, in this order, the (n, 2) width and height factors uniformly in
    [stretch_min, stretch_max), then the n x positions, then the n y
    positions, so the same generator state gives the same images.

    Args:
      rng: numpy Generator.
      digits: uint8 array (n, 28, 28) of MNIST digits.
      digit_boxes: int array (n, 4), their ink boxes (see ink_boxes).
      stretch_min, stretch_max: range of the scale factors, 0 < min <= max <= MAX_STRETCH.

    Returns:
      images: uint8 array (n, 64, 64).
      boxes: int64 array (n, 4) of x, y, w, h, the bounding box of each
        image's non-zero pixels.
    """
    factors = rng.uniform(stretch_min, stretch_max, size=(len(digits), 2))
    stretched, stretched_boxes = stretch_digits(digits, digit_boxes, factors)
    widths, heights = stretched_boxes[:, 2], stretched_boxes[:, 3]
    x, y = draw_positions(rng, widths, heights)

    images = np.zeros_like(stretched)
    for i, (left, top, width, height) in enumerate(stretched_boxes.tolist()):
        digit = stretched[i, top:top + height, left:left + width]
        images[i, y[i]:y[i] + height, x[i]:x[i] + width] = digit
    return images, np.stack([x, y, widths, heights], axis=1)
