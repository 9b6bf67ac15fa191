"""Loading MNIST from .npz, IDX folders and the Keras cache, and rejecting bad sources."""

import gzip
import logging
import os
import re
from pathlib import Path

import numpy as np
import pytest

import multi_mnist
from positional_mnist import mnist_source
from positional_mnist.errors import DatasetError
from positional_mnist.mnist_source import load_mnist

MNIST_PATH = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz"


@pytest.fixture(scope="module")
def mnist():
    if not MNIST_PATH.is_file():
        pytest.fail(f"real MNIST not found at {MNIST_PATH}; these tests need "
                    f"../shared/data/mnist.npz beside the repository")
    return load_mnist(str(MNIST_PATH))


def write_idx(path, array, gzipped):
    magic = 0x0800 | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    opener = gzip.open if gzipped else open
    with opener(path + (".gz" if gzipped else ""), "wb") as file:
        file.write(header + array.astype(np.uint8).tobytes())


def write_idx_folder(folder, mnist, count, gzipped):
    for split, (images_name, labels_name) in mnist_source.IDX_NAMES.items():
        write_idx(os.path.join(folder, images_name), mnist[split].images[:count], gzipped)
        write_idx(os.path.join(folder, labels_name), mnist[split].labels[:count], gzipped)


def test_npz_has_known_mnist_facts(mnist):
    train, test = mnist["train"], mnist["test"]
    assert train.images.shape == (60000, 28, 28)
    assert train.images.dtype == np.uint8
    assert test.images.shape == (10000, 28, 28)
    assert np.bincount(train.labels).tolist() == [
        5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(test.labels).tolist() == [
        980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert train.labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert test.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert int(train.images[0].sum()) == 27525


@pytest.mark.parametrize("gzipped", [False, True])
def test_idx_folder_matches_npz(tmp_path, mnist, gzipped):
    write_idx_folder(str(tmp_path), mnist, 50, gzipped)
    loaded = load_mnist(str(tmp_path))
    for split in ("train", "test"):
        np.testing.assert_array_equal(loaded[split].images, mnist[split].images[:50])
        np.testing.assert_array_equal(loaded[split].labels, mnist[split].labels[:50])


def test_missing_path_is_rejected(tmp_path):
    with pytest.raises(DatasetError, match="not found: .*nowhere.npz"):
        load_mnist(str(tmp_path / "nowhere.npz"))


def test_non_npz_file_is_rejected(tmp_path):
    path = tmp_path / "mnist.npz"
    path.write_bytes(b"this is not a zip archive")
    message = f"cannot read {re.escape(str(path))} as an MNIST .npz file"
    with pytest.raises(DatasetError, match=message) as error:
        load_mnist(str(path))
    assert "not a zip archive" in str(error.value)
    assert "allow_pickle" not in str(error.value)


def test_truncated_npz_is_rejected(tmp_path):
    path = tmp_path / "mnist.npz"
    path.write_bytes(MNIST_PATH.read_bytes()[:100_000])
    with pytest.raises(DatasetError, match=f"cannot read {re.escape(str(path))}"):
        load_mnist(str(path))


def test_npz_without_keys_is_rejected(tmp_path, mnist):
    path = tmp_path / "partial.npz"
    np.savez(path, x_train=mnist["train"].images[:10], y_train=mnist["train"].labels[:10])
    with pytest.raises(DatasetError, match="lacks the keys x_test, y_test"):
        load_mnist(str(path))


@pytest.mark.parametrize("change, message", [
    ({"x_train": np.zeros((10, 32, 32), dtype=np.uint8)}, "must be uint8 \\(n, 28, 28\\)"),
    ({"x_train": np.ones((10, 28, 28), dtype=np.float32)}, "must be uint8"),
    ({"y_train": np.zeros(9, dtype=np.uint8)}, "must have shape \\(10,\\)"),
    ({"y_train": np.full(10, 10, dtype=np.uint8)}, "integers in \\[0, 9\\]"),
    ({"x_train": np.zeros((10, 28, 28), dtype=np.uint8)}, "all-zero image"),
])
def test_npz_with_wrong_arrays_is_rejected(tmp_path, mnist, change, message):
    arrays = {"x_train": mnist["train"].images[:10], "y_train": mnist["train"].labels[:10],
              "x_test": mnist["test"].images[:10], "y_test": mnist["test"].labels[:10]}
    arrays.update(change)
    path = tmp_path / "wrong.npz"
    np.savez(path, **arrays)
    with pytest.raises(DatasetError, match=message):
        load_mnist(str(path))


def test_idx_folder_missing_file_is_rejected(tmp_path, mnist):
    write_idx_folder(str(tmp_path), mnist, 5, gzipped=False)
    os.remove(tmp_path / "t10k-labels-idx1-ubyte")
    message = "has no t10k-labels-idx1-ubyte or t10k-labels-idx1-ubyte.gz"
    with pytest.raises(DatasetError, match=message):
        load_mnist(str(tmp_path))


def test_idx_bad_magic_is_rejected(tmp_path, mnist):
    write_idx_folder(str(tmp_path), mnist, 5, gzipped=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(b"\x00\x00\x08\x01" + path.read_bytes()[4:])
    with pytest.raises(DatasetError, match="magic number 0x00000801, expected 0x00000803"):
        load_mnist(str(tmp_path))


def test_idx_truncated_file_is_rejected(tmp_path, mnist):
    write_idx_folder(str(tmp_path), mnist, 5, gzipped=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DatasetError, match="truncated or corrupt"):
        load_mnist(str(tmp_path))


def test_idx_corrupt_gzip_is_rejected(tmp_path, mnist):
    write_idx_folder(str(tmp_path), mnist, 5, gzipped=True)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(b"not gzip data")
    message = "cannot read the MNIST IDX file .*train-labels-idx1-ubyte.gz"
    with pytest.raises(DatasetError, match=message):
        load_mnist(str(tmp_path))


def test_keras_cache_is_used(tmp_path, monkeypatch):
    os.makedirs(tmp_path / "datasets")
    os.symlink(MNIST_PATH, tmp_path / "datasets" / "mnist.npz")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(mnist_source, "_download_with_keras", lambda: pytest.fail("downloaded"))
    assert load_mnist()["train"].images.shape == (60000, 28, 28)


def test_failed_download_names_mnist_flag(tmp_path, monkeypatch, caplog):
    def fail_download():
        raise OSError("network is unreachable")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setattr(mnist_source, "_download_with_keras", fail_download)
    message = "not in the Keras cache .* download failed: OSError: network"
    with pytest.raises(DatasetError, match=message):
        load_mnist()

    out_dir = tmp_path / "out"
    with caplog.at_level(logging.ERROR):
        assert multi_mnist.main(["--out_dir", str(out_dir), "--num_images", "10"]) == 1
    assert "--mnist PATH" in caplog.text
    assert not (out_dir / "dataset.json").exists()
