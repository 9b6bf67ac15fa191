"""The condition sets a generator is evaluated on, and the real test records behind them.

- "sweep": for each digit 0-9, the 100 boxes of the 10x10 sweep grid
  (grids.sweep_boxes), 1,000 conditions in digit-major order.
- "test": the labels and boxes of the first N records of the test split, in
  file order, so the same data set always gives the same records.

Noise is uniform in [-1, 1], drawn from a generator seeded by (seed, set), so
each set's numbers reproduce and do not depend on the other set's size.
"""

import dataclasses

import numpy as np

from grids import sweep_boxes
from positional_mnist.reader import make_dataset

NUM_CLASSES = 10
SWEEP = "sweep"
TEST = "test"
_NOISE_STREAMS = {SWEEP: 0, TEST: 1}


@dataclasses.dataclass
class ConditionSet:
    """Labels and boxes to generate images for.

    Attributes:
      name: SWEEP or TEST.
      digits: int64 (n,), the requested digits 0-9.
      boxes: float32 (n, 4), the requested boxes x, y, w, h in pixels.
    """

    name: str
    digits: np.ndarray
    boxes: np.ndarray

    def __len__(self):
        return len(self.digits)

    def one_hot_labels(self):
        """Return the digits as one-hot float32 (n, 10)."""
        return np.eye(NUM_CLASSES, dtype=np.float32)[self.digits]

    def noise(self, noise_dim, seed):
        """Return the set's noise, float32 (n, noise_dim) uniform in [-1, 1], fixed by `seed`."""
        rng = np.random.default_rng([seed, _NOISE_STREAMS[self.name]])
        return rng.uniform(-1.0, 1.0, (len(self), noise_dim)).astype(np.float32)


@dataclasses.dataclass
class RealRecords:
    """Records of the data set as numpy arrays.

    Attributes:
      images: float32 (n, 64, 64, 1) in [0, 1].
      digits: int64 (n,), the labels 0-9.
      boxes: float32 (n, 4), the ink boxes x, y, w, h in pixels.
    """

    images: np.ndarray
    digits: np.ndarray
    boxes: np.ndarray

    def __len__(self):
        return len(self.digits)


def sweep_conditions():
    """Return the sweep set: the 100 sweep-grid boxes for each digit 0-9 (1,000 conditions)."""
    boxes = sweep_boxes()
    digits = np.repeat(np.arange(NUM_CLASSES, dtype=np.int64), len(boxes))
    return ConditionSet(SWEEP, digits, np.tile(boxes, (NUM_CLASSES, 1)).astype(np.float32))


def test_conditions(records):
    """Return the test set: the labels and boxes of `records` (RealRecords)."""
    return ConditionSet(TEST, records.digits.copy(), records.boxes.copy())


def iterate_records(files, batch_size):
    """Yield the records of `files` once, in file order, as numpy batches.

    Yields:
      (images float32 (B, 64, 64, 1) in [0, 1], digits int64 (B,), boxes
      float32 (B, 4)); the last batch may be smaller.
    """
    dataset = make_dataset(files, batch_size, shuffle=False, repeat=False, drop_remainder=False)
    for images, labels, boxes in dataset:
        yield images.numpy(), np.argmax(labels.numpy(), axis=1), boxes.numpy()


def split_records(files, num_records, batch_size=500):
    """Read the first `num_records` records of `files` and iterate over the rest.

    Returns:
      (RealRecords of the first num_records records, a generator of
      (images, digits, boxes) batches of the records after them). The
      RealRecords contain fewer records when the files contain fewer.
    """
    batches = iterate_records(files, batch_size)
    parts = []  # (images, digits, boxes) slices of the first num_records records
    count = 0
    leftover = None
    for batch in batches:
        needed = num_records - count
        parts.append(tuple(array[:needed] for array in batch))
        count += len(parts[-1][1])
        if count >= num_records:
            if len(batch[1]) > needed:
                leftover = tuple(array[needed:] for array in batch)
            break

    records = RealRecords(*(np.concatenate(arrays) for arrays in zip(*parts)))

    def rest():
        if leftover is not None:
            yield leftover
        yield from batches

    return records, rest()
