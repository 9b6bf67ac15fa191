"""Load MNIST from a Keras-layout .npz file, a folder of IDX files, or the Keras cache.

Every loader returns the same thing: a dict with "train" and "test" MnistSplit
values holding uint8 images (n, 28, 28) in [0, 255] and int64 labels (n,) in
[0, 9], checked for shape, dtype and range.
"""

import dataclasses
import gzip
import logging
import os
import zipfile
import zlib

import numpy as np

from positional_mnist.errors import DatasetError

logger = logging.getLogger(__name__)

DIGIT_SIZE = 28
NPZ_KEYS = {"train": ("x_train", "y_train"), "test": ("x_test", "y_test")}
IDX_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension
KERAS_CACHE_NAME = "mnist.npz"

# Errors that a damaged .npz or .gz file raises while it is read.
_READ_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error)


@dataclasses.dataclass(frozen=True)
class MnistSplit:
    """One MNIST split: images uint8 (n, 28, 28) in [0, 255], labels int64 (n,) in [0, 9]."""

    images: np.ndarray
    labels: np.ndarray


def load_mnist(path=None):
    """Load both MNIST splits.

    Args:
      path: a Keras-layout .npz file (keys x_train, y_train, x_test, y_test), a
        folder with the four IDX files (train-images-idx3-ubyte,
        train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
        t10k-labels-idx1-ubyte, each optionally gzipped with a .gz suffix), or
        None for the Keras cache, downloading it when it is missing.

    Returns:
      dict {"train": MnistSplit, "test": MnistSplit}.

    Raises:
      DatasetError: when the source is missing, unreadable or not MNIST-shaped.
    """
    if path is None:
        return _load_keras()
    if os.path.isdir(path):
        return _load_idx_folder(path)
    if os.path.isfile(path):
        return _load_npz(path)
    raise DatasetError(f"MNIST source not found: {path} is neither a file nor a folder")


def _load_npz(path):
    # np.load reads a file that is not a zip archive as a pickle, and its
    # error then suggests allow_pickle=True, which is wrong advice here.
    if not zipfile.is_zipfile(path):
        raise DatasetError(f"cannot read {path} as an MNIST .npz file: it is not a zip archive, "
                           f"as .npz files are; give the mnist.npz that keras.datasets.mnist "
                           f"downloads, or a folder of the four MNIST IDX files")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for keys in NPZ_KEYS.values() for key in keys if key not in archive]
            if missing:
                raise DatasetError(
                    f"{path} lacks the keys {', '.join(missing)}; an MNIST .npz needs x_train, "
                    f"y_train, x_test and y_test as keras.datasets.mnist writes them")
            return {split: _checked_split(path, split, archive[images], archive[labels])
                    for split, (images, labels) in NPZ_KEYS.items()}
    except _READ_ERRORS as error:
        raise DatasetError(f"cannot read {path} as an MNIST .npz file: {error}") from error


def _load_idx_folder(folder):
    splits = {}
    for split, (images_name, labels_name) in IDX_NAMES.items():
        images = _read_idx(_find_idx_file(folder, images_name), IDX_IMAGES_MAGIC)
        labels = _read_idx(_find_idx_file(folder, labels_name), IDX_LABELS_MAGIC)
        splits[split] = _checked_split(folder, split, images, labels)
    return splits


def _find_idx_file(folder, name):
    for candidate in (name, name + ".gz"):
        path = os.path.join(folder, candidate)
        if os.path.isfile(path):
            return path
    raise DatasetError(
        f"MNIST folder {folder} has no {name} or {name}.gz; it needs the four IDX files "
        f"{', '.join(name for names in IDX_NAMES.values() for name in names)}, gzipped or not")


def _read_idx(path, expected_magic):
    """Read an IDX file of unsigned bytes: a big-endian header, then the data."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as file:
            data = file.read()
    except _READ_ERRORS as error:
        raise DatasetError(f"cannot read the MNIST IDX file {path}: {error}") from error

    num_dims = expected_magic & 0xFF
    header_size = 4 + 4 * num_dims
    if len(data) < header_size:
        raise DatasetError(f"MNIST IDX file {path} is too short for its header ({len(data)} bytes)")
    magic = int.from_bytes(data[:4], "big")
    if magic != expected_magic:
        raise DatasetError(
            f"MNIST IDX file {path} has magic number 0x{magic:08x}, "
            f"expected 0x{expected_magic:08x}")

    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(num_dims))
    expected_size = header_size + int(np.prod(shape))
    if len(data) != expected_size:
        raise DatasetError(
            f"MNIST IDX file {path} has {len(data)} bytes, but its header {shape} needs "
            f"{expected_size}: the file is truncated or corrupt")
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(shape)


def _checked_split(source, split, images, labels):
    """Return a MnistSplit after checking shapes, dtypes and the label range."""
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (DIGIT_SIZE, DIGIT_SIZE):
        raise DatasetError(
            f"MNIST {split} images in {source} must be uint8 (n, 28, 28), got {images.dtype} "
            f"{images.shape}")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise DatasetError(
            f"MNIST {split} labels in {source} must have shape ({images.shape[0]},), got "
            f"{labels.shape}")
    if images.shape[0] == 0:
        raise DatasetError(f"MNIST {split} split in {source} is empty")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() > 9:
        raise DatasetError(f"MNIST {split} labels in {source} must be integers in [0, 9]")
    if not images.reshape(images.shape[0], -1).any(axis=1).all():
        raise DatasetError(f"MNIST {split} split in {source} contains an all-zero image")
    return MnistSplit(np.ascontiguousarray(images), labels.astype(np.int64))


def keras_cache_path():
    """Return where Keras 3 keeps its MNIST download: $KERAS_HOME or ~/.keras, then datasets/.

    keras.utils.get_file falls back to /tmp/.keras when that folder is not
    writable; a copy there is found by the download step instead.
    """
    keras_home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(keras_home, "datasets", KERAS_CACHE_NAME)


def _load_keras():
    path = keras_cache_path()
    if os.path.isfile(path):
        logger.info("Reading MNIST from the Keras cache %s", path)
        return _load_npz(path)

    logger.info("MNIST is not in the Keras cache %s; downloading it with Keras", path)
    try:
        (x_train, y_train), (x_test, y_test) = _download_with_keras()
    except Exception as error:  # Keras raises several types for network and file errors.
        raise DatasetError(
            f"MNIST is not in the Keras cache ({path}) and the Keras download failed: "
            f"{type(error).__name__}: {error}") from error
    return {"train": _checked_split("the Keras download", "train", x_train, y_train),
            "test": _checked_split("the Keras download", "test", x_test, y_test)}


def _download_with_keras():
    # Imported here because Keras loads TensorFlow, which only this rare path needs.
    # NOTE: the writer forks its workers after this; they never call TensorFlow.
    import keras

    return keras.datasets.mnist.load_data()
