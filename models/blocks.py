"""Building blocks shared by the generator and the discriminator."""

import keras

from models.batch_norm import BatchNorm

ACTIVATIONS = ("relu", "elu", "leaky_relu")
WEIGHT_INITIALIZERS = ("lecun_uniform", "lecun_normal", "he_uniform", "he_normal",
                       "glorot_uniform", "glorot_normal")
KERNEL_SIZE = 4


def check_choice(name, value, choices):
    """Raise ValueError unless `value` is one of `choices`."""
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")


def conv_block(filters, name, activation, weight_init, transpose=False, dtype="float32"):
    """Return the layers of one 4x4, stride-2, 'same' (transposed) convolution + BN + activation.

    The convolution has no bias because the batch normalisation that follows
    would cancel it. Applied in order, the layers halve (or, transposed,
    double) the spatial size. The last layer carries `name`. `dtype` is the
    layers' Keras dtype policy, one of `models.precision.PRECISIONS`.
    """
    convolution = keras.layers.Conv2DTranspose if transpose else keras.layers.Conv2D
    return [
        convolution(filters, KERNEL_SIZE, strides=2, padding="same", use_bias=False,
                    kernel_initializer=weight_init, name=f"{name}_conv", dtype=dtype),
        BatchNorm(name=f"{name}_bn", dtype=dtype),
        keras.layers.Activation(activation, name=name, dtype=dtype),
    ]


def apply_layers(layers, inputs):
    """Apply layers in order."""
    outputs = inputs
    for layer in layers:
        outputs = layer(outputs)
    return outputs
