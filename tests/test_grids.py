"""Tests of the framed tile grid, the sweep boxes and box outlines."""

import numpy as np
import pytest

from grids import draw_box_outline, sweep_boxes, tile_grid


def numbered_tiles(count=100, size=64):
    """Return uint8 tiles (count, size, size) where tile i is filled with i."""
    return np.broadcast_to(np.arange(count, dtype=np.uint8)[:, None, None],
                           (count, size, size)).copy()


def test_tile_grid_size_and_dtype():
    grid = tile_grid(numbered_tiles())

    assert grid.shape == (680, 680)
    assert grid.dtype == np.uint8


def test_tile_grid_places_each_tile():
    grid = tile_grid(numbered_tiles())

    for row in range(10):
        for column in range(10):
            top, left = 2 + 68 * row, 2 + 68 * column
            tile = grid[top:top + 64, left:left + 64]
            assert np.all(tile == 10 * row + column), (row, column)


def test_tile_grid_frames_are_white():
    grid = tile_grid(np.zeros((100, 64, 64), np.uint8))

    # Every pixel outside the tiles is frame, and the frames hold exactly
    # 680 * 680 - 100 * 64 * 64 pixels.
    frame = grid == 255
    assert frame.sum() == 680 * 680 - 100 * 64 * 64
    for offset in (0, 1, 66, 67):
        assert np.all(grid[offset::68, :] == 255)
        assert np.all(grid[:, offset::68] == 255)


def test_tile_grid_scales_float_tiles():
    tiles = np.full((4, 64, 64, 1), 0.5, np.float32)

    grid = tile_grid(tiles, rows=2, columns=2)

    assert grid.shape == (136, 136)
    assert grid[2, 2] == 128


def test_tile_grid_rejects_wrong_tile_count():
    with pytest.raises(ValueError, match="100 tiles, got 99"):
        tile_grid(numbered_tiles(99))


def test_sweep_boxes_follow_rows_and_columns():
    boxes = sweep_boxes()

    assert boxes.shape == (100, 4)
    for row in range(10):
        for column in range(10):
            expected = [4 * (column + 1), 4 * (row + 1), 11 + column, 11 + row]
            assert boxes[10 * row + column].tolist() == expected


def test_sweep_boxes_stay_on_canvas():
    x, y, w, h = sweep_boxes().T

    assert np.all(x + w <= 64)
    assert np.all(y + h <= 64)


def test_outline_at_bottom_right_corner():
    outlined = draw_box_outline(np.zeros((64, 64), np.uint8), (40, 40, 24, 24))

    assert np.count_nonzero(outlined) == 92
    assert np.all(outlined[63, 40:] == 255)
    assert np.all(outlined[40:, 63] == 255)
    assert not outlined[:40].any()
    assert not outlined[:, :40].any()


def test_outline_at_top_left_corner():
    outlined = draw_box_outline(np.zeros((64, 64), np.uint8), (0, 0, 20, 20))

    assert np.count_nonzero(outlined) == 76
    assert np.all(outlined[0, :20] == 255)
    assert np.all(outlined[:20, 0] == 255)
    assert not outlined[63].any()
    assert not outlined[:, 63].any()


def test_outline_edges_on_last_box_pixels():
    outlined = draw_box_outline(np.zeros((64, 64), np.uint8), (4, 4, 11, 11))

    assert np.all(outlined[14, 4:15] == 255)
    assert np.all(outlined[4:15, 14] == 255)
    assert not outlined[15].any()
    assert not outlined[:, 15].any()
    assert not outlined[5:14, 5:14].any()


@pytest.mark.parametrize("box, expected_count", [
    ((0, 40, 24, 24), 92),   # left and bottom edges
    ((40, 0, 24, 24), 92),   # top and right edges
    ((0, 0, 64, 64), 252),   # the whole canvas
    ((63, 63, 1, 1), 1),     # the last pixel
    ((10, 20, 1, 5), 5),     # a one-pixel-wide box
])
def test_outline_on_canvas_edges(box, expected_count):
    outlined = draw_box_outline(np.zeros((64, 64), np.uint8), box)

    assert np.count_nonzero(outlined) == expected_count


@pytest.mark.parametrize("box, expected_count", [
    ((50, 10, 20, 10), 2 * 14 + 8),    # right edge off the canvas
    ((-5, -5, 10, 10), 2 * 5 - 1),     # left and top edges off the canvas
    ((70, 70, 5, 5), 0),               # wholly off the canvas
])
def test_outline_clipped_to_canvas(box, expected_count):
    outlined = draw_box_outline(np.zeros((64, 64), np.uint8), box)

    assert np.count_nonzero(outlined) == expected_count
    # A negative index would have wrapped round to the last row or column.
    if box[0] >= 0 and box[1] >= 0:
        return
    assert not outlined[63].any()
    assert not outlined[:, 63].any()


def test_outline_keeps_shape_dtype_and_input():
    image = np.zeros((64, 64, 1), np.float32)

    outlined = draw_box_outline(image, (10, 10, 5, 5), value=1.0)

    assert outlined.shape == (64, 64, 1)
    assert outlined.dtype == np.float32
    assert outlined[10, 10, 0] == 1.0
    assert not image.any()


def test_outline_rejects_empty_box():
    with pytest.raises(ValueError, match="w, h >= 1"):
        draw_box_outline(np.zeros((64, 64), np.uint8), (10, 10, 0, 5))
