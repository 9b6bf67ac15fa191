"""The generator and discriminator of the GAN, each with a global and a local pathway."""

from models.batch_norm import BatchNorm
from models.blocks import ACTIVATIONS, WEIGHT_INITIALIZERS
from models.discriminator import build_discriminator
from models.generator import build_generator
from models.precision import PRECISIONS

__all__ = ["ACTIVATIONS", "PRECISIONS", "WEIGHT_INITIALIZERS", "BatchNorm",
           "build_discriminator", "build_generator"]
