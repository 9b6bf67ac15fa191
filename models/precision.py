"""Arithmetic precision of the models: float32, or bfloat16 compute with float32 variables.

The builders take a Keras dtype policy name from PRECISIONS as `dtype`:

- "float32": every layer computes in float32.
- "mixed_bfloat16": convolutions, dense layers, activations and the
  transformers' feature maps are bfloat16, which keeps 8 significant bits.
  CPUs with AVX-512 bf16 instructions multiply bfloat16 matrices faster than
  float32 ones (`bench/bench_train.py` measures both). Variables stay float32
  under both policies, so a checkpoint has the same layout and loads into a
  model of either precision.

Under "mixed_bfloat16" these values stay float32, because 8 significant bits
are too coarse for them:

- BatchNorm's scale, offset and moving statistics, and the batch mean and
  variance. TensorFlow's fused kernel takes bfloat16 inputs only with
  float32 statistics.
- The box thetas, and the bilinear sampling positions and weights computed
  from them. A paste theta rounded to bfloat16 would move samples of a 16x16
  map by up to 0.22 pixel for boxes at least 8 pixels wide, and by up to
  0.65 pixel for narrower ones. The weights are rounded to bfloat16 only for
  the products with the feature map.
- The discriminator's logit layer, and the generator's bias and sigmoid, so
  that losses, probabilities and images are float32.

Losses, the variables' gradients and the optimizers' updates are float32.
bfloat16 has float32's exponent range, so no loss scaling is needed.
"""

import keras

PRECISIONS = ("float32", "mixed_bfloat16")


def compute_dtype(policy_name):
    """Return the dtype name in which layers of the Keras dtype policy `policy_name` compute."""
    return keras.DTypePolicy(policy_name).compute_dtype
