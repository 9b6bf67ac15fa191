"""The tf.data reader: file listing, damaged files, schema checks and batches."""

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import dataset_samples

from positional_mnist.config import DatasetConfig
from positional_mnist.errors import DatasetError
from positional_mnist.placement import ink_boxes
from positional_mnist.reader import (check_record_files, list_record_files, make_condition_dataset,
                                     make_dataset)
from positional_mnist.schema import encode_example
from positional_mnist.tfrecord import GzipRecordWriter
from positional_mnist.writer import write_dataset

MNIST_PATH = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz"
TRAIN_FILES = [f"train-{index:05d}-of-00004.tfrecord.gz" for index in range(4)]
TEST_FILES = [f"test-{index:05d}-of-00004.tfrecord.gz" for index in range(4)]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A data set of 500 train and 100 test images in 4 files per split, from real MNIST digits."""
    if not MNIST_PATH.is_file():
        pytest.fail(f"real MNIST not found at {MNIST_PATH}; these tests need "
                    f"../shared/data/mnist.npz beside the repository")
    with np.load(MNIST_PATH) as archive:
        head = {key: archive[key][:1000] for key in archive.files}
    root = tmp_path_factory.mktemp("reader")
    np.savez(root / "mnist_head.npz", **head)

    folder = root / "data"
    config = DatasetConfig(out_dir=str(folder), mnist=str(root / "mnist_head.npz"),
                           num_images=500, num_test_images=100, shards=4, workers=1)
    write_dataset(config)
    return folder


def write_records(path, count, label=3, image_bytes=None, drop=None):
    """Write `count` records with a 10x20 block image; optionally break the schema."""
    records = []
    for index in range(count):
        image = np.zeros((64, 64), dtype=np.uint8)
        image[10:30, 10:20] = 100 + index
        record = encode_example(image, label, [10, 10, 10, 20], index)
        if image_bytes is not None or drop is not None:
            example = tf.train.Example.FromString(record)
            if image_bytes is not None:
                example.features.feature["image"].bytes_list.value[0] = bytes(image_bytes)
            if drop is not None:
                del example.features.feature[drop]
            record = example.SerializeToString()
        records.append(record)
    with open(path, "wb") as file:
        writer = GzipRecordWriter(file)
        writer.write(records)
        writer.close()
    return str(path)


def case5_file(path):
    image = np.zeros((64, 64), dtype=np.uint8)
    image[40, 40] = 191
    image[63, 63] = 255
    with open(path, "wb") as file:
        writer = GzipRecordWriter(file)
        writer.write([encode_example(image, 7, [40, 40, 24, 24], 0)])
        writer.close()
    return str(path)


def test_dataset_error_is_value_error():
    assert issubclass(DatasetError, ValueError)


def test_list_folder_gives_one_split(data_dir):
    assert list_record_files(str(data_dir)) == [str(data_dir / name) for name in TRAIN_FILES]
    assert list_record_files(str(data_dir), "test") == [str(data_dir / name) for name in TEST_FILES]


def test_list_file_and_glob(data_dir):
    single = str(data_dir / TEST_FILES[1])
    assert list_record_files(single) == [single]
    everything = str(data_dir / "*")
    assert list_record_files(everything) == [str(data_dir / name) for name in TRAIN_FILES]
    assert list_record_files(everything, "test") == [str(data_dir / name) for name in TEST_FILES]


def test_list_rejects_glob_of_other_split(data_dir):
    message = "no train record files match .*test-\\*.*only files of other splits"
    with pytest.raises(DatasetError, match=message):
        list_record_files(str(data_dir / "test-*"))


def test_list_rejects_no_match(tmp_path):
    pattern = str(tmp_path / "*.tfrecord.gz")
    with pytest.raises(DatasetError, match=f"no train record files match {re.escape(pattern)}"):
        list_record_files(pattern)


def test_list_rejects_unfinished_folder(tmp_path, data_dir):
    shutil.copy(data_dir / TRAIN_FILES[0], tmp_path)
    message = f"folder {re.escape(str(tmp_path))} has no dataset.json"
    with pytest.raises(DatasetError, match=message):
        list_record_files(str(tmp_path))


def test_list_rejects_missing_listed_file(tmp_path, data_dir):
    folder = tmp_path / "copy"
    shutil.copytree(data_dir, folder)
    os.remove(folder / TRAIN_FILES[2])
    message = f"1 train files listed in dataset.json are missing, e.g. .*{TRAIN_FILES[2]}"
    with pytest.raises(DatasetError, match=message):
        list_record_files(str(folder))


def test_list_rejects_unknown_split(data_dir):
    with pytest.raises(DatasetError, match="split must be one of train, test"):
        list_record_files(str(data_dir), "validation")


def test_check_counts_records(data_dir):
    assert check_record_files(list_record_files(str(data_dir))) == 500
    assert check_record_files(list_record_files(str(data_dir), "test")) == 100


def test_check_rejects_empty_list():
    with pytest.raises(DatasetError, match="no record files given"):
        check_record_files([])


def test_check_rejects_single_path(data_dir):
    with pytest.raises(DatasetError, match="expected a list of record files"):
        check_record_files(str(data_dir))


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_case4_damaged_file_named(tmp_path, damage):
    first = write_records(tmp_path / "first.tfrecord.gz", 10)
    second = write_records(tmp_path / "second.tfrecord.gz", 10)
    data = Path(second).read_bytes()
    if damage == "truncate":
        Path(second).write_bytes(data[:-100])
    else:
        middle = len(data) // 2
        Path(second).write_bytes(data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:])

    assert check_record_files([first]) == 10
    message = f"record file {re.escape(second)} is truncated or corrupt"
    with pytest.raises(DatasetError, match=message):
        check_record_files([first, second])
    with pytest.raises(DatasetError, match=f"record file {re.escape(second)}"):
        make_dataset([first, second], batch_size=4, shuffle=False, repeat=False)
    with pytest.raises(DatasetError, match=f"record file {re.escape(second)}"):
        make_condition_dataset([first, second], batch_size=4)


def test_file_damaged_after_check_is_found(tmp_path):
    path = write_records(tmp_path / "records.tfrecord.gz", 10)
    assert check_record_files([path]) == 10
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[:-100])
    message = f"record file {re.escape(path)} is truncated or corrupt"
    with pytest.raises(DatasetError, match=message):
        check_record_files([path])


def test_check_compares_manifest_counts(tmp_path, data_dir):
    folder = tmp_path / "copy"
    shutil.copytree(data_dir, folder)
    replaced = write_records(folder / TRAIN_FILES[1], 5)
    manifest = json.loads((folder / "dataset.json").read_text())
    expected = manifest["splits"]["train"]["files"][1]["num_images"]
    message = (f"record file {re.escape(replaced)} contains 5 records, "
               f"but the dataset.json beside it lists {expected}")
    with pytest.raises(DatasetError, match=message):
        check_record_files(list_record_files(str(folder)))


@pytest.mark.parametrize("broken, message", [
    ({"image_bytes": 100}, "the first record's image has 100 bytes, expected 64 \\* 64 = 4096"),
    ({"drop": "box"}, "the first record does not parse"),
    ({"drop": "mnist_index"}, "the first record does not parse"),
    ({"label": 12}, "the first record's label is 12"),
])
def test_check_rejects_schema_mismatch(tmp_path, broken, message):
    path = tmp_path / "other.tfrecord.gz"
    if "label" in broken:
        record = encode_example(np.ones((64, 64), np.uint8), 1, [0, 0, 64, 64], 0)
        example = tf.train.Example.FromString(record)
        example.features.feature["label"].int64_list.value[0] = broken["label"]
        with open(path, "wb") as file:
            writer = GzipRecordWriter(file)
            writer.write([example.SerializeToString()])
            writer.close()
    else:
        write_records(path, 3, **broken)
    expected = f"record file {re.escape(str(path))} does not match the positional MNIST schema: "
    with pytest.raises(DatasetError, match=expected + message):
        check_record_files([str(path)])


def test_check_rejects_file_without_records(tmp_path):
    path = write_records(tmp_path / "empty.tfrecord.gz", 0)
    with pytest.raises(DatasetError, match=f"record file {re.escape(path)} contains no records"):
        check_record_files([path])


def test_case5_through_make_dataset(tmp_path):
    path = case5_file(tmp_path / "case5.tfrecord.gz")
    dataset = make_dataset([path], batch_size=1, shuffle=False, repeat=False)
    images, labels, boxes = next(iter(dataset))

    assert images.dtype == tf.float32
    assert images.shape == (1, 64, 64, 1)
    assert images[0, 40, 40, 0].numpy() == np.float32(191) / np.float32(255)
    assert images[0, 63, 63, 0].numpy() == 1.0
    assert float(tf.reduce_sum(images)) == pytest.approx(191 / 255 + 1.0)
    assert labels.numpy().tolist() == [[0, 0, 0, 0, 0, 0, 0, 1, 0, 0]]
    assert boxes.dtype == tf.float32
    assert boxes.numpy().tolist() == [[40, 40, 24, 24]]


def test_make_dataset_batches(data_dir):
    dataset = make_dataset(list_record_files(str(data_dir)), batch_size=32, seed=1)
    images_spec, labels_spec, boxes_spec = dataset.element_spec
    assert images_spec.shape == (32, 64, 64, 1)
    assert labels_spec.shape == (32, 10)
    assert boxes_spec.shape == (32, 4)
    assert images_spec.dtype == labels_spec.dtype == boxes_spec.dtype == tf.float32
    policy = dataset.options().experimental_distribute.auto_shard_policy
    assert policy == tf.data.experimental.AutoShardPolicy.FILE

    batches = list(dataset.take(20))  # 640 images, more than the 500 records: repeats
    images = np.concatenate([batch[0].numpy() for batch in batches])
    labels = np.concatenate([batch[1].numpy() for batch in batches])
    boxes = np.concatenate([batch[2].numpy() for batch in batches])
    assert images.min() == 0.0
    assert images.max() == 1.0
    assert (labels.sum(axis=1) == 1).all()
    np.testing.assert_array_equal(ink_boxes(np.rint(images[..., 0] * 255).astype(np.uint8)), boxes)


def test_make_dataset_seed_repeats_order(data_dir):
    files = list_record_files(str(data_dir))
    first = next(iter(make_dataset(files, batch_size=16, seed=3)))[2].numpy()
    again = next(iter(make_dataset(files, batch_size=16, seed=3)))[2].numpy()
    other = next(iter(make_dataset(files, batch_size=16, seed=4)))[2].numpy()
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_make_dataset_single_pass_reads_every_record(data_dir):
    files = list_record_files(str(data_dir))
    dataset = make_dataset(files, batch_size=64, shuffle=False, repeat=False, drop_remainder=False)
    boxes = np.concatenate([batch[2].numpy() for batch in dataset])
    assert boxes.shape == (500, 4)

    # Without shuffling, the records of the four files come round-robin: 125 rounds of 4.
    raw = [[tf.train.Example.FromString(record.numpy())
            for record in tf.data.TFRecordDataset(file, "GZIP")]
           for file in files]
    expected = [list(raw[file][index].features.feature["box"].int64_list.value)
                for index in range(125) for file in range(4)]
    assert boxes.tolist() == expected


def test_condition_dataset(data_dir):
    files = list_record_files(str(data_dir))
    dataset = make_condition_dataset(files, batch_size=50, seed=5)
    labels_spec, boxes_spec = dataset.element_spec
    assert labels_spec.shape == (50, 10)
    assert boxes_spec.shape == (50, 4)
    policy = dataset.options().experimental_distribute.auto_shard_policy
    assert policy == tf.data.experimental.AutoShardPolicy.FILE

    batches = list(dataset.take(30))  # 1,500 conditions from 500 records: repeats
    labels = np.concatenate([batch[0].numpy() for batch in batches])
    boxes = np.concatenate([batch[1].numpy() for batch in batches])
    assert (labels.sum(axis=1) == 1).all()
    assert set(labels.argmax(axis=1).tolist()) == set(range(10))
    assert (boxes[:, :2] >= 0).all()
    assert (boxes[:, 2:] >= 1).all()
    assert (boxes[:, 0] + boxes[:, 2] <= 64).all()
    assert (boxes[:, 1] + boxes[:, 3] <= 64).all()

    again = next(iter(make_condition_dataset(files, batch_size=50, seed=5)))
    np.testing.assert_array_equal(again[1].numpy(), boxes[:50])


def test_sample_grid_rows_are_digits(tmp_path, data_dir):
    output = tmp_path / "pictures" / "samples.png"
    assert dataset_samples.main(["--dataset", str(data_dir), "--output", str(output)]) == 0

    grid = np.asarray(Image.open(output))
    assert grid.shape == (680, 680)
    assert (grid[:2] == 255).all()
    assert (grid[:, 66:70] == 255).all()

    # Tile (r, c) is the c-th record with label r, in file order.
    records = tf.data.TFRecordDataset(list_record_files(str(data_dir)), "GZIP")
    examples = [tf.train.Example.FromString(record.numpy()) for record in records]
    for label in (0, 9):
        first = next(example for example in examples
                     if example.features.feature["label"].int64_list.value[0] == label)
        image = np.frombuffer(first.features.feature["image"].bytes_list.value[0], np.uint8)
        top = 2 + 68 * label
        np.testing.assert_array_equal(grid[top:top + 64, 2:66], image.reshape(64, 64))


def test_invalid_box_in_later_record_rejected(tmp_path):
    import tensorflow as tf

    from positional_mnist.reader import make_condition_dataset, make_dataset

    def example(box):
        feature = {
            "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[bytes(64 * 64)])),
            "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[3])),
            "box": tf.train.Feature(int64_list=tf.train.Int64List(value=box)),
            "mnist_index": tf.train.Feature(int64_list=tf.train.Int64List(value=[0])),
        }
        return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()

    # The first record is valid, so the per-file check passes; the later
    # boxes reach past the right edge (50 + 20 > 64). A shuffled, repeated
    # batch of six holds only the valid record with probability (1/6)^6.
    path = str(tmp_path / "records.tfrecord.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        writer.write(example([10, 10, 20, 20]))
        for _ in range(5):
            writer.write(example([50, 10, 20, 20]))

    for dataset in (make_dataset([path], 2, shuffle=False, repeat=False),
                    make_condition_dataset([path], 6, seed=0)):
        with pytest.raises(tf.errors.InvalidArgumentError, match="invalid box in a record"):
            next(iter(dataset))
