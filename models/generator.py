"""The generator: a global pathway for the whole canvas and a local pathway pasted into the box."""

import keras

from models.batch_norm import BatchNorm
from models.output_layer import SingleChannelConv
from models.blocks import (ACTIVATIONS, KERNEL_SIZE, WEIGHT_INITIALIZERS, apply_layers,
                           check_choice, conv_block)
from models.precision import PRECISIONS, compute_dtype
from stn import BoxToTheta, SpatialTransformer

NUM_CLASSES = 10
NOISE_DIM = 100
FEATURE_SIZE = 16


def build_generator(noise_dim=NOISE_DIM, activation="relu", weight_init="lecun_uniform",
                    name="generator", dtype="float32"):
    """Build the generator.

    `dtype` is the Keras dtype policy of its layers, one of
    `models.precision.PRECISIONS`; see that module for what stays float32
    under "mixed_bfloat16". Keras's global dtype policy is never used.

    Inputs:
      noise: float32 (B, noise_dim), z, drawn uniformly from [-1, 1] in training.
      labels: float32 (B, 10), one-hot digit labels.
      boxes: float32 (B, 4), x, y, w, h in pixels of the 64x64 canvas; w, h >= 1.

    Returns:
      A Keras model whose output is the float32 image (B, 64, 64, 1) in [0, 1].

    Layout (each transposed convolution 4x4, stride 2, then BN and `activation`):
      [noise, labels] -> dense 2048 + BN + activation -> (4, 4, 128);
      global_pathway: -> (8, 8, 64) -> (16, 16, 64);
      local_pathway: -> (8, 8, 64) -> (16, 16, 64), pasted into the box (16, 16, 64);
      concatenated (16, 16, 128) -> (32, 32, 32) -> (64, 64, 32)
      -> 4x4 convolution, stride 1, 1 channel, sigmoid -> (64, 64, 1).
    """
    check_choice("activation", activation, ACTIVATIONS)
    check_choice("weight initializer", weight_init, WEIGHT_INITIALIZERS)
    check_choice("dtype policy", dtype, PRECISIONS)
    noise = keras.Input((noise_dim,), name="noise")
    labels = keras.Input((NUM_CLASSES,), name="labels")
    boxes = keras.Input((4,), name="boxes")

    # Project noise and label to a 4x4x128 map shared by both pathways.
    codes = keras.layers.Concatenate(name="noise_and_label", dtype=dtype)([noise, labels])
    codes = keras.layers.Dense(4 * 4 * 128, use_bias=False, kernel_initializer=weight_init,
                               name="g_dense", dtype=dtype)(codes)
    codes = BatchNorm(name="g_dense_bn", dtype=dtype)(codes)
    codes = keras.layers.Activation(activation, name="g_dense_activation", dtype=dtype)(codes)
    codes = keras.layers.Reshape((4, 4, 128), name="g_dense_map", dtype=dtype)(codes)

    global_features = _global_pathway(activation, weight_init, dtype)(codes)
    local_features = _local_pathway(activation, weight_init, dtype)([codes, boxes])

    # Decode both pathways together to the full canvas.
    features = keras.layers.Concatenate(name="global_and_local", dtype=dtype)(
        [global_features, local_features])
    features = apply_layers(conv_block(32, "g_conv_0", activation, weight_init, True, dtype),
                            features)
    features = apply_layers(conv_block(32, "g_conv_1", activation, weight_init, True, dtype),
                            features)
    images = SingleChannelConv(KERNEL_SIZE, activation="sigmoid", kernel_initializer=weight_init,
                               name="images", dtype=dtype)(features)
    return keras.Model([noise, labels, boxes], images, name=name)


def _global_pathway(activation, weight_init, dtype):
    """(B, 4, 4, 128) -> (B, 16, 16, 64), blind to the box."""
    # Inputs in the compute dtype, so that calling the pathway casts nothing.
    codes = keras.Input((4, 4, 128), name="codes", dtype=compute_dtype(dtype))
    outputs = apply_layers(
        conv_block(64, "g_global_conv_0", activation, weight_init, True, dtype), codes)
    outputs = apply_layers(
        conv_block(64, "g_global_conv_1", activation, weight_init, True, dtype), outputs)
    return keras.Model(codes, outputs, name="global_pathway")


def _local_pathway(activation, weight_init, dtype):
    """[(B, 4, 4, 128), boxes (B, 4)] -> (B, 16, 16, 64), zero outside the box."""
    codes = keras.Input((4, 4, 128), name="codes", dtype=compute_dtype(dtype))
    boxes = keras.Input((4,), name="boxes")
    outputs = apply_layers(
        conv_block(64, "g_local_conv_0", activation, weight_init, True, dtype), codes)
    outputs = apply_layers(
        conv_block(64, "g_local_conv_1", activation, weight_init, True, dtype), outputs)
    # Thetas stay float32 under every policy (see models.precision).
    theta = BoxToTheta("paste", name="paste_theta", dtype="float32")(boxes)
    outputs = SpatialTransformer((FEATURE_SIZE, FEATURE_SIZE), axis_aligned=True,
                                 name="paste_into_box", dtype=dtype)([outputs, theta])
    return keras.Model([codes, boxes], outputs, name="local_pathway")
