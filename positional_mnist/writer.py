"""Write the positional MNIST data set: sharded, in parallel, deterministic and safe to interrupt.

Determinism: image k of a split shows MNIST digit order[k % n_digits], where
order is a permutation seeded by (seed, split). Its stretch factors and
position come from a generator seeded by (seed, split, shard index), drawn in
chunks of CHUNK_IMAGES from the shard's start. So the bytes of every file
depend on the seed, the counts, the shard count and the stretch range, but not
on the number of worker processes.

Safety: each shard is written under a hidden partial name and renamed when it
is complete, and dataset.json is written last. Memory stays flat because each
worker keeps one chunk of images in memory at a time.
"""

import dataclasses
import logging
import multiprocessing
import os
import signal
import time

import numpy as np

from positional_mnist import layout
from positional_mnist.errors import DatasetError
from positional_mnist.mnist_source import load_mnist
from positional_mnist.placement import ink_boxes, render_images
from positional_mnist.progress import ProgressLog
from positional_mnist.schema import CANVAS_SIZE, IMAGE_ENCODING, encode_examples, validate_boxes
from positional_mnist.tfrecord import GzipRecordWriter

logger = logging.getLogger(__name__)

CHUNK_IMAGES = 1000
SPLIT_IDS = {"train": 0, "test": 1}
# Independent random streams derived from the seed, one per purpose.
ORDER_STREAM = 0
SHARD_STREAM = 1
PROGRESS_POLL_SECONDS = 0.5


@dataclasses.dataclass(frozen=True)
class SplitSource:
    """The MNIST digits one split is made from, and the order it uses them in.

    Attributes:
      images: uint8 (n, 28, 28) MNIST digits.
      labels: int64 (n,) their labels.
      ink_boxes: int64 (n, 4) their ink boxes x, y, w, h.
      order: int64 (n,) permutation; image k uses digit order[k % n].
    """

    images: np.ndarray
    labels: np.ndarray
    ink_boxes: np.ndarray
    order: np.ndarray


@dataclasses.dataclass(frozen=True)
class ShardTask:
    """Images start..stop-1 of a split, to be written to `path`."""

    split: str
    index: int
    count: int
    start: int
    stop: int
    path: str


def digit_order(seed, split, num_digits):
    """Return the seeded permutation of MNIST digit indices that a split cycles through."""
    sequence = np.random.SeedSequence(seed, spawn_key=(SPLIT_IDS[split], ORDER_STREAM))
    return np.random.default_rng(sequence).permutation(num_digits)


def shard_rng(seed, split, index):
    """Return the generator of a shard's stretch factors and positions."""
    sequence = np.random.SeedSequence(seed, spawn_key=(SPLIT_IDS[split], SHARD_STREAM, index))
    return np.random.default_rng(sequence)


def write_dataset(config):
    """Write both splits and dataset.json into config.out_dir.

    Args:
      config: a DatasetConfig.

    Returns:
      dict, the manifest written to dataset.json.

    Raises:
      DatasetError: for an unusable MNIST source or output folder.
    """
    start_time = time.monotonic()
    check_output_dir(config.out_dir, config.overwrite)
    mnist = load_mnist(config.mnist)
    prepare_output_dir(config.out_dir, config.overwrite)

    sources = {}
    for split, digits in mnist.items():
        sources[split] = SplitSource(
            images=digits.images,
            labels=digits.labels,
            ink_boxes=ink_boxes(digits.images),
            order=digit_order(config.seed, split, len(digits.images)),
        )
    tasks = plan_shards(config)

    try:
        files = _run_tasks(tasks, sources, config)
    except BaseException:
        _remove_partial_files(config.out_dir)
        raise

    manifest = _make_manifest(config, files, sources)
    layout.write_manifest(config.out_dir, manifest)
    _log_summary(config.out_dir, files, time.monotonic() - start_time)
    return manifest


def plan_shards(config):
    """Return the ShardTasks of both splits, train first."""
    tasks = []
    for split, num_images in config.split_sizes().items():
        count = config.shard_count(split)
        for index, (start, stop) in enumerate(layout.shard_ranges(num_images, count)):
            path = os.path.join(config.out_dir, layout.shard_name(split, index, count))
            tasks.append(ShardTask(split, index, count, start, stop, path))
    return tasks


def check_output_dir(out_dir, overwrite):
    """Raise DatasetError unless out_dir can take a new data set, without changing anything.

    Returns:
      list of the names of an earlier data set's files in out_dir (dataset.json
      and shards), which overwrite allows replacing.
    """
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise DatasetError(
            f"output path {out_dir} is a file, not a folder; choose another --out_dir")
    if not os.path.exists(out_dir):
        return []

    existing = sorted(name for name in os.listdir(out_dir)
                      if name == layout.MANIFEST_NAME or layout.is_shard_name(name))
    if existing and not overwrite:
        finished = layout.MANIFEST_NAME in existing
        state = "a data set" if finished else "files of an unfinished run (no dataset.json)"
        raise DatasetError(
            f"output folder {out_dir} already contains {state}: {len(existing)} files such as "
            f"{existing[0]}; pass --overwrite to replace them or choose another --out_dir")
    return existing


def prepare_output_dir(out_dir, overwrite):
    """Create the output folder, or empty it of an earlier data set when overwrite is set.

    Only dataset.json, shard files and partial files are removed; other files
    stay. dataset.json goes first, so an interrupted overwrite leaves a folder
    that the reader rejects.
    """
    existing = check_output_dir(out_dir, overwrite)
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as error:
        raise DatasetError(f"cannot create the output folder {out_dir}: {error}") from error

    removable = sorted(existing, key=lambda name: name != layout.MANIFEST_NAME)
    removable += [name for name in os.listdir(out_dir) if layout.is_partial_name(name)]
    for name in removable:
        os.remove(os.path.join(out_dir, name))
    if existing:
        logger.info("Removed the earlier data set in %s (%d files)", out_dir, len(existing))


def write_shard(task, source, config, report):
    """Write one shard file through its partial name.

    Args:
      task: the ShardTask.
      source: the SplitSource of task.split.
      config: the DatasetConfig (seed and stretch range are used).
      report: callable taking the number of images just written.

    Returns:
      dict with the file's name, num_images, first_image and bytes.
    """
    rng = shard_rng(config.seed, task.split, task.index)
    folder, name = os.path.split(task.path)
    partial = os.path.join(folder, layout.partial_name(name))
    try:
        with open(partial, "wb") as file:
            writer = GzipRecordWriter(file)
            for chunk_start in range(task.start, task.stop, CHUNK_IMAGES):
                image_numbers = np.arange(chunk_start, min(chunk_start + CHUNK_IMAGES, task.stop))
                digit_indices = source.order[image_numbers % len(source.order)]

                images, boxes = render_images(
                    rng, source.images[digit_indices], source.ink_boxes[digit_indices],
                    config.stretch_min, config.stretch_max)
                validate_boxes(boxes)
                labels = source.labels[digit_indices]
                writer.write(encode_examples(images, labels, boxes, digit_indices))
                report(len(image_numbers))
            writer.close()
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, task.path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)

    return {"name": os.path.basename(task.path), "num_images": task.stop - task.start,
            "first_image": task.start, "bytes": writer.bytes_written}


def _run_tasks(tasks, sources, config):
    """Write all shards, in this process for one worker, else in a process pool."""
    progress = ProgressLog(sum(task.stop - task.start for task in tasks))
    logger.info("Writing %s images in %d files to %s with %d worker process(es)",
                f"{progress.total:,}", len(tasks), config.out_dir, min(config.workers, len(tasks)))

    if config.workers == 1 or len(tasks) == 1:
        def report(count):
            progress.update(progress.done + count)

        return [write_shard(task, sources[task.split], config, report) for task in tasks]

    context = _process_context()
    counter = context.Value("q", 0)
    files = []
    with context.Pool(min(config.workers, len(tasks)), initializer=_init_worker,
                      initargs=(sources, config, counter)) as pool:
        results = pool.imap_unordered(_write_shard_in_worker, tasks)
        while len(files) < len(tasks):
            try:
                files.append(results.next(timeout=PROGRESS_POLL_SECONDS))
            except multiprocessing.TimeoutError:
                pass
            progress.update(counter.value)
    return sorted(files, key=lambda file: file["name"])


def _process_context():
    # fork shares the MNIST arrays with the workers instead of pickling them.
    # The workers use only numpy, Pillow and zlib, never TensorFlow, whose
    # runtime does not support being used in a forked child.
    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


_worker_sources = None
_worker_config = None
_worker_counter = None


def _init_worker(sources, config, counter):
    global _worker_sources, _worker_config, _worker_counter
    # Ctrl-C reaches the whole process group. Only the parent handles it: it
    # terminates the pool, then removes the partial files.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker_sources, _worker_config, _worker_counter = sources, config, counter


def _write_shard_in_worker(task):
    return write_shard(task, _worker_sources[task.split], _worker_config, _count_in_worker)


def _count_in_worker(count):
    with _worker_counter.get_lock():
        _worker_counter.value += count


def _remove_partial_files(out_dir):
    for name in os.listdir(out_dir):
        if layout.is_partial_name(name):
            os.remove(os.path.join(out_dir, name))


def _make_manifest(config, files, sources):
    splits = {}
    for split in layout.SPLITS:
        split_files = [file for file in files if layout.is_shard_name(file["name"], split)]
        splits[split] = {
            "num_images": sum(file["num_images"] for file in split_files),
            "mnist_split": split,
            "num_mnist_digits": len(sources[split].images),
            "files": split_files,
        }
    return {
        "format": layout.MANIFEST_FORMAT,
        "version": layout.MANIFEST_VERSION,
        "image_encoding": IMAGE_ENCODING,
        "image_shape": [CANVAS_SIZE, CANVAS_SIZE, 1],
        "compression": "GZIP",
        "seed": config.seed,
        "stretch_min": config.stretch_min,
        "stretch_max": config.stretch_max,
        "mnist_source": config.mnist if config.mnist is not None else "keras",
        "flags": dataclasses.asdict(config),
        "splits": splits,
    }


def _log_summary(out_dir, files, seconds):
    num_images = sum(file["num_images"] for file in files)
    num_bytes = sum(file["bytes"] for file in files)
    logger.info(
        "Wrote %d files, %s images, %s bytes (%.0f bytes per image) to %s in %.1f s (%s images/s)",
        len(files), f"{num_images:,}", f"{num_bytes:,}", num_bytes / num_images, out_dir, seconds,
        f"{num_images / seconds:,.0f}")
