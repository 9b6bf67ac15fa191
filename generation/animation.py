"""Animated GIFs in which one sample follows a box that glides round the canvas and grows.

The noise stays fixed for the whole animation, so only the box changes: the
digit's style stays and its place and size follow the box. The box's centre
travels once round a circle of radius 14 px about the canvas centre while
the box grows from 10x14 to 26x30 px and shrinks back, so the loop has no
jump.
"""

import logging
import os

import numpy as np

from generation.output import save_gif
from generation.sampling import tile_versions

NUM_FRAMES = 48
FRAME_DURATION_MS = 80
SCALE = 4
CANVAS_CENTRE = 32.0
PATH_RADIUS = 14.0
MIN_BOX_SIZE = (10, 14)
GROWTH = 16


def animation_name(digit, draw_box=False):
    """Return the file name of a digit's animation, e.g. digit_3.gif or digit_3_bbox.gif."""
    return f"digit_{digit}_bbox.gif" if draw_box else f"digit_{digit}.gif"


def animation_boxes(num_frames=NUM_FRAMES):
    """Return int (num_frames, 4) boxes x, y, w, h of the animation, all on the 64x64 canvas."""
    angles = 2.0 * np.pi * np.arange(num_frames) / num_frames
    growth = (1.0 - np.cos(angles)) / 2.0
    widths = np.rint(MIN_BOX_SIZE[0] + GROWTH * growth)
    heights = np.rint(MIN_BOX_SIZE[1] + GROWTH * growth)
    centre_x = CANVAS_CENTRE + PATH_RADIUS * np.cos(angles)
    centre_y = CANVAS_CENTRE + PATH_RADIUS * np.sin(angles)
    x = np.rint(centre_x - widths / 2.0)
    y = np.rint(centre_y - heights / 2.0)
    return np.stack([x, y, widths, heights], axis=1).astype(np.int64)


def render_animation_frames(sampler, digit, num_frames=NUM_FRAMES):
    """Generate one sample of `digit` (fixed noise) in every box of the animation.

    Returns:
      frames: uint8 (num_frames, 64, 64).
      boxes: int (num_frames, 4).
    """
    boxes = animation_boxes(num_frames)
    noise = np.repeat(sampler.noise(digit, 1), num_frames, axis=0)
    return sampler.tiles(noise, digit, boxes), boxes


def enlarge(frames, scale=SCALE):
    """Scale uint8 frames (T, H, W) up by `scale` with nearest-neighbour pixels."""
    return frames.repeat(scale, axis=1).repeat(scale, axis=2)


def write_animations(sampler, digits, out_dir, draw_box=False):
    """Write digit_N.gif for each digit, and digit_N_bbox.gif with outlines if `draw_box`.

    Frames are enlarged SCALE times to 256x256 and shown FRAME_DURATION_MS each.

    Returns:
      The paths written.
    """
    paths = []
    for digit in digits:
        frames, boxes = render_animation_frames(sampler, digit)
        for outlined, version in tile_versions(frames, boxes, draw_box):
            path = os.path.join(out_dir, animation_name(digit, outlined))
            save_gif(path, enlarge(version), FRAME_DURATION_MS)
            paths.append(path)
        logging.info("wrote the animation of digit %d", digit)
    return paths
