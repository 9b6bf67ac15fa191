"""Draw digits into the boxes you choose: sweep grids, custom boxes and animations.

Examples:
  python lwawtd_generate.py --model log_dir/lwawtd/lwawtd_20261204-213000 --draw_box
  python lwawtd_generate.py --digit 3 --box 20,20,20,20 --box 0,0,32,40 --count 8 --seed 1
  python lwawtd_generate.py --animate --draw_box --out_dir images/animation --seed 0

Without --model the bundled pretrained generator in pretrained/ is used.
Sweep grids go to digit_N.png (and digit_N_bbox.png with --draw_box).
"""

import argparse
import logging
import re
import sys

from generation import GenerateConfig, generate, parse_box
from generation.config import DEFAULT_COUNT
from training.checkpoints import CheckpointError


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    model = parser.add_argument_group("model")
    model.add_argument("--model", metavar="PATH",
                       help="run folder written by lwawtd.py (its latest checkpoint is loaded) "
                            "or a checkpoint prefix such as RUN_DIR/checkpoints/ckpt-5000; the "
                            "generator's settings come from the run's config.json "
                            "(default: the bundled pretrained/ folder beside this script)")
    model.add_argument("--iteration", type=int,
                       help="load the checkpoint saved at this training iteration "
                            "(default: the latest)")

    pictures = parser.add_argument_group("pictures")
    pictures.add_argument("--digit", type=int,
                          help="render only this digit, 0-9 (default: all ten)")
    pictures.add_argument("--draw_box", "--draw_bbox", dest="draw_box", action="store_true",
                          help="also write a copy of every picture with the requested box "
                               "outlined in white, named *_bbox (default: off)")
    pictures.add_argument("--box", dest="boxes", metavar="X,Y,W,H", action="append",
                          type=_box, default=[],
                          help="draw samples into this box instead of the sweep grid: left, "
                               "top, width, height in pixels of the 64x64 canvas; repeat for "
                               "more boxes. Writes the grid boxes.png, one row per digit and "
                               "box, and each sample under tiles/ (default: none)")
    pictures.add_argument("--count", type=int,
                          help=f"samples per --box and digit (default: {DEFAULT_COUNT})")
    pictures.add_argument("--animate", action="store_true",
                          help="write an animated GIF per digit instead of the sweep grid: one "
                               "sample with fixed noise follows a box that glides round the "
                               "canvas and grows, 48 frames of 80 ms, 256x256, named "
                               "digit_N.gif (default: off)")
    pictures.add_argument("--seed", type=int,
                          help="seed of the noise; the same seed, model and flags give "
                               "byte-identical pictures on the same machine and TensorFlow "
                               "build (default: a fresh seed, which is logged)")
    pictures.add_argument("--out_dir", metavar="DIR",
                          help="folder for the pictures, created if missing "
                               "(default: generated_images/<timestamp>)")
    return parser.parse_args(_attach_box_values(sys.argv[1:] if argv is None else argv))


def _attach_box_values(argv):
    """Return argv with `--box VALUE` joined into `--box=VALUE` where VALUE starts with -digit.

    argparse takes a value such as -1,0,10,10 for an unknown flag and stops with
    "expected one argument", so the box check that names the bad coordinate
    would never run.
    """
    attached = []
    index = 0
    while index < len(argv):
        argument = str(argv[index])
        value = str(argv[index + 1]) if index + 1 < len(argv) else ""
        if argument == "--box" and re.match(r"-\d", value):
            attached.append(f"--box={value}")
            index += 2
        else:
            attached.append(argument)
            index += 1
    return attached


def _box(text):
    try:
        return parse_box(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S")
    args = parse_args(argv)
    config = GenerateConfig(**vars(args))
    try:
        generate(config)
    except (ValueError, CheckpointError) as error:
        logging.error("%s", error)
        return 2
    except OSError as error:
        logging.error("failed to write the pictures: %s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
