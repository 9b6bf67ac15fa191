"""Find the generator to draw with: a run folder, a checkpoint prefix or the bundled one."""

import logging
import os

from training.checkpoints import (PRETRAINED_DIR, CheckpointError, find_checkpoint, load_config,
                                  load_generator)

# The bundled pretrained generator has the layout of a run folder (config.json
# and checkpoints/) and sits beside lwawtd_generate.py, whatever the cwd.


def resolve_model_path(model_path):
    """Return `model_path`, or the bundled pretrained generator's folder if it is None.

    Raises:
      CheckpointError: no path was given and the bundled folder is missing.
    """
    if model_path is not None:
        return model_path
    pretrained_dir = PRETRAINED_DIR
    if not os.path.isdir(pretrained_dir):
        raise CheckpointError(f"no --model given and the bundled pretrained generator "
                              f"{pretrained_dir} is missing; pass --model RUN_DIR with a run "
                              f"folder that lwawtd.py wrote (log_dir/lwawtd/lwawtd_<timestamp>)")
    logging.info("no --model given: using the bundled pretrained generator in %s",
                 pretrained_dir)
    return pretrained_dir


def check_model(model_path, iteration=None):
    """Check that a checkpoint and the run's config.json can be found, without loading.

    Returns:
      (checkpoint prefix, iteration) that `load_model` will load.

    Raises:
      CheckpointError: the path is missing or contains no checkpoint, the
        iteration was not saved, config.json is missing, or `iteration`
        contradicts the iteration named by a checkpoint prefix.
    """
    run_dir, prefix, found_iteration = find_checkpoint(model_path, iteration)
    if iteration is not None and found_iteration is not None and iteration != found_iteration:
        raise CheckpointError(f"--iteration {iteration} contradicts the checkpoint {model_path} "
                              f"(iteration {found_iteration}); give the run folder with "
                              f"--iteration, or the checkpoint path alone")
    load_config(run_dir)
    return prefix, found_iteration


def load_model(model_path, iteration=None):
    """Load the generator and the run's TrainConfig.

    Returns:
      (generator, config, iteration); see `training.checkpoints.load_generator`.

    Raises:
      CheckpointError: see `check_model`, or the checkpoint does not hold
        every variable of the generator that config.json describes.
    """
    check_model(model_path, iteration)
    generator, config, loaded_iteration = load_generator(model_path, iteration)
    logging.info("loaded the generator of %s at iteration %s", model_path, loaded_iteration)
    return generator, config, loaded_iteration
