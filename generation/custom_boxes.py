"""Samples drawn into boxes the user requests (--box X,Y,W,H with --count N).

Output, for boxes B_1..B_k, digits d_1..d_m and N samples:
  boxes.png: a grid with one row per (digit, box), digit by digit, and N
    columns. Every box of a digit shares the same N noise vectors, so the
    rows of one digit differ only in where and how large it is drawn.
  tiles/digit_<d>_box_<x>_<y>_<w>_<h>_<i>.png: each 64x64 sample alone.
With --draw_box, boxes_bbox.png and tiles/..._bbox.png show the box outlined.
"""

import logging
import os

import numpy as np

from generation.output import save_png
from generation.sampling import outline_tiles
from grids import tile_grid

GRID_NAME = "boxes"
TILES_DIR = "tiles"


def tile_name(digit, box, sample, draw_box=False):
    """Return a sample's file name, e.g. digit_3_box_20_20_20_20_0.png."""
    x, y, w, h = box
    suffix = "_bbox" if draw_box else ""
    return f"digit_{digit}_box_{x}_{y}_{w}_{h}_{sample}{suffix}.png"


def render_box_tiles(sampler, digits, boxes, count):
    """Generate `count` samples of each digit in each box.

    Returns:
      tiles: uint8 (len(digits) * len(boxes), count, 64, 64), row by row as in boxes.png.
      row_boxes: int (len(digits) * len(boxes), 4), the box of each row.
    """
    rows, row_boxes = [], []
    for digit in digits:
        noise = sampler.noise(digit, count)
        for box in boxes:
            rows.append(sampler.tiles(noise, digit, np.tile(box, (count, 1))))
            row_boxes.append(box)
    return np.stack(rows), np.array(row_boxes, dtype=np.int64)


def write_box_samples(sampler, digits, boxes, count, out_dir, draw_box=False):
    """Write boxes.png and every sample under tiles/ (and the outlined versions if `draw_box`).

    Returns:
      The paths written.
    """
    tiles, row_boxes = render_box_tiles(sampler, digits, boxes, count)
    row_digits = np.repeat(digits, len(boxes))
    versions = [(False, tiles)]
    if draw_box:
        outlined = [outline_tiles(row, np.tile(box, (count, 1)))
                    for row, box in zip(tiles, row_boxes)]
        versions.append((True, np.stack(outlined)))

    os.makedirs(os.path.join(out_dir, TILES_DIR), exist_ok=True)
    paths = []
    for outlined, version in versions:
        suffix = "_bbox" if outlined else ""
        path = os.path.join(out_dir, f"{GRID_NAME}{suffix}.png")
        save_png(path, tile_grid(version.reshape(-1, *version.shape[2:]),
                                 rows=len(version), columns=count))
        paths.append(path)

        for digit, box, row in zip(row_digits, row_boxes, version):
            for sample, tile in enumerate(row):
                path = os.path.join(out_dir, TILES_DIR,
                                    tile_name(digit, box.tolist(), sample, outlined))
                save_png(path, tile)
                paths.append(path)
    logging.info("wrote %d samples in each of %d boxes for %s %s", count, len(boxes),
                 "digit" if len(digits) == 1 else "digits", ", ".join(map(str, digits)))
    return paths
