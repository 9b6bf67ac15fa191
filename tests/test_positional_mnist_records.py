"""Record encoding, TFRecord framing and parsing: the writer and reader must agree."""

import os

import numpy as np
import pytest
import tensorflow as tf

from positional_mnist.reader import parse_example
from positional_mnist.schema import encode_example, encode_examples, validate_boxes
from positional_mnist.tfrecord import GzipRecordWriter, crc32c, frame_records


def case5_image():
    image = np.zeros((64, 64), dtype=np.uint8)
    image[40, 40] = 191
    image[63, 63] = 255
    return image


def write_gzip_records(path, records):
    with open(path, "wb") as file:
        writer = GzipRecordWriter(file)
        writer.write(records)
        writer.close()


def reference_crc32c(data):
    """Bit-by-bit CRC-32C (Castagnoli, reflected), the definition the fast version must match."""
    register = 0xFFFFFFFF
    for byte in data:
        register ^= byte
        for _ in range(8):
            register = (register >> 1) ^ (0x82F63B78 if register & 1 else 0)
    return register ^ 0xFFFFFFFF


def test_crc32c_known_values():
    # Check values from RFC 3720, appendix B.4, and the usual "123456789" check.
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E
    assert crc32c(b"") == 0


def test_crc32c_matches_bitwise_definition():
    rng = np.random.default_rng(3)
    for length in (1, 7, 8, 9, 100, 4200):
        data = np.zeros(length, dtype=np.uint8)
        data[rng.integers(0, length, size=max(1, length // 10))] = rng.integers(1, 256)
        assert crc32c(data.tobytes()) == reference_crc32c(data.tobytes()), length


def test_tensorflow_reads_framed_records(tmp_path):
    records = [bytes([i]) * (i * 37 % 300) + b"x" for i in range(40)] + [b""]
    path = str(tmp_path / "framed.tfrecord.gz")
    with open(path, "wb") as file:
        writer = GzipRecordWriter(file)
        writer.write(records[:25])
        writer.write(records[25:])
        writer.close()

    read = [record.numpy() for record in tf.data.TFRecordDataset(path, "GZIP")]
    assert read == records
    assert writer.bytes_written == os.path.getsize(path)


@pytest.mark.parametrize("position", ["length_crc", "data_crc"])
def test_tensorflow_checks_both_crcs(tmp_path, position):
    # Without these checks, a successful read above would not prove the CRCs right.
    framed = bytearray(frame_records([b"payload"]))
    framed[8 if position == "length_crc" else -1] ^= 0x01
    path = tmp_path / "bad_crc.tfrecord"
    path.write_bytes(bytes(framed))
    with pytest.raises(tf.errors.DataLossError):
        list(tf.data.TFRecordDataset(str(path)))


def test_framing_is_deterministic():
    records = [b"abc", bytes(5000), b"\x01" * 17]
    assert frame_records(records) == frame_records(list(records))


def test_encoding_matches_tensorflow_serialization():
    for mnist_index in (0, 127, 128, 59_999, 2**40):
        for box in ([0, 0, 1, 1], [40, 40, 24, 24], [0, 0, 64, 64]):
            serialized = encode_example(case5_image(), 9, box, mnist_index)
            example = tf.train.Example.FromString(serialized)
            assert example.SerializeToString(deterministic=True) == serialized
            assert list(example.features.feature["box"].int64_list.value) == box
            assert example.features.feature["mnist_index"].int64_list.value[0] == mnist_index


def test_case5_round_trip(tmp_path):
    path = str(tmp_path / "case5.tfrecord.gz")
    write_gzip_records(path, [encode_example(case5_image(), 7, [40, 40, 24, 24], 123)])
    serialized = next(iter(tf.data.TFRecordDataset(path, "GZIP")))

    features = parse_example(serialized)
    assert features["image"].dtype == tf.uint8
    assert features["image"].shape == (64, 64, 1)
    assert int(features["image"][40, 40, 0]) == 191
    assert int(features["image"][63, 63, 0]) == 255
    assert int(tf.reduce_sum(tf.cast(features["image"], tf.int64))) == 191 + 255
    assert int(features["label"]) == 7
    assert features["box"].numpy().tolist() == [40, 40, 24, 24]
    assert int(features["mnist_index"]) == 123


def test_parse_example_batch():
    records = [encode_example(case5_image(), label, [40, 40, 24, 24], label) for label in range(3)]
    features = parse_example(tf.constant(records))
    assert features["image"].shape == (3, 64, 64, 1)
    assert features["label"].numpy().tolist() == [0, 1, 2]
    assert features["box"].shape == (3, 4)


def test_parse_example_rejects_short_image():
    example = tf.train.Example(features=tf.train.Features(feature={
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[bytes(100)])),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[1])),
        "box": tf.train.Feature(int64_list=tf.train.Int64List(value=[0, 0, 1, 1])),
        "mnist_index": tf.train.Feature(int64_list=tf.train.Int64List(value=[0])),
    }))
    with pytest.raises(tf.errors.InvalidArgumentError, match="4096"):
        parse_example(example.SerializeToString())


@pytest.mark.parametrize("image, message", [
    (np.zeros((64, 64), dtype=np.float32), "uint8"),
    (np.zeros((64, 64), dtype=np.int64), "uint8"),
    (np.zeros((32, 32), dtype=np.uint8), "shape"),
    (np.zeros((64, 64, 3), dtype=np.uint8), "shape"),
])
def test_encode_rejects_wrong_image(image, message):
    with pytest.raises(ValueError, match=message):
        encode_example(image, 1, [0, 0, 1, 1], 0)


def test_encode_rejects_bad_label_and_box():
    with pytest.raises(ValueError, match="label"):
        encode_example(case5_image(), 10, [0, 0, 1, 1], 0)
    with pytest.raises(ValueError, match="x \\+ w > 64"):
        encode_example(case5_image(), 1, [60, 0, 5, 1], 0)


def test_encode_examples_matches_single_encoding():
    images = np.stack([case5_image(), np.full((64, 64), 3, dtype=np.uint8)])
    boxes = np.array([[40, 40, 24, 24], [0, 0, 64, 64]])
    batch = encode_examples(images, np.array([7, 2]), boxes, np.array([5, 60_000]))
    assert batch[0] == encode_example(images[0], 7, boxes[0], 5)
    assert batch[1] == encode_example(images[1], 2, boxes[1], 60_000)
    assert len(batch) == 2


@pytest.mark.parametrize("box, message", [
    ([0, 0, 0, 5], "width w < 1"),
    ([0, 0, 5, 0], "height h < 1"),
    ([-1, 0, 5, 5], "x < 0"),
    ([0, -1, 5, 5], "y < 0"),
    ([40, 0, 25, 5], "x \\+ w > 64"),
    ([0, 60, 5, 5], "y \\+ h > 64"),
    ([0.5, 0, 5, 5], "whole numbers"),
    ([0, 0, 5], "shape"),
])
def test_validate_boxes_rejects(box, message):
    with pytest.raises(ValueError, match=message):
        validate_boxes(box)


def test_validate_boxes_accepts_canvas_edges():
    boxes = validate_boxes(tf.constant([[40, 40, 24, 24], [0, 0, 64, 64], [63, 63, 1, 1]]))
    assert boxes.tolist() == [[40, 40, 24, 24], [0, 0, 64, 64], [63, 63, 1, 1]]
    assert validate_boxes(np.array([1.0, 2.0, 3.0, 4.0])).tolist() == [[1, 2, 3, 4]]


def test_validate_boxes_names_the_bad_box():
    with pytest.raises(ValueError, match="invalid box 1 .*\\[50, 0, 20, 3\\]"):
        validate_boxes([[0, 0, 5, 5], [50, 0, 20, 3]])


def test_validate_single_box_has_no_index():
    with pytest.raises(ValueError, match=r"^invalid box \[x, y, w, h\] = \[60, 0, 10, 10\]: x"):
        validate_boxes([60, 0, 10, 10])
