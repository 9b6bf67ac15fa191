"""One generate call: check everything, load the generator, then write the pictures."""

import dataclasses
import logging
import os
import secrets

from generation.animation import write_animations
from generation.custom_boxes import write_box_samples
from generation.model import check_model, load_model, resolve_model_path
from generation.output import check_out_dir, default_out_dir, save_settings
from generation.sampling import DigitSampler
from generation.sweep import write_sweep_grids

SEED_LIMIT = 2 ** 31


def generate(config):
    """Render the pictures that `config` requests.

    Sweep grids are the default output. --box writes custom-box samples and
    --animate writes GIFs in their place, and the two may be combined.

    Args:
      config: a GenerateConfig.

    Returns:
      The paths written, the settings file last.

    Raises:
      ValueError, training.checkpoints.CheckpointError: an invalid setting,
        model, iteration, checkpoint or output folder; raised before any
        file or folder is written.
      OSError: writing a picture failed.
    """
    config.validate()
    model_path = resolve_model_path(config.model)
    check_model(model_path, config.iteration)
    out_dir = config.out_dir or default_out_dir()
    check_out_dir(out_dir)
    seed = config.seed
    if seed is None:
        seed = secrets.randbelow(SEED_LIMIT)
        logging.info("no --seed given: drew seed %d; pass --seed %d to repeat these pictures",
                     seed, seed)

    # A checkpoint that does not match the model fails here, still before any file.
    generator, run_config, iteration = load_model(model_path, config.iteration)
    sampler = DigitSampler(generator, run_config.num_z, seed)
    os.makedirs(out_dir, exist_ok=True)

    paths = []
    if config.renders_sweep:
        paths += write_sweep_grids(sampler, config.digits, out_dir, config.draw_box)
    if config.boxes:
        paths += write_box_samples(sampler, config.digits, config.boxes, config.samples_per_box,
                                   out_dir, config.draw_box)
    if config.animate:
        paths += write_animations(sampler, config.digits, out_dir, config.draw_box)

    settings = {**dataclasses.asdict(config), "model": model_path, "iteration": iteration,
                "seed": seed, "out_dir": out_dir}
    paths.append(save_settings(out_dir, settings))
    logging.info("wrote %d files to %s", len(paths), out_dir)
    return paths
