"""File names and the manifest of a data set folder written by multi_mnist.py.

A finished folder contains

    train-00000-of-00060.tfrecord.gz ... train-00059-of-00060.tfrecord.gz
    test-00000-of-00001.tfrecord.gz
    dataset.json

Shards are written under a hidden temporary name (see partial_name) and
renamed when complete, and dataset.json is written last, so a folder without
dataset.json comes from a run that did not finish.
"""

import json
import math
import os
import re

from positional_mnist.errors import DatasetError

SPLITS = ("train", "test")
MANIFEST_NAME = "dataset.json"
MANIFEST_FORMAT = "positional_mnist"
MANIFEST_VERSION = 1
SHARD_SUFFIX = ".tfrecord.gz"
PARTIAL_SUFFIX = ".partial"
IMAGES_PER_SHARD = 10_000
MAX_SHARDS = 99_999  # the shard names have five digits

SHARD_NAME_RE = re.compile(
    r"^(?P<split>[a-z]+)-(?P<index>\d{5})-of-(?P<count>\d{5})\.tfrecord\.gz$")


def shard_name(split, index, count):
    """Return the file name of shard `index` of `count` of a split."""
    return f"{split}-{index:05d}-of-{count:05d}{SHARD_SUFFIX}"


def partial_name(name):
    """Return the hidden name a file has while it is being written.

    It starts with a dot and does not end in .tfrecord.gz, so neither a shard
    glob nor the reader ever matches it.
    """
    return f".{name}{PARTIAL_SUFFIX}"


def is_partial_name(name):
    """Return whether `name` is the name of a file still being written."""
    return name.startswith(".") and name.endswith(PARTIAL_SUFFIX)


def is_shard_name(name, split=None):
    """Return whether `name` is a shard file name, of `split` if one is given."""
    match = SHARD_NAME_RE.match(name)
    return bool(match) and (split is None or match.group("split") == split)


def default_shard_count(num_images):
    """Return the default number of files for a split: one per 10,000 images, rounded up."""
    return min(MAX_SHARDS, max(1, math.ceil(num_images / IMAGES_PER_SHARD)))


def shard_ranges(num_images, num_shards):
    """Split image numbers 0..num_images-1 into num_shards contiguous [start, stop) ranges.

    Sizes differ by at most one image.
    """
    return [(i * num_images // num_shards, (i + 1) * num_images // num_shards)
            for i in range(num_shards)]


def read_manifest(folder):
    """Return the parsed dataset.json of a folder, or None when it has none.

    Raises:
      DatasetError: when dataset.json is not valid JSON.
    """
    path = os.path.join(folder, MANIFEST_NAME)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as file:
        try:
            return json.load(file)
        except json.JSONDecodeError as error:
            raise DatasetError(f"{path} is not valid JSON: {error}") from error


def write_manifest(folder, manifest):
    """Write dataset.json through a temporary name, so that it appears complete or not at all."""
    path = os.path.join(folder, MANIFEST_NAME)
    partial = os.path.join(folder, partial_name(MANIFEST_NAME))
    with open(partial, "w", encoding="utf-8") as file:
        json.dump(manifest, file, indent=2)
        file.write("\n")
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, path)
