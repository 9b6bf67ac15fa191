"""Measure what and where a trained generator draws, beside the real test images.

The generator draws for two condition sets: (a) the 100 sweep-grid boxes for
each digit, and (b) the labels and boxes of the first --num_records test
records. For each set, and for the real test images as the ceiling, the
script reports digit accuracy (read by a judge CNN), box IoU, ink inside and
FID on the judge's features, overall and per digit. It prints two tables and
writes them as JSON (--output).

Examples:
  # Retrain the judge (about 0.1 M weights), replacing the one shipped in judge/
  python lwawtd_evaluate.py --train_judge

  # Evaluate the latest checkpoint of a run; the JSON goes into the run folder
  python lwawtd_evaluate.py --model log_dir/lwawtd/lwawtd_20261204-213000

  # A given iteration, more test records, the report elsewhere
  python lwawtd_evaluate.py --model log_dir/lwawtd/lwawtd_20261204-213000 --iteration 20000 \\
      --num_records 2000 --output results/run1_20000.json

  # Only the real test images (the ceiling)
  python lwawtd_evaluate.py --real_only
"""

import argparse
import logging
import sys

from evaluation import (EvaluationConfig, JudgeError, JudgeTrainingConfig, run_evaluation,
                        train_judge)
from positional_mnist.errors import DatasetError
from training.checkpoints import CheckpointError

DEFAULTS = EvaluationConfig()
JUDGE_DEFAULTS = JudgeTrainingConfig()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog=__doc__[__doc__.index("Examples:"):],
        formatter_class=argparse.RawDescriptionHelpFormatter)

    model = parser.add_argument_group("model")
    model.add_argument("--model", metavar="RUN_DIR",
                       help="run folder written by lwawtd.py, or a checkpoint prefix such as "
                            "RUN_DIR/checkpoints/ckpt-5000 (default: the generator bundled in "
                            "pretrained/)")
    model.add_argument("--iteration", type=int,
                       help="saved iteration to evaluate (default: the latest)")
    model.add_argument("--real_only", action="store_true",
                       help="evaluate only the real test images, without a generator")

    data = parser.add_argument_group("data and metrics")
    data.add_argument("--dataset", default=DEFAULTS.dataset,
                      help="data set folder, record file or glob written by multi_mnist.py; its "
                           "test split gives conditions, real images and the FID reference, its "
                           "train split trains the judge (default: %(default)s)")
    data.add_argument("--num_records", type=int, default=DEFAULTS.num_records,
                      help="test records for condition set (b) and the real row; the remaining "
                           "test records are the FID reference (default: %(default)s)")
    data.add_argument("--seed", type=int, default=DEFAULTS.seed,
                      help="seed of the generator noise and of the judge's training "
                           "(default: %(default)s)")
    data.add_argument("--ink_threshold", type=float, default=DEFAULTS.ink_threshold,
                      help="pixels with a value above this (images in [0, 1]) are ink; the "
                           "data set's own cut-off is 0.05 (default: %(default)s)")
    data.add_argument("--batch_size", type=int, default=DEFAULTS.batch_size,
                      help="images per generator and judge call (default: %(default)s)")
    data.add_argument("--output", metavar="PATH",
                      help="JSON report path (default: evaluation_<iteration>.json in the run "
                           "folder; evaluation_real.json in the current folder with --real_only)")

    judge = parser.add_argument_group("judge")
    judge.add_argument("--judge_dir", default=DEFAULTS.judge_dir,
                       help="folder of the cached judge, judge.keras and judge.json "
                            "(default: judge/ in the repository)")
    judge.add_argument("--train_judge", action="store_true",
                       help="train the judge on --dataset's train split, test it on the test "
                            "split, save it to --judge_dir (replacing a cached one) and exit")
    judge.add_argument("--judge_epochs", type=int, default=JUDGE_DEFAULTS.epochs,
                       help="judge training epochs (default: %(default)s)")
    judge.add_argument("--judge_images_per_epoch", type=int,
                       default=JUDGE_DEFAULTS.images_per_epoch,
                       help="training images per judge epoch, drawn from the shuffled train "
                            "split (default: %(default)s)")
    judge.add_argument("--judge_batch_size", type=int, default=JUDGE_DEFAULTS.batch_size,
                       help="images per judge training step (default: %(default)s)")
    return parser.parse_args(argv)


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S")
    args = parse_args(argv)
    try:
        if args.train_judge:
            train_judge(JudgeTrainingConfig(
                dataset=args.dataset, judge_dir=args.judge_dir, epochs=args.judge_epochs,
                images_per_epoch=args.judge_images_per_epoch, batch_size=args.judge_batch_size,
                seed=args.seed))
        else:
            run_evaluation(EvaluationConfig(
                model=args.model, iteration=args.iteration, dataset=args.dataset,
                judge_dir=args.judge_dir, num_records=args.num_records, seed=args.seed,
                ink_threshold=args.ink_threshold, batch_size=args.batch_size,
                output=args.output, real_only=args.real_only))
    except (ValueError, DatasetError, CheckpointError, JudgeError) as error:
        logging.error("%s", error)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
