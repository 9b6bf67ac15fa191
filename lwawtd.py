"""Train the "what and where" GAN on positional MNIST.

Examples:
  python lwawtd.py                                   # the original's defaults
  python lwawtd.py --preset published --conditions data --max_iter 20000
  python lwawtd.py --resume log_dir/lwawtd/lwawtd_20261204-213000

Watch a run with `tensorboard --logdir log_dir/lwawtd/`.
"""

import argparse
import logging
import sys

from positional_mnist.errors import DatasetError
from training.checkpoints import CheckpointError
from training.config import CONDITIONS, LR_SCHEDULES, PRESETS, STRATEGIES, TrainConfig, resolve_config
from training.run import Interrupted, TrainingDiverged, prepare_resume, train
from models import ACTIVATIONS, PRECISIONS, WEIGHT_INITIALIZERS

DEFAULTS = TrainConfig()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", help="record file, glob, or folder written by multi_mnist.py "
                      f"(its training split is read) (default: {DEFAULTS.dataset})")
    data.add_argument("--conditions", choices=CONDITIONS,
                      help="labels and boxes for generated images: 'seed' samples them as the "
                           "original did, 'data' takes (label, box) pairs of training records "
                           f"(default: {DEFAULTS.conditions})")

    optimisation = parser.add_argument_group("optimisation")
    optimisation.add_argument("--preset", choices=tuple(PRESETS),
                              help="'original': the original code's last defaults; 'published': "
                                   "the settings behind its README pictures (20,000 iterations, "
                                   "lr_d 1e-4, leaky ReLU in D, He normal init). Explicit flags "
                                   "override the preset (default: original)")
    optimisation.add_argument("--max_iter", type=int, help="training iterations; each is one D "
                              f"update and --g_train G updates (default: {DEFAULTS.max_iter})")
    optimisation.add_argument("--batch_size", type=int,
                              help=f"global batch size in images (default: {DEFAULTS.batch_size})")
    optimisation.add_argument("--lr_d", type=float, help="discriminator Adam learning rate "
                              f"(default: {DEFAULTS.lr_d})")
    optimisation.add_argument("--lr_g", type=float, help="generator Adam learning rate "
                              f"(default: {DEFAULTS.lr_g})")
    optimisation.add_argument("--beta1_d", type=float,
                              help=f"discriminator Adam beta_1 (default: {DEFAULTS.beta1_d})")
    optimisation.add_argument("--beta1_g", type=float,
                              help=f"generator Adam beta_1 (default: {DEFAULTS.beta1_g})")
    optimisation.add_argument("--lr_schedule", choices=tuple(LR_SCHEDULES),
                              help="piecewise-constant preset: halve_20k multiplies both rates by "
                                   "0.5 at iterations 20k, 30k and 40k; halve_10k at 10k/15k/20k; "
                                   "halve_5k at 5k/10k/15k; divide_20k by 1/5, 1/10, 1/20 at "
                                   f"20k/30k/40k; constant (default: {DEFAULTS.lr_schedule})")
    optimisation.add_argument("--lr_boundaries", type=_int_list,
                              help="explicit schedule boundaries in iterations, comma-separated, "
                                   "e.g. 10000,20000 (overrides --lr_schedule)")
    optimisation.add_argument("--lr_factors", type=_float_list,
                              help="factors of the base rates, one more than boundaries, "
                                   "e.g. 1,0.5,0.25 (overrides --lr_schedule)")
    optimisation.add_argument("--g_train", type=int, help="generator updates per iteration "
                              f"(default: {DEFAULTS.g_train})")
    optimisation.add_argument("--seed", type=int, help="seed of noise, conditions and data order "
                              f"(default: {DEFAULTS.seed})")

    model = parser.add_argument_group("model")
    model.add_argument("--num_z", type=int,
                       help=f"noise dimensions, uniform in [-1, 1] (default: {DEFAULTS.num_z})")
    model.add_argument("--d_activation", choices=ACTIVATIONS,
                       help=f"discriminator activation (default: {DEFAULTS.d_activation})")
    model.add_argument("--g_activation", choices=ACTIVATIONS,
                       help=f"generator activation (default: {DEFAULTS.g_activation})")
    model.add_argument("--weight_init", choices=WEIGHT_INITIALIZERS,
                       help=f"kernel initialiser of both models (default: {DEFAULTS.weight_init})")

    output = parser.add_argument_group("output and scale")
    output.add_argument("--log_dir", help="parent folder of run folders lwawtd_<timestamp> "
                        f"(default: {DEFAULTS.log_dir})")
    output.add_argument("--summary_every", type=int, help="TensorBoard scalars (averaged over the "
                        "interval) and sample grids every this many iterations "
                        f"(default: {DEFAULTS.summary_every})")
    output.add_argument("--checkpoint_every", type=int, help="checkpoint every this many "
                        f"iterations, plus at the end and on Ctrl-C or SIGTERM "
                        f"(default: {DEFAULTS.checkpoint_every})")
    output.add_argument("--log_every", type=int, help="progress log line every this many "
                        f"iterations (default: {DEFAULTS.log_every})")
    output.add_argument("--eval_every", type=int,
                        help="score the generator on the sweep grid's 1,000 conditions (digit "
                             "accuracy, box IoU, ink inside, FID) every this many iterations "
                             "and log the scores to TensorBoard; needs the judge that "
                             "`python lwawtd_evaluate.py --train_judge` trains, and the data "
                             "set's test split; 0 turns it off (default: 0)")
    output.add_argument("--resume", metavar="RUN_DIR",
                        help="continue this run folder from its last checkpoint with its saved "
                             "configuration, up to the --max_iter it was started with; "
                             "--max_iter given with it extends the run to that iteration, and "
                             "other flags are ignored")
    output.add_argument("--strategy", choices=STRATEGIES,
                        help="'default': one device; 'mirrored': all local GPUs (or logical "
                             "CPUs, see --logical_cpus); 'multi_worker': the cluster in TF_CONFIG "
                             f"(default: {DEFAULTS.strategy})")
    output.add_argument("--precision", choices=PRECISIONS,
                        help="arithmetic of the layers: 'float32', or 'mixed_bfloat16' "
                             "(bfloat16 convolutions and dense layers with float32 variables, "
                             "BatchNorm statistics, box geometry, logits and losses; faster on "
                             "hardware with fast bfloat16, such as CPUs with AVX-512 BF16, and "
                             "possibly slower elsewhere, so use float32 there). Checkpoints load into either, "
                             "and lwawtd_generate.py and lwawtd_evaluate.py always compute in "
                             f"float32 (default: {DEFAULTS.precision})")
    output.add_argument("--logical_cpus", type=int, default=1,
                        help="split the CPU into this many logical devices, to try --strategy "
                             "mirrored without GPUs (default: 1)")
    return parser.parse_args(argv)


def _int_list(text):
    return tuple(int(value) for value in text.split(",") if value.strip())


def _float_list(text):
    return tuple(float(value) for value in text.split(",") if value.strip())


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S")
    # TensorFlow logs an INFO line about sharding at every checkpoint save
    # through absl, which would clutter the progress lines. Warnings still show.
    logging.getLogger("absl").setLevel(logging.WARNING)
    args = parse_args(argv)
    settings = {name: value for name, value in vars(args).items()
                if name not in ("resume", "logical_cpus")}
    if args.resume:
        max_iter = settings.pop("max_iter")
    ignored = sorted(name for name, value in settings.items() if value is not None)
    if args.resume and ignored:
        logging.warning("--resume continues with the run's saved configuration; ignoring --%s",
                        ", --".join(ignored))
    try:
        if args.resume:
            config = prepare_resume(args.resume, max_iter)
        else:
            config = resolve_config(settings)
        train(config, resume_dir=args.resume, logical_cpus=args.logical_cpus)
    except (ValueError, DatasetError, CheckpointError) as error:
        logging.error("%s", error)
        return 2
    except TrainingDiverged as error:
        logging.error("training diverged: %s", error)
        return 1
    except Interrupted as interruption:
        logging.warning("stopped after saving a checkpoint; continue with --resume")
        return 128 + interruption.signal_number
    except KeyboardInterrupt:
        # A second Ctrl-C during training, or Ctrl-C before the loop starts.
        logging.warning("quit on Ctrl-C without saving a checkpoint; --resume continues "
                        "from the last saved one, if any")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
