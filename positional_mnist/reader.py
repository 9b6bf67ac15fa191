"""Read positional MNIST records with tf.data.

Typical use:

    files = list_record_files("positional_mnist_data", split="train")
    check_record_files(files)
    dataset = make_dataset(files, batch_size=64, seed=0)
    for images, labels, boxes in dataset: ...

make_dataset and make_condition_dataset call check_record_files themselves
(once per file version per process), because TensorFlow's own error for a
damaged file gives a byte offset but not the file name.

Files whose name ends in .gz are read as GZIP-compressed TFRecord files,
others as uncompressed ones.
"""

import glob
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import tensorflow as tf

from positional_mnist import layout
from positional_mnist.errors import DatasetError
from positional_mnist.schema import (BOX_KEY, BOX_LENGTH, CANVAS_SIZE, IMAGE_BYTES, IMAGE_KEY,
                                     LABEL_KEY, MNIST_INDEX_KEY, NUM_CLASSES, validate_boxes)

__all__ = ["DatasetError", "check_record_files", "list_record_files", "make_condition_dataset",
           "make_dataset", "parse_example", "validate_boxes"]

FEATURE_SPEC = {
    IMAGE_KEY: tf.io.FixedLenFeature([], tf.string),
    LABEL_KEY: tf.io.FixedLenFeature([], tf.int64),
    BOX_KEY: tf.io.FixedLenFeature([BOX_LENGTH], tf.int64),
    MNIST_INDEX_KEY: tf.io.FixedLenFeature([], tf.int64),
}
CONDITION_SPEC = {key: FEATURE_SPEC[key] for key in (LABEL_KEY, BOX_KEY)}
MAX_PARALLEL_FILES = 16
COUNT_BATCH = 1024
CONDITION_SHUFFLE_BUFFER = 10_000


def list_record_files(path, split="train"):
    """Return the sorted record files of one split.

    Args:
      path: a record file, a glob pattern, or a folder written by
        multi_mnist.py. A folder must contain dataset.json, and the files of
        `split` that it lists are returned. A glob skips dataset.json and
        files named as shards of another split.
      split: "train" or "test".

    Raises:
      DatasetError: when nothing matches, or a folder is not a finished data set.
    """
    path = os.fspath(path)
    if split not in layout.SPLITS:
        raise DatasetError(f"split must be one of {', '.join(layout.SPLITS)}, got {split!r}")
    if os.path.isdir(path):
        return _list_folder(path, split)
    if os.path.isfile(path):
        return [path]

    matches = sorted(match for match in glob.glob(path) if os.path.isfile(match))
    files = [match for match in matches if _belongs_to_split(os.path.basename(match), split)]
    if not files:
        found = "nothing"
        if matches:
            found = f"only files of other splits or dataset.json, e.g. {matches[0]}"
        raise DatasetError(f"no {split} record files match {path} (found {found})")
    return files


def _belongs_to_split(name, split):
    """Return False for dataset.json and for shards of other splits, True otherwise."""
    if name == layout.MANIFEST_NAME:
        return False
    return not layout.is_shard_name(name) or layout.is_shard_name(name, split)


def _list_folder(folder, split):
    manifest = layout.read_manifest(folder)
    if manifest is None:
        raise DatasetError(
            f"folder {folder} has no {layout.MANIFEST_NAME}, so it is not a finished data set: "
            f"multi_mnist.py writes that file last. Rerun multi_mnist.py with --overwrite, or "
            f"pass a record file or glob pattern")
    if split not in manifest.get("splits", {}):
        raise DatasetError(f"{layout.MANIFEST_NAME} in {folder} lists no {split} split")

    entries = manifest["splits"][split]["files"]
    files = sorted(os.path.join(folder, entry["name"]) for entry in entries)
    missing = [file for file in files if not os.path.isfile(file)]
    if missing:
        raise DatasetError(
            f"{len(missing)} {split} files listed in {layout.MANIFEST_NAME} are missing, "
            f"e.g. {missing[0]}")
    if not files:
        raise DatasetError(f"{layout.MANIFEST_NAME} in {folder} lists no {split} files")
    return files


def check_record_files(files):
    """Read every record of every file once and return the total record count.

    Each file must read to its end without error, contain at least one record,
    contain as many records as a dataset.json beside it lists for it, and have a
    first record that matches the schema. Files are read in parallel threads.

    Raises:
      DatasetError: naming the first file (in the given order) that fails.
    """
    if isinstance(files, (str, bytes, os.PathLike)):
        raise DatasetError(
            f"expected a list of record files, got the single path {files!r}; "
            f"list_record_files(path) returns the list")
    files = [os.fspath(file) for file in files]
    if not files:
        raise DatasetError("no record files given")
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as executor:
        outcomes = list(executor.map(_check_one_file, files))
    for outcome in outcomes:
        if isinstance(outcome, DatasetError):
            raise outcome
    return sum(outcomes)


_checked_files = {}  # (path, size, mtime_ns) -> record count
_checked_files_lock = threading.Lock()


def _file_version(path):
    status = os.stat(path)
    return os.path.realpath(path), status.st_size, status.st_mtime_ns


def _check_one_file(path):
    """Return the record count of a file, or the DatasetError that describes its fault."""
    try:
        version = _file_version(path)
    except OSError as error:
        return DatasetError(f"cannot read record file {path}: {error}")
    with _checked_files_lock:
        if version in _checked_files:
            return _checked_files[version]

    try:
        count = int(_count_records(path, _compression(path)))
        first = next(iter(tf.data.TFRecordDataset(path, _compression(path)).take(1)), None)
    except tf.errors.OpError as error:
        return DatasetError(f"record file {path} is truncated or corrupt: {_short_message(error)}")

    if count == 0 or first is None:
        return DatasetError(f"record file {path} contains no records")
    expected = _manifest_count(path)
    if expected is not None and count != expected:
        return DatasetError(
            f"record file {path} contains {count} records, but the {layout.MANIFEST_NAME} "
            f"beside it lists {expected}: the file was truncated or replaced")
    problem = _schema_problem(first)
    if problem:
        return DatasetError(
            f"record file {path} does not match the positional MNIST schema: {problem}")

    with _checked_files_lock:
        _checked_files[version] = count
    return count


@tf.function(input_signature=[tf.TensorSpec([], tf.string), tf.TensorSpec([], tf.string)])
def _count_records(path, compression):
    # Batching first avoids the reduce's per-element cost, which is larger
    # than reading and decompressing a record.
    batches = tf.data.TFRecordDataset(path, compression).batch(COUNT_BATCH)
    return batches.reduce(tf.constant(0, tf.int64),
                          lambda count, batch: count + tf.size(batch, tf.int64))


def _short_message(error):
    """Return the line of a TensorFlow error that describes the failure, without the graph trace."""
    lines = [line.strip() for line in error.message.splitlines()
             if line.strip() and not line[0].isspace()
             and not line.startswith(("Graph execution error", "Detected at node"))]
    message = lines[-1] if lines else error.message
    message = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", message)
    return re.sub(r"\s*\[Op:[^\]]*\].*$", "", message)


def _compression(path):
    return "GZIP" if os.fspath(path).endswith(".gz") else ""


def _manifest_count(path):
    """Return the record count dataset.json beside `path` lists for it, or None."""
    try:
        manifest = layout.read_manifest(os.path.dirname(os.path.abspath(path)))
    except (OSError, ValueError):
        return None
    if manifest is None:
        return None
    name = os.path.basename(path)
    for split in manifest.get("splits", {}).values():
        for entry in split.get("files", []):
            if entry.get("name") == name:
                return entry.get("num_images")
    return None


def _schema_problem(serialized):
    """Return what is wrong with one serialized record, or None if it fits the schema."""
    try:
        features = tf.io.parse_single_example(serialized, FEATURE_SPEC)
    except tf.errors.InvalidArgumentError as error:
        return f"the first record does not parse ({error.message.splitlines()[0]})"
    image_bytes = len(features[IMAGE_KEY].numpy())
    if image_bytes != IMAGE_BYTES:
        return f"the first record's image has {image_bytes} bytes, expected 64 * 64 = {IMAGE_BYTES}"
    label = int(features[LABEL_KEY])
    if not 0 <= label < NUM_CLASSES:
        return f"the first record's label is {label}, expected 0-9"
    try:
        validate_boxes(features[BOX_KEY].numpy())
    except ValueError as error:
        return f"the first record's box is invalid: {error}"
    return None


def parse_example(serialized):
    """Parse serialized records into their raw feature values.

    Args:
      serialized: string tensor, one record (shape []) or a batch (shape [B]).

    Returns:
      dict with "image" uint8 [..., 64, 64, 1] in [0, 255], "label" int64 [...],
      "box" int64 [..., 4] as x, y, w, h in pixels, "mnist_index" int64 [...].
      An image that is not 4096 bytes long fails with InvalidArgumentError.
    """
    serialized = tf.convert_to_tensor(serialized, tf.string)
    if serialized.shape.rank == 0:
        features = tf.io.parse_single_example(serialized, FEATURE_SPEC)
    else:
        features = tf.io.parse_example(serialized, FEATURE_SPEC)

    pixels = tf.io.decode_raw(features[IMAGE_KEY], tf.uint8)
    tf.debugging.assert_equal(
        tf.shape(pixels)[-1], IMAGE_BYTES,
        message="the image feature must contain 64 * 64 = 4096 raw uint8 bytes")
    shape = tf.concat([tf.shape(pixels)[:-1], [CANVAS_SIZE, CANVAS_SIZE, 1]], axis=0)
    features[IMAGE_KEY] = tf.reshape(pixels, shape)
    return features


def _to_model_inputs(serialized):
    """Map a batch of records to (images [B, 64, 64, 1] in [0, 1], one-hot labels, boxes)."""
    features = parse_example(serialized)
    images = tf.cast(features[IMAGE_KEY], tf.float32) / 255.0
    images = tf.ensure_shape(images, [serialized.shape[0], CANVAS_SIZE, CANVAS_SIZE, 1])
    labels = tf.one_hot(features[LABEL_KEY], NUM_CLASSES, dtype=tf.float32)
    boxes = _checked_boxes(features[BOX_KEY])
    return images, labels, boxes


def _to_conditions(serialized):
    """Map a batch of records to (one-hot labels float32 [B, 10], boxes float32 [B, 4])."""
    features = tf.io.parse_example(serialized, CONDITION_SPEC)
    labels = tf.one_hot(features[LABEL_KEY], NUM_CLASSES, dtype=tf.float32)
    return labels, _checked_boxes(features[BOX_KEY])


def _checked_boxes(boxes):
    """Return int64 boxes [B, 4] as float32, failing on any box off the canvas or under 1 pixel.

    check_record_files validates only the first record of each file. This
    checks every record, so an invalid box stops training with its values
    instead of turning into NaN thetas in the spatial transformer.
    """
    x, y, w, h = tf.unstack(boxes, axis=-1)
    valid = (x >= 0) & (y >= 0) & (w >= 1) & (h >= 1)
    valid &= (x + w <= CANVAS_SIZE) & (y + h <= CANVAS_SIZE)
    check = tf.debugging.Assert(
        tf.reduce_all(valid),
        ["invalid box in a record: every box [x, y, w, h] needs w, h >= 1 and must lie on the "
         "64x64 canvas; rewrite the data set with multi_mnist.py. Boxes of the batch:", boxes],
        summarize=-1)
    with tf.control_dependencies([check]):
        return tf.cast(boxes, tf.float32)


def _read_records(files, shuffle, seed, repeat):
    """Return a dataset of serialized records, reading files in parallel.

    The dataset starts from the list of files, so that a tf.distribute
    auto-shard policy of FILE gives each worker its own files.
    """
    compressions = {_compression(file) for file in files}
    if len(compressions) != 1:
        raise DatasetError("record files must be all GZIP-compressed (.gz) or all uncompressed")
    compression = compressions.pop()

    file_names = tf.data.Dataset.from_tensor_slices(files)
    if shuffle:
        file_names = file_names.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        file_names = file_names.repeat()
    return file_names.interleave(
        lambda file: tf.data.TFRecordDataset(file, compression),
        cycle_length=min(len(files), MAX_PARALLEL_FILES),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )


def _with_file_sharding(dataset):
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.FILE
    return dataset.with_options(options)


def make_dataset(files, batch_size, shuffle=True, seed=None, repeat=True, shuffle_buffer=10000,
                 drop_remainder=True):
    """Return a batched tf.data.Dataset of (images, one-hot labels, boxes).

    Args:
      files: record file paths, e.g. from list_record_files. They are checked
        with check_record_files first.
      batch_size: images per batch.
      shuffle: shuffle the file order and the records (within shuffle_buffer).
        Without it the order is fixed: one record from each of the first 16
        files in turn, the next file taking over when one ends.
      seed: seed of both shuffles; None gives a different order every run.
      repeat: repeat the files forever; otherwise read them once.
      shuffle_buffer: records in the shuffle buffer.
      drop_remainder: drop a last batch smaller than batch_size, so that the
        batch dimension is static.

    Returns:
      tf.data.Dataset of tuples
        images float32 [B, 64, 64, 1] in [0, 1],
        labels float32 [B, 10], one-hot,
        boxes float32 [B, 4], x, y, w, h in pixels of the 64x64 canvas,
      with auto-shard policy FILE.
    """
    files = [os.fspath(file) for file in files]
    num_records = check_record_files(files)

    dataset = _read_records(files, shuffle, seed, repeat)
    if shuffle:
        # A buffer beyond the record count would only mix epochs and delay the first batch.
        buffer_size = min(shuffle_buffer, num_records)
        dataset = dataset.shuffle(buffer_size, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    dataset = dataset.map(_to_model_inputs, num_parallel_calls=tf.data.AUTOTUNE)
    return _with_file_sharding(dataset.prefetch(tf.data.AUTOTUNE))


def make_condition_dataset(files, batch_size, seed=None):
    """Return a repeated, shuffled dataset of (one-hot labels [B, 10], boxes [B, 4]), float32.

    Draws generator conditions from the data: the same records as
    make_dataset, without decoding images, shuffled with `seed` (None gives a
    different order every run), repeated forever, in batches of exactly
    batch_size, with auto-shard policy FILE.
    """
    files = [os.fspath(file) for file in files]
    num_records = check_record_files(files)

    dataset = _read_records(files, shuffle=True, seed=seed, repeat=True)
    dataset = dataset.shuffle(min(CONDITION_SHUFFLE_BUFFER, num_records), seed=seed,
                              reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=True)
    dataset = dataset.map(_to_conditions, num_parallel_calls=tf.data.AUTOTUNE)
    return _with_file_sharding(dataset.prefetch(tf.data.AUTOTUNE))
