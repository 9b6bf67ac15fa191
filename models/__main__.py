"""Print the layer summaries and parameter counts of the generator and the discriminator.

Examples:
  python -m models                  # both summaries, then a table of the totals
  python -m models --expand_nested  # also list the layers inside each pathway
"""

import argparse

import numpy as np

from models import build_discriminator, build_generator
from models.generator import NOISE_DIM


def count_parameters(model):
    """Return (trainable, non-trainable) parameter counts of a model."""
    trainable = sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)
    non_trainable = sum(int(np.prod(weight.shape)) for weight in model.non_trainable_weights)
    return trainable, non_trainable


def format_totals(models):
    """Return a text table of the parameter counts of each model and of all of them."""
    lines = [f"{'model':<15} {'trainable':>11} {'non-trainable':>14} {'total':>11}"]
    totals = np.zeros(2, dtype=np.int64)
    for model in models:
        counts = count_parameters(model)
        totals += counts
        lines.append(f"{model.name:<15} {counts[0]:>11,} {counts[1]:>14,} {sum(counts):>11,}")
    lines.append(f"{'both':<15} {totals[0]:>11,} {totals[1]:>14,} {totals.sum():>11,}")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--expand_nested", action="store_true",
                        help="list the layers inside the global and local pathways too")
    parser.add_argument("--num_z", type=int, default=NOISE_DIM,
                        help="size of the generator's noise input (default: %(default)s)")
    args = parser.parse_args(argv)

    # Parameter counts do not depend on the activation or the initializer,
    # so the default ones stand for every configuration.
    models = [build_generator(noise_dim=args.num_z), build_discriminator()]
    for model in models:
        model.summary(expand_nested=args.expand_nested)
    print()
    print("Non-trainable parameters are the BatchNorm moving means and variances.")
    print(format_totals(models))


if __name__ == "__main__":
    main()
