"""The settings of one data set run, checked when they are built."""

import dataclasses
import os

from positional_mnist import layout
from positional_mnist.errors import DatasetError
from positional_mnist.placement import MAX_STRETCH


def default_workers():
    """Return the default number of writer processes: one per CPU core."""
    return os.cpu_count() or 1


@dataclasses.dataclass(frozen=True)
class DatasetConfig:
    """Settings of multi_mnist.py; each field has the name of its flag.

    Attributes:
      out_dir: folder to write the shards and dataset.json into.
      mnist: MNIST source (.npz file or folder of IDX files), or None for the
        Keras cache or download.
      num_images: images in the train split, made from MNIST train digits.
      num_test_images: images in the test split, made from MNIST test digits.
      seed: non-negative seed of the digit order, stretch factors and positions.
      workers: writer processes; the output does not depend on it.
      shards: files per split, or None for one per 10,000 images. A split
        with fewer images than shards gets one file per image.
      stretch_min, stretch_max: range of the independent width and height
        scale factors, drawn uniformly.
      overwrite: replace a data set that already exists in out_dir.
    """

    out_dir: str = "positional_mnist_data"
    mnist: str | None = None
    num_images: int = 600_000
    num_test_images: int = 10_000
    seed: int = 0
    workers: int = dataclasses.field(default_factory=default_workers)
    shards: int | None = None
    stretch_min: float = 0.8
    stretch_max: float = 1.0
    overwrite: bool = False

    def __post_init__(self):
        for name in ("num_images", "num_test_images", "workers"):
            if getattr(self, name) < 1:
                raise DatasetError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.seed < 0:
            raise DatasetError(f"seed must be >= 0, got {self.seed}")
        if self.shards is not None and not 1 <= self.shards <= layout.MAX_SHARDS:
            raise DatasetError(f"shards must be in [1, {layout.MAX_SHARDS}], got {self.shards}")

        if not (self.stretch_min > 0 and self.stretch_max > 0):
            raise DatasetError(
                f"stretch factors must be > 0, got stretch_min={self.stretch_min}, "
                f"stretch_max={self.stretch_max}")
        if self.stretch_min > self.stretch_max:
            raise DatasetError(
                f"stretch_min ({self.stretch_min}) must not exceed "
                f"stretch_max ({self.stretch_max})")
        if self.stretch_max > MAX_STRETCH:
            raise DatasetError(
                f"stretch_max must be at most {MAX_STRETCH:.4f} (64 / 28) so that every stretched "
                f"digit fits the 64x64 canvas, got {self.stretch_max}")

    def split_sizes(self):
        """Return {split: number of images}."""
        return {"train": self.num_images, "test": self.num_test_images}

    def shard_count(self, split):
        """Return the number of files of a split."""
        num_images = self.split_sizes()[split]
        if self.shards is None:
            return layout.default_shard_count(num_images)
        return min(self.shards, num_images)
