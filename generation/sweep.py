"""The box-sweep grid: one digit drawn into 100 boxes that move and grow across a 10x10 grid.

Tile (r, c) requests the box x = 4 (c + 1), y = 4 (r + 1), w = 11 + c,
h = 11 + r, with its own noise, so the box moves right and widens along a
row and moves down and grows taller down a column. A grid is 680x680: each
64x64 tile inside a 2-pixel white frame.
"""

import logging
import os

from generation.output import save_png
from generation.sampling import tile_versions
from grids import sweep_boxes, tile_grid


def sweep_grid_name(digit, draw_box=False):
    """Return the file name of a digit's sweep grid, e.g. digit_3.png or digit_3_bbox.png."""
    return f"digit_{digit}_bbox.png" if draw_box else f"digit_{digit}.png"


def render_sweep_tiles(sampler, digit):
    """Generate the 100 sweep tiles of `digit`.

    Returns:
      tiles: uint8 (100, 64, 64) in row-major grid order.
      boxes: int (100, 4), the box each tile requests.
    """
    boxes = sweep_boxes()
    noise = sampler.noise(digit, len(boxes))
    return sampler.tiles(noise, digit, boxes), boxes


def write_sweep_grids(sampler, digits, out_dir, draw_box=False):
    """Write digit_N.png for each digit, and digit_N_bbox.png with outlines if `draw_box`.

    Returns:
      The paths written.
    """
    paths = []
    for digit in digits:
        tiles, boxes = render_sweep_tiles(sampler, digit)
        for outlined, version in tile_versions(tiles, boxes, draw_box):
            path = os.path.join(out_dir, sweep_grid_name(digit, outlined))
            save_png(path, tile_grid(version))
            paths.append(path)
        logging.info("wrote the sweep grid of digit %d", digit)
    return paths
