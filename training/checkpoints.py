"""Checkpoints of a run and loading its generator.

A run folder contains config.json, TensorBoard event files and
checkpoints/ckpt-<iteration>.{index,data-*}. TensorFlow writes a checkpoint's
files first and then replaces the small `checkpoints/checkpoint` state file
in one atomic rename, so a process killed while saving leaves the state file
pointing at the previous complete checkpoint, which `--resume` then loads.
"""

import glob
import os
import re

import tensorflow as tf

from models import build_generator
from training.config import TrainConfig

CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_PREFIX = "ckpt"
GENERATOR_FILE = "generator.keras"
# The bundled generator, in the run-folder layout, at the repository root.
PRETRAINED_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                              "pretrained")


class CheckpointError(ValueError):
    """A model path, checkpoint or iteration that cannot be loaded."""


def make_manager(checkpoint, run_dir):
    """Return a CheckpointManager that keeps every checkpoint of the run (named by iteration)."""
    return tf.train.CheckpointManager(
        checkpoint, os.path.join(run_dir, CHECKPOINT_DIR), max_to_keep=None,
        checkpoint_name=CHECKPOINT_PREFIX)


def saved_iterations(run_dir):
    """Return the sorted iterations with a complete checkpoint in `run_dir`."""
    state = tf.train.get_checkpoint_state(os.path.join(run_dir, CHECKPOINT_DIR))
    if state is None:
        return []
    iterations = []
    for path in state.all_model_checkpoint_paths:
        match = re.search(rf"{CHECKPOINT_PREFIX}-(\d+)$", path)
        if match and glob.glob(path + ".index"):
            iterations.append(int(match.group(1)))
    return sorted(set(iterations))


def find_checkpoint(model_path, iteration=None):
    """Resolve a run folder or checkpoint path to (run_dir, checkpoint prefix, iteration).

    Args:
      model_path: a run folder (or a folder of the same layout, such as the
        bundled pretrained generator) or a checkpoint prefix such as
        RUN_DIR/checkpoints/ckpt-5000.
      iteration: pick this saved iteration instead of the latest.

    Raises:
      CheckpointError: the path is missing, contains no checkpoint, or the
        iteration was not saved; the message lists what is there.
    """
    if os.path.isfile(model_path + ".index"):
        run_dir = os.path.dirname(os.path.dirname(os.path.abspath(model_path)))
        match = re.search(r"-(\d+)$", model_path)
        return run_dir, model_path, int(match.group(1)) if match else None

    if not os.path.isdir(model_path):
        raise CheckpointError(f"model path {model_path!r} not found: give a run folder "
                              f"(log_dir/lwawtd/lwawtd_<timestamp>) or a checkpoint prefix")
    iterations = saved_iterations(model_path)
    if not iterations:
        contents = sorted(os.listdir(model_path))[:20]
        raise CheckpointError(f"no checkpoint found in {model_path!r} (it contains: "
                              f"{contents or 'nothing'}); give a run folder written by lwawtd.py")
    if iteration is None:
        iteration = iterations[-1]
    if iteration not in iterations:
        raise CheckpointError(f"iteration {iteration} was not saved in {model_path!r}; "
                              f"saved iterations: {iterations}")
    prefix = os.path.join(model_path, CHECKPOINT_DIR, f"{CHECKPOINT_PREFIX}-{iteration}")
    return model_path, prefix, iteration


def load_config(run_dir):
    """Read the run's config.json, or raise CheckpointError if it is missing."""
    path = os.path.join(run_dir, CONFIG_FILE)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path} not found: the generator's settings come from the "
                              f"config.json that lwawtd.py writes into each run folder")
    return TrainConfig.from_json(path)


def build_generator_from_config(config):
    """Build an untrained float32 generator with the run's architecture settings.

    The generator computes in float32 whatever `config.precision` the run
    trained in, so that pictures and scores do not depend on it. Variables are
    float32 under every precision, so the run's checkpoints load unchanged.
    """
    return build_generator(noise_dim=config.num_z, activation=config.g_activation,
                           weight_init=config.weight_init, dtype="float32")


def load_generator(model_path, iteration=None):
    """Load the generator of a run at a saved iteration (default: the latest).

    Returns:
      (generator, config, iteration).

    Raises:
      CheckpointError: see `find_checkpoint`, or the checkpoint does not hold
        every variable of this generator (a mismatched or partial checkpoint
        is an error, never a silently random model).
    """
    run_dir, prefix, iteration = find_checkpoint(model_path, iteration)
    config = load_config(run_dir)
    generator = build_generator_from_config(config)
    restore_exactly(tf.train.Checkpoint(generator=generator), prefix)
    return generator, config, iteration


def restore_exactly(checkpoint, prefix):
    """Restore `checkpoint` from `prefix`, requiring a stored value for every variable.

    A plain `restore()` or `expect_partial()` passes silently when objects
    are missing (TensorFlow 2.21), which would leave a randomly initialised
    model; here that is a CheckpointError. Values in the checkpoint beyond
    `checkpoint`'s objects (the discriminator and optimizers of a training
    checkpoint when only the generator is loaded) are allowed.
    """
    try:
        status = checkpoint.restore(prefix)
        status.assert_existing_objects_matched()
    except IndexError as error:
        # TensorFlow 2.21's checkpoint reader raises IndexError for a data file cut short.
        raise CheckpointError(f"checkpoint {prefix} is truncated or corrupt ({error}); copy it "
                              f"again or use another saved iteration") from error
    except (tf.errors.OpError, ValueError, AssertionError) as error:
        raise CheckpointError(f"checkpoint {prefix} does not match the model: {error}") from error
    status.expect_partial()
