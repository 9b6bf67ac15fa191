"""Evaluate a trained generator, and the real test images as the ceiling, in one report."""

import dataclasses
import logging
import os

import numpy as np

from evaluation import conditions, report
from evaluation.judge import DEFAULT_JUDGE_DIR, load_judge
from evaluation.metrics import INK_THRESHOLD
from evaluation.scoring import reference_statistics, score_images
from positional_mnist.reader import check_record_files, list_record_files
from training.checkpoints import PRETRAINED_DIR, CheckpointError, find_checkpoint, load_generator

logger = logging.getLogger(__name__)



@dataclasses.dataclass
class EvaluationConfig:
    """Settings of one evaluation.

    Attributes:
      model: run folder or checkpoint prefix of the generator; None for the
        generator bundled in pretrained/.
      iteration: saved iteration to load; None for the latest.
      dataset: data set folder, record file or glob; its test split supplies
        the test conditions, the real images and the FID reference.
      judge_dir: folder of the trained judge.
      num_records: test records whose labels and boxes form the test
        condition set and whose images form the real row. The remaining test
        records are the FID reference, so the split needs at least 2 more.
      seed: seed of the generator noise.
      ink_threshold: pixels with a value above it (images in [0, 1]) are ink.
      batch_size: images per generator and judge call.
      output: JSON report path; None for evaluation_<iteration>.json in the
        run folder, or evaluation_real.json in the current folder with real_only.
      real_only: evaluate only the real test images (no generator needed).
    """

    model: str | None = None
    iteration: int | None = None
    dataset: str = "positional_mnist_data"
    judge_dir: str = DEFAULT_JUDGE_DIR
    num_records: int = 1000
    seed: int = 0
    ink_threshold: float = INK_THRESHOLD
    batch_size: int = 100
    output: str | None = None
    real_only: bool = False

    def validate(self):
        """Raise ValueError naming the first invalid setting."""
        for name in ("num_records", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.ink_threshold < 1.0:
            raise ValueError(f"--ink_threshold must be in [0, 1), got {self.ink_threshold}")
        if self.iteration is not None and self.iteration < 0:
            raise ValueError(f"--iteration must be >= 0, got {self.iteration}")
        if self.real_only and (self.model is not None or self.iteration is not None):
            raise ValueError("--real_only evaluates no generator; drop --model and --iteration")
        if self.output is not None and not self.output.strip():
            raise ValueError(f"--output {self.output!r} is empty; give a file path such as "
                             f"report.json, or leave --output out for the default path")


@dataclasses.dataclass
class LoadedModel:
    """A generator with where it came from."""

    generator: object
    noise_dim: int
    run_dir: str
    iteration: int
    config: dict


def run_evaluation(config):
    """Score the real test images and the generator that `config` names, print and save the report.

    Returns:
      (report dict, path of the JSON file).

    Raises:
      ValueError: an invalid setting, a test split too small for num_records,
        or an output path that cannot be written.
      evaluation.judge.JudgeError: the judge is missing.
      training.checkpoints.CheckpointError: the model cannot be loaded.
      positional_mnist.DatasetError: the data set is missing or damaged.
    """
    config.validate()
    judge = load_judge(config.judge_dir)
    model = None if config.real_only else load_model(config.model, config.iteration)
    output = config.output or default_output(model)
    report.check_writable(output)

    records, reference = load_test_split(judge, config.dataset, config.num_records,
                                         config.batch_size)

    def score(images, digits, boxes):
        return score_images(judge, images, digits, boxes, reference, config.ink_threshold,
                            config.batch_size)

    scores = {report.REAL: score(records.images, records.digits, records.boxes)}
    if model is not None:
        for condition_set in (conditions.sweep_conditions(), conditions.test_conditions(records)):
            logger.info("generating %d images for the %s set", len(condition_set),
                        condition_set.name)
            images = generate_images(model.generator, condition_set, model.noise_dim, config.seed,
                                     config.batch_size)
            scores[condition_set.name] = score(images, condition_set.digits, condition_set.boxes)

    result = report.build_report(config, model, judge, reference, scores)
    report.write_json(result, output)
    print(report.format_tables(result))
    logger.info("wrote %s", output)
    return result, output


def load_test_split(judge, dataset, num_records, batch_size=100):
    """Read the first `num_records` test records; return them and the rest's FeatureReference.

    Raises:
      ValueError: the test split contains fewer than num_records + 2 records.
      positional_mnist.DatasetError: the data set is missing or damaged.
    """
    test_files = list_record_files(dataset, split="test")
    num_test = check_record_files(test_files)
    if num_test < num_records + 2:
        raise ValueError(
            f"the test split of {dataset} contains {num_test} records, but --num_records "
            f"{num_records} needs at least {num_records + 2}: the records after the first "
            f"--num_records are the FID reference. Lower --num_records.")
    records, rest = conditions.split_records(test_files, num_records, batch_size)
    reference = reference_statistics(judge, rest)
    logger.info("FID reference: %d real test images", reference.num_images)
    return records, reference


def load_model(model_path, iteration):
    """Load a generator from a run folder, a checkpoint prefix or (when None) pretrained/."""
    if model_path is None:
        if not os.path.isdir(PRETRAINED_DIR):
            raise CheckpointError(f"no --model given and the bundled generator {PRETRAINED_DIR} "
                                  f"is missing; pass --model RUN_DIR")
        model_path = PRETRAINED_DIR
        logger.info("no --model given: evaluating the bundled generator in %s", model_path)
    run_dir, _, _ = find_checkpoint(model_path, iteration)
    generator, train_config, iteration = load_generator(model_path, iteration)
    logger.info("loaded the generator of %s at iteration %s", run_dir, iteration)
    return LoadedModel(generator, train_config.num_z, run_dir, iteration,
                       dataclasses.asdict(train_config))


def default_output(model):
    """Return the default JSON path: in the run folder, or the current folder without a model."""
    if model is None:
        return "evaluation_real.json"
    return os.path.join(model.run_dir, f"evaluation_{model.iteration}.json")


def generate_images(generator, condition_set, noise_dim, seed, batch_size=100):
    """Generate one image per condition of `condition_set`, with the set's seeded noise.

    Args:
      generator: callable as generator([noise, labels, boxes], training=False)
        -> (B, 64, 64, 1) in [0, 1], such as a trained Keras generator.
      condition_set: conditions.ConditionSet.
      noise_dim: length of each noise vector.
      seed: seed of the noise.
      batch_size: images per generator call.

    Returns:
      float32 (n, 64, 64, 1).
    """
    noise = condition_set.noise(noise_dim, seed)
    labels = condition_set.one_hot_labels()
    images = []
    for start in range(0, len(condition_set), batch_size):
        batch = slice(start, start + batch_size)
        inputs = [noise[batch], labels[batch], condition_set.boxes[batch]]
        images.append(np.asarray(generator(inputs, training=False), dtype=np.float32))

    images = np.concatenate(images)
    if images.shape != (len(condition_set), 64, 64, 1):
        raise ValueError(f"the generator returned images of shape {images.shape[1:]}, "
                         f"expected (64, 64, 1)")
    return images
