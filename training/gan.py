"""The GAN being trained: both models, their optimizers and one training iteration."""

import keras
import tensorflow as tf

from models import build_discriminator, build_generator
from training.conditions import sample_noise, sample_seed_conditions
from training.losses import discriminator_loss, generator_loss


def learning_rate_schedule(base_rate, config, updates_per_iteration=1):
    """Piecewise-constant schedule over training iterations.

    An optimizer counts its own updates. The generator makes
    `updates_per_iteration` (`--g_train`) of them per iteration, so its
    boundaries are scaled and both models change rate at the same iteration.
    """
    boundaries = [boundary * updates_per_iteration for boundary in config.lr_boundaries]
    values = [base_rate * factor for factor in config.lr_factors]
    if not boundaries:
        return base_rate
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)


class GanTrainer:
    """Generator, discriminator, Adam optimizers, iteration counter and sampling state.

    Models, optimizers and the counter live in the distribution strategy's
    scope. Noise and generator conditions are drawn for the global batch from
    one `tf.random.Generator` outside any replica, and each replica takes its
    slice, so a run's random numbers do not depend on the number of replicas.
    `checkpoint` tracks everything a run needs to resume.
    """

    def __init__(self, config, strategy=None):
        self.config = config
        self.strategy = strategy or tf.distribute.get_strategy()
        with self.strategy.scope():
            self.generator = build_generator(config.num_z, config.g_activation,
                                             config.weight_init, dtype=config.precision)
            self.discriminator = build_discriminator(config.d_activation, config.weight_init,
                                                     dtype=config.precision)
            # epsilon 1e-8 as in TensorFlow 1's Adam, which the original used.
            self.d_optimizer = keras.optimizers.Adam(
                learning_rate_schedule(config.lr_d, config), beta_1=config.beta1_d,
                epsilon=1e-8)
            self.g_optimizer = keras.optimizers.Adam(
                learning_rate_schedule(config.lr_g, config, config.g_train),
                beta_1=config.beta1_g, epsilon=1e-8)
            # Build the slots now: a checkpoint restores Adam's moments only
            # into an optimizer that already has them.
            self.d_optimizer.build(self.discriminator.trainable_variables)
            self.g_optimizer.build(self.generator.trainable_variables)
            self.iteration = tf.Variable(0, dtype=tf.int64, trainable=False, name="iteration")
        self._float32_copy = None
        self.rng = tf.random.Generator.from_seed(config.seed)
        self.checkpoint = tf.train.Checkpoint(
            generator=self.generator, discriminator=self.discriminator,
            d_optimizer=self.d_optimizer, g_optimizer=self.g_optimizer,
            iteration=self.iteration, rng=self.rng)

    @tf.function
    def train_iteration(self, real_batch, data_conditions=None):
        """Run one discriminator update and `g_train` generator updates.

        Args:
          real_batch: (images, labels, boxes) of the global batch, as yielded
            by the strategy's distributed data set.
          data_conditions: None to sample conditions the original's way, or
            (labels (1 + g_train, B, 10), boxes (1 + g_train, B, 4)) drawn
            from training records: one batch per update.

        Returns:
          dict of scalar tensors: d_loss, g_loss (mean over the G updates),
          d_prob_real (mean D probability on real images) and d_prob_fake
          (on generated images, from the D update).
        """
        noise, labels, boxes = self._fake_inputs(data_conditions, 0)
        d_results = self.strategy.run(self._update_discriminator,
                                      args=(*real_batch, noise, labels, boxes))
        d_loss, d_prob_real, d_prob_fake = [self._sum(value) for value in d_results]

        g_loss = 0.0
        for update in range(self.config.g_train):
            noise, labels, boxes = self._fake_inputs(data_conditions, update + 1)
            g_loss += self._sum(self.strategy.run(self._update_generator,
                                                  args=(noise, labels, boxes)))

        self.iteration.assign_add(1)
        return {"d_loss": d_loss, "g_loss": g_loss / self.config.g_train,
                "d_prob_real": d_prob_real, "d_prob_fake": d_prob_fake}

    def _fake_inputs(self, data_conditions, update):
        batch_size = self.config.batch_size
        noise = sample_noise(self.rng, batch_size, self.config.num_z)
        if data_conditions is None:
            labels, boxes = sample_seed_conditions(self.rng, batch_size)
        else:
            labels, boxes = data_conditions[0][update], data_conditions[1][update]
        return noise, labels, boxes

    def _update_discriminator(self, images, labels, boxes, noise, fake_labels, fake_boxes):
        noise, fake_labels, fake_boxes = self._replica_slice(noise, fake_labels, fake_boxes)
        fake_images = self.generator([noise, fake_labels, fake_boxes], training=True)

        # Real images with their own labels and boxes are the positives.
        with tf.GradientTape() as tape:
            real_logits = self.discriminator([images, labels, boxes], training=True)
            fake_logits = self.discriminator([fake_images, fake_labels, fake_boxes],
                                             training=True)
            loss = self._average(discriminator_loss(real_logits, fake_logits))
        variables = self.discriminator.trainable_variables
        self.d_optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))

        return loss, self._average(tf.sigmoid(real_logits)), self._average(tf.sigmoid(fake_logits))

    def _update_generator(self, noise, labels, boxes):
        noise, labels, boxes = self._replica_slice(noise, labels, boxes)

        # The generator wants its images taken for real (non-saturating loss).
        with tf.GradientTape() as tape:
            fake_images = self.generator([noise, labels, boxes], training=True)
            fake_logits = self.discriminator([fake_images, labels, boxes], training=True)
            loss = self._average(generator_loss(fake_logits))
        variables = self.generator.trainable_variables
        self.g_optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    def _replica_slice(self, *tensors):
        """Take this replica's share of global-batch tensors."""
        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync
        if replicas == 1:
            return tensors
        size = self.config.batch_size // replicas
        start = context.replica_id_in_sync_group * size
        return tuple(tensor[start:start + size] for tensor in tensors)

    def _average(self, per_example):
        """Scale per-example values so that summing over replicas gives the global-batch mean."""
        return tf.nn.compute_average_loss(tf.reshape(per_example, [-1]),
                                          global_batch_size=self.config.batch_size)

    def _sum(self, per_replica):
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    def float32_generator(self):
        """Return the generator with its current weights, computing in float32.

        Under --precision float32 this is the generator itself. Otherwise it
        is a float32 copy, built on the first call and given the current
        weights on every call, so that sample grids, --eval_every scores and
        the saved generator.keras equal what lwawtd_generate.py and
        lwawtd_evaluate.py compute from the same checkpoint.
        """
        if self.config.precision == "float32":
            return self.generator
        if self._float32_copy is None:
            self._float32_copy = build_generator(self.config.num_z, self.config.g_activation,
                                                 self.config.weight_init, dtype="float32")
        self._float32_copy.set_weights(self.generator.get_weights())
        return self._float32_copy

    def learning_rates(self):
        """Return the current (discriminator, generator) learning rates as floats."""
        return (float(self.d_optimizer.learning_rate.numpy()),
                float(self.g_optimizer.learning_rate.numpy()))
