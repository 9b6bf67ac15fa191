"""Training pieces with exact expected values: sampled conditions, losses, schedules, restore.

The optimizer restore runs in a fresh Python process, as a resumed run does,
so that nothing of the saving process (built slots, cached schedule values)
can hide a value that the checkpoint failed to bring back.
"""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from training.checkpoints import make_manager
from training.conditions import sample_seed_conditions
from training.config import resolve_config
from training.gan import GanTrainer, learning_rate_schedule
from training.losses import discriminator_loss, generator_loss
from training.summaries import sample_grid_conditions

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CANVAS = 64


# Conditions sampled for the generator.

@pytest.fixture(scope="module")
def seed_batches():
    """100 batches of 100 conditions from seed 1234, as numpy (labels, boxes) pairs.

    Batches of 100 rather than one of 10,000, because the original throws its
    narrow-or-wide coin once per batch.
    """
    rng = tf.random.Generator.from_seed(1234)
    batches = []
    for _ in range(100):
        labels, boxes = sample_seed_conditions(rng, 100)
        batches.append((labels.numpy(), boxes.numpy()))
    return batches


def test_seed_conditions_cover_all_digits(seed_batches):
    labels = np.concatenate([labels for labels, _ in seed_batches])
    digits = np.argmax(labels, axis=1)

    counts = np.bincount(digits, minlength=10)
    assert len(digits) == 10000
    np.testing.assert_array_equal(labels.sum(axis=1), 1.0, err_msg="labels are one-hot")
    assert counts.min() >= 880, f"digit counts {counts.tolist()}"
    assert counts.max() <= 1120, f"digit counts {counts.tolist()}"


def test_seed_boxes_inside_canvas(seed_batches):
    boxes = np.concatenate([boxes for _, boxes in seed_batches])
    x, y, w, h = boxes.T

    assert boxes.shape == (10000, 4)
    assert np.all(boxes == np.round(boxes)), "boxes are whole pixels"
    assert x.min() >= 0
    assert y.min() >= 0
    assert np.max(x + w) <= CANVAS
    assert np.max(y + h) <= CANVAS
    # The TF1 original's ranges: x, y in [0, 44), h in [18, 21), w in [8, 16) or [16, 21).
    assert (x.min(), x.max(), y.min(), y.max()) == (0, 43, 0, 43)
    assert (h.min(), h.max()) == (18, 20)
    assert (w.min(), w.max()) == (8, 20)


def test_seed_box_width_coin_per_batch(seed_batches):
    widths = [boxes[:, 2] for _, boxes in seed_batches]

    narrow = [batch.max() < 16 for batch in widths]
    wide = [batch.min() >= 16 for batch in widths]
    assert all(is_narrow or is_wide for is_narrow, is_wide in zip(narrow, wide))
    assert 30 <= sum(narrow) <= 70, f"{sum(narrow)} of 100 batches narrow"


def test_seed_conditions_repeat_with_seed():
    first = sample_seed_conditions(tf.random.Generator.from_seed(5), 64)
    second = sample_seed_conditions(tf.random.Generator.from_seed(5), 64)

    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def test_sweep_grid_boxes_inside_canvas():
    for name, (noise, labels, boxes) in sample_grid_conditions(100, seed=0).items():
        x, y, w, h = boxes.T
        assert boxes.shape == (100, 4), name
        assert x.min() >= 0, name
        assert y.min() >= 0, name
        assert np.max(x + w) <= CANVAS, name
        assert np.max(y + h) <= CANVAS, name
        assert noise.shape == (100, 100), name
        np.testing.assert_array_equal(np.argmax(labels, axis=1), np.repeat(np.arange(10), 10))


# Losses at a saturated discriminator.

def loss_and_gradients(loss_function, *logits):
    tensors = [tf.constant([value], tf.float32) for value in logits]
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        loss = loss_function(*tensors)
    gradients = tape.gradient(loss, tensors)
    return float(loss[0]), [float(gradient[0]) for gradient in gradients]


def test_discriminator_loss_saturated_finite():
    # Real images scored -200 and generated ones +200 make the worst possible D.
    loss, (real_gradient, fake_gradient) = loss_and_gradients(discriminator_loss, -200.0, 200.0)

    assert loss == pytest.approx(400.0, rel=1e-6)
    assert real_gradient == pytest.approx(-1.0, rel=1e-6)
    assert fake_gradient == pytest.approx(1.0, rel=1e-6)


def test_generator_loss_saturated_finite():
    loss, (gradient,) = loss_and_gradients(generator_loss, -200.0)

    assert loss == pytest.approx(200.0, rel=1e-6)
    assert gradient == pytest.approx(-1.0, rel=1e-6)


def test_losses_at_logit_zero():
    d_loss, _ = loss_and_gradients(discriminator_loss, 0.0, 0.0)
    g_loss, _ = loss_and_gradients(generator_loss, 0.0)

    assert d_loss == pytest.approx(2 * math.log(2), abs=1e-6)
    assert d_loss == pytest.approx(1.386294, abs=1e-6)
    assert g_loss == pytest.approx(0.693147, abs=1e-6)


@pytest.mark.parametrize("logit", [-1e4, -200.0, -30.0, 30.0, 200.0, 1e4])
def test_losses_finite_at_large_logits(logit):
    d_loss, d_gradients = loss_and_gradients(discriminator_loss, logit, logit)
    g_loss, g_gradients = loss_and_gradients(generator_loss, logit)

    assert math.isfinite(d_loss)
    assert math.isfinite(g_loss)
    assert all(math.isfinite(gradient) for gradient in d_gradients + g_gradients)
    # A correct D (real +, generated -) has a loss near 0, never a negative one.
    assert d_loss >= 0
    assert g_loss >= 0


def test_losses_keep_batch_shape():
    logits = tf.zeros([5, 1])

    assert discriminator_loss(logits, logits).shape == (5,)
    assert generator_loss(logits).shape == (5,)


# Learning-rate schedule and optimizer restore.

HALVE_5K = {"lr_boundaries": (5000, 10000, 15000), "lr_factors": (1.0, 0.5, 0.25, 0.125)}


@pytest.mark.parametrize("settings", [HALVE_5K, {"lr_schedule": "halve_5k"}],
                         ids=["explicit", "preset"])
def test_schedule_values_at_boundaries(settings):
    schedule = learning_rate_schedule(3e-4, resolve_config(settings))

    values = {step: float(schedule(step)) for step in (0, 5000, 5001, 12000, 15001)}
    assert values[0] == pytest.approx(3e-4, rel=1e-6)
    assert values[5000] == pytest.approx(3e-4, rel=1e-6)
    assert values[5001] == pytest.approx(1.5e-4, rel=1e-6)
    assert values[12000] == pytest.approx(7.5e-5, rel=1e-6)
    assert values[15001] == pytest.approx(3.75e-5, rel=1e-6)


def test_schedule_scaled_by_updates_per_iteration():
    # With two G updates per iteration, G's count 24000 is iteration 12000.
    schedule = learning_rate_schedule(3e-4, resolve_config(HALVE_5K), updates_per_iteration=2)

    assert float(schedule(10000)) == pytest.approx(3e-4, rel=1e-6)
    assert float(schedule(10001)) == pytest.approx(1.5e-4, rel=1e-6)
    assert float(schedule(24000)) == pytest.approx(7.5e-5, rel=1e-6)
    assert float(schedule(30001)) == pytest.approx(3.75e-5, rel=1e-6)


def test_constant_schedule_is_base_rate():
    config = resolve_config({"lr_schedule": "constant"})

    assert learning_rate_schedule(2e-4, config) == 2e-4


# The fresh process builds a trainer from the run's config.json, restores the
# latest checkpoint the way `train` does, and writes the restored values.
RESTORE_SCRIPT = """
import json, sys
import numpy as np
from training.checkpoints import load_config, make_manager
from training.gan import GanTrainer

run_dir, out = sys.argv[1], sys.argv[2]
trainer = GanTrainer(load_config(run_dir))
manager = make_manager(trainer.checkpoint, run_dir)
trainer.checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
arrays = {f"{name}/{index}": variable.numpy()
          for name, optimizer in (("d", trainer.d_optimizer), ("g", trainer.g_optimizer))
          for index, variable in enumerate(optimizer.variables)}
arrays["rng_state"] = trainer.rng.state.numpy()
np.savez(out + ".npz", **arrays)
lr_d, lr_g = trainer.learning_rates()
with open(out + ".json", "w") as file:
    json.dump({"d_count": int(trainer.d_optimizer.iterations.numpy()),
               "g_count": int(trainer.g_optimizer.iterations.numpy()),
               "iteration": int(trainer.iteration.numpy()), "lr_d": lr_d, "lr_g": lr_g}, file)
"""


def optimizer_arrays(trainer):
    return {f"{name}/{index}": variable.numpy()
            for name, optimizer in (("d", trainer.d_optimizer), ("g", trainer.g_optimizer))
            for index, variable in enumerate(optimizer.variables)}


@pytest.fixture(scope="module")
def restored_in_fresh_process(tmp_path_factory):
    """Save a trainer at iteration 12000 (D count 12000, G count 24000) and restore it elsewhere.

    Every Adam moment contains a distinct random value, so that a moment
    restored into the wrong slot or the wrong optimizer cannot pass.
    """
    config = resolve_config({**HALVE_5K, "g_train": 2, "batch_size": 8})
    trainer = GanTrainer(config)
    rng = np.random.default_rng(9)
    for optimizer in (trainer.d_optimizer, trainer.g_optimizer):
        for variable in optimizer.variables:
            if variable.dtype == "float32":
                variable.assign(np.abs(rng.standard_normal(variable.shape)).astype(np.float32))
    trainer.d_optimizer.iterations.assign(12000)
    trainer.g_optimizer.iterations.assign(24000)
    trainer.iteration.assign(12000)
    trainer.rng.skip(1000)

    run_dir = tmp_path_factory.mktemp("restore_run")
    config.to_json(os.path.join(run_dir, "config.json"))
    make_manager(trainer.checkpoint, str(run_dir)).save(checkpoint_number=12000)

    out = str(run_dir / "restored")
    result = subprocess.run([sys.executable, "-c", RESTORE_SCRIPT, str(run_dir), out],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"restore in a fresh process failed:\n{result.stderr[-3000:]}"
    with open(out + ".json", encoding="utf-8") as file:
        summary = json.load(file)
    with np.load(out + ".npz") as arrays:
        restored = {name: arrays[name] for name in arrays.files}
    saved = {**optimizer_arrays(trainer), "rng_state": trainer.rng.state.numpy()}
    # Adam has a momentum and a velocity per trainable variable, and an update count.
    trainable = trainer.discriminator.trainable_variables + trainer.generator.trainable_variables
    assert len(saved) == 2 * len(trainable) + 2 + 1, "both optimizers have their slots built"
    return saved, restored, summary


def test_restore_counts_not_swapped(restored_in_fresh_process):
    _, _, summary = restored_in_fresh_process

    assert summary["d_count"] == 12000
    assert summary["g_count"] == 24000
    assert summary["iteration"] == 12000


def test_restore_adam_moments_bit_equal(restored_in_fresh_process):
    saved, restored, _ = restored_in_fresh_process

    assert sorted(restored) == sorted(saved)
    for name, value in saved.items():
        assert restored[name].dtype == value.dtype, name
        np.testing.assert_array_equal(restored[name], value, err_msg=name)


def test_restore_learning_rates_follow(restored_in_fresh_process):
    # Iteration 12000 is past the second boundary (10000), so both rates are a quarter.
    _, _, summary = restored_in_fresh_process

    assert summary["lr_d"] == pytest.approx(3e-4 / 4, rel=1e-6)
    assert summary["lr_g"] == pytest.approx(1e-4 / 4, rel=1e-6)
