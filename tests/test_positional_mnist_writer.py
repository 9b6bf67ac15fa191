"""multi_mnist.py end to end: content, determinism, bad input and interruption."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import multi_mnist
from positional_mnist import layout
from positional_mnist.placement import INK_THRESHOLD, ink_boxes
from positional_mnist.reader import check_record_files, list_record_files, parse_example
from positional_mnist.writer import digit_order

REPO = Path(__file__).resolve().parents[1]
MNIST_PATH = REPO.parent / "shared" / "data" / "mnist.npz"
SMALL_RUN = ["--num_images", "2500", "--num_test_images", "300", "--shards", "3", "--seed", "5"]


def run_cli(*args, timeout=120):
    return subprocess.run([sys.executable, str(REPO / "multi_mnist.py"), *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def start_cli(*args):
    # A new session, so that a signal to its process group reaches the pool workers too.
    command = [sys.executable, str(REPO / "multi_mnist.py"), *map(str, args)]
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def read_records(files):
    """Return every record of the files as numpy arrays: images, labels, boxes, mnist indices."""
    batches = [parse_example(batch) for batch in tf.data.TFRecordDataset(files, "GZIP").batch(1000)]
    return tuple(np.concatenate([batch[key].numpy() for batch in batches])
                 for key in ("image", "label", "box", "mnist_index"))


@pytest.fixture(scope="module")
def mnist():
    if not MNIST_PATH.is_file():
        pytest.fail(f"real MNIST not found at {MNIST_PATH}; these tests need "
                    f"../shared/data/mnist.npz beside the repository")
    with np.load(MNIST_PATH) as archive:
        return {key: archive[key] for key in archive.files}


@pytest.fixture(scope="module")
def small_mnist(tmp_path_factory, mnist):
    """An uncompressed .npz of the first 3,000 train and 600 test MNIST digits, quick to load."""
    path = tmp_path_factory.mktemp("mnist") / "mnist_head.npz"
    np.savez(path, x_train=mnist["x_train"][:3000], y_train=mnist["y_train"][:3000],
             x_test=mnist["x_test"][:600], y_test=mnist["y_test"][:600])
    return path


@pytest.fixture(scope="module")
def written(tmp_path_factory, mnist):
    """The same small data set written with one and with two worker processes."""
    folders = {}
    for workers in (1, 2):
        folder = tmp_path_factory.mktemp(f"workers{workers}") / "data"
        result = run_cli("--mnist", MNIST_PATH, "--out_dir", folder, "--workers", workers,
                         *SMALL_RUN)
        assert result.returncode == 0, result.stderr
        folders[workers] = folder
    return folders


@pytest.fixture
def block_mnist(tmp_path):
    """An MNIST .npz whose digits are solid 20x20 blocks of 255, labels 0-9 cycled."""
    images = np.zeros((100, 28, 28), dtype=np.uint8)
    images[:, 4:24, 4:24] = 255
    labels = np.arange(100) % 10
    path = tmp_path / "blocks.npz"
    np.savez(path, x_train=images, y_train=labels, x_test=images[:50], y_test=labels[:50])
    return path


def test_workers_give_identical_files(written):
    names = sorted(os.listdir(written[1]))
    assert names == sorted(os.listdir(written[2]))
    shard_names = [name for name in names if layout.is_shard_name(name)]
    assert len(shard_names) == 6
    for name in shard_names:
        assert (written[1] / name).read_bytes() == (written[2] / name).read_bytes(), name


def test_manifest_lists_every_file(written):
    manifest = json.loads((written[2] / "dataset.json").read_text())
    train = manifest["splits"]["train"]
    assert train["num_images"] == 2500
    assert [entry["num_images"] for entry in train["files"]] == [833, 833, 834]
    assert [entry["name"] for entry in train["files"]] == [
        "train-00000-of-00003.tfrecord.gz", "train-00001-of-00003.tfrecord.gz",
        "train-00002-of-00003.tfrecord.gz"]
    assert [entry["num_images"] for entry in manifest["splits"]["test"]["files"]] == [100, 100, 100]
    assert manifest["seed"] == 5
    assert (manifest["stretch_min"], manifest["stretch_max"]) == (0.8, 1.0)
    assert manifest["image_encoding"] == "raw_uint8"
    for entry in train["files"]:
        assert entry["bytes"] == os.path.getsize(written[2] / entry["name"])


def test_train_records_match_mnist(written, mnist):
    images, labels, boxes, indices = read_records(list_record_files(str(written[2]), "train"))
    assert len(images) == 2500

    np.testing.assert_array_equal(ink_boxes(images[..., 0]), boxes)
    np.testing.assert_array_equal(labels, mnist["y_train"][indices])
    np.testing.assert_array_equal(indices, digit_order(5, "train", 60000)[:2500])
    assert ((images == 0) | (images >= INK_THRESHOLD)).all()
    assert set(labels.tolist()) == set(range(10))

    # Factors of at most 1.0 never enlarge the digit's ink box.
    digit_boxes = ink_boxes(mnist["x_train"][indices])
    assert (boxes[:, 2] <= digit_boxes[:, 2]).all()
    assert (boxes[:, 3] <= digit_boxes[:, 3]).all()
    assert 0.8 < np.mean(boxes[:, 3] / digit_boxes[:, 3]) < 0.95


def test_test_split_uses_test_digits(written, mnist):
    images, labels, boxes, indices = read_records(list_record_files(str(written[2]), "test"))
    assert len(images) == 300
    assert len(set(indices.tolist())) == 300
    assert indices.max() < 10000
    np.testing.assert_array_equal(labels, mnist["y_test"][indices])
    np.testing.assert_array_equal(ink_boxes(images[..., 0]), boxes)


def test_stretch_one_copies_thresholded_digit(tmp_path, mnist, small_mnist):
    folder = tmp_path / "data"
    result = run_cli("--mnist", small_mnist, "--out_dir", folder, "--num_images", 300,
                     "--num_test_images", 1, "--stretch_min", 1, "--stretch_max", 1, "--workers", 1)
    assert result.returncode == 0, result.stderr

    images, labels, boxes, indices = read_records(list_record_files(str(folder), "train"))
    for image, (x, y, w, h), index in zip(images[..., 0], boxes, indices):
        digit = mnist["x_train"][index]
        digit = np.where(digit >= INK_THRESHOLD, digit, 0)
        (dx, dy, dw, dh), = ink_boxes(digit[np.newaxis])
        assert (w, h) == (dw, dh)
        np.testing.assert_array_equal(image[y:y + h, x:x + w], digit[dy:dy + dh, dx:dx + dw])


def test_stretch_range_on_solid_blocks(tmp_path, block_mnist):
    folder = tmp_path / "data"
    result = run_cli("--mnist", block_mnist, "--out_dir", folder, "--num_images", 600,
                     "--num_test_images", 1, "--workers", 1)
    assert result.returncode == 0, result.stderr

    _, _, boxes, _ = read_records(list_record_files(str(folder), "train"))
    # A 20-pixel block scaled by a factor in [0.8, 1.0) is round(20 * factor) = 16..20 pixels.
    assert set(boxes[:, 2].tolist()) == set(range(16, 21))
    assert set(boxes[:, 3].tolist()) == set(range(16, 21))


def test_fixed_stretch_on_solid_blocks(tmp_path, block_mnist):
    folder = tmp_path / "data"
    result = run_cli("--mnist", block_mnist, "--out_dir", folder, "--num_images", 120,
                     "--num_test_images", 1, "--stretch_min", 0.5, "--stretch_max", 0.5,
                     "--workers", 1)
    assert result.returncode == 0, result.stderr

    images, labels, boxes, indices = read_records(list_record_files(str(folder), "train"))
    assert (boxes[:, 2:] == 10).all()
    assert (images.reshape(120, -1).sum(axis=1) == 255 * 100).all()
    # 120 images from 100 digits: image k shows digit order[k % 100].
    np.testing.assert_array_equal(indices, digit_order(0, "train", 100)[np.arange(120) % 100])
    np.testing.assert_array_equal(labels, indices % 10)


def test_summary_is_logged(tmp_path, small_mnist):
    result = run_cli("--mnist", small_mnist, "--out_dir", tmp_path / "data", "--num_images", 50,
                     "--num_test_images", 10)
    assert result.returncode == 0, result.stderr
    assert "Wrote 2 files, 60 images" in result.stderr
    assert "bytes per image" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["--num_images", "0"], "num_images must be at least 1, got 0"),
    (["--num_images", "-5"], "num_images must be at least 1, got -5"),
    (["--num_test_images", "0"], "num_test_images must be at least 1, got 0"),
    (["--stretch_min", "0"], "stretch factors must be > 0"),
    (["--stretch_min", "-0.5"], "stretch factors must be > 0"),
    (["--stretch_min", "0", "--stretch_max", "0"], "stretch factors must be > 0"),
    (["--stretch_min", "nan"], "stretch factors must be > 0"),
    (["--stretch_min", "0.9", "--stretch_max", "0.8"],
     "stretch_min \\(0.9\\) must not exceed stretch_max"),
    (["--stretch_max", "3"], "stretch_max must be at most 2.2857"),
    (["--workers", "0"], "workers must be at least 1"),
    (["--shards", "0"], "shards must be in \\[1, 99999\\]"),
    (["--seed", "-1"], "seed must be >= 0"),
])
def test_cli_rejects_bad_value(tmp_path, capsys, args, message):
    # In-process for speed: the same argparse and config checks as the command line.
    with pytest.raises(SystemExit) as exit_info:
        multi_mnist.main(["--mnist", str(MNIST_PATH), "--out_dir", str(tmp_path / "data"), *args])
    assert exit_info.value.code == 2
    stderr = capsys.readouterr().err
    assert stderr.count("error:") == 1
    assert re.search(message, stderr), stderr
    assert not (tmp_path / "data").exists()


def test_cli_process_exits_on_bad_value(tmp_path):
    result = run_cli("--mnist", MNIST_PATH, "--out_dir", tmp_path / "data", "--num_images", "0")
    assert result.returncode == 2
    assert "multi_mnist.py: error: num_images must be at least 1, got 0" in result.stderr
    assert not (tmp_path / "data").exists()


def test_cli_rejects_missing_mnist(tmp_path):
    result = run_cli("--mnist", tmp_path / "missing.npz", "--out_dir", tmp_path / "data")
    assert result.returncode == 1
    assert f"MNIST source not found: {tmp_path / 'missing.npz'}" in result.stderr


def test_cli_rejects_corrupt_mnist(tmp_path):
    corrupt = tmp_path / "mnist.npz"
    corrupt.write_bytes(MNIST_PATH.read_bytes()[:5000])
    result = run_cli("--mnist", corrupt, "--out_dir", tmp_path / "data")
    assert result.returncode == 1
    assert f"cannot read {corrupt} as an MNIST .npz file" in result.stderr
    assert not (tmp_path / "data").exists()


def test_cli_rejects_file_as_out_dir(tmp_path, small_mnist):
    target = tmp_path / "taken"
    target.write_text("not a folder")
    result = run_cli("--mnist", small_mnist, "--out_dir", target, "--num_images", 10)
    assert result.returncode == 1
    assert f"output path {target} is a file, not a folder" in result.stderr
    assert target.read_text() == "not a folder"


def test_existing_data_set_needs_overwrite(tmp_path, small_mnist):
    folder = tmp_path / "data"
    first = run_cli("--mnist", small_mnist, "--out_dir", folder, "--num_images", 20,
                    "--num_test_images", 5)
    assert first.returncode == 0, first.stderr
    before = (folder / "train-00000-of-00001.tfrecord.gz").read_bytes()

    refused = run_cli("--mnist", small_mnist, "--out_dir", folder, "--num_images", 20,
                      "--num_test_images", 5, "--seed", 1)
    assert refused.returncode == 1
    assert "already contains a data set" in refused.stderr
    assert "--overwrite" in refused.stderr
    assert (folder / "train-00000-of-00001.tfrecord.gz").read_bytes() == before

    replaced = run_cli("--mnist", small_mnist, "--out_dir", folder, "--num_images", 30,
                       "--num_test_images", 5, "--seed", 1, "--shards", 2, "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert sorted(os.listdir(folder)) == [
        "dataset.json", "test-00000-of-00002.tfrecord.gz", "test-00001-of-00002.tfrecord.gz",
        "train-00000-of-00002.tfrecord.gz", "train-00001-of-00002.tfrecord.gz"]


def wait_for_finished_shard(folder, process, timeout=60):
    """Wait until the running CLI has renamed at least one shard and is still writing others."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _, stderr = process.communicate()
            pytest.fail(f"the writer ended before it could be interrupted: {stderr}")
        names = os.listdir(folder) if folder.exists() else []
        if any(layout.is_shard_name(name) for name in names):
            return
        time.sleep(0.02)
    pytest.fail("no shard was finished in time")


def assert_only_complete_shards(folder, num_images, shards):
    expected = dict(zip((layout.shard_name("train", index, shards) for index in range(shards)),
                        (stop - start for start, stop in layout.shard_ranges(num_images, shards))))
    finished = [name for name in os.listdir(folder) if layout.is_shard_name(name)]
    assert finished
    for name in finished:
        assert check_record_files([str(folder / name)]) == expected[name], name
    assert not (folder / "dataset.json").exists()
    with pytest.raises(ValueError, match="has no dataset.json"):
        list_record_files(str(folder))


@pytest.mark.parametrize("signal_number", [signal.SIGKILL, signal.SIGINT])
def test_interrupted_run_leaves_no_partial_shard(tmp_path, small_mnist, signal_number):
    folder = tmp_path / "data"
    args = ["--mnist", small_mnist, "--out_dir", folder, "--num_images", 200_000,
            "--num_test_images", 1, "--shards", 100, "--workers", 2]
    process = start_cli(*args)
    try:
        wait_for_finished_shard(folder, process)
        os.killpg(process.pid, signal_number)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    assert process.returncode != 0
    assert_only_complete_shards(folder, 200_000, 100)
    if signal_number == signal.SIGINT:
        assert process.returncode == 130
        assert "Interrupted" in stderr
        assert not [name for name in os.listdir(folder) if layout.is_partial_name(name)]

    refused = run_cli(*args)
    assert refused.returncode == 1
    assert "files of an unfinished run (no dataset.json)" in refused.stderr
