"""Benchmark the positional MNIST writer and reader: speed, size on disk and peak memory.

Runs multi_mnist.py as a separate process (as a user would) while sampling the
memory of its whole process tree, then reads the result through
positional_mnist.reader, then compares the stored raw bytes with PNG-encoded
images on a sample. Besides wall-clock rates it reports images per CPU
second, which other jobs on the machine disturb much less.

Examples:

    nice -n 19 python bench/bench_data.py --mnist ../shared/data/mnist.npz --num_images 200000
    python bench/bench_data.py --mnist ../shared/data/mnist.npz --num_images 600000 --num_test_images 10000 --json bench/results/bench_data.json
"""

import argparse
import datetime
import io
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a plain script from any folder

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
MEMORY_POLL_SECONDS = 0.05
READ_BATCH_SIZE = 64
WARMUP_BATCHES = 20


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__[__doc__.index("Examples:"):],
    )
    parser.add_argument("--mnist", default=None,
                        help="MNIST source passed to multi_mnist.py (default: the Keras cache)")
    parser.add_argument("--num_images", type=int, default=100_000,
                        help="train images to write (default: %(default)s)")
    parser.add_argument("--num_test_images", type=int, default=1_000,
                        help="test images to write (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=None,
                        help="writer processes (default: multi_mnist.py's default, "
                             "one per CPU core)")
    parser.add_argument("--read_batches", type=int, default=1000,
                        help="timed batches of 64 images through the reader (default: %(default)s)")
    parser.add_argument("--png_sample", type=int, default=10_000,
                        help="images to encode as PNG for the size and speed comparison, 0 to skip "
                             "(default: %(default)s)")
    parser.add_argument("--out_dir", default=None,
                        help="folder for the data set "
                             "(default: a temporary folder, removed at the end)")
    parser.add_argument("--json", metavar="PATH",
                        help="also write the figures, flags and environment to this JSON file, "
                             "e.g. bench/results/bench_data.json (default: no file)")
    return parser.parse_args(argv)


# --- memory of a process tree, from /proc (Linux) ---

def _children(pid):
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as file:
                # The command name may contain spaces; the parent pid follows its closing bracket.
                parent = int(file.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid:
            children.append(int(entry))
    return children


def _tree_memory(pid):
    """Return (PSS, RSS) in bytes summed over pid and its descendants.

    PSS splits pages shared between processes (such as the MNIST arrays that
    forked workers inherit) among them, so its sum does not count them twice.
    """
    pss = rss = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/smaps_rollup") as file:
                for line in file:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
                    elif line.startswith("Rss:"):
                        rss += int(line.split()[1]) * 1024
        except OSError:
            continue
        pending.extend(_children(current))
    return pss, rss


class PeakMemory(threading.Thread):
    """Sample the memory of a process tree until stopped and keep the peaks."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_pss = self.peak_rss = 0
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.is_set():
            pss, rss = _tree_memory(self.pid)
            self.peak_pss = max(self.peak_pss, pss)
            self.peak_rss = max(self.peak_rss, rss)
            time.sleep(MEMORY_POLL_SECONDS)

    def stop(self):
        self._stop_event.set()
        self.join()


# --- the three measurements ---

def bench_generation(args, out_dir):
    command = [sys.executable, str(REPO / "multi_mnist.py"), "--out_dir", out_dir,
               "--num_images", str(args.num_images), "--num_test_images", str(args.num_test_images),
               "--overwrite"]
    if args.mnist:
        command += ["--mnist", args.mnist]
    if args.workers:
        command += ["--workers", str(args.workers)]

    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    memory = PeakMemory(process.pid)
    memory.start()
    _, stderr = process.communicate()
    seconds = time.monotonic() - start
    memory.stop()
    # Includes the pool workers, which multi_mnist.py waits for before it exits.
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_seconds = (cpu_after.ru_utime + cpu_after.ru_stime
                   - cpu_before.ru_utime - cpu_before.ru_stime)
    if process.returncode != 0:
        sys.exit(f"multi_mnist.py failed:\n{stderr}")

    num_images = args.num_images + args.num_test_images
    num_bytes = sum(path.stat().st_size for path in Path(out_dir).glob("*.tfrecord.gz"))
    return {
        "generation_seconds": seconds,
        "generation_images_per_second": num_images / seconds,
        "generation_cpu_seconds": cpu_seconds,
        "generation_images_per_cpu_second": num_images / cpu_seconds,
        "bytes_per_image": num_bytes / num_images,
        "generation_peak_pss_mib": memory.peak_pss / 2**20,
        "generation_peak_rss_mib": memory.peak_rss / 2**20,
    }


def bench_reading(args, out_dir):
    from positional_mnist.reader import check_record_files, list_record_files, make_dataset

    files = list_record_files(out_dir, "train")
    start = time.monotonic()
    check_record_files(files)
    check_seconds = time.monotonic() - start

    iterator = iter(make_dataset(files, READ_BATCH_SIZE, seed=0))
    for _ in range(WARMUP_BATCHES):
        next(iterator)
    start, cpu_start = time.monotonic(), time.process_time()
    for _ in range(args.read_batches):
        images, labels, boxes = next(iterator)
    images.numpy()
    seconds, cpu_seconds = time.monotonic() - start, time.process_time() - cpu_start
    num_images = args.read_batches * READ_BATCH_SIZE
    return {
        "check_record_files_seconds": check_seconds,
        "read_images_per_second": num_images / seconds,
        "read_images_per_cpu_second": num_images / cpu_seconds,
        "reader_process_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def bench_png(args, out_dir):
    """Store a sample of the images as PNG records and time reading them like the reader does."""
    import numpy as np
    import tensorflow as tf
    from PIL import Image

    from positional_mnist.reader import list_record_files, parse_example

    files = list_record_files(out_dir, "train")
    records = tf.data.TFRecordDataset(files, "GZIP").take(args.png_sample).batch(1000)
    images = np.concatenate([parse_example(batch)["image"].numpy()[..., 0] for batch in records])

    path = os.path.join(out_dir, "png_sample.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for image in images:
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format="PNG")
            feature = tf.train.Feature(bytes_list=tf.train.BytesList(value=[buffer.getvalue()]))
            writer.write(tf.train.Example(features=tf.train.Features(feature={"image": feature}))
                         .SerializeToString())
    png_bytes = os.path.getsize(path)

    def decode(serialized):
        spec = {"image": tf.io.FixedLenFeature([], tf.string)}
        png = tf.io.parse_single_example(serialized, spec)["image"]
        return tf.cast(tf.io.decode_png(png, channels=1), tf.float32) / 255.0

    dataset = tf.data.TFRecordDataset(path).repeat()
    dataset = dataset.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.batch(READ_BATCH_SIZE).prefetch(tf.data.AUTOTUNE)
    iterator = iter(dataset)
    for _ in range(WARMUP_BATCHES):
        next(iterator)
    start, cpu_start = time.monotonic(), time.process_time()
    for _ in range(args.read_batches):
        batch = next(iterator)
    batch.numpy()
    seconds, cpu_seconds = time.monotonic() - start, time.process_time() - cpu_start
    os.remove(path)
    num_images = args.read_batches * READ_BATCH_SIZE
    return {
        "png_bytes_per_image": png_bytes / len(images),
        "png_read_images_per_second": num_images / seconds,
        "png_read_images_per_cpu_second": num_images / cpu_seconds,
    }


def describe_environment():
    """Return the versions and machine state that the figures depend on."""
    import numpy
    import PIL

    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "python": platform.python_version(), "numpy": numpy.__version__,
        "pillow": PIL.__version__, "cpu_count": os.cpu_count(),
        # Other jobs on the cores slow the writer, so a value near 0 means a fair measurement.
        "cpu_busy_fraction_before_start": _cpu_busy_fraction(),
    }


def _cpu_busy_fraction(seconds=1.0):
    """Return the fraction of all cores' time spent busy over the next `seconds` (Linux)."""
    def read_cpu_times():
        with open("/proc/stat", encoding="utf-8") as file:
            values = [int(value) for value in file.readline().split()[1:]]
        idle = values[3] + values[4]  # idle and iowait
        return sum(values), idle

    try:
        total_before, idle_before = read_cpu_times()
        time.sleep(seconds)
        total_after, idle_after = read_cpu_times()
    except OSError:
        return None
    total = total_after - total_before
    return 1 - (idle_after - idle_before) / total if total else None


def main(argv=None):
    args = parse_args(argv)
    environment = describe_environment()
    out_dir = args.out_dir or tempfile.mkdtemp(prefix="bench_data_")
    try:
        results = bench_generation(args, out_dir)
        results.update(bench_reading(args, out_dir))
        if args.png_sample > 0:
            results.update(bench_png(args, out_dir))
    finally:
        if args.out_dir is None:
            shutil.rmtree(out_dir, ignore_errors=True)

    print(f"images written: {args.num_images:,} train + {args.num_test_images:,} test, "
          f"workers: {args.workers or 'default'}, CPU cores: {os.cpu_count()}")
    for name, value in results.items():
        print(f"{name:32s} {value:12,.1f}")
    if args.json:
        record = {"flags": vars(args), "environment": environment, "results": results}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
