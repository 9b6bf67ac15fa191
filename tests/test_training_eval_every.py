"""--eval_every: the evaluation scores of a tiny run reach TensorBoard at the right steps."""

import glob
import os

import numpy as np
import tensorflow as tf

import lwawtd
from evaluation.hook import TAGS


def test_eval_every_writes_scores(make_positional_mnist, tmp_path):
    # The evaluator needs more than 1,000 test records: 1,000 give the
    # conditions and the rest the FID reference. It uses the shipped judge.
    dataset = make_positional_mnist(128, num_test_images=1100)
    log_dir = tmp_path / "logs"
    code = lwawtd.main(["--dataset", dataset, "--max_iter", "4", "--batch_size", "8",
                        "--eval_every", "2", "--summary_every", "4",
                        "--checkpoint_every", "4", "--log_dir", str(log_dir)])
    assert code == 0

    (run_dir,) = glob.glob(os.path.join(log_dir, "lwawtd_*"))
    steps = {tag: [] for tag in TAGS.values()}
    for path in glob.glob(os.path.join(run_dir, "events.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag in steps:
                    steps[value.tag].append((event.step, float(tf.make_ndarray(value.tensor))))

    for tag in TAGS.values():
        assert [step for step, _ in sorted(steps[tag])] == [2, 4], tag
        assert all(np.isfinite(score) for _, score in steps[tag]), tag
    accuracies = [score for _, score in steps[TAGS["digit_accuracy"]]]
    assert all(0.0 <= score <= 1.0 for score in accuracies)
