"""Benchmark training iterations of the GAN: throughput, transformer share, naive baseline, FLOP/s.

One run measures, interleaved so that other load on the machine affects all
of them alike:

  (a) full training iterations (one D and one G update) of the project at
      --precision, fed by the real data pipeline,
      positional_mnist.reader.make_dataset over --data;
  (b) the same iterations on one fixed batch, without the pipeline, once
      with --precision float32 and once with --precision mixed_bfloat16;
  (c) (b) at --precision with both spatial transformers replaced by a
      stand-in that returns its input map unchanged, so that (b) - (c) is
      the transformers' cost;
  (d) a naive Keras 3 version of the same architecture in float32: stock
      keras.layers.BatchNormalization, the gather-based bilinear sampler and
      a Conv2DTranspose output layer, on the fixed batch;
  (e) large float32 and bfloat16 matrix products, the machine's practical
      peaks, against which the useful FLOP/s of (a), (b) and (d) are
      compared, each with the product of its own precision. Useful FLOPs are
      the multiply-adds of the convolutions and dense layers, counted from the
      layer shapes (BatchNorm, activations and the transformers not counted).

Each configuration is traced and warmed up first, then timed in --repeats
rounds of --iterations calls, in a rotating order. Ratios are taken within
each round and their median reported. The machine should be otherwise idle.

Examples:

    # Quick check that the script works (a few seconds of timing)
    nice -n 19 python bench/bench_train.py --iterations 2 --repeats 1 --warmup 1

    # The full measurement, saved for the README's benchmark page
    python bench/bench_train.py --data positional_mnist_data \\
        --json bench/results/bench_train.json
"""

import argparse
import contextlib
import dataclasses
import datetime
import json
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from unittest import mock

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a plain script from any folder

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import models.blocks  # noqa: E402
import models.discriminator  # noqa: E402
import models.generator  # noqa: E402
from models import BatchNorm  # noqa: E402
from positional_mnist.errors import DatasetError  # noqa: E402
from positional_mnist.reader import list_record_files, make_dataset  # noqa: E402
from stn import SpatialTransformer  # noqa: E402
from training.config import TrainConfig  # noqa: E402
from training.gan import GanTrainer  # noqa: E402

logger = logging.getLogger("bench_train")

PRECISIONS = ("float32", "mixed_bfloat16")
NAIVE = "naive Keras 3 float32, fixed batch"
PIPELINE_ALONE = "data pipeline alone, per batch"
MATMULS = {"float32": "float32 matmul, per product",
           "mixed_bfloat16": "bfloat16 matmul, per product"}


def project_fixed(precision):
    """Return the name of configuration (b) at `precision`."""
    return f"project {precision}, fixed batch"


def project_pipeline(precision):
    """Return the name of configuration (a) at `precision`."""
    return f"project {precision}, data pipeline"


def stand_in_name(precision):
    """Return the name of configuration (c) at `precision`."""
    return f"project {precision}, transformers stubbed"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__[__doc__.index("Examples:"):])
    parser.add_argument("--data", default=str(REPO / "positional_mnist_data"),
                        help="data set folder written by multi_mnist.py, or a record file or "
                             "glob; its training split feeds (a) (default: %(default)s)")
    parser.add_argument("--batch_size", type=int, default=64,
                        help="images per batch (default: %(default)s)")
    parser.add_argument("--iterations", type=int, default=20,
                        help="timed training iterations per configuration and round "
                             "(default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="rounds of timing; medians are over rounds (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=3,
                        help="untimed iterations per configuration after tracing "
                             "(default: %(default)s)")
    parser.add_argument("--matmul_size", type=int, default=4096,
                        help="side of the square matrices of (e) (default: %(default)s)")
    parser.add_argument("--matmul_calls", type=int, default=3,
                        help="timed matrix products per round (default: %(default)s)")
    parser.add_argument("--shuffle_buffer", type=int, default=TrainConfig.shuffle_buffer,
                        help="records in the pipeline's shuffle buffer, as in training "
                             "(default: %(default)s)")
    parser.add_argument("--precision", choices=PRECISIONS, default=TrainConfig.precision,
                        help="precision of the project in (a) and (c), while (b) measures both "
                             "(default: %(default)s, the default of lwawtd.py)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the weights, sampled conditions and data order "
                             "(default: %(default)s)")
    parser.add_argument("--json", metavar="PATH",
                        help="also write all timings and the environment to this JSON file, "
                             "e.g. bench/results/bench_train.json (default: no file)")
    args = parser.parse_args(argv)

    for name in ("batch_size", "iterations", "repeats", "matmul_size", "matmul_calls",
                 "shuffle_buffer"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.warmup < 0:
        parser.error(f"--warmup must be 0 or more, got {args.warmup}")
    return args


# --- model variants ---

class TransformerStandIn(keras.layers.Layer):
    """A stand-in for SpatialTransformer with the same inputs and output shape, at almost no cost.

    Returns the feature map itself, or, if the requested output size differs,
    the map resized by nearest neighbour. Theta is ignored.
    """

    def __init__(self, output_size, axis_aligned=False, **kwargs):
        super().__init__(**kwargs)
        self.output_size = tuple(int(size) for size in output_size)

    def call(self, inputs):
        feature_map, _ = inputs
        if tuple(feature_map.shape[1:3]) == self.output_size:
            return feature_map
        return tf.image.resize(feature_map, self.output_size, method="nearest")

    def compute_output_shape(self, input_shape):
        feature_shape, _ = input_shape
        return (feature_shape[0], *self.output_size, feature_shape[3])


def gather_spatial_transformer(output_size, axis_aligned=False, **kwargs):
    """Return a SpatialTransformer that uses the gather-based sampler for every theta."""
    return SpatialTransformer(output_size, axis_aligned=False, **kwargs)


def transposed_output_layer(kernel_size, activation=None, kernel_initializer="lecun_uniform",
                            **kwargs):
    """Return the generator's output layer as the original had it: a stride-1 Conv2DTranspose."""
    return keras.layers.Conv2DTranspose(1, kernel_size, strides=1, padding="same",
                                        activation=activation,
                                        kernel_initializer=kernel_initializer, **kwargs)


@contextlib.contextmanager
def replaced_layers(batch_norm=None, spatial_transformer=None, output_layer=None):
    """Make build_generator and build_discriminator use other layer classes while active.

    The builders look these names up in their modules' globals when they run,
    so a model built inside the block has the same architecture with the
    given layers swapped in. None keeps the project's layer.
    """
    replacements = [
        (models.blocks, "BatchNorm", batch_norm),
        (models.generator, "BatchNorm", batch_norm),
        (models.discriminator, "BatchNorm", batch_norm),
        (models.generator, "SpatialTransformer", spatial_transformer),
        (models.discriminator, "SpatialTransformer", spatial_transformer),
        (models.generator, "SingleChannelConv", output_layer),
    ]
    with contextlib.ExitStack() as stack:
        for module, name, replacement in replacements:
            if replacement is not None:
                stack.enter_context(mock.patch.object(module, name, replacement))
        yield


def all_layers(model):
    """Yield every layer of a model, descending into the pathway sub-models."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from all_layers(layer)


def count_layers(trainer, kind):
    return sum(isinstance(layer, kind) for model in (trainer.generator, trainer.discriminator)
               for layer in all_layers(model))


def compute_dtypes(trainer):
    """Return the set of compute dtypes of both models' convolution and dense layers."""
    return {layer.compute_dtype for model in (trainer.generator, trainer.discriminator)
            for layer in all_layers(model) if hasattr(layer, "kernel")}


def build_trainers(config, precision):
    """Build the trainers of configurations (b) to (d).

    Args:
      config: TrainConfig of all of them except for the precision.
      precision: the precision of the stand-in trainer (c).

    Returns:
      (projects, stand_in, naive): projects maps each of PRECISIONS to the
      project's trainer; naive computes in float32.

    Raises:
      RuntimeError: if a variant did not get the layers or compute dtypes it
        should have, or its parameter count differs from the project's.
    """
    projects = {}
    for name in PRECISIONS:
        # The same initial weights in every variant.
        keras.utils.set_random_seed(config.seed)
        projects[name] = GanTrainer(dataclasses.replace(config, precision=name))
    with replaced_layers(spatial_transformer=TransformerStandIn):
        keras.utils.set_random_seed(config.seed)
        stand_in = GanTrainer(dataclasses.replace(config, precision=precision))
    with replaced_layers(batch_norm=keras.layers.BatchNormalization,
                         spatial_transformer=gather_spatial_transformer,
                         output_layer=transposed_output_layer):
        keras.utils.set_random_seed(config.seed)
        naive = GanTrainer(dataclasses.replace(config, precision="float32"))

    project = projects["float32"]
    # The discriminator's logit layer computes in float32 under every policy.
    checks = [
        (compute_dtypes(projects["float32"]), {"float32"}, "compute dtypes of the float32 project"),
        (compute_dtypes(projects["mixed_bfloat16"]), {"bfloat16", "float32"},
         "compute dtypes of the mixed_bfloat16 project"),
        (compute_dtypes(naive), {"float32"}, "compute dtypes of the naive model"),
        (count_layers(project, SpatialTransformer), 2, "spatial transformers in the project"),
        (count_layers(stand_in, SpatialTransformer), 0, "spatial transformers after stubbing"),
        (count_layers(stand_in, TransformerStandIn), 2, "stand-ins after stubbing"),
        (count_layers(naive, BatchNorm), 0, "project BatchNorm layers in the naive model"),
        (count_layers(naive, keras.layers.BatchNormalization), 14,
         "keras BatchNormalization layers in the naive model"),
        (sum(layer.axis_aligned for model in (naive.generator, naive.discriminator)
             for layer in all_layers(model) if isinstance(layer, SpatialTransformer)), 0,
         "separable transformers in the naive model"),
        (type(naive.generator.get_layer("images")).__name__, "Conv2DTranspose",
         "naive output layer"),
    ]
    for trainer in (projects["mixed_bfloat16"], stand_in, naive):
        for built, reference in ((trainer.generator, project.generator),
                                 (trainer.discriminator, project.discriminator)):
            checks.append((built.count_params(), reference.count_params(),
                           f"parameters of {built.name}"))
    for found, expected, description in checks:
        if found != expected:
            raise RuntimeError(
                f"invalid benchmark variant: {description} is {found}, expected {expected}")
    return projects, stand_in, naive


# --- useful FLOPs ---

def multiply_adds(layer):
    """Return the multiply-adds per image of a dense, convolution or transposed convolution layer.

    A kernel is applied once per output position of a convolution, once per
    input position of a transposed convolution, and once for a dense layer.
    """
    kernel_size = int(np.prod(layer.kernel.shape))
    if isinstance(layer, keras.layers.Dense):
        return kernel_size
    if isinstance(layer, keras.layers.Conv2DTranspose):
        return kernel_size * int(np.prod(layer.input.shape[1:-1]))
    return kernel_size * int(np.prod(layer.output.shape[1:-1]))


def model_multiply_adds(model):
    """Return (all, first layer's) multiply-adds per image of a model's forward pass.

    The first kernel layer reads only the model inputs, so a backward pass
    never needs the gradient of its input.
    """
    layers = [layer for layer in all_layers(model) if hasattr(layer, "kernel")]
    return sum(multiply_adds(layer) for layer in layers), multiply_adds(layers[0])


def iteration_flops(generator, discriminator, batch_size, g_train=1):
    """Count the useful FLOPs of one training iteration: one D update and g_train G updates.

    Backward passes cost one multiply-add per forward one for the weight
    gradients and one for the input gradients, where those are needed. A
    multiply-add is two FLOPs.
    """
    g_total, g_first = model_multiply_adds(generator)
    d_total, d_first = model_multiply_adds(discriminator)

    # D update: generate fakes, D forward on real and fake, D weight
    # gradients, D input gradients except at its first layer.
    d_update = g_total + 2 * d_total + 2 * d_total + 2 * (d_total - d_first)
    # G update: G and D forward, input gradients through all of D, G weight
    # and input gradients (except at its first layer).
    g_update = g_total + d_total + d_total + g_total + (g_total - g_first)
    return 2 * batch_size * (d_update + g_train * g_update)


# --- timing ---

class Measurement:
    """One configuration: a callable that runs one step, and the seconds of each round."""

    def __init__(self, name, run_step, images_per_step, flops_per_step):
        self.name = name
        self.run_step = run_step
        self.images_per_step = images_per_step
        self.flops_per_step = flops_per_step
        self.seconds_per_step = []

    def run(self, steps):
        result = None
        for _ in range(steps):
            result = self.run_step()
        # Reading one value of each output waits for the last step, in case
        # execution is asynchronous, without copying a large output.
        tf.nest.map_structure(lambda tensor: tf.reshape(tensor, [-1])[0].numpy(), result)

    def time_round(self, steps):
        start = time.perf_counter()
        self.run(steps)
        self.seconds_per_step.append((time.perf_counter() - start) / steps)

    def median(self):
        return statistics.median(self.seconds_per_step)


def make_measurements(args, trainers, dataset_iterator, fixed_batch, flops):
    projects, stand_in, naive = trainers
    project = projects[args.precision]

    def train_on_pipeline():
        return project.train_iteration(next(dataset_iterator))

    def fixed_step(trainer):
        return lambda: trainer.train_iteration(fixed_batch)

    measurements = [Measurement(project_pipeline(args.precision), train_on_pipeline,
                                args.batch_size, flops)]
    measurements += [Measurement(project_fixed(name), fixed_step(projects[name]),
                                 args.batch_size, flops) for name in PRECISIONS]
    measurements += [
        Measurement(stand_in_name(args.precision), fixed_step(stand_in), args.batch_size, flops),
        Measurement(NAIVE, fixed_step(naive), args.batch_size, flops),
        Measurement(PIPELINE_ALONE, lambda: next(dataset_iterator), args.batch_size, 0),
    ]
    matmul = tf.function(tf.linalg.matmul)
    for precision, dtype in (("float32", tf.float32), ("mixed_bfloat16", tf.bfloat16)):
        shape = (args.matmul_size,) * 2
        left = tf.cast(tf.random.stateless_uniform(shape, (args.seed, 1)), dtype)
        right = tf.cast(tf.random.stateless_uniform(shape, (args.seed, 2)), dtype)
        measurements.append(Measurement(MATMULS[precision],
                                        lambda left=left, right=right: matmul(left, right),
                                        0, 2 * args.matmul_size ** 3))
    return measurements


def steps_per_round(measurement, args):
    if measurement.name in MATMULS.values():
        return args.matmul_calls
    if measurement.name == PIPELINE_ALONE:
        # Enough batches to drain the prefetch buffer and see the steady rate.
        return 5 * args.iterations
    return args.iterations


def run_rounds(measurements, args):
    for measurement in measurements:
        logger.info("tracing and warming up: %s", measurement.name)
        measurement.run(1 + args.warmup)
    for round_index in range(args.repeats):
        shift = round_index % len(measurements)
        for measurement in measurements[shift:] + measurements[:shift]:
            measurement.time_round(steps_per_round(measurement, args))
        logger.info("round %d of %d done", round_index + 1, args.repeats)


# --- results ---

def paired_median(numerator, denominator, function):
    """Return the median over rounds of function(numerator time, denominator time)."""
    return statistics.median(function(top, bottom) for top, bottom in
                             zip(numerator.seconds_per_step, denominator.seconds_per_step))


def flop_rate(measurement):
    """Return the median FLOP/s of a measurement."""
    return measurement.flops_per_step / measurement.median()


def summarise(measurements, precision):
    """Return the ratios and rates that the report and the JSON file show.

    `precision` is the precision of configurations (a) and (c). Each training
    configuration's useful FLOP/s are compared with the matrix product of
    its own precision.
    """
    by_name = {measurement.name: measurement for measurement in measurements}
    pipeline, fixed = by_name[project_pipeline(precision)], by_name[project_fixed(precision)]
    stand_in, naive = by_name[stand_in_name(precision)], by_name[NAIVE]
    matmul_rates = {name: flop_rate(by_name[MATMULS[name]]) for name in PRECISIONS}
    training = {project_pipeline(precision): precision, NAIVE: "float32",
                **{project_fixed(name): name for name in PRECISIONS}}
    return {
        "precision": precision,
        "transformer_share": paired_median(stand_in, fixed, lambda c, b: 1.0 - c / b),
        "speedup_over_naive": {name: paired_median(naive, by_name[project_fixed(name)],
                                                   lambda d, b: d / b)
                               for name in PRECISIONS},
        "pipeline_overhead": paired_median(pipeline, fixed, lambda a, b: a / b - 1.0),
        "matmul_gflops": {name: rate / 1e9 for name, rate in matmul_rates.items()},
        "useful_gflops": {name: flop_rate(by_name[name]) / 1e9 for name in training},
        "fraction_of_matmul": {name: flop_rate(by_name[name]) / matmul_rates[matmul_precision]
                               for name, matmul_precision in training.items()},
    }


def format_table(measurements, summary, flops, args):
    width = max(len(measurement.name) for measurement in measurements)
    header = (f"{'configuration':<{width}} {'median ms':>10} {'min ms':>8} {'max ms':>8} "
              f"{'images/s':>9} {'GFLOP/s':>8}")
    lines = [header, "-" * len(header)]
    for measurement in measurements:
        times = np.array(measurement.seconds_per_step) * 1e3
        median = measurement.median()
        images = f"{measurement.images_per_step / median:9.1f}" if measurement.images_per_step \
            else f"{'-':>9}"
        rate = f"{measurement.flops_per_step / median / 1e9:8.0f}" if measurement.flops_per_step \
            else f"{'-':>8}"
        lines.append(f"{measurement.name:<{width}} {1e3 * median:10.1f} {times.min():8.1f} "
                     f"{times.max():8.1f} {images} {rate}")
    precision = summary["precision"]
    lines.append("")
    for name, speedup in summary["speedup_over_naive"].items():
        lines.append(f"speed-up of the project in {name} over the naive version, d / b: "
                     f"{speedup:.2f}x")
    lines += [
        f"spatial transformers' share of an iteration in {precision}, (b - c) / b: "
        f"{100 * summary['transformer_share']:.1f}%",
        f"data pipeline overhead in {precision}, a / b - 1: "
        f"{100 * summary['pipeline_overhead']:+.1f}%",
        f"useful FLOPs per iteration at batch {args.batch_size}: {flops / 1e9:.1f} GFLOP "
        f"(convolutions and dense layers)",
    ]
    for name, rate in summary["matmul_gflops"].items():
        lines.append(f"{MATMULS[name].split(',')[0]} {args.matmul_size}x{args.matmul_size}: "
                     f"{rate:.0f} GFLOP/s")
    for name, rate in summary["useful_gflops"].items():
        lines.append(f"useful FLOP/s, {name}: {rate:.0f} GFLOP/s = "
                     f"{100 * summary['fraction_of_matmul'][name]:.0f}% of the matmul's "
                     f"of its precision")
    lines.append("(ratios are medians of per-round ratios, so they need not equal the "
                 "ratios of the medians above)")
    return "\n".join(lines)


def describe_environment():
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            names = [line.split(":", 1)[1].strip() for line in file
                     if line.startswith("model name")]
            cpu = names[0] if names else cpu
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "python": platform.python_version(), "tensorflow": tf.__version__,
        "keras": keras.__version__, "numpy": np.__version__, "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(unset)"),
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
    }


def load_pipeline(args):
    files = list_record_files(args.data, split="train")
    logger.info("checking %d record files of %s", len(files), args.data)
    dataset = make_dataset(files, args.batch_size, seed=args.seed,
                           shuffle_buffer=args.shuffle_buffer)
    return iter(dataset)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")

    try:
        dataset_iterator = load_pipeline(args)
    except DatasetError as error:
        sys.exit(f"bench_train.py: {error}. Write a data set with multi_mnist.py or pass --data.")
    fixed_batch = tuple(tf.identity(tensor) for tensor in next(dataset_iterator))

    config = TrainConfig(batch_size=args.batch_size, seed=args.seed)
    trainers = build_trainers(config, args.precision)
    project = trainers[0]["float32"]
    flops = iteration_flops(project.generator, project.discriminator, args.batch_size,
                            config.g_train)

    measurements = make_measurements(args, trainers, dataset_iterator, fixed_batch, flops)
    run_rounds(measurements, args)

    summary = summarise(measurements, args.precision)
    environment = describe_environment()
    print(f"TensorFlow {environment['tensorflow']}, Keras {environment['keras']}, "
          f"{environment['cpu_count']} CPUs ({environment['cpu']}), batch {args.batch_size}, "
          f"{args.repeats} rounds of {args.iterations} iterations")
    print(format_table(measurements, summary, flops, args))

    if args.json:
        record = {
            "flags": vars(args), "environment": environment, "flops_per_iteration": flops,
            "seconds_per_step": {measurement.name: measurement.seconds_per_step
                                 for measurement in measurements},
            "summary": summary,
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        logger.info("wrote %s", args.json)


if __name__ == "__main__":
    main()
