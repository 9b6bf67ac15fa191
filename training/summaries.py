"""TensorBoard output of a run: averaged scalars, fixed sample grids, real images, config."""

import json

import numpy as np
import tensorflow as tf

from grids import tile_grid

NUM_CLASSES = 10


class MeanTracker:
    """Running means of named scalars between two summary writes."""

    def __init__(self):
        self.reset()

    def update(self, values):
        """Add one value per name (floats)."""
        for name, value in values.items():
            self.sums[name] = self.sums.get(name, 0.0) + float(value)
        self.count += 1

    def means(self):
        """Return name -> mean since the last reset."""
        return {name: total / max(self.count, 1) for name, total in self.sums.items()}

    def reset(self):
        self.sums = {}
        self.count = 0


def sample_grid_conditions(noise_dim, seed):
    """Return the fixed inputs of the two sweep grids logged during training.

    Both grids have one row per digit. In the location sweep an 18x20 box
    moves diagonally from (2, 2) to (38, 38) along a row. In the size sweep a
    box centred on the canvas grows from 12x12 to 30x30. The noise is drawn
    once from `seed`, one vector per tile, so that frames of a run compare.

    Returns:
      dict name -> (noise (100, noise_dim), labels (100, 10), boxes (100, 4)), float32.
    """
    rng = np.random.default_rng(seed)
    digits = np.repeat(np.arange(NUM_CLASSES), 10)
    labels = np.eye(NUM_CLASSES, dtype=np.float32)[digits]
    columns = np.tile(np.arange(10), NUM_CLASSES)

    location = np.stack([2 + 4 * columns, 2 + 4 * columns,
                         np.full(100, 18), np.full(100, 20)], axis=1)
    sizes = 12 + 2 * columns
    size = np.stack([32 - sizes // 2, 32 - sizes // 2, sizes, sizes], axis=1)

    grids = {}
    for name, boxes in (("location_sweep", location), ("size_sweep", size)):
        noise = rng.uniform(-1.0, 1.0, (100, noise_dim)).astype(np.float32)
        grids[name] = (noise, labels, boxes.astype(np.float32))
    return grids


def grid_image(images):
    """Turn 100 images (100, 64, 64, 1) in [0, 1] into a (1, 680, 680, 1) uint8 summary image."""
    return tile_grid(np.asarray(images))[None, :, :, None]


def write_config(writer, config_dict, step):
    """Log the resolved configuration as a TensorBoard text summary."""
    text = "```\n" + json.dumps(config_dict, indent=2, sort_keys=True) + "\n```"
    with writer.as_default():
        tf.summary.text("config", text, step=step)


def write_scalars(writer, values, step):
    """Log a dict of tag -> float at `step`."""
    with writer.as_default():
        for tag, value in values.items():
            tf.summary.scalar(tag, value, step=step)


def write_image(writer, tag, image, step):
    """Log one uint8 image (1, H, W, 1) at `step`."""
    with writer.as_default():
        tf.summary.image(tag, image, step=step)
