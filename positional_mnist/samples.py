"""A 10x10 picture of real records: row r shows the first ten records with label r."""

import os

import numpy as np
import tensorflow as tf
from PIL import Image

from grids import tile_grid
from positional_mnist.errors import DatasetError
from positional_mnist.reader import list_record_files, parse_example
from positional_mnist.schema import NUM_CLASSES

SAMPLES_PER_DIGIT = 10
MAX_RECORDS_SCANNED = 100_000


def sample_images(files):
    """Return uint8 images (100, 64, 64, 1): ten per digit 0-9, in file order.

    Raises:
      DatasetError: when the first MAX_RECORDS_SCANNED records lack ten images of a digit.
    """
    chosen = {label: [] for label in range(NUM_CLASSES)}
    records = tf.data.TFRecordDataset(files, "GZIP").batch(1000).take(MAX_RECORDS_SCANNED // 1000)
    for serialized in records:
        features = parse_example(serialized)
        for image, label in zip(features["image"].numpy(), features["label"].numpy()):
            if len(chosen[label]) < SAMPLES_PER_DIGIT:
                chosen[label].append(image)
        if all(len(images) == SAMPLES_PER_DIGIT for images in chosen.values()):
            return np.stack([image for label in range(NUM_CLASSES) for image in chosen[label]])

    short = [label for label, images in chosen.items() if len(images) < SAMPLES_PER_DIGIT]
    raise DatasetError(f"fewer than {SAMPLES_PER_DIGIT} images of digits {short} among the first "
                       f"{MAX_RECORDS_SCANNED:,} records of {files[0]} and the files after it")


def write_sample_grid(dataset, output, split="train"):
    """Write a 680x680 grayscale PNG grid of sample records of a data set.

    Args:
      dataset: data set folder, record file or glob (see list_record_files).
      output: PNG path; its folder is created if needed.
      split: "train" or "test".
    """
    grid = tile_grid(sample_images(list_record_files(dataset, split)))
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    Image.fromarray(grid).save(output)
    return grid
