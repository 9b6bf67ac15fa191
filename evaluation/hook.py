"""Evaluation during training: the sweep-set metrics of the generator, written to TensorBoard."""

import logging

import tensorflow as tf

from evaluation.conditions import sweep_conditions
from evaluation.evaluate import generate_images, load_test_split
from evaluation.judge import DEFAULT_JUDGE_DIR, load_judge
from evaluation.metrics import INK_THRESHOLD
from evaluation.scoring import score_images

logger = logging.getLogger(__name__)

TAGS = {
    "digit_accuracy": "evaluation/digit_accuracy",
    "box_iou": "evaluation/box_iou",
    "ink_inside": "evaluation/ink_inside",
    "fid": "evaluation/fid",
}


class TrainingEvaluator:
    """Scores the generator on the sweep set (1,000 images) and writes the scalars in TAGS.

    Build it once before training, because it loads the judge and computes
    the FID reference; then call it every N iterations. The noise is drawn
    from `seed` on every call, so calls differ only by the generator. With
    the same seed, num_records and ink_threshold, the numbers equal the sweep
    row of `lwawtd_evaluate.py` for the same checkpoint.

    Raises (from the constructor):
      evaluation.judge.JudgeError: no trained judge in `judge_dir`.
      ValueError, positional_mnist.DatasetError: see evaluate.load_test_split.
    """

    def __init__(self, dataset, noise_dim, judge_dir=DEFAULT_JUDGE_DIR, seed=0,
                 num_records=1000, ink_threshold=INK_THRESHOLD, batch_size=100):
        self.judge = load_judge(judge_dir)
        _, self.reference = load_test_split(self.judge, dataset, num_records, batch_size)
        self.conditions = sweep_conditions()
        self.noise_dim = noise_dim
        self.seed = seed
        self.ink_threshold = ink_threshold
        self.batch_size = batch_size

    def __call__(self, generator, writer, step):
        """Score `generator` and write the scalars to `writer` at `step`.

        Args:
          generator: callable as generator([noise, labels, boxes], training=False).
          writer: tf.summary.SummaryWriter.
          step: int, the training iteration.

        Returns:
          dict {metric name: value}, the keys of TAGS.
        """
        images = generate_images(generator, self.conditions, self.noise_dim, self.seed,
                                 self.batch_size)
        scores = score_images(self.judge, images, self.conditions.digits, self.conditions.boxes,
                              self.reference, self.ink_threshold, self.batch_size)
        values = {name: getattr(scores, name) for name in TAGS}

        with writer.as_default():
            for name, tag in TAGS.items():
                tf.summary.scalar(tag, values[name], step=step)
        logger.info("evaluation at iteration %d: digit accuracy %.3f, box IoU %.3f, "
                    "ink inside %.3f, FID %.2f", step, values["digit_accuracy"],
                    values["box_iou"], values["ink_inside"], values["fid"])
        return values
