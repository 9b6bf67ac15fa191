"""A training run: run folder, data, loop, logging, summaries and checkpoints."""

import dataclasses
import datetime
import logging
import math
import os
import shutil
import tempfile
import time

import numpy as np
import tensorflow as tf

from positional_mnist.reader import (check_record_files, list_record_files, make_condition_dataset,
                                     make_dataset)
from training import summaries
from training.checkpoints import (CHECKPOINT_DIR, CONFIG_FILE, GENERATOR_FILE, load_config,
                                  make_manager, restore_exactly, saved_iterations)
from training.distribute import describe_devices, is_chief, is_chief_process, make_strategy
from training.gan import GanTrainer
from training.interrupt import InterruptFlag


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite."""


class Interrupted(Exception):
    """Training stopped on SIGINT or SIGTERM after saving a checkpoint."""

    def __init__(self, signal_number):
        super().__init__(f"interrupted by signal {signal_number}")
        self.signal_number = signal_number


def new_run_dir(log_dir):
    """Create and return log_dir/lwawtd_<timestamp>, unique even within one second."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    for suffix in [""] + [f"_{index}" for index in range(1, 100)]:
        run_dir = os.path.join(log_dir, f"lwawtd_{stamp}{suffix}")
        try:
            os.makedirs(run_dir)
            return run_dir
        except FileExistsError:
            continue
        except OSError as error:
            raise ValueError(f"cannot create a run folder under --log_dir {log_dir}: "
                             f"{error.strerror}; choose a writable --log_dir") from error
    raise FileExistsError(f"cannot create a new run folder under {log_dir}")


def prepare_resume(run_dir, max_iter=None):
    """Check that `run_dir` can be resumed and return its saved configuration.

    Args:
      run_dir: a run folder that lwawtd.py wrote.
      max_iter: if given, the run's new last iteration. It must lie beyond
        the last checkpoint. It is written to the run's config.json, so a later
        plain --resume keeps it.
    """
    if not os.path.isfile(os.path.join(run_dir, CONFIG_FILE)):
        raise ValueError(f"--resume {run_dir}: no {CONFIG_FILE} found; give a run folder "
                         f"that lwawtd.py wrote (log_dir/lwawtd/lwawtd_<timestamp>)")
    iterations = saved_iterations(run_dir)
    if not iterations:
        raise ValueError(f"--resume {run_dir}: the run folder contains no checkpoint yet, "
                         f"so there is nothing to resume; start a new run instead")
    config = load_config(run_dir)
    # Validate before config.json is rewritten below. The message names the
    # file, because these values did not come from the command line.
    try:
        config.validate()
    except ValueError as error:
        raise ValueError(f"--resume {run_dir}: invalid setting in its {CONFIG_FILE}: "
                         f"{error}") from error
    if max_iter is None or max_iter == config.max_iter:
        if iterations[-1] >= config.max_iter:
            raise ValueError(f"--resume {run_dir}: the run already finished at iteration "
                             f"{iterations[-1]}; give a --max_iter above {iterations[-1]} "
                             f"to train it longer")
        return config

    if max_iter <= iterations[-1]:
        raise ValueError(f"--max_iter {max_iter} with --resume must be larger than the run's "
                         f"last checkpoint, iteration {iterations[-1]}; give a --max_iter "
                         f"above {iterations[-1]}")
    logging.info("extending the run from --max_iter %d to %d", config.max_iter, max_iter)
    config = dataclasses.replace(config, max_iter=max_iter)
    # Every worker of a cluster resumes from the same folder, so only the chief
    # rewrites the shared file.
    if config.strategy != "multi_worker" or is_chief_process():
        config.to_json(os.path.join(run_dir, CONFIG_FILE))
    return config


def train(config, resume_dir=None, logical_cpus=1):
    """Train a GAN with `config`, or resume the run in `resume_dir`.

    Returns:
      The run folder.

    Raises:
      ValueError, positional_mnist.DatasetError: invalid settings or data, before training.
      TrainingDiverged: a loss became non-finite; the last good checkpoint stays.
      Interrupted: SIGINT or SIGTERM; a checkpoint of the last finished iteration was saved.
    """
    config.validate()
    strategy = make_strategy(config.strategy, logical_cpus)
    if config.batch_size % strategy.num_replicas_in_sync:
        raise ValueError(f"--batch_size {config.batch_size} must be divisible by the "
                         f"{strategy.num_replicas_in_sync} replicas of --strategy {config.strategy}")
    files = list_record_files(config.dataset, split="train")
    num_records = check_record_files(files)

    chief = is_chief(strategy)
    run_dir = resume_dir or (new_run_dir(config.log_dir) if chief else None)
    output_dir = run_dir if chief else tempfile.mkdtemp(prefix="lwawtd_worker_")
    if chief and not resume_dir:
        config.to_json(os.path.join(run_dir, CONFIG_FILE))

    trainer = GanTrainer(config, strategy)
    manager = make_manager(trainer.checkpoint, output_dir)
    if resume_dir:
        # Every worker restores the chief's checkpoint, because the folder that
        # a non-chief worker saves into is new and empty.
        latest = tf.train.latest_checkpoint(os.path.join(resume_dir, CHECKPOINT_DIR))
        restore_exactly(trainer.checkpoint, latest)
    start = int(trainer.iteration.numpy())
    logging.info("data set %s: %d training records in %d file(s)", config.dataset, num_records,
                 len(files))
    logging.info("strategy: %s", describe_devices(strategy))
    # A non-chief worker of a new run names its temporary folder, since it has no run folder.
    logging.info("%s run %s at iteration %d of %d", "resuming" if resume_dir else "starting",
                 run_dir or output_dir, start, config.max_iter)

    evaluator = make_evaluator(config) if chief and config.eval_every else None
    loop = TrainingLoop(config, trainer, strategy, files, output_dir, manager, start, evaluator)
    try:
        loop.run()
    finally:
        if not chief:
            # A non-chief worker saves only because saving may run collective
            # operations under MultiWorkerMirroredStrategy. Nothing reads its files.
            shutil.rmtree(output_dir, ignore_errors=True)
    if chief:
        trainer.float32_generator().save(os.path.join(run_dir, GENERATOR_FILE))
    logging.info("finished %d iterations; run folder %s", config.max_iter, run_dir or output_dir)
    return run_dir


def make_evaluator(config):
    """Load the judge and the test split for `--eval_every`, failing before training starts."""
    # Imported here so that training without --eval_every does not need a trained judge.
    from evaluation import TrainingEvaluator

    logging.info("evaluating on the sweep set every %d iterations", config.eval_every)
    return TrainingEvaluator(config.dataset, config.num_z)


class TrainingLoop:
    """The loop of one run, from `start` to `config.max_iter` iterations."""

    def __init__(self, config, trainer, strategy, files, output_dir, manager, start,
                 evaluator=None):
        self.config = config
        self.evaluator = evaluator
        self.trainer = trainer
        self.manager = manager
        self.start = start
        self.writer = tf.summary.create_file_writer(output_dir)
        self.tracker = summaries.MeanTracker()
        self.grid_inputs = summaries.sample_grid_conditions(config.num_z, config.seed)

        # A resumed run reshuffles with a new seed instead of replaying the
        # data order it has already seen.
        data_seed = config.seed + 1000003 * start
        dataset = make_dataset(files, config.batch_size, seed=data_seed,
                               shuffle_buffer=config.shuffle_buffer)
        self.batches = iter(strategy.experimental_distribute_dataset(dataset))
        self.conditions = None
        if config.conditions == "data":
            conditions = make_condition_dataset(files, config.batch_size, seed=data_seed + 1)
            self.conditions = iter(conditions.batch(1 + config.g_train))
        self.files = files

    def run(self):
        """Train until max_iter, checkpointing and writing summaries on the way."""
        if self.start == 0:
            self._write_start_summaries()
        iteration = self.start
        interval_start = time.perf_counter()
        run_start = interval_start
        with InterruptFlag() as interrupt:
            while iteration < self.config.max_iter:
                values = self._train_one()
                iteration += 1
                self._check_finite(values, iteration)
                self.tracker.update(values)

                if iteration % self.config.log_every == 0:
                    self._log_progress(iteration, run_start)
                if iteration % self.config.summary_every == 0:
                    interval_start = self._write_summaries(iteration, interval_start)
                if self.evaluator and iteration % self.config.eval_every == 0:
                    # The evaluator logs its scores and writes them to TensorBoard.
                    self.evaluator(self.trainer.float32_generator(), self.writer, iteration)
                if iteration % self.config.checkpoint_every == 0:
                    self._save(iteration)
                if interrupt.requested:
                    self._save(iteration)
                    self.writer.flush()
                    raise Interrupted(interrupt.signal_number)

        if self.tracker.count:
            self._write_summaries(iteration, interval_start)
        if iteration % self.config.checkpoint_every:
            self._save(iteration)
        self.writer.flush()

    def _train_one(self):
        conditions = next(self.conditions) if self.conditions is not None else None
        results = self.trainer.train_iteration(next(self.batches), conditions)
        return {name: float(value) for name, value in results.items()}

    def _check_finite(self, values, iteration):
        bad = {name: value for name, value in values.items() if not math.isfinite(value)}
        if bad:
            last = self.manager.latest_checkpoint or "none saved yet"
            raise TrainingDiverged(
                f"non-finite loss at iteration {iteration}: {bad}; stopping without saving. "
                f"Last good checkpoint: {last}")

    def _save(self, iteration):
        # Never store a diverged model: a NaN weight, moving statistic or Adam
        # moment can appear without a NaN loss.
        trainer = self.trainer
        for variable in (trainer.generator.variables + trainer.discriminator.variables
                         + trainer.d_optimizer.variables + trainer.g_optimizer.variables):
            if not np.all(np.isfinite(variable.numpy())):
                raise TrainingDiverged(f"non-finite variable {variable.path} at iteration "
                                       f"{iteration}; not saving a checkpoint")
        path = self.manager.save(checkpoint_number=iteration)
        logging.info("saved checkpoint %s", path)

    def _log_progress(self, iteration, run_start):
        means = self.tracker.means()
        elapsed = time.perf_counter() - run_start
        rate = (iteration - self.start) / max(elapsed, 1e-9)
        remaining = (self.config.max_iter - iteration) / max(rate, 1e-9)
        logging.info(
            "iteration %d/%d  d_loss %.3f  g_loss %.3f  D(real) %.2f  D(generated) %.2f  "
            "%.0f images/s  ETA %s", iteration, self.config.max_iter, means["d_loss"],
            means["g_loss"], means["d_prob_real"], means["d_prob_fake"],
            rate * self.config.batch_size, datetime.timedelta(seconds=round(remaining)))

    def _write_start_summaries(self):
        summaries.write_config(self.writer, self.config.__dict__, step=0)
        # Repeated, so that a data set of fewer than 100 records still fills the grid.
        images = make_dataset(self.files, 100, shuffle=False, repeat=True).take(1)
        real_images = next(iter(images))[0].numpy()
        summaries.write_image(self.writer, "images/real", summaries.grid_image(real_images), 0)

    def _write_summaries(self, iteration, interval_start):
        now = time.perf_counter()
        means = self.tracker.means()
        lr_d, lr_g = self.trainer.learning_rates()
        scalars = {
            "loss/discriminator": means["d_loss"],
            "loss/generator": means["g_loss"],
            "discriminator/prob_real_on_real_images": means["d_prob_real"],
            "discriminator/prob_real_on_generated_images": means["d_prob_fake"],
            "learning_rate/discriminator": lr_d,
            "learning_rate/generator": lr_g,
            "speed/iterations_per_second": self.tracker.count / max(now - interval_start, 1e-9),
        }
        summaries.write_scalars(self.writer, scalars, iteration)
        generator = self.trainer.float32_generator()
        for name, (noise, labels, boxes) in self.grid_inputs.items():
            images = generator([noise, labels, boxes], training=False)
            summaries.write_image(self.writer, f"images/{name}",
                                  summaries.grid_image(images.numpy()), iteration)
        self.writer.flush()
        self.tracker.reset()
        return now
