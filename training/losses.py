"""The non-saturating GAN losses, computed from logits so that they stay finite.

Target 1 means real, 0 means generated. softplus(-logit) = -log sigmoid(logit)
and softplus(logit) = -log(1 - sigmoid(logit)) never take the log of a
probability that has rounded to 0, so a saturated discriminator (logits of
+-200) still gives finite losses and gradients.
"""

import tensorflow as tf


def discriminator_loss(real_logits, fake_logits):
    """Per-example loss -log D(real) - log(1 - D(fake)), shape (B,)."""
    real_term = tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(real_logits), real_logits)
    fake_term = tf.nn.sigmoid_cross_entropy_with_logits(tf.zeros_like(fake_logits), fake_logits)
    return tf.reshape(real_term + fake_term, [-1])


def generator_loss(fake_logits):
    """Per-example non-saturating loss -log D(G(z)), shape (B,)."""
    loss = tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(fake_logits), fake_logits)
    return tf.reshape(loss, [-1])
