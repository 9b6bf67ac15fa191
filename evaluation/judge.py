"""The judge: a small CNN that reads the digit in a 64x64 image, trained once and cached.

The judge learns from the training split of a positional MNIST data set and is
checked on its test split, whose digits come from MNIST's test set. Its
penultimate layer ("features", 128 ReLU units) supplies the features for the
FID. Convolutions followed by a global max pool make it read a digit wherever
it sits on the canvas, so its features describe the digit's appearance,
not its position (box IoU and ink inside measure the position).

Cache layout: JUDGE_DIR/judge.keras (the model, loadable in Keras's safe mode)
and JUDGE_DIR/judge.json (training settings, data set and test accuracy).
"""

import dataclasses
import json
import logging
import os
import time

import keras
import numpy as np
import tensorflow as tf

from evaluation.conditions import iterate_records
from positional_mnist import layout
from positional_mnist.reader import check_record_files, list_record_files, make_dataset

logger = logging.getLogger(__name__)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_JUDGE_DIR = os.path.join(REPO_ROOT, "judge")
MODEL_FILE = "judge.keras"
INFO_FILE = "judge.json"
FEATURES_LAYER = "features"
NUM_CLASSES = 10
TARGET_TEST_ACCURACY = 0.99
TRAIN_JUDGE_COMMAND = "python lwawtd_evaluate.py --train_judge"


class JudgeError(ValueError):
    """A judge that is missing, unreadable or cannot be trained on the given data."""


@dataclasses.dataclass
class JudgeTrainingConfig:
    """How to train the judge.

    Attributes:
      dataset: data set folder, record file or glob (see list_record_files);
        the judge trains on its train split and is tested on its test split.
      judge_dir: folder to write judge.keras and judge.json into.
      epochs: training epochs.
      images_per_epoch: training images per epoch, drawn from the shuffled and
        repeated train split, so a split larger than one epoch gives every
        epoch fresh images.
      batch_size: images per training step.
      learning_rate: initial Adam learning rate, decayed to 0 along a cosine.
      seed: seed of the weights, the data order and dropout.
    """

    dataset: str = "positional_mnist_data"
    judge_dir: str = DEFAULT_JUDGE_DIR
    epochs: int = 8
    images_per_epoch: int = 60_000
    batch_size: int = 128
    learning_rate: float = 1e-3
    seed: int = 0

    def validate(self):
        """Raise ValueError naming the first invalid setting."""
        for name in ("epochs", "images_per_epoch", "batch_size", "learning_rate"):
            if getattr(self, name) <= 0:
                raise ValueError(f"judge {name} must be positive, got {getattr(self, name)}")
        if self.images_per_epoch < self.batch_size:
            raise ValueError(f"judge images_per_epoch ({self.images_per_epoch}) must be at least "
                             f"the batch size ({self.batch_size})")


def build_judge():
    """Build the untrained judge.

    Input: images float32 (B, 64, 64, 1) in [0, 1].
    Output: logits float32 (B, 10). The layer named "features" gives (B, 128).

    Four 3x3 convolutions with ReLU; the first three are each
    followed by a 2x2 max pool, 64 -> 32 -> 16 -> 8 pixels, and the last by a
    global max pool. About 0.1 M weights and 20 M multiply-adds per image.
    """
    images = keras.Input((64, 64, 1), name="images")
    outputs = images
    for index, filters in enumerate((32, 32, 64, 128)):
        outputs = keras.layers.Conv2D(filters, 3, padding="same", activation="relu",
                                      kernel_initializer="he_normal", name=f"conv_{index}")(outputs)
        if index < 3:
            outputs = keras.layers.MaxPooling2D(2, name=f"pool_{index}")(outputs)
    outputs = keras.layers.GlobalMaxPooling2D(name="global_pool")(outputs)  # (B, 128)

    features = keras.layers.Dense(128, activation="relu", name=FEATURES_LAYER)(outputs)
    outputs = keras.layers.Dropout(0.25, name="dropout")(features)
    logits = keras.layers.Dense(NUM_CLASSES, name="logits")(outputs)
    return keras.Model(images, logits, name="judge")


class Judge:
    """A trained judge that returns predicted digits and FID features for batches of images."""

    def __init__(self, model, info=None):
        self.model = model
        self.info = info or {}
        extractor = keras.Model(model.inputs, [model.get_layer(FEATURES_LAYER).output,
                                               model.outputs[0]])
        self._read = tf.function(
            lambda images: extractor(images, training=False),
            input_signature=[tf.TensorSpec([None, 64, 64, 1], tf.float32)])

    def read(self, images):
        """Read one batch of images (B, 64, 64, 1) in [0, 1].

        Returns:
          digits: int64 (B,), the most likely digit.
          features: float32 (B, 128), the penultimate layer.
        """
        features, logits = self._read(tf.convert_to_tensor(images, tf.float32))
        return np.argmax(logits.numpy(), axis=1), features.numpy()

    def read_all(self, images, batch_size=500):
        """Read images (n, 64, 64, 1) in batches; return digits (n,) and features (n, 128)."""
        digits, features = [], []
        for start in range(0, len(images), batch_size):
            batch_digits, batch_features = self.read(images[start:start + batch_size])
            digits.append(batch_digits)
            features.append(batch_features)
        return np.concatenate(digits), np.concatenate(features)


def train_judge(config):
    """Train the judge, test it on the test split and save both files to config.judge_dir.

    Returns:
      The judge.json contents (dict), which include "test_accuracy".

    Raises:
      ValueError: an invalid setting.
      positional_mnist.DatasetError: the data set is missing or damaged.
    """
    config.validate()
    train_files = list_record_files(config.dataset, split="train")
    test_files = list_record_files(config.dataset, split="test")
    num_train = check_record_files(train_files)
    num_test = check_record_files(test_files)
    steps_per_epoch = config.images_per_epoch // config.batch_size
    logger.info("training the judge for %d epochs of %d images (batch %d) drawn from %d "
                "training records", config.epochs, steps_per_epoch * config.batch_size,
                config.batch_size, num_train)

    # Seed the weights, the dropout masks and the record order.
    keras.utils.set_random_seed(config.seed)
    model = build_judge()
    schedule = keras.optimizers.schedules.CosineDecay(
        config.learning_rate, decay_steps=steps_per_epoch * config.epochs)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])

    dataset = make_dataset(train_files, config.batch_size, shuffle=True, seed=config.seed)
    dataset = dataset.map(lambda images, labels, boxes: (images, labels))
    start = time.perf_counter()
    model.fit(dataset, epochs=config.epochs, steps_per_epoch=steps_per_epoch, shuffle=False,
              verbose=2)  # make_dataset has shuffled the records
    seconds = time.perf_counter() - start

    judge = Judge(model)
    test_accuracy = measure_accuracy(judge, test_files)
    logger.info("judge test accuracy %.4f on %d test records (%.0f s of training)",
                test_accuracy, num_test, seconds)
    if test_accuracy < TARGET_TEST_ACCURACY:
        logger.warning("the judge's test accuracy %.4f is below %.2f: train it on more images "
                       "(--judge_epochs, --judge_images_per_epoch)", test_accuracy,
                       TARGET_TEST_ACCURACY)

    info = {
        "test_accuracy": test_accuracy,
        "num_test_records": num_test,
        "num_train_records": num_train,
        "training_seconds": round(seconds, 1),
        "dataset": os.path.abspath(config.dataset),
        "dataset_manifest": _manifest_summary(config.dataset),
        "settings": dataclasses.asdict(config),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }
    save_judge(model, info, config.judge_dir)
    return info


def measure_accuracy(judge, files, batch_size=500):
    """Return the share of the records in `files` whose digit the judge reads correctly."""
    correct = total = 0
    for images, labels, _ in iterate_records(files, batch_size):
        digits, _ = judge.read(images)
        correct += int(np.sum(digits == labels))
        total += len(labels)
    return correct / total


def _manifest_summary(dataset):
    """Return the seed, stretch range and split sizes from the data set's dataset.json, or None."""
    manifest = layout.read_manifest(dataset) if os.path.isdir(dataset) else None
    if manifest is None:
        return None
    summary = {key: manifest.get(key) for key in ("seed", "stretch_min", "stretch_max")}
    for split, entry in manifest.get("splits", {}).items():
        summary[f"num_{split}_images"] = entry.get("num_images")
    return summary


def save_judge(model, info, judge_dir):
    """Write judge.keras and judge.json to `judge_dir`, each through a temporary name.

    judge.keras gets the architecture and weights but not the optimizer state,
    which would nearly triple the file and is not needed to read digits.
    """
    os.makedirs(judge_dir, exist_ok=True)
    weights_only = build_judge()
    weights_only.set_weights(model.get_weights())
    model_path = os.path.join(judge_dir, MODEL_FILE)
    partial_model = os.path.join(judge_dir, "partial_" + MODEL_FILE)
    weights_only.save(partial_model)
    os.replace(partial_model, model_path)

    info_path = os.path.join(judge_dir, INFO_FILE)
    with open(info_path + ".partial", "w", encoding="utf-8") as file:
        json.dump(info, file, indent=2, sort_keys=True)
        file.write("\n")
    os.replace(info_path + ".partial", info_path)
    logger.info("saved the judge to %s", judge_dir)


def load_judge(judge_dir=DEFAULT_JUDGE_DIR):
    """Load a trained judge from `judge_dir`.

    Raises:
      JudgeError: a file is missing or does not load; the message gives the
        command that trains the judge.
    """
    model_path = os.path.join(judge_dir, MODEL_FILE)
    info_path = os.path.join(judge_dir, INFO_FILE)
    for path in (model_path, info_path):
        if not os.path.isfile(path):
            raise JudgeError(f"judge file {path} not found; train the judge with "
                             f"`{TRAIN_JUDGE_COMMAND} --judge_dir {judge_dir}`")
    try:
        model = keras.models.load_model(model_path)
        with open(info_path, encoding="utf-8") as file:
            info = json.load(file)
    except (OSError, ValueError) as error:
        raise JudgeError(f"cannot load the judge from {judge_dir}: {error}; retrain it with "
                         f"`{TRAIN_JUDGE_COMMAND} --judge_dir {judge_dir}`") from error
    return Judge(model, info)
