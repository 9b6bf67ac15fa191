"""Box IoU and ink inside as functions of the ink threshold, for a generator and real images.

A generator's sigmoid output is rarely exactly 0, so faint haze on the
background can count as ink at a low threshold while real images, whose
background is exactly 0, do not change. This script shows that dependence in
one table, from one set of generated images.

Example:
  python -m evaluation.threshold_sweep --model pretrained --output images/ink_thresholds.json
"""

import argparse
import json
import logging
import sys

import numpy as np

from evaluation.conditions import split_records, sweep_conditions
from evaluation.evaluate import generate_images
from evaluation.metrics import box_iou, ink_boxes, ink_inside
from positional_mnist.reader import list_record_files
from training.checkpoints import load_generator

THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.5)


def sweep_thresholds(model_path, dataset, iteration=None, num_records=1000, seed=0,
                     thresholds=THRESHOLDS):
    """Return rows {threshold, sweep box IoU and ink inside, real box IoU and ink inside}.

    The generated images are the sweep set of `lwawtd_evaluate.py` (same
    seed, same noise); the real images are the first `num_records` test records.
    """
    generator, config, iteration = load_generator(model_path, iteration)
    conditions = sweep_conditions()
    generated = generate_images(generator, conditions, config.num_z, seed)
    real, _ = split_records(list_record_files(dataset, "test"), num_records)

    rows = []
    for threshold in thresholds:
        rows.append({
            "ink_threshold": threshold,
            "sweep_box_iou": float(np.mean(box_iou(ink_boxes(generated, threshold),
                                                    conditions.boxes))),
            "sweep_ink_inside": float(np.mean(ink_inside(generated, conditions.boxes, threshold))),
            "real_box_iou": float(np.mean(box_iou(ink_boxes(real.images, threshold),
                                                   real.boxes))),
            "real_ink_inside": float(np.mean(ink_inside(real.images, real.boxes, threshold))),
        })
    return {"model": model_path, "iteration": iteration, "seed": seed, "rows": rows}


def format_table(result):
    """Return the rows as a Markdown table."""
    lines = ["| ink threshold | sweep box IoU | sweep ink inside | real box IoU | real ink inside |",
             "|---|---|---|---|---|"]
    for row in result["rows"]:
        lines.append(f"| {row['ink_threshold']} | {row['sweep_box_iou']:.3f} | "
                     f"{row['sweep_ink_inside']:.3f} | {row['real_box_iou']:.3f} | "
                     f"{row['real_ink_inside']:.3f} |")
    return "\n".join(lines)


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="run folder or checkpoint prefix")
    parser.add_argument("--iteration", type=int, help="saved iteration (default: the latest)")
    parser.add_argument("--dataset", default="positional_mnist_data",
                        help="data set whose test split gives the real images "
                             "(default: positional_mnist_data)")
    parser.add_argument("--output", help="also write the table as JSON here (default: none)")
    args = parser.parse_args(argv)

    result = sweep_thresholds(args.model, args.dataset, args.iteration)
    sys.stdout.write(format_table(result) + "\n")
    if args.output:
        with open(args.output, "w", encoding="utf-8") as file:
            json.dump(result, file, indent=2)
            file.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
