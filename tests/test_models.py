"""Tests of the generator, the discriminator and their custom layers.

Shapes, layer kinds and parameter counts are checked against the
architecture written out by hand, and BatchNorm against numpy. Saved models
are reloaded in a fresh Python process with Keras's default safe mode.
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import models.__main__ as models_command
from models import BatchNorm, build_discriminator, build_generator
from models.output_layer import SingleChannelConv
from training.config import TrainConfig
from training.gan import GanTrainer

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def all_layers(model):
    """Yield every layer of a model, descending into the pathway sub-models."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from all_layers(layer)


def find_layer(model, name):
    matches = [layer for layer in all_layers(model) if layer.name == name]
    assert len(matches) == 1, f"expected one layer named {name!r}, found {len(matches)}"
    return matches[0]


def batch_norm_layers(model):
    return [layer for layer in all_layers(model) if isinstance(layer, BatchNorm)]


def random_inputs(batch, kind, seed=0):
    """Return [noise, labels, boxes] for the generator or [images, labels, boxes] for D."""
    rng = np.random.default_rng(seed)
    labels = np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)]
    x, y = rng.integers(0, 44, (2, batch))
    w, h = rng.integers(8, 21, (2, batch))
    boxes = np.stack([x, y, w, h], axis=1).astype(np.float32)
    if kind == "generator":
        first = rng.uniform(-1, 1, (batch, 100)).astype(np.float32)
    else:
        first = rng.uniform(0, 1, (batch, 64, 64, 1)).astype(np.float32)
    return [first, labels, boxes]


@pytest.fixture(scope="module")
def generator():
    keras.utils.set_random_seed(1)
    return build_generator()


@pytest.fixture(scope="module")
def discriminator():
    keras.utils.set_random_seed(2)
    return build_discriminator()


# Shapes (None is the batch size, which stays unknown).

DISCRIMINATOR_SHAPES = {
    "image_and_label": (None, 64, 64, 11),
    "d_x_conv_0": (None, 32, 32, 32),
    "d_x_conv_1": (None, 16, 16, 64),
    "global_pathway": (None, 4, 4, 128),
    "local_pathway": (None, 4, 4, 128),
    "global_and_local": (None, 4096),
    "d_dense": (None, 512),
    "logits": (None, 1),
}

DISCRIMINATOR_PATHWAY_SHAPES = {
    "global_pathway": {"d_global_conv_0": (None, 8, 8, 64), "d_global_conv_1": (None, 4, 4, 128)},
    "local_pathway": {"crop_to_box": (None, 16, 16, 64), "d_local_conv_0": (None, 8, 8, 64),
                      "d_local_conv_1": (None, 4, 4, 128)},
}

GENERATOR_SHAPES = {
    "g_dense": (None, 2048),
    "g_dense_map": (None, 4, 4, 128),
    "global_pathway": (None, 16, 16, 64),
    "local_pathway": (None, 16, 16, 64),
    "global_and_local": (None, 16, 16, 128),
    "g_conv_0": (None, 32, 32, 32),
    "g_conv_1": (None, 64, 64, 32),
    "images": (None, 64, 64, 1),
}

GENERATOR_PATHWAY_SHAPES = {
    "global_pathway": {"g_global_conv_0": (None, 8, 8, 64), "g_global_conv_1": (None, 16, 16, 64)},
    "local_pathway": {"g_local_conv_0": (None, 8, 8, 64), "g_local_conv_1": (None, 16, 16, 64),
                      "paste_into_box": (None, 16, 16, 64)},
}


def test_discriminator_shapes(discriminator):
    for name, shape in DISCRIMINATOR_SHAPES.items():
        assert tuple(discriminator.get_layer(name).output.shape) == shape, name
    for pathway, shapes in DISCRIMINATOR_PATHWAY_SHAPES.items():
        for name, shape in shapes.items():
            layer = discriminator.get_layer(pathway).get_layer(name)
            assert tuple(layer.output.shape) == shape, f"{pathway}/{name}"


def test_generator_shapes(generator):
    for name, shape in GENERATOR_SHAPES.items():
        assert tuple(generator.get_layer(name).output.shape) == shape, name
    for pathway, shapes in GENERATOR_PATHWAY_SHAPES.items():
        for name, shape in shapes.items():
            layer = generator.get_layer(pathway).get_layer(name)
            assert tuple(layer.output.shape) == shape, f"{pathway}/{name}"


def test_inputs_have_unknown_batch_size(generator, discriminator):
    assert [tuple(tensor.shape) for tensor in generator.inputs] == [
        (None, 100), (None, 10), (None, 4)]
    assert [tuple(tensor.shape) for tensor in discriminator.inputs] == [
        (None, 64, 64, 1), (None, 10), (None, 4)]


@pytest.mark.parametrize("batch", [1, 7, 100])
def test_generator_runs_on_any_batch(generator, batch):
    images = generator(random_inputs(batch, "generator"), training=False).numpy()
    assert images.shape == (batch, 64, 64, 1)
    assert images.min() >= 0.0
    assert images.max() <= 1.0
    assert images.std() > 0


@pytest.mark.parametrize("batch", [1, 5])
def test_discriminator_runs_on_any_batch(discriminator, batch):
    logits = discriminator(random_inputs(batch, "discriminator"), training=False).numpy()
    assert logits.shape == (batch, 1)
    assert np.all(np.isfinite(logits))


# Layer kinds, sizes, activations and initializers.

# (convolution layer, filters) in the order of the architecture.
DISCRIMINATOR_CONVOLUTIONS = [("d_x_conv_0", 32), ("d_x_conv_1", 64), ("d_global_conv_0", 64),
                              ("d_global_conv_1", 128), ("d_local_conv_0", 64),
                              ("d_local_conv_1", 128)]
GENERATOR_CONVOLUTIONS = [("g_global_conv_0", 64), ("g_global_conv_1", 64), ("g_local_conv_0", 64),
                          ("g_local_conv_1", 64), ("g_conv_0", 32), ("g_conv_1", 32)]


def check_convolution_blocks(model, blocks, kind, activation):
    for name, filters in blocks:
        convolution = find_layer(model, f"{name}_conv")
        assert type(convolution) is kind, name
        assert convolution.filters == filters, name
        assert convolution.kernel_size == (4, 4), name
        assert convolution.strides == (2, 2), name
        assert convolution.padding == "same", name
        # No bias: the BatchNorm that follows would cancel it.
        assert not convolution.use_bias, name
        assert isinstance(find_layer(model, f"{name}_bn"), BatchNorm), name
        assert find_layer(model, name).activation is keras.activations.get(activation), name
    counted = [layer for layer in all_layers(model)
               if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose))]
    assert len(counted) == len(blocks)


def test_discriminator_layers(discriminator):
    check_convolution_blocks(discriminator, DISCRIMINATOR_CONVOLUTIONS, keras.layers.Conv2D, "elu")

    dense = discriminator.get_layer("d_dense")
    assert dense.units == 512
    assert not dense.use_bias
    assert isinstance(discriminator.get_layer("d_dense_bn"), BatchNorm)
    assert discriminator.get_layer("d_dense_activation").activation is keras.activations.elu
    logits = discriminator.get_layer("logits")
    assert logits.units == 1
    assert logits.use_bias
    assert logits.activation is keras.activations.linear
    assert discriminator.outputs[0] is logits.output


def test_generator_layers(generator):
    check_convolution_blocks(generator, GENERATOR_CONVOLUTIONS, keras.layers.Conv2DTranspose,
                             "relu")

    dense = generator.get_layer("g_dense")
    assert dense.units == 4 * 4 * 128
    assert not dense.use_bias
    assert isinstance(generator.get_layer("g_dense_bn"), BatchNorm)
    output = generator.get_layer("images")
    assert isinstance(output, SingleChannelConv)
    assert output.kernel_size == 4
    assert output.activation is keras.activations.sigmoid
    assert generator.outputs[0] is output.output


def test_discriminator_output_is_not_squashed(discriminator):
    # A large bias in the last layer must reach the output unchanged.
    logits = discriminator.get_layer("logits")
    kernel, bias = logits.get_weights()
    try:
        logits.set_weights([np.zeros_like(kernel), np.full_like(bias, 7.5)])
        output = discriminator(random_inputs(3, "discriminator"), training=False).numpy()
    finally:
        logits.set_weights([kernel, bias])
    np.testing.assert_allclose(output, 7.5)


def test_discriminator_tiles_label_over_image(discriminator):
    inputs = random_inputs(2, "discriminator")
    probe = keras.Model(discriminator.inputs, discriminator.get_layer("image_and_label").output)
    features = probe(inputs).numpy()
    np.testing.assert_array_equal(features[..., 0], inputs[0][..., 0])
    np.testing.assert_array_equal(features[..., 1:],
                                  np.broadcast_to(inputs[1][:, None, None, :], (2, 64, 64, 10)))


def test_activations_are_choosable():
    discriminator = build_discriminator(activation="leaky_relu")
    generator = build_generator(activation="elu")
    check_convolution_blocks(discriminator, DISCRIMINATOR_CONVOLUTIONS, keras.layers.Conv2D,
                             "leaky_relu")
    check_convolution_blocks(generator, GENERATOR_CONVOLUTIONS, keras.layers.Conv2DTranspose,
                             "elu")
    assert generator.get_layer("g_dense_activation").activation is keras.activations.elu
    # The leaky ReLU of the published settings has slope 0.2.
    slope = discriminator.get_layer("d_dense_activation")(tf.constant([-1.0])).numpy()
    np.testing.assert_allclose(slope, [-0.2], atol=1e-7)


def test_unknown_choices_are_rejected():
    with pytest.raises(ValueError, match="unknown activation 'tanh'"):
        build_discriminator(activation="tanh")
    with pytest.raises(ValueError, match="unknown weight initializer 'zeros'"):
        build_generator(weight_init="zeros")


def kernel_layers(model):
    return [layer for layer in all_layers(model) if hasattr(layer, "kernel_initializer")]


def test_default_initializer_is_lecun_uniform(generator, discriminator):
    for model in (generator, discriminator):
        layers = kernel_layers(model)
        assert len(layers) == 8
        for layer in layers:
            assert type(layer.kernel_initializer) is keras.initializers.LecunUniform, layer.name

    # LeCun uniform draws from [-limit, limit], limit = sqrt(3 / fan_in).
    for model, name, fan_in in [(generator, "g_dense", 110),
                                (discriminator, "d_x_conv_0_conv", 4 * 4 * 11)]:
        kernel = model.get_layer(name).kernel.numpy()
        limit = np.sqrt(3.0 / fan_in)
        assert np.abs(kernel).max() <= limit
        assert np.abs(kernel).max() > 0.95 * limit
        assert kernel.std() == pytest.approx(limit / np.sqrt(3.0), rel=0.05)


def test_initializer_is_choosable():
    for model in (build_generator(weight_init="he_normal"),
                  build_discriminator(weight_init="he_normal")):
        for layer in kernel_layers(model):
            assert type(layer.kernel_initializer) is keras.initializers.HeNormal, layer.name


def test_no_lambda_layers(generator, discriminator):
    for model in (generator, discriminator):
        for layer in all_layers(model):
            assert not isinstance(layer, keras.layers.Lambda), layer.name


# Parameter counts, written out from the architecture.

def test_parameter_counts(generator, discriminator, capsys):
    # Convolutions and dense layers without bias: kernel h * w * in * out.
    generator_weights = (110 * 2048 + 2 * (16 * 128 * 64 + 16 * 64 * 64) + 16 * 128 * 32
                         + 16 * 32 * 32 + (16 * 32 + 1))
    discriminator_weights = (16 * 11 * 32 + 16 * 32 * 64 + 2 * (16 * 64 * 64 + 16 * 64 * 128)
                             + 4096 * 512 + (512 + 1))
    # Each BatchNorm channel has a trainable gamma and beta, and a moving
    # mean and variance.
    generator_channels = 2048 + 4 * 64 + 2 * 32
    discriminator_channels = 32 + 64 + 2 * (64 + 128) + 512

    assert models_command.count_parameters(generator) == (
        generator_weights + 2 * generator_channels, 2 * generator_channels)
    assert models_command.count_parameters(discriminator) == (
        discriminator_weights + 2 * discriminator_channels, 2 * discriminator_channels)
    assert generator.count_params() == 710_401
    assert discriminator.count_params() == 2_533_249

    models_command.main([])
    printed = capsys.readouterr().out
    assert 'Model: "generator"' in printed
    assert 'Model: "discriminator"' in printed
    assert "generator           705,665          4,736     710,401" in printed
    assert "discriminator     2,531,265          1,984   2,533,249" in printed
    assert "both              3,236,930          6,720   3,243,650" in printed


# The box reaches the generator's image only through the local pathway.

# The probes read plain layers after the pathways: the `output` of a nested
# model is its own inner tensor, not the result of its call in the outer model.

def test_generator_global_pathway_ignores_box(generator):
    # Channels 0..63 of global_and_local come from the global pathway and
    # channels 64..127 from the local one.
    probe = keras.Model(generator.inputs, [generator.get_layer("global_and_local").output,
                                           generator.output])
    noise, labels, boxes = random_inputs(4, "generator")
    other_boxes = boxes[::-1].copy()
    assert np.all(np.any(boxes != other_boxes, axis=1))

    for training in (False, True):
        features_a, images_a = probe([noise, labels, boxes], training=training)
        features_b, images_b = probe([noise, labels, other_boxes], training=training)
        features_a, features_b = features_a.numpy(), features_b.numpy()
        np.testing.assert_array_equal(features_a[..., :64], features_b[..., :64])
        assert np.abs(features_a[..., :64]).max() > 0
        assert np.abs(features_a[..., 64:] - features_b[..., 64:]).max() > 1e-3
        assert np.abs(images_a.numpy() - images_b.numpy()).max() > 1e-4


def test_generator_local_pathway_is_zero_outside_box(generator):
    probe = keras.Model(generator.inputs, generator.get_layer("global_and_local").output)
    boxes = np.array([[0, 0, 32, 32], [40, 40, 24, 24], [13, 22, 10, 19]], np.float32)
    noise, labels, _ = random_inputs(3, "generator")
    local = probe([noise, labels, boxes], training=False).numpy()[..., 64:]

    for features, (x, y, w, h) in zip(local, boxes):
        # Map pixel j covers canvas pixels 4 j .. 4 j + 3.
        touched_rows = slice(int(y // 4), int(np.ceil((y + h) / 4)))
        touched_columns = slice(int(x // 4), int(np.ceil((x + w) / 4)))
        outside = np.ones((16, 16), bool)
        outside[touched_rows, touched_columns] = False
        assert np.all(features[outside] == 0.0)
        assert np.abs(features[~outside]).max() > 0


def test_discriminator_global_pathway_ignores_box(discriminator):
    probe = keras.Model(discriminator.inputs, [discriminator.get_layer("global_flat").output,
                                               discriminator.get_layer("local_flat").output])
    images, labels, boxes = random_inputs(4, "discriminator")
    global_a, local_a = probe([images, labels, boxes], training=False)
    global_b, local_b = probe([images, labels, boxes[::-1].copy()], training=False)
    np.testing.assert_array_equal(global_a.numpy(), global_b.numpy())
    assert np.abs(local_a.numpy() - local_b.numpy()).max() > 1e-3


# BatchNorm: batch statistics in training, moving averages in inference.

def random_batch_norm_input(shape, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=shape) * rng.uniform(0.5, 3.0, shape[-1])
            + rng.uniform(-2.0, 2.0, shape[-1])).astype(np.float32)


@pytest.mark.parametrize("shape", [(8, 5, 6, 3), (16, 7)])
def test_batch_norm_training_uses_batch_statistics(shape):
    inputs = random_batch_norm_input(shape)
    layer = BatchNorm()
    layer.build(shape)
    gamma = np.array([0.5, 1.5, 2.0, -1.0, 0.7, 1.1, 0.9][:shape[-1]], np.float32)
    beta = np.array([0.1, -0.2, 0.3, 0.0, 1.0, -1.0, 2.0][:shape[-1]], np.float32)
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)

    output = layer(inputs, training=True).numpy()

    axes = tuple(range(len(shape) - 1))
    mean = inputs.astype(np.float64).mean(axis=axes)
    variance = inputs.astype(np.float64).var(axis=axes)
    expected = gamma * (inputs - mean) / np.sqrt(variance + 1e-3) + beta
    np.testing.assert_allclose(output, expected, atol=1e-4)

    # Moving averages start at 0 and 1 and move by 1 - momentum = 0.01 towards
    # the batch mean and the unbiased batch variance.
    count = np.prod(shape[:-1])
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.01 * mean, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(layer.moving_variance.numpy(),
                               0.99 + 0.01 * variance * count / (count - 1), rtol=1e-5)


@pytest.mark.parametrize("shape", [(8, 5, 6, 3), (16, 7)])
def test_batch_norm_matches_keras_in_training(shape):
    inputs = random_batch_norm_input(shape, seed=1)
    ours, stock = BatchNorm(), keras.layers.BatchNormalization()
    ours.build(shape)
    stock.build(shape)
    rng = np.random.default_rng(2)
    gamma, beta = rng.uniform(0.5, 2.0, (2, shape[-1])).astype(np.float32)
    ours.gamma.assign(gamma)
    ours.beta.assign(beta)
    stock.gamma.assign(gamma)
    stock.beta.assign(beta)
    np.testing.assert_allclose(ours(inputs, training=True).numpy(),
                               stock(inputs, training=True).numpy(), atol=1e-4)
    np.testing.assert_allclose(ours.moving_mean.numpy(), stock.moving_mean.numpy(), atol=1e-6)


@pytest.mark.parametrize("shape", [(8, 5, 6, 3), (16, 7)])
def test_batch_norm_inference_uses_moving_averages(shape):
    inputs = random_batch_norm_input(shape, seed=3)
    layer = BatchNorm()
    layer.build(shape)
    rng = np.random.default_rng(4)
    gamma, beta, moving_mean = rng.uniform(-1.0, 2.0, (3, shape[-1])).astype(np.float32)
    moving_variance = rng.uniform(0.2, 4.0, shape[-1]).astype(np.float32)
    for variable, value in [(layer.gamma, gamma), (layer.beta, beta),
                            (layer.moving_mean, moving_mean),
                            (layer.moving_variance, moving_variance)]:
        variable.assign(value)

    output = layer(inputs, training=False).numpy()
    default_output = layer(inputs).numpy()

    expected = gamma * (inputs - moving_mean) / np.sqrt(moving_variance + 1e-3) + beta
    np.testing.assert_allclose(output, expected, atol=1e-5)
    np.testing.assert_array_equal(default_output, output)
    np.testing.assert_array_equal(layer.moving_mean.numpy(), moving_mean)
    np.testing.assert_array_equal(layer.moving_variance.numpy(), moving_variance)


def test_batch_norm_config_round_trip():
    layer = BatchNorm(momentum=0.9, epsilon=1e-5, name="bn")
    copy = BatchNorm.from_config(layer.get_config())
    assert (copy.momentum, copy.epsilon, copy.name) == (0.9, 1e-5, "bn")


def test_generator_batch_statistics_only_in_training():
    keras.utils.set_random_seed(3)
    generator = build_generator()
    inputs = random_inputs(6, "generator")
    first_only = [value[:1] for value in inputs]
    layers = batch_norm_layers(generator)
    assert len(layers) == 7

    # Inference: each image depends on its own inputs only, and nothing moves.
    np.testing.assert_allclose(generator(inputs, training=False).numpy()[:1],
                               generator(first_only, training=False).numpy(), atol=1e-6)
    for layer in layers:
        np.testing.assert_array_equal(layer.moving_mean.numpy(), 0.0)
        np.testing.assert_array_equal(layer.moving_variance.numpy(), 1.0)

    # Training: batch statistics couple the images, and the averages move.
    batch_images = generator(inputs, training=True).numpy()
    single_image = generator(first_only, training=True).numpy()
    assert np.abs(batch_images[:1] - single_image).max() > 1e-3
    for layer in layers:
        assert np.any(layer.moving_mean.numpy() != 0.0), layer.name
        assert np.any(layer.moving_variance.numpy() != 1.0), layer.name


# BatchNorm statistics must move during training. In Keras 3, a model called
# without training=True runs in inference mode and leaves them untouched.

def test_train_iteration_moves_batch_norm_statistics():
    keras.utils.set_random_seed(4)
    config = TrainConfig(batch_size=16)
    trainer = GanTrainer(config)
    layers = batch_norm_layers(trainer.generator) + batch_norm_layers(trainer.discriminator)
    assert len(layers) == 14
    before = {id(layer): (layer.moving_mean.numpy(), layer.moving_variance.numpy())
              for layer in layers}

    images, labels, boxes = random_inputs(16, "discriminator", seed=5)
    trainer.train_iteration((tf.constant(images), tf.constant(labels), tf.constant(boxes)))

    assert int(trainer.iteration.numpy()) == 1
    for layer in layers:
        mean, variance = before[id(layer)]
        assert np.all(layer.moving_mean.numpy() != mean), layer.name
        assert np.all(layer.moving_variance.numpy() != variance), layer.name


# The generator's output layer.

def test_single_channel_conv_equals_conv2d():
    inputs = np.random.default_rng(6).normal(size=(2, 9, 7, 5)).astype(np.float32)
    layer = SingleChannelConv(4)
    reference = keras.layers.Conv2D(1, 4, padding="same")
    layer.build(inputs.shape)
    reference.build(inputs.shape)
    reference.set_weights(layer.get_weights()[:1] + [np.array([0.3], np.float32)])
    layer.set_weights(reference.get_weights())
    np.testing.assert_allclose(layer(inputs).numpy(), reference(inputs).numpy(), atol=1e-5)


def test_single_channel_conv_is_flipped_transposed_conv():
    # At stride 1 with 'same' padding and a 4x4 kernel, a transposed
    # convolution is the convolution with the kernel flipped, shifted by one
    # pixel down and right. The convolution pads 1 row before the input and 2
    # after it, and its transpose pads 2 before and 1 after.
    inputs = np.random.default_rng(7).normal(size=(2, 9, 7, 5)).astype(np.float32)
    transposed = keras.layers.Conv2DTranspose(1, 4, strides=1, padding="same", use_bias=False)
    transposed.build(inputs.shape)
    layer = SingleChannelConv(4)
    layer.build(inputs.shape)
    flipped = transposed.kernel.numpy()[::-1, ::-1].transpose(0, 1, 3, 2)
    layer.set_weights([flipped, np.zeros(1, np.float32)])

    expected = transposed(inputs).numpy()
    output = layer(inputs).numpy()
    np.testing.assert_allclose(expected[:, 1:, 1:], output[:, :-1, :-1], atol=1e-5)


def test_single_channel_conv_config_round_trip():
    layer = SingleChannelConv(4, activation="sigmoid", kernel_initializer="he_normal",
                              name="images")
    copy = SingleChannelConv.from_config(layer.get_config())
    assert copy.kernel_size == 4
    assert copy.name == "images"
    assert copy.activation is keras.activations.sigmoid
    assert type(copy.kernel_initializer) is keras.initializers.HeNormal


# Saving and loading in a fresh process (Keras 3 default safe mode).

LOAD_SCRIPT = textwrap.dedent("""
    import json
    import sys

    import keras
    import numpy as np

    import models  # registers the custom layers, as any user of the models does

    folder = sys.argv[1]
    arrays = dict(np.load(folder + "/inputs.npz"))
    results, configs = {}, {}
    for kind in ("generator", "discriminator"):
        model = keras.saving.load_model(folder + f"/{kind}.keras")
        inputs = [arrays[f"{kind}_{index}"] for index in range(3)]
        results[kind] = model(inputs, training=False).numpy()
        configs[kind] = {"params": model.count_params(),
                         "layers": sorted(layer.name for layer in model.layers)}
    np.savez(folder + "/loaded_outputs.npz", **results)
    with open(folder + "/loaded_configs.json", "w") as file:
        json.dump(configs, file)
""")


def test_saved_models_reload_in_fresh_process(tmp_path):
    keras.utils.set_random_seed(5)
    built = {"generator": build_generator(), "discriminator": build_discriminator()}
    arrays, expected = {}, {}
    for seed, (kind, model) in enumerate(built.items()):
        inputs = random_inputs(6, kind, seed=seed)
        # Move the BatchNorm statistics and scales off their initial values,
        # so that a reload which loses them cannot pass.
        model(inputs, training=True)
        for layer in batch_norm_layers(model):
            layer.gamma.assign(np.random.default_rng(seed).uniform(0.5, 1.5, layer.gamma.shape))
        arrays.update({f"{kind}_{index}": value for index, value in enumerate(inputs)})
        expected[kind] = model(inputs, training=False).numpy()
        model.save(tmp_path / f"{kind}.keras")
    np.savez(tmp_path / "inputs.npz", **arrays)

    result = subprocess.run([sys.executable, "-c", LOAD_SCRIPT, str(tmp_path)], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]

    loaded = np.load(tmp_path / "loaded_outputs.npz")
    configs = json.loads((tmp_path / "loaded_configs.json").read_text())
    for kind, model in built.items():
        np.testing.assert_allclose(loaded[kind], expected[kind], atol=1e-6, err_msg=kind)
        assert configs[kind]["params"] == model.count_params()
        assert configs[kind]["layers"] == sorted(layer.name for layer in model.layers)
