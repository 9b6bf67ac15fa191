"""Fixtures shared by several test files."""

import os
import subprocess
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST_PATH = os.path.join(REPO_ROOT, "..", "shared", "data", "mnist.npz")


@pytest.fixture(scope="session")
def make_positional_mnist(tmp_path_factory):
    """Return a function that writes a positional MNIST folder with multi_mnist.py.

    The function takes the number of train images, test images and files
    per split, and returns the folder. The images come from real MNIST
    digits, so the tests fail (never skip) when ../shared/data/mnist.npz is
    missing.
    """
    def write(num_images, num_test_images=64, shards=2):
        if not os.path.isfile(MNIST_PATH):
            pytest.fail(f"real MNIST not found at {os.path.abspath(MNIST_PATH)}; the training "
                        f"tests need ../shared/data/mnist.npz beside the repository")
        out_dir = tmp_path_factory.mktemp("positional_mnist") / "data"
        command = [sys.executable, os.path.join(REPO_ROOT, "multi_mnist.py"),
                   "--mnist", MNIST_PATH, "--num_images", str(num_images),
                   "--num_test_images", str(num_test_images), "--shards", str(shards),
                   "--workers", "1", "--out_dir", str(out_dir)]
        result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 0, f"multi_mnist.py failed:\n{result.stderr}"
        return str(out_dir)

    return write


@pytest.fixture(scope="session")
def tiny_dataset(make_positional_mnist):
    """A positional MNIST folder with 256 train and 64 test images in 2 files per split."""
    return make_positional_mnist(256)
