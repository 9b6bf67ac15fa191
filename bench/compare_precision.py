"""Compare short trainings in float32 and mixed_bfloat16: loss curves and gradients.

Three runs train the GAN for --iterations iterations on the same data, each
with the project's GanTrainer and the data pipeline of lwawtd.py:

  reference: --precision float32, --seed;
  bfloat16:  --precision mixed_bfloat16, --seed (the same initial weights,
             data order, noise and conditions as the reference);
  reseeded:  --precision float32, --other_seed.

GAN training is chaotic, so two runs drift apart even from tiny
differences. The reseeded run shows how far two float32 runs drift apart
when only their random numbers differ. The bfloat16 run trains as well as
the reference if its curves stay at least as close to the reference's. For
each run the script prints and saves, per --interval iterations, the mean
discriminator loss, generator loss, D(real) and D(generated). It also
compares the first update's gradients of both precisions from identical
weights on one batch, which does not depend on chaotic drift.

Examples:

    # The comparison quoted in the README (about 20 minutes on 2 CPU cores)
    python bench/compare_precision.py --data positional_mnist_data \\
        --json bench/results/compare_precision.json

    # A quick check that the script works
    python bench/compare_precision.py --iterations 4 --interval 2 --batch_size 8
"""

import argparse
import dataclasses
import datetime
import hashlib
import json
import logging
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a plain script from any folder

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from positional_mnist.errors import DatasetError  # noqa: E402
from positional_mnist.reader import list_record_files, make_dataset  # noqa: E402
from training.config import TrainConfig  # noqa: E402
from training.gan import GanTrainer  # noqa: E402
from training.losses import discriminator_loss, generator_loss  # noqa: E402

logger = logging.getLogger("compare_precision")

METRICS = ("d_loss", "g_loss", "d_prob_real", "d_prob_fake")
METRIC_TITLES = {"d_loss": "discriminator loss", "g_loss": "generator loss",
                 "d_prob_real": "D(real): mean D probability on real images",
                 "d_prob_fake": "D(generated): mean D probability on generated images"}


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One training run of the comparison."""

    name: str
    precision: str
    seed: int


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__[__doc__.index("Examples:"):])
    parser.add_argument("--data", default=str(REPO / "positional_mnist_data"),
                        help="data set folder written by multi_mnist.py, or a record file or "
                             "glob; its training split is read (default: %(default)s)")
    parser.add_argument("--iterations", type=int, default=500,
                        help="training iterations per run (default: %(default)s)")
    parser.add_argument("--interval", type=int, default=50,
                        help="iterations averaged into one point of each curve; must divide "
                             "--iterations (default: %(default)s)")
    parser.add_argument("--batch_size", type=int, default=64,
                        help="images per batch (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the reference and the bfloat16 run: initial weights, data "
                             "order, noise and conditions (default: %(default)s)")
    parser.add_argument("--other_seed", type=int, default=1,
                        help="seed of the reseeded float32 run (default: %(default)s)")
    parser.add_argument("--json", metavar="PATH",
                        help="also write the curves, per-iteration values and gradient "
                             "agreement to this JSON file, e.g. "
                             "bench/results/compare_precision.json (default: no file)")
    args = parser.parse_args(argv)

    for name in ("iterations", "interval", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.iterations % args.interval:
        parser.error(f"--interval {args.interval} must divide --iterations {args.iterations}")
    if args.other_seed == args.seed:
        parser.error(f"--other_seed must differ from --seed, both are {args.seed}")
    return args


def run_specs(args):
    return [RunSpec("float32", "float32", args.seed),
            RunSpec("mixed_bfloat16", "mixed_bfloat16", args.seed),
            RunSpec(f"float32, seed {args.other_seed}", "float32", args.other_seed)]


# --- training runs ---

def build_trainer(batch_size, precision, seed):
    """Return a GanTrainer whose initial weights depend only on `seed`, not on `precision`."""
    # lwawtd.py leaves the weight initialisation unseeded; seeding it here
    # makes the float32 and the bfloat16 run start from the same weights.
    keras.utils.set_random_seed(seed)
    return GanTrainer(TrainConfig(batch_size=batch_size, seed=seed, precision=precision))


def sha256_of_arrays(arrays):
    """Return a SHA-256 hex digest of the bytes of `arrays` (tensors or numpy arrays), in order."""
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(np.asarray(array)).tobytes())
    return digest.hexdigest()


def train_run(spec, files, args):
    """Train one run and return its per-iteration values, initial weight digest and duration."""
    trainer = build_trainer(args.batch_size, spec.precision, spec.seed)
    models = (trainer.generator, trainer.discriminator)
    initial_digest = sha256_of_arrays(variable.numpy() for model in models
                                      for variable in model.variables)
    # The same data order as lwawtd.py gives a new run with this seed.
    batches = iter(make_dataset(files, args.batch_size, seed=spec.seed))

    values = {metric: [] for metric in METRICS}
    first_batch_digest = None
    start = time.perf_counter()
    for iteration in range(1, args.iterations + 1):
        batch = next(batches)
        first_batch_digest = first_batch_digest or sha256_of_arrays(batch)
        results = {metric: float(value) for metric, value in
                   trainer.train_iteration(batch).items()}
        if not all(np.isfinite(value) for value in results.values()):
            raise FloatingPointError(
                f"run {spec.name}: non-finite value at iteration {iteration}: {results}")
        for metric in METRICS:
            values[metric].append(results[metric])
        if iteration % args.interval == 0:
            logger.info("%s: iteration %d of %d", spec.name, iteration, args.iterations)
    return {"precision": spec.precision, "seed": spec.seed, "values": values,
            "initial_weights_sha256": initial_digest, "first_batch_sha256": first_batch_digest,
            "seconds": time.perf_counter() - start}


def interval_means(values, interval):
    """Return the mean of each consecutive block of `interval` values."""
    return np.asarray(values, np.float64).reshape(-1, interval).mean(axis=1).tolist()


# --- gradient agreement ---

def update_gradients(trainer, batch, noise, labels, boxes):
    """Return the flattened gradients of the D and the G loss over each model's variables.

    The same computation as one D and one G update of GanTrainer, without
    applying anything. BatchNorm runs in training mode, as in the updates.
    """
    images, real_labels, real_boxes = batch
    generator, discriminator = trainer.generator, trainer.discriminator
    with tf.GradientTape() as tape:
        fake_images = generator([noise, labels, boxes], training=True)
        real_logits = discriminator([images, real_labels, real_boxes], training=True)
        fake_logits = discriminator([fake_images, labels, boxes], training=True)
        d_loss = tf.reduce_mean(discriminator_loss(real_logits, fake_logits))
    d_gradients = tape.gradient(d_loss, discriminator.trainable_variables)

    with tf.GradientTape() as tape:
        fake_logits = discriminator([generator([noise, labels, boxes], training=True),
                                     labels, boxes], training=True)
        g_loss = tf.reduce_mean(generator_loss(fake_logits))
    g_gradients = tape.gradient(g_loss, generator.trainable_variables)
    return [tf.concat([tf.reshape(gradient, [-1]) for gradient in gradients], 0).numpy()
            for gradients in (d_gradients, g_gradients)]


def compare_vectors(reference, other):
    """Return the cosine similarity and the relative L2 difference of two vectors."""
    reference, other = np.asarray(reference, np.float64), np.asarray(other, np.float64)
    norm = np.linalg.norm(reference)
    return {"cosine": float(reference @ other / (norm * np.linalg.norm(other))),
            "relative_l2_difference": float(np.linalg.norm(other - reference) / norm)}


def gradient_agreement(files, args):
    """Compare the first updates' gradients of float32 and mixed_bfloat16 from the same weights.

    For scale, also compares the float32 gradients with those of a second
    batch of real images, noise and conditions.
    """
    batches = iter(make_dataset(files, args.batch_size, seed=args.seed))
    rng = np.random.default_rng(args.seed)
    inputs = []
    for _ in range(2):
        batch = next(batches)
        noise = tf.constant(rng.uniform(-1.0, 1.0, (args.batch_size, TrainConfig.num_z)),
                            tf.float32)
        # Conditions of the generated images: those of the real ones.
        inputs.append((batch, noise, batch[1], batch[2]))

    gradients = {}
    for name, precision, batch_index in (("float32", "float32", 0),
                                         ("mixed_bfloat16", "mixed_bfloat16", 0),
                                         ("float32, second batch", "float32", 1)):
        trainer = build_trainer(args.batch_size, precision, args.seed)
        gradients[name] = update_gradients(trainer, *inputs[batch_index])

    result = {}
    for index, model in enumerate(("discriminator", "generator")):
        result[model] = {name: compare_vectors(gradients["float32"][index], values[index])
                         for name, values in gradients.items() if name != "float32"}
    return result


# --- report ---

def curve_distances(curves, reference, other):
    """Return the mean absolute difference between two runs' curves, per metric."""
    return {metric: float(np.mean(np.abs(np.subtract(curves[other][metric],
                                                     curves[reference][metric]))))
            for metric in METRICS}


def format_report(curves, distances, gradients, interval):
    names = list(curves)
    lines = []
    for metric in METRICS:
        lines += ["", METRIC_TITLES[metric],
                  f"{'iterations':>12} " + " ".join(f"{name:>18}" for name in names)]
        for index in range(len(curves[names[0]][metric])):
            span = f"{index * interval + 1}-{(index + 1) * interval}"
            lines.append(f"{span:>12} " + " ".join(f"{curves[name][metric][index]:18.4f}"
                                                   for name in names))
    lines += ["", "mean absolute difference of the curves from the float32 run:",
              f"{'metric':>12} " + " ".join(f"{name:>18}" for name in distances)]
    for metric in METRICS:
        lines.append(f"{metric:>12} " + " ".join(f"{distances[name][metric]:18.4f}"
                                                 for name in distances))
    lines += ["", "first update's gradients against float32's, same initial weights "
                  "(cosine similarity, relative L2 difference):"]
    for model, comparisons in gradients.items():
        for comparison, value in comparisons.items():
            lines.append(f"  {model}, {comparison}: {value['cosine']:.5f}, "
                         f"{value['relative_l2_difference']:.4f}")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    try:
        files = list_record_files(args.data, split="train")
    except DatasetError as error:
        sys.exit(f"compare_precision.py: {error}. Write a data set with multi_mnist.py or pass "
                 f"--data.")

    runs = {}
    for spec in run_specs(args):
        logger.info("training run %s", spec.name)
        runs[spec.name] = train_run(spec, files, args)
    gradients = gradient_agreement(files, args)

    curves = {name: {metric: interval_means(run["values"][metric], args.interval)
                     for metric in METRICS} for name, run in runs.items()}
    reference = run_specs(args)[0].name
    distances = {name: curve_distances(curves, reference, name)
                 for name in curves if name != reference}
    print(f"batch {args.batch_size}, {args.iterations} iterations per run, "
          f"means over {args.interval} iterations")
    print(format_report(curves, distances, gradients, args.interval))

    if args.json:
        record = {"flags": vars(args), "tensorflow": tf.__version__, "keras": keras.__version__,
                  "date": datetime.datetime.now().isoformat(timespec="seconds"),
                  "runs": runs, "curves": curves, "curve_distance_from_float32": distances,
                  "gradient_agreement": gradients}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        logger.info("wrote %s", args.json)


if __name__ == "__main__":
    main()
