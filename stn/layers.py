"""Keras layers of the spatial transformer: serialisable, no Lambda layers."""

import keras

from stn.boxes import CANVAS_SIZE, crop_theta, paste_theta
from stn.sampler import affine_grid, bilinear_sample, geometry_dtype, separable_transform


@keras.saving.register_keras_serializable(package="stn")
class SpatialTransformer(keras.layers.Layer):
    """Resample a feature map through an affine theta.

    Called on [feature_map (B, H, W, C), theta (B, 2, 3)]; returns
    (B, output_size[0], output_size[1], C). Zeros are read outside the input.

    The feature map is cast to the layer's compute dtype, but theta is not:
    the sampling positions and weights are computed in float32 (float64 for
    float64 maps) under every dtype policy, and the weights are rounded to
    the compute dtype only for the products with the map.

    Args:
      output_size: (height, width) of the output, in pixels.
      axis_aligned: if True, the faster separable sampler is used. theta must
        then have no rotation or shear, as every box theta has, because its
        off-diagonal entries are ignored. If False, the general gather-based
        sampler handles any affine theta.
    """

    def __init__(self, output_size, axis_aligned=False, **kwargs):
        # Keras's autocast would round theta to bfloat16 under a mixed policy,
        # so call() casts only the feature map.
        kwargs["autocast"] = False
        super().__init__(**kwargs)
        self.output_size = tuple(int(size) for size in output_size)
        self.axis_aligned = bool(axis_aligned)

    def call(self, inputs):
        feature_map, theta = inputs
        feature_map = keras.ops.cast(feature_map, self.compute_dtype)
        theta = keras.ops.cast(theta, geometry_dtype(feature_map.dtype))
        if self.axis_aligned:
            return separable_transform(feature_map, theta, self.output_size)
        return bilinear_sample(feature_map, affine_grid(theta, self.output_size))

    def compute_output_shape(self, input_shape):
        feature_shape, _ = input_shape
        return (feature_shape[0], *self.output_size, feature_shape[3])

    def get_config(self):
        return {**super().get_config(), "output_size": self.output_size,
                "axis_aligned": self.axis_aligned}


@keras.saving.register_keras_serializable(package="stn")
class BoxToTheta(keras.layers.Layer):
    """Turn pixel boxes (B, 4) of x, y, w, h into thetas (B, 2, 3).

    Args:
      mode: "crop" (output grid covers the box; see `stn.boxes.crop_theta`) or
        "paste" (whole map lands inside the box; see `stn.boxes.paste_theta`).
      canvas_size: side of the canvas the boxes refer to, in pixels.
    """

    def __init__(self, mode, canvas_size=CANVAS_SIZE, **kwargs):
        super().__init__(**kwargs)
        if mode not in ("crop", "paste"):
            raise ValueError(f"BoxToTheta mode must be 'crop' or 'paste', got {mode!r}")
        self.mode = mode
        self.canvas_size = int(canvas_size)

    def call(self, boxes):
        to_theta = crop_theta if self.mode == "crop" else paste_theta
        return to_theta(boxes, self.canvas_size)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2, 3)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "canvas_size": self.canvas_size}
