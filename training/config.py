"""The training configuration: defaults of the original, presets, validation and JSON."""

import dataclasses
import json
import os

from models import ACTIVATIONS, PRECISIONS, WEIGHT_INITIALIZERS

CONDITIONS = ("seed", "data")
STRATEGIES = ("default", "mirrored", "multi_worker")
# The precision of every run whose config.json has no "precision" key.
PRECISION_BEFORE_OPTION = "float32"

# Learning-rate schedules of the original: boundaries in iterations and the
# factor that multiplies the base learning rate in each interval.
LR_SCHEDULES = {
    "halve_20k": ((20000, 30000, 40000), (1.0, 0.5, 0.25, 0.125)),
    "halve_10k": ((10000, 15000, 20000), (1.0, 0.5, 0.25, 0.125)),
    "halve_5k": ((5000, 10000, 15000), (1.0, 0.5, 0.25, 0.125)),
    "divide_20k": ((20000, 30000, 40000), (1.0, 1 / 5, 1 / 10, 1 / 20)),
    "constant": ((), (1.0,)),
}

# Settings behind the pictures in the original's README, which came from an
# earlier version than its final defaults.
PRESETS = {
    "original": {},
    "published": {"max_iter": 20000, "lr_d": 1e-4, "d_activation": "leaky_relu",
                  "weight_init": "he_normal"},
}


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run depends on; saved as config.json in the run folder."""

    dataset: str = "positional_mnist_data"
    max_iter: int = 30000
    batch_size: int = 64
    lr_d: float = 3e-4
    lr_g: float = 1e-4
    beta1_d: float = 0.5
    beta1_g: float = 0.5
    lr_schedule: str = "halve_20k"
    lr_boundaries: tuple = (20000, 30000, 40000)
    lr_factors: tuple = (1.0, 0.5, 0.25, 0.125)
    num_z: int = 100
    d_activation: str = "elu"
    g_activation: str = "relu"
    weight_init: str = "lecun_uniform"
    g_train: int = 1
    conditions: str = "seed"
    preset: str = "original"
    seed: int = 0
    log_dir: str = "log_dir/lwawtd"
    summary_every: int = 1000
    checkpoint_every: int = 5000
    log_every: int = 100
    eval_every: int = 0
    strategy: str = "default"
    shuffle_buffer: int = 10000
    # bfloat16 kept the loss curves of a 500-iteration run within the
    # run-to-run spread of float32 (bench/compare_precision.py).
    precision: str = "mixed_bfloat16"

    def validate(self):
        """Raise ValueError naming the first invalid setting and what to do instead."""
        _check_positive(self, "max_iter", "batch_size", "num_z", "g_train", "summary_every",
                        "checkpoint_every", "log_every", "lr_d", "lr_g")
        if self.eval_every < 0:
            raise ValueError(f"--eval_every must be 0 (off) or positive, got {self.eval_every}")
        for name in ("beta1_d", "beta1_g"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"--{name} must be in [0, 1), got {getattr(self, name)}")
        _check_choice("--d_activation", self.d_activation, ACTIVATIONS)
        _check_choice("--g_activation", self.g_activation, ACTIVATIONS)
        _check_choice("--weight_init", self.weight_init, WEIGHT_INITIALIZERS)
        _check_choice("--conditions", self.conditions, CONDITIONS)
        _check_choice("--strategy", self.strategy, STRATEGIES)
        _check_choice("--precision", self.precision, PRECISIONS)
        _check_choice("--preset", self.preset, tuple(PRESETS))
        if len(self.lr_factors) != len(self.lr_boundaries) + 1:
            raise ValueError(
                f"the learning-rate schedule needs one factor more than boundaries, got "
                f"{len(self.lr_boundaries)} boundaries {list(self.lr_boundaries)} and "
                f"{len(self.lr_factors)} factors {list(self.lr_factors)}; give --lr_boundaries "
                f"and --lr_factors together, because one left out is taken from --lr_schedule")
        if list(self.lr_boundaries) != sorted(set(self.lr_boundaries)):
            raise ValueError(f"--lr_boundaries must increase strictly, got {self.lr_boundaries}")
        if any(factor <= 0 for factor in self.lr_factors):
            raise ValueError(f"--lr_factors must be positive, got {self.lr_factors}")

    def to_json(self, path):
        """Write the configuration to `path` as JSON, replacing any old file whole."""
        # A temporary name and a rename, so that an interrupted write never
        # leaves a half-written configuration that --resume would then refuse.
        partial = f"{os.fspath(path)}.partial"
        with open(partial, "w", encoding="utf-8") as file:
            json.dump(dataclasses.asdict(self), file, indent=2, sort_keys=True)
            file.write("\n")
        os.replace(partial, path)

    @classmethod
    def from_json(cls, path):
        """Read a configuration written by `to_json`.

        Raises:
          ValueError: the file is not UTF-8 JSON, is not a JSON object, or has
            an unknown key or a value of the wrong type. The message names
            the file and the key.
        """
        with open(path, encoding="utf-8") as file:
            try:
                values = json.load(file)
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                raise ValueError(f"{path} is not valid JSON ({error}); restore the config.json "
                                 f"that lwawtd.py wrote into the run folder") from error
        if not isinstance(values, dict):
            raise ValueError(f"{path} contains a JSON {_json_type_name(type(values))}, not an "
                             f"object of settings; restore the config.json that lwawtd.py "
                             f"wrote into the run folder")
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{path}: unknown configuration keys {unknown}")
        for field in dataclasses.fields(cls):
            if field.name in values:
                values[field.name] = _json_setting(path, field, values[field.name])
        # Runs saved before --precision existed trained in float32, whatever
        # the default for new runs is now.
        values.setdefault("precision", PRECISION_BEFORE_OPTION)
        return cls(**values)


def _json_setting(path, field, value):
    """Check the type of a TrainConfig `field`'s `value` read from config.json, and return it.

    Raises:
      ValueError: the JSON type does not fit the field; the message names the file.
    """
    if field.type is tuple:
        # The schedule's boundaries are iterations, its factors any numbers.
        item_type = int if field.name == "lr_boundaries" else float
        if isinstance(value, list) and all(_is_json_type(item, item_type) for item in value):
            return tuple(value)
        expected = f"a list of {_json_type_name(item_type)}s"
    elif _is_json_type(value, field.type):
        return value
    else:
        expected = f"a {_json_type_name(field.type)}"
    raise ValueError(f"{path}: {field.name} is {json.dumps(value)}, but it must be {expected}; "
                     f"fix the value or restore the config.json that lwawtd.py wrote into the "
                     f"run folder")


def _is_json_type(value, python_type):
    # JSON true and false load as bool, a subclass of int, and are never numbers here.
    if isinstance(value, bool):
        return python_type is bool
    if python_type is float:
        return isinstance(value, (int, float))
    return isinstance(value, python_type)


def _json_type_name(python_type):
    names = {dict: "object", list: "array", str: "string", int: "whole number",
             float: "number", bool: "boolean", type(None): "null"}
    return names.get(python_type, python_type.__name__)


def resolve_config(overrides):
    """Build a TrainConfig from the preset named in `overrides` and explicit values.

    Args:
      overrides: dict of setting -> value; None means "not given". Explicit
        values win over the preset, the preset over the defaults, and
        `lr_schedule` fills in `lr_boundaries` and `lr_factors` unless those
        are given.
    """
    explicit = {name: value for name, value in overrides.items() if value is not None}
    preset = explicit.get("preset", TrainConfig.preset)
    _check_choice("--preset", preset, tuple(PRESETS))
    values = {**PRESETS[preset], **explicit}

    schedule = values.get("lr_schedule", TrainConfig.lr_schedule)
    _check_choice("--lr_schedule", schedule, tuple(LR_SCHEDULES))
    boundaries, factors = LR_SCHEDULES[schedule]
    values.setdefault("lr_boundaries", boundaries)
    values.setdefault("lr_factors", factors)
    values["lr_boundaries"] = tuple(int(b) for b in values["lr_boundaries"])
    values["lr_factors"] = tuple(float(f) for f in values["lr_factors"])

    config = TrainConfig(**values)
    config.validate()
    return config


def _check_positive(config, *names):
    for name in names:
        value = getattr(config, name)
        if value <= 0:
            raise ValueError(f"--{name} must be positive, got {value}")


def _check_choice(flag, value, choices):
    if value not in choices:
        raise ValueError(f"unknown {flag} {value!r}; choose one of {', '.join(choices)}")
