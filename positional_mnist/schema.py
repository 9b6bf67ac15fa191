"""The record schema shared by the writer and the reader.

One `tf.train.Example` per image, with features

    image        bytes: 64 * 64 uint8 grayscale pixels, raw and row-major
    label        int64: the digit class, 0-9
    box          int64 list [x, y, w, h]: the exact bounding box of the image's
                 non-zero pixels, in pixels of the 64x64 canvas, origin top-left,
                 covering columns x..x+w-1 and rows y..y+h-1
    mnist_index  int64: the digit's index in its MNIST split (train or test)

in GZIP-compressed TFRecord files. Raw bytes beat PNG on both size and read
speed here because the gzip stream spans many records (bench/bench_data.py
measures both). This module does not import TensorFlow: it encodes records by
hand, and the reader builds its parsing spec from the names below.
"""

import numpy as np

CANVAS_SIZE = 64
NUM_CLASSES = 10
IMAGE_BYTES = CANVAS_SIZE * CANVAS_SIZE
IMAGE_ENCODING = "raw_uint8"

IMAGE_KEY = "image"
LABEL_KEY = "label"
BOX_KEY = "box"
MNIST_INDEX_KEY = "mnist_index"
BOX_LENGTH = 4

# Protocol buffer tags (field number << 3 | wire type 2) of the tf.train.Example
# messages, which all nest length-delimited fields:
# Example.features = 1, Features.feature (map entry) = 1, map entry key = 1 and
# value = 2, Feature.bytes_list = 1 and int64_list = 3, BytesList.value = 1 and
# Int64List.value = 1 (packed).
_TAG_1 = b"\x0a"
_TAG_2 = b"\x12"
_TAG_3 = b"\x1a"


def _varint(value):
    """Encode a non-negative integer as a protocol buffer varint."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _length_delimited(tag, payload):
    return tag + _varint(len(payload)) + payload


def _map_entry(key, feature):
    entry = _length_delimited(_TAG_1, key.encode()) + _length_delimited(_TAG_2, feature)
    return _length_delimited(_TAG_1, entry)


def _bytes_feature(value):
    return _length_delimited(_TAG_1, _length_delimited(_TAG_1, value))


def _int64_feature(values):
    packed = b"".join(_varint(int(value)) for value in values)
    return _length_delimited(_TAG_3, _length_delimited(_TAG_1, packed))


def encode_example(image, label, box, mnist_index):
    """Serialize one record as a tf.train.Example.

    Args:
      image: uint8 array (64, 64) or (64, 64, 1). Any other dtype or shape is
        rejected rather than converted, so that a float image in [0, 1] is
        never written as the wrong bytes.
      label: int in [0, 9].
      box: 4 ints [x, y, w, h], see the module docstring; checked with
        validate_boxes.
      mnist_index: non-negative int.

    Returns:
      bytes, the serialized Example. Keys are written in sorted order, so equal
      inputs give equal bytes.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 in [0, 255], got dtype {image.dtype}")
    if image.shape not in ((CANVAS_SIZE, CANVAS_SIZE), (CANVAS_SIZE, CANVAS_SIZE, 1)):
        raise ValueError(f"image must have shape (64, 64) or (64, 64, 1), got {image.shape}")
    if not 0 <= int(label) < NUM_CLASSES:
        raise ValueError(f"label must be in [0, 9], got {label}")
    if int(mnist_index) < 0:
        raise ValueError(f"mnist_index must be >= 0, got {mnist_index}")
    box = tuple(validate_boxes(box)[0].tolist())
    return encode_checked_example(image.tobytes(), int(label), box, int(mnist_index))


def encode_checked_example(image_bytes, label, box, mnist_index):
    """Serialize one record whose fields the caller has already validated.

    The writer's fast path: `image_bytes` is 4096 raw uint8 bytes, `label` is a
    Python int in [0, 9], `box` a tuple of four Python ints in [0, 64] (not a
    numpy array, whose bytes() would be its 8-byte machine integers) and
    `mnist_index` a non-negative Python int.
    """
    features = b"".join((
        _BOX_ENTRY_PREFIX,
        bytes(box),  # values below 128 are one varint byte each
        _IMAGE_ENTRY_PREFIX,
        image_bytes,
        _LABEL_ENTRY_PREFIX,
        bytes((label,)),
        _map_entry(MNIST_INDEX_KEY, _int64_feature((mnist_index,))),
    ))
    return _TAG_1 + _varint(len(features)) + features


def encode_examples(images, labels, boxes, mnist_indices):
    """Serialize a batch of records whose fields the caller has already validated.

    Args:
      images: uint8 array (n, 64, 64).
      labels, mnist_indices: int arrays (n,), labels in [0, 9], indices >= 0.
      boxes: int array (n, 4) of valid boxes (see validate_boxes).

    Returns:
      list of n serialized Examples.
    """
    image_bytes = np.ascontiguousarray(images, dtype=np.uint8).tobytes()
    return [
        encode_checked_example(
            image_bytes[IMAGE_BYTES * i:IMAGE_BYTES * (i + 1)], label, box, index)
        for i, (label, box, index) in enumerate(
            zip(labels.tolist(), map(tuple, boxes.tolist()), mnist_indices.tolist()))
    ]


# The fixed parts of the box, image and label map entries, up to their values.
_BOX_ENTRY_PREFIX = _map_entry(BOX_KEY, _int64_feature((0,) * BOX_LENGTH))[:-BOX_LENGTH]
_IMAGE_ENTRY_PREFIX = _map_entry(IMAGE_KEY, _bytes_feature(bytes(IMAGE_BYTES)))[:-IMAGE_BYTES]
_LABEL_ENTRY_PREFIX = _map_entry(LABEL_KEY, _int64_feature((0,)))[:-1]


def validate_boxes(boxes):
    """Raise ValueError unless every box has w, h >= 1 and lies on the 64x64 canvas.

    Args:
      boxes: one box [x, y, w, h] or an array (n, 4) of them, in pixels; a
        numpy array, list or eager tensor. Values must be whole numbers.

    Returns:
      int64 numpy array (n, 4) of the boxes.
    """
    array = np.asarray(boxes)
    if array.ndim == 1:
        array = array[np.newaxis]
    if array.ndim != 2 or array.shape[1] != BOX_LENGTH:
        raise ValueError(
            f"boxes must have shape (4,) or (n, 4) as [x, y, w, h], got {np.shape(boxes)}")
    if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
        raise ValueError(f"box values must be whole numbers of pixels, got {array.tolist()}")

    array = array.astype(np.int64)
    x, y, w, h = array.T
    problems = [
        (w < 1, "width w < 1"),
        (h < 1, "height h < 1"),
        (x < 0, "x < 0"),
        (y < 0, "y < 0"),
        (x + w > CANVAS_SIZE, "x + w > 64: the box leaves the canvas on the right"),
        (y + h > CANVAS_SIZE, "y + h > 64: the box leaves the canvas at the bottom"),
    ]
    for failed, reason in problems:
        if failed.any():
            index = int(np.flatnonzero(failed)[0])
            # An index helps only among several boxes; alone it reads like a box value.
            name = f"box {index}" if len(array) > 1 else "box"
            raise ValueError(
                f"invalid {name} [x, y, w, h] = {array[index].tolist()}: {reason}; boxes are "
                f"pixels of the 64x64 canvas with w, h >= 1, x + w <= 64 and y + h <= 64")
    return array
