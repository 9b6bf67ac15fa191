"""Export a run's generator alone, in the run-folder layout that lwawtd_generate.py loads.

Example:
  python -m training.export --model log_dir/lwawtd/lwawtd_20261204-213806 --out_dir pretrained

The export contains config.json, checkpoints/ckpt-<iteration> with only the
generator's variables (2.8 MB for the default architecture, against about 38 MB for
a training checkpoint with the discriminator and both optimizers), and generator.keras, a self-contained Keras model that
`keras.saving.load_model` reads once the `models` and `stn` packages are
imported (they register the custom layers).
"""

import argparse
import logging
import os
import shutil
import sys

import tensorflow as tf

from training.checkpoints import (CHECKPOINT_DIR, CONFIG_FILE, GENERATOR_FILE, CheckpointError,
                                  load_generator, make_manager)


def export_generator(model_path, out_dir, iteration=None, overwrite=False):
    """Write the generator of `model_path` at `iteration` (default: latest) to `out_dir`.

    Returns:
      The exported iteration.

    Raises:
      CheckpointError: see `training.checkpoints.load_generator`.
      FileExistsError: `out_dir` exists and `overwrite` is False.
    """
    generator, config, iteration = load_generator(model_path, iteration)
    if os.path.exists(out_dir):
        if not overwrite:
            raise FileExistsError(f"{out_dir} exists; pass --overwrite to replace it")
        shutil.rmtree(out_dir)
    os.makedirs(out_dir)

    config.to_json(os.path.join(out_dir, CONFIG_FILE))
    checkpoint = tf.train.Checkpoint(generator=generator)
    make_manager(checkpoint, out_dir).save(checkpoint_number=iteration)
    generator.save(os.path.join(out_dir, GENERATOR_FILE))
    logging.info("exported the generator of %s at iteration %d to %s (%s)", model_path,
                 iteration, out_dir, CHECKPOINT_DIR)
    return iteration


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # TensorFlow logs an INFO line about sharding at every checkpoint save through absl.
    logging.getLogger("absl").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True,
                        help="run folder written by lwawtd.py, or a checkpoint prefix")
    parser.add_argument("--iteration", type=int,
                        help="saved iteration to export (default: the latest)")
    parser.add_argument("--out_dir", required=True, help="folder to create")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace --out_dir if it exists (default: off)")
    args = parser.parse_args(argv)
    try:
        export_generator(args.model, args.out_dir, args.iteration, args.overwrite)
    except (CheckpointError, FileExistsError) as error:
        logging.error("%s", error)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
