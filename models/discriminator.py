"""The discriminator: a global pathway over the whole image and a local pathway inside the box."""

import keras

from models.batch_norm import BatchNorm
from models.blocks import ACTIVATIONS, WEIGHT_INITIALIZERS, apply_layers, check_choice, conv_block
from stn import BoxToTheta, SpatialTransformer

IMAGE_SIZE = 64
NUM_CLASSES = 10
FEATURE_SIZE = 16


def build_discriminator(activation="elu", weight_init="lecun_uniform", name="discriminator"):
    """Build the discriminator.

    Inputs:
      images: float32 (B, 64, 64, 1) in [0, 1].
      labels: float32 (B, 10), one-hot digit labels.
      boxes: float32 (B, 4), x, y, w, h in pixels of the 64x64 canvas.

    Returns:
      A Keras model whose output is the logit (B, 1) that the image is real
      for this label and box: probability sigmoid(logit).

    Layout (each convolution 4x4, stride 2, then BN and `activation`):
      images + tiled labels (64, 64, 11) -> d_x_conv_0 (32, 32, 32) -> d_x_conv_1 (16, 16, 64);
      global_pathway: d_x_conv_1 -> (8, 8, 64) -> (4, 4, 128);
      local_pathway: d_x_conv_1 cropped to the box (16, 16, 64) -> (8, 8, 64) -> (4, 4, 128);
      both flattened and concatenated -> dense 512 + BN + activation -> dense 1.
    """
    check_choice("activation", activation, ACTIVATIONS)
    check_choice("weight initializer", weight_init, WEIGHT_INITIALIZERS)
    images = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name="images")
    labels = keras.Input((NUM_CLASSES,), name="labels")
    boxes = keras.Input((4,), name="boxes")

    # The label, repeated over every pixel, becomes 10 extra image channels.
    label_maps = keras.layers.Reshape((1, 1, NUM_CLASSES), name="label_pixel")(labels)
    label_maps = keras.layers.UpSampling2D(IMAGE_SIZE, name="label_maps")(label_maps)
    features = keras.layers.Concatenate(name="image_and_label")([images, label_maps])
    features = apply_layers(conv_block(32, "d_x_conv_0", activation, weight_init), features)
    features = apply_layers(conv_block(64, "d_x_conv_1", activation, weight_init), features)

    global_features = _global_pathway(activation, weight_init)(features)
    local_features = _local_pathway(activation, weight_init)([features, boxes])

    # Judge both views together.
    joint = keras.layers.Concatenate(name="global_and_local")(
        [keras.layers.Flatten(name="global_flat")(global_features),
         keras.layers.Flatten(name="local_flat")(local_features)])
    joint = keras.layers.Dense(512, use_bias=False, kernel_initializer=weight_init,
                               name="d_dense")(joint)
    joint = BatchNorm(name="d_dense_bn")(joint)
    joint = keras.layers.Activation(activation, name="d_dense_activation")(joint)
    logits = keras.layers.Dense(1, kernel_initializer=weight_init, name="logits")(joint)
    return keras.Model([images, labels, boxes], logits, name=name)


def _global_pathway(activation, weight_init):
    """(B, 16, 16, 64) -> (B, 4, 4, 128), blind to the box."""
    features = keras.Input((FEATURE_SIZE, FEATURE_SIZE, 64), name="features")
    outputs = apply_layers(conv_block(64, "d_global_conv_0", activation, weight_init), features)
    outputs = apply_layers(conv_block(128, "d_global_conv_1", activation, weight_init), outputs)
    return keras.Model(features, outputs, name="global_pathway")


def _local_pathway(activation, weight_init):
    """[(B, 16, 16, 64), boxes (B, 4)] -> (B, 4, 4, 128), seeing only the box's contents."""
    features = keras.Input((FEATURE_SIZE, FEATURE_SIZE, 64), name="features")
    boxes = keras.Input((4,), name="boxes")
    theta = BoxToTheta("crop", name="crop_theta")(boxes)
    outputs = SpatialTransformer((FEATURE_SIZE, FEATURE_SIZE), axis_aligned=True,
                                 name="crop_to_box")([features, theta])
    outputs = apply_layers(conv_block(64, "d_local_conv_0", activation, weight_init), outputs)
    outputs = apply_layers(conv_block(128, "d_local_conv_1", activation, weight_init), outputs)
    return keras.Model([features, boxes], outputs, name="local_pathway")
