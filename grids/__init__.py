"""Tile grids, the box sweep and box outlines shared by every picture the project makes.

Grid format: each 64x64 tile sits inside a 2-pixel frame of value 255, so a
10x10 grid is a 680x680 8-bit grayscale image. Tile (r, c) has its top-left
pixel at row 2 + 68 r, column 2 + 68 c.
"""

import numpy as np

FRAME = 2
TILE_SIZE = 64
CANVAS_SIZE = 64
SWEEP_ROWS = 10
SWEEP_COLUMNS = 10


def tile_grid(tiles, rows=SWEEP_ROWS, columns=SWEEP_COLUMNS):
    """Arrange tiles into one framed grid image.

    Args:
      tiles: uint8 array (rows * columns, H, W) or (rows * columns, H, W, 1)
        in [0, 255], in row-major order. Float input in [0, 1] is scaled to
        [0, 255] and rounded.
      rows, columns: grid shape.

    Returns:
      uint8 array (rows * (H + 2 * FRAME), columns * (W + 2 * FRAME)).
    """
    tiles = to_uint8(np.asarray(tiles))
    if tiles.ndim == 4:
        tiles = tiles[..., 0]
    if tiles.shape[0] != rows * columns:
        raise ValueError(
            f"tile_grid needs rows * columns = {rows * columns} tiles, got {tiles.shape[0]}")

    height, width = tiles.shape[1:3]
    cell_height, cell_width = height + 2 * FRAME, width + 2 * FRAME
    grid = np.full((rows * cell_height, columns * cell_width), 255, dtype=np.uint8)
    for index, tile in enumerate(tiles):
        top = (index // columns) * cell_height + FRAME
        left = (index % columns) * cell_width + FRAME
        grid[top:top + height, left:left + width] = tile
    return grid


def to_uint8(images):
    """Convert images to uint8 [0, 255]; floats are read as [0, 1] and rounded."""
    if images.dtype == np.uint8:
        return images
    if np.issubdtype(images.dtype, np.floating):
        return np.clip(np.rint(images * 255.0), 0, 255).astype(np.uint8)
    raise TypeError(f"images must be uint8 or float in [0, 1], got dtype {images.dtype}")


def sweep_boxes():
    """Return the 100 boxes of the 10x10 sweep grid as int array (100, 4) of x, y, w, h.

    Tile (r, c) requests x = 4 (c + 1), y = 4 (r + 1), w = 11 + c, h = 11 + r
    (pixels of the 64x64 canvas), so the box moves right and grows wider along
    a row, and moves down and grows taller along a column.
    """
    rows, columns = np.meshgrid(np.arange(SWEEP_ROWS), np.arange(SWEEP_COLUMNS), indexing="ij")
    rows, columns = rows.ravel(), columns.ravel()
    return np.stack([4 * (columns + 1), 4 * (rows + 1), 11 + columns, 11 + rows], axis=1)


def draw_box_outline(image, box, value=255):
    """Return a copy of `image` with the outline of `box` drawn in `value`.

    The outline is the box's own border pixels: column x, column x + w - 1,
    row y and row y + h - 1, spanning rows y..y+h-1 and columns x..x+w-1.
    Parts of the outline that fall off the image are skipped, so a box that
    touches or crosses an edge draws without error and never wraps round to
    the opposite side through a negative index.

    Args:
      image: array (H, W) or (H, W, C); rows and columns are its first two axes.
      box: x, y, w, h in pixels, origin top-left; w, h >= 1.
      value: pixel value of the outline.

    Returns:
      An array of the same shape and dtype as `image`.
    """
    x, y, w, h = (int(number) for number in box)
    if w < 1 or h < 1:
        raise ValueError(f"box [x, y, w, h] = {[x, y, w, h]} needs w, h >= 1")
    outlined = np.array(image, copy=True)
    height, width = outlined.shape[:2]
    left, right, top, bottom = x, x + w - 1, y, y + h - 1

    # The visible part of the box, clipped to the image.
    first_row, last_row = max(top, 0), min(bottom, height - 1)
    first_column, last_column = max(left, 0), min(right, width - 1)
    if first_row > last_row or first_column > last_column:
        return outlined

    for column in (left, right):
        if 0 <= column < width:
            outlined[first_row:last_row + 1, column] = value
    for row in (top, bottom):
        if 0 <= row < height:
            outlined[row, first_column:last_column + 1] = value
    return outlined
