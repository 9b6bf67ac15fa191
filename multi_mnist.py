"""Write the positional MNIST data set: one stretched MNIST digit per 64x64 image.

Each record contains the image, its label, the bounding box of its ink and the
index of the MNIST digit it shows (see positional_mnist/schema.py). The train
split is made from MNIST's train digits, the test split from its test digits.

Examples:

    # The default data set: 600,000 train and 10,000 test images in positional_mnist_data/
    python multi_mnist.py --mnist ../shared/data/mnist.npz

    # A small data set from a folder of the four MNIST IDX files, with another seed
    python multi_mnist.py --mnist ~/mnist_idx --num_images 20000 --num_test_images 2000 \\
        --seed 7 --out_dir /tmp/positional_small

    # Replace an existing data set, using the Keras cache or download for MNIST
    python multi_mnist.py --overwrite
"""

import argparse
import logging
import signal
import sys

from positional_mnist.config import DatasetConfig, default_workers
from positional_mnist.errors import DatasetError
from positional_mnist.writer import write_dataset

logger = logging.getLogger("multi_mnist")


def parse_args(argv):
    defaults = DatasetConfig.__dataclass_fields__
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__[__doc__.index("Examples:"):],
    )
    parser.add_argument(
        "--mnist", default=None, metavar="PATH",
        help="MNIST source: a Keras-layout .npz file (x_train, y_train, x_test, y_test) or a "
             "folder with the four IDX files, gzipped or not (default: the Keras cache, "
             "downloading MNIST if it is missing)")
    parser.add_argument(
        "--num_images", type=int, default=defaults["num_images"].default,
        help="number of train images, made from MNIST train digits (default: %(default)s)")
    parser.add_argument(
        "--num_test_images", type=int, default=defaults["num_test_images"].default,
        help="number of test images, made from MNIST test digits (default: %(default)s)")
    parser.add_argument(
        "--out_dir", default=defaults["out_dir"].default,
        help="output folder for the shard files and dataset.json (default: %(default)s)")
    parser.add_argument(
        "--seed", type=int, default=defaults["seed"].default,
        help="seed of the digit order, stretch factors and positions, >= 0 (default: %(default)s)")
    parser.add_argument(
        "--workers", type=int, default=default_workers(),
        help="writer processes; the output does not depend on it "
             "(default: the number of CPU cores, %(default)s here)")
    parser.add_argument(
        "--shards", type=int, default=None,
        help="files per split, each split capped at one file per image "
             "(default: one file per 10,000 images, rounded up)")
    parser.add_argument(
        "--stretch_min", type=float, default=defaults["stretch_min"].default,
        help="smallest width and height scale factor, > 0 (default: %(default)s)")
    parser.add_argument(
        "--stretch_max", type=float, default=defaults["stretch_max"].default,
        help="largest width and height scale factor, at most 64/28 = 2.2857 (default: %(default)s)")
    parser.add_argument(
        "--overwrite", action="store_true",
        help="replace a data set that already exists in --out_dir (default: stop with an error)")
    args = parser.parse_args(argv)

    try:
        config = DatasetConfig(
            out_dir=args.out_dir, mnist=args.mnist, num_images=args.num_images,
            num_test_images=args.num_test_images, seed=args.seed, workers=args.workers,
            shards=args.shards, stretch_min=args.stretch_min, stretch_max=args.stretch_max,
            overwrite=args.overwrite)
    except DatasetError as error:
        parser.error(str(error))
    return config


def _exit_on_sigterm(signum, frame):
    # Raise instead of dying at once, so that partial files are removed.
    raise SystemExit(128 + signum)


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = parse_args(argv)

    try:
        write_dataset(config)
    except DatasetError as error:
        logger.error("%s", error)
        if config.mnist is None and "Keras" in str(error):
            logger.error("Pass a local copy of MNIST with --mnist PATH (a Keras-layout .npz file "
                         "or a folder of the four IDX files).")
        return 1
    except KeyboardInterrupt:
        logger.error("Interrupted: partial files were removed and no dataset.json was written; "
                     "finished shards in %s stay until a run with --overwrite", config.out_dir)
        return 130
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    sys.exit(main())
