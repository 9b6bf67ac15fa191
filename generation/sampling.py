"""Seeded noise and the generator's images as uint8 tiles, optionally with box outlines."""

import numpy as np
import tensorflow as tf

from grids import draw_box_outline, to_uint8

NUM_CLASSES = 10
BATCH_SIZE = 100


class DigitSampler:
    """Draw seeded noise for a digit and run the generator in inference mode.

    Each digit has its own noise stream, seeded by (seed, digit), so a
    digit's pictures are the same whether it is rendered alone (--digit) or
    with the other nine.
    """

    def __init__(self, generator, noise_dim, seed):
        self.generator = generator
        self.noise_dim = noise_dim
        self.seed = seed

    def noise(self, digit, count):
        """Return `digit`'s first `count` noise vectors, float32 (count, noise_dim) in [-1, 1]."""
        rng = np.random.default_rng([self.seed, digit])
        return rng.uniform(-1.0, 1.0, (count, self.noise_dim)).astype(np.float32)

    def images(self, noise, digit, boxes):
        """Generate one image per row of `noise` and `boxes`, all of `digit`.

        Args:
          noise: float32 (N, noise_dim).
          digit: int label, 0-9.
          boxes: (N, 4) x, y, w, h in pixels of the 64x64 canvas.

        Returns:
          float32 numpy array (N, 64, 64, 1) in [0, 1].
        """
        labels = np.zeros((len(noise), NUM_CLASSES), np.float32)
        labels[:, digit] = 1.0
        boxes = np.asarray(boxes, np.float32)

        # The generator gets batches of at most BATCH_SIZE images, in inference
        # mode, so BatchNorm uses its moving statistics.
        batches = []
        for start in range(0, len(noise), BATCH_SIZE):
            end = start + BATCH_SIZE
            inputs = [tf.constant(array[start:end]) for array in (noise, labels, boxes)]
            batches.append(self.generator(inputs, training=False).numpy())
        return np.concatenate(batches)

    def tiles(self, noise, digit, boxes):
        """Generate uint8 tiles (N, 64, 64) in [0, 255] from the arguments of `images`."""
        return to_uint8(self.images(noise, digit, boxes))[..., 0]


def outline_tiles(tiles, boxes):
    """Return copies of uint8 tiles (N, H, W) with each tile's box outlined in white."""
    return np.stack([draw_box_outline(tile, box) for tile, box in zip(tiles, boxes)])


def tile_versions(tiles, boxes, draw_box):
    """Return [(False, tiles)], plus (True, outlined tiles) when `draw_box` is set."""
    versions = [(False, tiles)]
    if draw_box:
        versions.append((True, outline_tiles(tiles, boxes)))
    return versions
