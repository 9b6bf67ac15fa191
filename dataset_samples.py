"""Write a 10x10 grid of records of a positional MNIST data set as a PNG.

Row r shows the first ten records with label r, in file order; each 64x64
tile sits in a 2-pixel white frame (680x680 pixels in all).

Examples:

    python dataset_samples.py
    python dataset_samples.py --dataset /tmp/positional_small --split test --output /tmp/test.png
"""

import argparse
import logging
import sys

from positional_mnist.errors import DatasetError

logger = logging.getLogger("dataset_samples")


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__[__doc__.index("Examples:"):],
    )
    parser.add_argument(
        "--dataset", default="positional_mnist_data",
        help="data set folder written by multi_mnist.py, record file or glob "
             "(default: %(default)s)")
    parser.add_argument(
        "--split", default="train", choices=("train", "test"),
        help="split to take the records from (default: %(default)s)")
    parser.add_argument(
        "--output", default="images/dataset_samples.png",
        help="PNG file to write (default: %(default)s)")
    return parser.parse_args(argv)


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = parse_args(argv)

    # Imported after parsing, so that --help does not wait for TensorFlow.
    from positional_mnist.samples import write_sample_grid

    try:
        write_sample_grid(args.dataset, args.output, args.split)
    except DatasetError as error:
        logger.error("%s", error)
        return 1
    except OSError as error:
        logger.error("cannot write --output %s: %s; choose a writable path", args.output, error)
        return 1
    logger.info("Wrote %s", args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
