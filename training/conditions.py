"""Labels and boxes the generator is asked for during training.

`seed` conditions reproduce the original's sampling. Labels are uniform over
the ten digits, x and y uniform integers in [0, 44) and h uniform in [18, 21).
One coin flip per batch draws w uniformly from [8, 16) for half the batches
and from [16, 21) for the other half. Every such box lies on the 64x64 canvas
(x + w <= 43 + 20 = 63). `data` conditions take (label, box) pairs of
training records instead, from a stream of their own.
"""

import tensorflow as tf

NUM_CLASSES = 10


def sample_seed_conditions(rng, batch_size):
    """Draw one batch of conditions the way the original did.

    Args:
      rng: a `tf.random.Generator`; its state advances.
      batch_size: number of conditions.

    Returns:
      labels: float32 (batch_size, 10), one-hot.
      boxes: float32 (batch_size, 4), x, y, w, h in canvas pixels.
    """
    digits = rng.uniform([batch_size], 0, NUM_CLASSES, dtype=tf.int32)
    x = rng.uniform([batch_size], 0, 44, dtype=tf.int32)
    y = rng.uniform([batch_size], 0, 44, dtype=tf.int32)
    h = rng.uniform([batch_size], 18, 21, dtype=tf.int32)

    # One coin per batch picks narrow or wide boxes for the whole batch.
    wide = rng.uniform([], 0, 2, dtype=tf.int32) == 1
    narrow_w = rng.uniform([batch_size], 8, 16, dtype=tf.int32)
    wide_w = rng.uniform([batch_size], 16, 21, dtype=tf.int32)
    w = tf.where(wide, wide_w, narrow_w)

    boxes = tf.cast(tf.stack([x, y, w, h], axis=1), tf.float32)
    return tf.one_hot(digits, NUM_CLASSES), boxes


def sample_noise(rng, batch_size, noise_dim):
    """Draw z uniformly from [-1, 1], float32 (batch_size, noise_dim)."""
    return rng.uniform([batch_size, noise_dim], -1.0, 1.0)
