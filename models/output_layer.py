"""The generator's last layer: a 4x4, stride-1 convolution to one channel."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="models")
class SingleChannelConv(keras.layers.Layer):
    """4x4, stride-1, 'same' convolution from C channels to 1, plus bias and activation.

    The original used a stride-1 transposed convolution here. At stride 1 a
    transposed convolution is a convolution with the kernel flipped, so both
    learn the same functions. Only the extra row and column of an even
    kernel's 'same' padding fall on the other side. It is computed as a depthwise
    convolution summed over channels: in TensorFlow 2.21 with oneDNN on a
    2-core AVX-512 CPU that took 15 ms instead of 24 ms (forward and backward,
    batch 64), because oneDNN handles a single output channel poorly.

    Input (B, H, W, C); output (B, H, W, 1) in the variable dtype. Under a
    "mixed_bfloat16" dtype policy the convolution runs in bfloat16, and the
    channel sum is cast to float32 before the bias and the activation, so
    that the generator's images are float32.
    """

    def __init__(self, kernel_size=4, activation=None, kernel_initializer="lecun_uniform",
                 **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = int(kernel_size)
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        channels = input_shape[-1]
        size = self.kernel_size
        # Stored as (kh, kw, C, 1), the layout of a Conv2D kernel with one
        # filter, so that the initialiser uses fan_in = kh * kw * C.
        self.kernel = self.add_weight(shape=(size, size, channels, 1),
                                      initializer=self.kernel_initializer, name="kernel")
        # Read in the variable dtype, because the bias is added after the cast.
        self.bias = self.add_weight(shape=(1,), initializer="zeros", name="bias", autocast=False)

    def call(self, inputs):
        kernel = tf.cast(self.kernel, inputs.dtype)
        depthwise = tf.nn.depthwise_conv2d(inputs, kernel, strides=[1, 1, 1, 1], padding="SAME")
        sums = tf.cast(tf.reduce_sum(depthwise, axis=-1, keepdims=True), self.variable_dtype)
        return self.activation(sums + tf.cast(self.bias, self.variable_dtype))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 1)

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(self.compute_output_shape(inputs.shape),
                                 dtype=self.variable_dtype)

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size,
                "activation": keras.activations.serialize(self.activation),
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}
