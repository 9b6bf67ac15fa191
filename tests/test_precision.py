"""Tests of --precision mixed_bfloat16: dtypes, numerics against float32, checkpoints, settings.

Tolerances come from bfloat16's 8 significant bits: rounding a value to
bfloat16 changes it by at most u = 2**-9 of its size (about 0.2%), while
the layers accumulate their sums in float32.
"""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import lwawtd
import stn.layers
import stn.sampler
import training.run
from models import BatchNorm, build_discriminator, build_generator
from models.output_layer import SingleChannelConv
from stn import BoxToTheta, SpatialTransformer
from test_models import random_inputs
from training import summaries
from training.checkpoints import PRETRAINED_DIR, load_generator, make_manager, restore_exactly
from training.config import TrainConfig, resolve_config
from training.gan import GanTrainer

# Unit roundoff of bfloat16: 8 significant bits.
BF16_U = 2.0 ** -9
MIXED = "mixed_bfloat16"


def all_layers(model):
    """Yield every layer of a model, descending into the pathway sub-models."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from all_layers(layer)


def to_bfloat16_values(array):
    """Round a float32 array to values that bfloat16 represents exactly, kept as float32."""
    return tf.cast(tf.cast(array, tf.bfloat16), tf.float32).numpy()


@pytest.fixture(scope="module")
def model_pairs():
    """{kind: (float32 model, mixed_bfloat16 model)} with the same weights."""
    keras.utils.set_random_seed(11)
    pairs = {"generator": (build_generator(), build_generator(dtype=MIXED)),
             "discriminator": (build_discriminator(), build_discriminator(dtype=MIXED))}
    for reference, mixed in pairs.values():
        mixed.set_weights(reference.get_weights())
    return pairs


# Variables, dtypes and outputs.

@pytest.mark.parametrize("kind", ["generator", "discriminator"])
def test_variables_float32_same_layout(model_pairs, kind):
    reference, mixed = model_pairs[kind]
    layout = [(variable.path, tuple(variable.shape), variable.dtype)
              for variable in reference.variables]
    assert [(variable.path, tuple(variable.shape), variable.dtype)
            for variable in mixed.variables] == layout
    assert {variable.dtype for variable in mixed.variables} == {"float32"}


@pytest.mark.parametrize("kind", ["generator", "discriminator"])
def test_mixed_layers_compute_in_bfloat16(model_pairs, kind):
    reference, mixed = model_pairs[kind]
    kernel_layers = {layer.name: layer.compute_dtype for layer in all_layers(mixed)
                     if hasattr(layer, "kernel")}
    float32_layers = {"logits"} if kind == "discriminator" else set()
    for name, dtype in kernel_layers.items():
        assert dtype == ("float32" if name in float32_layers else "bfloat16"), name
    for layer in all_layers(mixed):
        if isinstance(layer, BoxToTheta):
            assert layer.compute_dtype == "float32", layer.name
    for layer in all_layers(reference):
        assert layer.compute_dtype == "float32", layer.name


def test_mixed_outputs_are_float32(model_pairs):
    generator = model_pairs["generator"][1]
    discriminator = model_pairs["discriminator"][1]
    assert generator.outputs[0].dtype == "float32"
    assert discriminator.outputs[0].dtype == "float32"

    images = generator(random_inputs(2, "generator"), training=False)
    logits = discriminator(random_inputs(2, "discriminator"), training=False)
    assert images.dtype == tf.float32
    assert logits.dtype == tf.float32


def test_mixed_logit_layer_keeps_float32(model_pairs):
    # bfloat16 would round a logit of 10.3 to 10.3125.
    discriminator = model_pairs["discriminator"][1]
    logits = discriminator.get_layer("logits")
    kernel, bias = logits.get_weights()
    try:
        logits.set_weights([np.zeros_like(kernel), np.full_like(bias, 10.3)])
        output = discriminator(random_inputs(3, "discriminator"), training=False).numpy()
    finally:
        logits.set_weights([kernel, bias])
    np.testing.assert_array_equal(output, np.float32(10.3))


def test_mixed_image_sigmoid_in_float32(model_pairs):
    # bfloat16 would round sigmoid(0.3001) = 0.57447... to a multiple of 2**-9.
    generator = model_pairs["generator"][1]
    layer = generator.get_layer("images")
    kernel, bias = layer.get_weights()
    try:
        layer.set_weights([np.zeros_like(kernel), np.full_like(bias, 0.3001)])
        images = generator(random_inputs(2, "generator"), training=False).numpy()
    finally:
        layer.set_weights([kernel, bias])
    expected = 1.0 / (1.0 + np.exp(-np.float64(np.float32(0.3001))))
    np.testing.assert_allclose(images, expected, rtol=0, atol=1e-7)
    assert abs(to_bfloat16_values(np.float32(expected)) - expected) > 1e-4


# Forward passes against float32 with the same weights.

# The outputs come from a last layer that sums terms w * a (a logit, or a
# pixel's pre-sigmoid value), so an error relative to the output itself means
# little when the terms cancel. The scale is the sum of |w * a| instead. Each
# of the 8 weight layers up to the output rounds its inputs and its weights to
# bfloat16, two roundings of at most u each. To first order, an output is
# therefore off by at most 16 u times that scale. Rounding errors are random,
# so the mean error is far smaller: 2 u times the mean scale leaves a margin
# of about 7 over the measured 0.3 u. sigmoid's slope is at most 1/4, which
# scales the bounds for pixels.

def generator_output_scale(generator, inputs, training):
    """Return (B, 64, 64, 1): the sum of |w * a| of each pixel's pre-sigmoid value, over 4."""
    probe = keras.Model(generator.inputs, generator.get_layer("g_conv_1").output)
    features = np.abs(probe(inputs, training=training).numpy())
    kernel = np.abs(generator.get_layer("images").kernel.numpy())
    terms = tf.nn.depthwise_conv2d(features, kernel, strides=[1, 1, 1, 1], padding="SAME")
    return tf.reduce_sum(terms, axis=-1, keepdims=True).numpy() / 4.0


def discriminator_output_scale(discriminator, inputs, training):
    """Return (B, 1): the sum of |w * a| of each logit."""
    probe = keras.Model(discriminator.inputs,
                        discriminator.get_layer("d_dense_activation").output)
    features = np.abs(probe(inputs, training=training).numpy())
    return features @ np.abs(discriminator.get_layer("logits").kernel.numpy())


@pytest.mark.parametrize("kind", ["generator", "discriminator"])
@pytest.mark.parametrize("training", [False, True])
def test_mixed_model_close_to_float32(model_pairs, kind, training):
    reference, mixed = model_pairs[kind]
    inputs = random_inputs(32, kind, seed=1)
    output_scale = (generator_output_scale if kind == "generator"
                    else discriminator_output_scale)

    expected = reference(inputs, training=training).numpy()
    output = mixed(inputs, training=training).numpy()

    scale = output_scale(reference, inputs, training)
    error = np.abs(output - expected)
    assert np.all(error <= 16 * BF16_U * scale)
    assert error.mean() <= 2 * BF16_U * scale.mean()
    # The mixed model does compute in bfloat16.
    assert error.max() > 0


# The spatial transformer: float32 geometry under a mixed policy.

def random_feature_maps(batch, seed):
    maps = np.random.default_rng(seed).uniform(-1, 1, (batch, 16, 16, 3)).astype(np.float32)
    return to_bfloat16_values(maps)


def transform(maps, boxes, mode, axis_aligned, dtype="float32"):
    """Return float32 (B, 16, 16, C): maps pasted into or cropped to the boxes at `dtype`."""
    layer = SpatialTransformer((16, 16), axis_aligned=axis_aligned, dtype=dtype)
    maps = tf.cast(maps, layer.compute_dtype)
    output = layer([maps, BoxToTheta(mode)(boxes)])
    assert output.dtype == layer.compute_dtype
    return tf.cast(output, tf.float32).numpy()


@pytest.mark.parametrize("mode", ["paste", "crop"])
@pytest.mark.parametrize("axis_aligned", [True, False])
def test_mixed_transformer_close_to_float32(mode, axis_aligned, monkeypatch):
    # Boxes whose paste thetas bfloat16 cannot represent (64 / 11, 64 / 13, ...).
    boxes = np.array([[40, 3, 11, 13], [7, 29, 19, 17], [23, 45, 13, 19]], np.float32)
    maps = random_feature_maps(len(boxes), seed=3)

    expected = transform(maps, boxes, mode, axis_aligned)
    output = transform(maps, boxes, mode, axis_aligned, MIXED)

    # Each output is a sum of at most 4 inputs times weights that sum to at
    # most 1, and the inputs are bfloat16 values already. The separable
    # sampler rounds weights and sums in each of its 2 passes (4 roundings of
    # at most u). The gather sampler rounds the weights, the 4 products and 3
    # partial sums, which stay below max |input| (5 u in all).
    roundings = 4 if axis_aligned else 5
    tolerance = roundings * BF16_U * np.abs(maps).max()
    assert np.abs(output - expected).max() <= tolerance

    # The check fails when the sampling positions and weights are computed
    # in bfloat16: the error was then 40 to 64 u times max |input|.
    for module in (stn.sampler, stn.layers):
        monkeypatch.setattr(module, "geometry_dtype", lambda images_dtype: tf.bfloat16)
    moved = transform(maps, boxes, mode, axis_aligned, MIXED)
    assert np.abs(moved - expected).max() > 5 * tolerance


def test_transformer_config_keeps_autocast_off():
    layer = SpatialTransformer((5, 7), axis_aligned=True, dtype=MIXED)
    copy = SpatialTransformer.from_config(layer.get_config())
    assert not layer.autocast
    assert not copy.autocast
    assert copy.compute_dtype == "bfloat16"


# BatchNorm: bfloat16 activations, float32 statistics.

@pytest.mark.parametrize("shape", [(8, 5, 6, 3), (16, 7)])
def test_mixed_batch_norm_float32_statistics(shape):
    rng = np.random.default_rng(4)
    inputs = to_bfloat16_values(rng.normal(size=shape) * 2.0 + 1.5)
    reference, mixed = BatchNorm(), BatchNorm(dtype=MIXED)
    reference.build(shape)
    mixed.build(shape)

    expected = reference(inputs, training=True).numpy()
    output = mixed(inputs, training=True)

    # With float32 statistics, the fused kernel rounds twice per element
    # (x - mean, then the output), so each output is off by at most about
    # 2 u of its own size. 2.5 u leaves room for the float32 arithmetic
    # around it. A mean rounded to bfloat16 would shift outputs near zero
    # by far more than their size.
    tolerance = 2.5 * BF16_U * np.abs(expected) + 1e-6
    assert output.dtype == tf.bfloat16
    assert np.all(np.abs(tf.cast(output, tf.float32).numpy() - expected) <= tolerance)
    for name in ("gamma", "beta", "moving_mean", "moving_variance"):
        assert getattr(mixed, name).dtype == "float32", name
    np.testing.assert_allclose(mixed.moving_mean.numpy(), reference.moving_mean.numpy(),
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(mixed.moving_variance.numpy(),
                               reference.moving_variance.numpy(), rtol=1e-5)

    inference = mixed(inputs, training=False)
    expected = reference(inputs, training=False).numpy()
    tolerance = 2.5 * BF16_U * np.abs(expected) + 1e-6
    assert inference.dtype == tf.bfloat16
    assert np.all(np.abs(tf.cast(inference, tf.float32).numpy() - expected) <= tolerance)


def test_single_channel_conv_mixed_output_dtype():
    layer = SingleChannelConv(4, activation="sigmoid", dtype=MIXED)
    inputs = keras.Input((9, 7, 5))
    assert layer(inputs).dtype == "float32"
    assert layer.bias.dtype == "float32"
    assert layer(np.ones((1, 9, 7, 5), np.float32)).dtype == tf.float32


# Builders never use Keras's global dtype policy.

def test_builders_ignore_global_policy():
    inputs = random_inputs(4, "generator", seed=8)
    expected = load_generator(PRETRAINED_DIR)[0](inputs, training=False).numpy()
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(MIXED)
    try:
        models = [build_generator(), build_discriminator(),
                  load_generator(PRETRAINED_DIR)[0]]
        output = models[-1](inputs, training=False).numpy()
    finally:
        keras.config.set_dtype_policy(previous)

    np.testing.assert_array_equal(output, expected)
    for model in models:
        # Input layers and the pathway models compute nothing themselves.
        for layer in all_layers(model):
            if not isinstance(layer, (keras.layers.InputLayer, keras.Model)):
                assert layer.compute_dtype == "float32", f"{model.name}/{layer.name}"


@pytest.mark.parametrize("builder", [build_generator, build_discriminator])
def test_unknown_dtype_rejected(builder):
    with pytest.raises(ValueError, match="unknown dtype policy 'mixed_float16'; choose one of "
                                         "float32, mixed_bfloat16"):
        builder(dtype="mixed_float16")


# Checkpoints load into either precision; drawing and evaluation use float32.

def test_pretrained_checkpoint_loads_into_mixed_generator():
    generator, config, iteration = load_generator(PRETRAINED_DIR)
    mixed = build_generator(config.num_z, config.g_activation, config.weight_init, dtype=MIXED)
    prefix = os.path.join(PRETRAINED_DIR, "checkpoints", f"ckpt-{iteration}")
    restore_exactly(tf.train.Checkpoint(generator=mixed), prefix)

    for loaded, restored in zip(generator.variables, mixed.variables):
        np.testing.assert_array_equal(restored.numpy(), loaded.numpy(), err_msg=loaded.path)
    inputs = random_inputs(8, "generator", seed=5)
    error = np.abs(mixed(inputs, training=False).numpy()
                   - generator(inputs, training=False).numpy())
    assert error.max() <= 16 * BF16_U


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory):
    """A mixed_bfloat16 trainer after one iteration, saved as a run folder."""
    keras.utils.set_random_seed(6)
    trainer = GanTrainer(TrainConfig(batch_size=8, seed=6, precision=MIXED))
    images, labels, boxes = random_inputs(8, "discriminator", seed=7)
    results = trainer.train_iteration((tf.constant(images), tf.constant(labels),
                                       tf.constant(boxes)))
    run_dir = str(tmp_path_factory.mktemp("mixed_run"))
    make_manager(trainer.checkpoint, run_dir).save(checkpoint_number=1)
    trainer.config.to_json(os.path.join(run_dir, "config.json"))
    return trainer, results, run_dir


def test_mixed_iteration_float32_results(mixed_run):
    trainer, results, _ = mixed_run
    assert sorted(results) == ["d_loss", "d_prob_fake", "d_prob_real", "g_loss"]
    for name, value in results.items():
        assert value.dtype == tf.float32, name
        assert np.isfinite(value.numpy()), name
    assert int(trainer.iteration.numpy()) == 1
    optimizer_variables = trainer.d_optimizer.variables + trainer.g_optimizer.variables
    float_variables = [variable for variable in optimizer_variables
                       if variable.dtype not in ("int64", "int32")]
    assert float_variables
    for variable in (trainer.generator.variables + trainer.discriminator.variables
                     + float_variables):
        assert variable.dtype == "float32", variable.path


def test_load_generator_of_mixed_run_is_float32(mixed_run):
    trainer, _, run_dir = mixed_run
    generator, config, iteration = load_generator(run_dir)

    assert config.precision == MIXED
    assert iteration == 1
    for layer in all_layers(generator):
        assert layer.compute_dtype == "float32", layer.name
    for loaded, trained in zip(generator.variables, trainer.generator.variables):
        np.testing.assert_array_equal(loaded.numpy(), trained.numpy(), err_msg=loaded.path)


def test_float32_generator_copies_current_weights(mixed_run):
    trainer, _, _ = mixed_run
    copy = trainer.float32_generator()

    assert copy is not trainer.generator
    for layer in all_layers(copy):
        assert layer.compute_dtype == "float32", layer.name
    for copied, trained in zip(copy.variables, trainer.generator.variables):
        np.testing.assert_array_equal(copied.numpy(), trained.numpy(), err_msg=copied.path)

    # A later call returns the weights as changed since the first call.
    kernel = trainer.generator.get_layer("g_dense").kernel
    kernel.assign(kernel + 1.0)
    try:
        updated = trainer.float32_generator().get_layer("g_dense").kernel.numpy()
    finally:
        kernel.assign(kernel - 1.0)
    np.testing.assert_array_equal(updated, kernel.numpy() + 1.0)


def test_float32_generator_is_generator_in_float32():
    trainer = GanTrainer(TrainConfig(batch_size=8, precision="float32"))
    assert trainer.float32_generator() is trainer.generator


# Settings: TrainConfig, config.json of older runs, the command line.

def test_config_json_without_precision_loads_float32(tmp_path):
    # A run written before --precision existed: the bundled settings without the key.
    with open(os.path.join(PRETRAINED_DIR, "config.json"), encoding="utf-8") as file:
        values = json.load(file)
    values.pop("precision", None)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(values), encoding="utf-8")

    config = TrainConfig.from_json(path)

    assert config.precision == "float32"
    assert config.conditions == "data"


def test_config_json_round_trips_precision(tmp_path):
    path = tmp_path / "config.json"
    TrainConfig(precision=MIXED).to_json(path)
    with open(path, encoding="utf-8") as file:
        assert json.load(file)["precision"] == MIXED
    assert TrainConfig.from_json(path).precision == MIXED


def test_unknown_precision_rejected():
    with pytest.raises(ValueError, match="unknown --precision 'float16'; choose one of "
                                         "float32, mixed_bfloat16"):
        TrainConfig(precision="float16").validate()


def test_precision_flag_parsed():
    assert lwawtd.parse_args(["--precision", MIXED]).precision == MIXED
    assert lwawtd.parse_args(["--precision", "float32"]).precision == "float32"
    assert lwawtd.parse_args([]).precision is None


def test_precision_flag_rejects_other_values(capsys):
    with pytest.raises(SystemExit) as exit_info:
        lwawtd.parse_args(["--precision", "float16"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'float16'" in capsys.readouterr().err


def test_precision_help_names_default(capsys):
    with pytest.raises(SystemExit):
        lwawtd.parse_args(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"float32 (default: {TrainConfig.precision})" in help_text


def test_mixed_run_saves_float32_generator(tiny_dataset, tmp_path):
    log_dir = tmp_path / "logs"
    code = lwawtd.main(["--dataset", tiny_dataset, "--log_dir", str(log_dir), "--max_iter", "2",
                        "--batch_size", "8", "--summary_every", "2", "--precision", MIXED])
    assert code == 0
    (run_dir,) = log_dir.iterdir()
    assert TrainConfig.from_json(run_dir / "config.json").precision == MIXED

    saved = keras.saving.load_model(run_dir / "generator.keras")
    restored, _, iteration = load_generator(str(run_dir))
    assert iteration == 2
    for layer in all_layers(saved):
        assert layer.compute_dtype == "float32", layer.name
    for saved_variable, restored_variable in zip(saved.variables, restored.variables):
        np.testing.assert_array_equal(saved_variable.numpy(), restored_variable.numpy(),
                                      err_msg=saved_variable.path)


def test_mixed_run_grids_and_scores_float32(tiny_dataset, tmp_path, monkeypatch):
    # A stand-in for --eval_every's evaluator, which needs a trained judge.
    evaluated = []

    def make_evaluator(config):
        def evaluate(generator, writer, iteration):
            evaluated.append((iteration, {layer.compute_dtype for layer in all_layers(generator)}))
        return evaluate

    logged_images = {}
    write_image = summaries.write_image

    def record_image(writer, tag, image, step):
        logged_images[tag, step] = image
        write_image(writer, tag, image, step)

    monkeypatch.setattr(training.run, "make_evaluator", make_evaluator)
    monkeypatch.setattr(summaries, "write_image", record_image)
    log_dir = tmp_path / "logs"
    code = lwawtd.main(["--dataset", tiny_dataset, "--log_dir", str(log_dir), "--max_iter", "2",
                        "--batch_size", "8", "--summary_every", "2", "--eval_every", "2",
                        "--precision", MIXED])
    assert code == 0

    assert evaluated == [(2, {"float32"})]
    # The grids equal what a float32 generator draws from the checkpoint of
    # the same iteration. Grids drawn by the bfloat16 generator differed in
    # about 0.4% of their uint8 pixels.
    (run_dir,) = log_dir.iterdir()
    generator, config, _ = load_generator(str(run_dir), 2)
    for name, inputs in summaries.sample_grid_conditions(config.num_z, config.seed).items():
        expected = summaries.grid_image(generator(list(inputs), training=False).numpy())
        np.testing.assert_array_equal(logged_images[f"images/{name}", 2], expected, err_msg=name)


def test_new_runs_default_to_mixed_bfloat16():
    assert TrainConfig().precision == MIXED
    assert resolve_config({}).precision == MIXED
    assert resolve_config({"precision": "float32"}).precision == "float32"
