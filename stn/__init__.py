"""Spatial transformer: affine grid, bilinear sampler and box thetas.

See `stn.sampler` for the coordinate convention and `stn.boxes` for the box
convention.
"""

from stn.boxes import CANVAS_SIZE, crop_theta, paste_theta
from stn.layers import BoxToTheta, SpatialTransformer
from stn.sampler import affine_grid, bilinear_sample, separable_transform

__all__ = ["CANVAS_SIZE", "BoxToTheta", "SpatialTransformer", "affine_grid",
           "bilinear_sample", "crop_theta", "paste_theta", "separable_transform"]
