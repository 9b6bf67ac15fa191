"""The discriminator: a global pathway over the whole image and a local pathway inside the box."""

import keras

from models.batch_norm import BatchNorm
from models.blocks import ACTIVATIONS, WEIGHT_INITIALIZERS, apply_layers, check_choice, conv_block
from models.precision import PRECISIONS, compute_dtype
from stn import BoxToTheta, SpatialTransformer

IMAGE_SIZE = 64
NUM_CLASSES = 10
FEATURE_SIZE = 16


def build_discriminator(activation="elu", weight_init="lecun_uniform", name="discriminator",
                        dtype="float32"):
    """Build the discriminator.

    `dtype` is the Keras dtype policy of its layers, one of
    `models.precision.PRECISIONS`; see that module for what stays float32
    under "mixed_bfloat16". Keras's global dtype policy is never used.

    Inputs:
      images: float32 (B, 64, 64, 1) in [0, 1].
      labels: float32 (B, 10), one-hot digit labels.
      boxes: float32 (B, 4), x, y, w, h in pixels of the 64x64 canvas.

    Returns:
      A Keras model whose output is the float32 logit (B, 1) that the image is real
      for this label and box: probability sigmoid(logit).

    Layout (each convolution 4x4, stride 2, then BN and `activation`):
      images + tiled labels (64, 64, 11) -> d_x_conv_0 (32, 32, 32) -> d_x_conv_1 (16, 16, 64);
      global_pathway: d_x_conv_1 -> (8, 8, 64) -> (4, 4, 128);
      local_pathway: d_x_conv_1 cropped to the box (16, 16, 64) -> (8, 8, 64) -> (4, 4, 128);
      both flattened and concatenated -> dense 512 + BN + activation -> dense 1.
    """
    check_choice("activation", activation, ACTIVATIONS)
    check_choice("weight initializer", weight_init, WEIGHT_INITIALIZERS)
    check_choice("dtype policy", dtype, PRECISIONS)
    images = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name="images")
    labels = keras.Input((NUM_CLASSES,), name="labels")
    boxes = keras.Input((4,), name="boxes")

    # The label, repeated over every pixel, becomes 10 extra image channels.
    label_maps = keras.layers.Reshape((1, 1, NUM_CLASSES), name="label_pixel",
                                      dtype=dtype)(labels)
    label_maps = keras.layers.UpSampling2D(IMAGE_SIZE, name="label_maps", dtype=dtype)(label_maps)
    features = keras.layers.Concatenate(name="image_and_label", dtype=dtype)([images, label_maps])
    features = apply_layers(conv_block(32, "d_x_conv_0", activation, weight_init, dtype=dtype),
                            features)
    features = apply_layers(conv_block(64, "d_x_conv_1", activation, weight_init, dtype=dtype),
                            features)

    global_features = _global_pathway(activation, weight_init, dtype)(features)
    local_features = _local_pathway(activation, weight_init, dtype)([features, boxes])

    # Judge both views together.
    joint = keras.layers.Concatenate(name="global_and_local", dtype=dtype)(
        [keras.layers.Flatten(name="global_flat", dtype=dtype)(global_features),
         keras.layers.Flatten(name="local_flat", dtype=dtype)(local_features)])
    joint = keras.layers.Dense(512, use_bias=False, kernel_initializer=weight_init,
                               name="d_dense", dtype=dtype)(joint)
    joint = BatchNorm(name="d_dense_bn", dtype=dtype)(joint)
    joint = keras.layers.Activation(activation, name="d_dense_activation", dtype=dtype)(joint)
    # float32 under every policy, because the losses and probabilities take the
    # logit, and bfloat16 would round it to steps of 1/16 between 8 and 16.
    logits = keras.layers.Dense(1, kernel_initializer=weight_init, name="logits",
                                dtype="float32")(joint)
    return keras.Model([images, labels, boxes], logits, name=name)


def _global_pathway(activation, weight_init, dtype):
    """(B, 16, 16, 64) -> (B, 4, 4, 128), blind to the box."""
    # Inputs in the compute dtype, so that calling the pathway casts nothing.
    features = keras.Input((FEATURE_SIZE, FEATURE_SIZE, 64), name="features",
                           dtype=compute_dtype(dtype))
    outputs = apply_layers(
        conv_block(64, "d_global_conv_0", activation, weight_init, dtype=dtype), features)
    outputs = apply_layers(
        conv_block(128, "d_global_conv_1", activation, weight_init, dtype=dtype), outputs)
    return keras.Model(features, outputs, name="global_pathway")


def _local_pathway(activation, weight_init, dtype):
    """[(B, 16, 16, 64), boxes (B, 4)] -> (B, 4, 4, 128), seeing only the box's contents."""
    features = keras.Input((FEATURE_SIZE, FEATURE_SIZE, 64), name="features",
                           dtype=compute_dtype(dtype))
    boxes = keras.Input((4,), name="boxes")
    # Thetas stay float32 under every policy (see models.precision).
    theta = BoxToTheta("crop", name="crop_theta", dtype="float32")(boxes)
    outputs = SpatialTransformer((FEATURE_SIZE, FEATURE_SIZE), axis_aligned=True,
                                 name="crop_to_box", dtype=dtype)([features, theta])
    outputs = apply_layers(
        conv_block(64, "d_local_conv_0", activation, weight_init, dtype=dtype), outputs)
    outputs = apply_layers(
        conv_block(128, "d_local_conv_1", activation, weight_init, dtype=dtype), outputs)
    return keras.Model([features, boxes], outputs, name="local_pathway")
