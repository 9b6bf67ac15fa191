"""Unit tests of the generation package with a stand-in generator that paints the box."""

import datetime
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from generation.animation import animation_boxes, enlarge, render_animation_frames
from generation.config import GenerateConfig, parse_box
from generation.custom_boxes import render_box_tiles, write_box_samples
from generation.output import check_out_dir, default_out_dir, save_gif, save_png
from generation.sampling import BATCH_SIZE, DigitSampler
from generation.sweep import render_sweep_tiles
from grids import sweep_boxes
from positional_mnist.reader import validate_boxes

NOISE_DIM = 6


def box_painter(inputs, training=False):
    """Stand in for the generator: 1.0 inside each box, the first noise value mapped to
    [0, 1] at pixel (0, 0) unless the box covers it, 0 elsewhere."""
    assert training is False
    noise, labels, boxes = (np.asarray(tensor) for tensor in inputs)
    assert labels.shape == (len(noise), 10)
    images = np.zeros((len(noise), 64, 64, 1), np.float32)
    images[:, 0, 0, 0] = (noise[:, 0] + 1.0) / 2.0
    for image, (x, y, w, h) in zip(images, boxes.astype(int)):
        image[y:y + h, x:x + w] = 1.0
    return tf.constant(images)


def ink_box(tile):
    """Return [x, y, w, h] of the pixels equal to 255 in a uint8 tile."""
    rows, columns = np.nonzero(tile == 255)
    return [columns.min(), rows.min(), columns.max() - columns.min() + 1,
            rows.max() - rows.min() + 1]


@pytest.fixture
def sampler():
    return DigitSampler(box_painter, NOISE_DIM, seed=4)


def test_noise_range_and_shape(sampler):
    noise = sampler.noise(3, 500)

    assert noise.shape == (500, NOISE_DIM)
    assert noise.dtype == np.float32
    assert noise.min() >= -1.0
    assert noise.max() <= 1.0


def test_noise_per_digit_and_seed(sampler):
    other_seed = DigitSampler(box_painter, NOISE_DIM, seed=5)

    assert np.array_equal(sampler.noise(3, 10), sampler.noise(3, 10))
    assert np.array_equal(sampler.noise(3, 1), sampler.noise(3, 10)[:1])
    assert not np.array_equal(sampler.noise(3, 10), sampler.noise(4, 10))
    assert not np.array_equal(sampler.noise(3, 10), other_seed.noise(3, 10))


def test_images_in_batches_keep_order(sampler):
    count = BATCH_SIZE + 30
    noise = sampler.noise(1, count)
    boxes = np.tile([[2, 3, 4, 5]], (count, 1))

    images = sampler.images(noise, 1, boxes)

    assert images.shape == (count, 64, 64, 1)
    np.testing.assert_allclose(images[:, 0, 0, 0], (noise[:, 0] + 1) / 2)


def test_sweep_tiles_follow_boxes(sampler):
    tiles, boxes = render_sweep_tiles(sampler, 2)

    assert tiles.shape == (100, 64, 64)
    assert tiles.dtype == np.uint8
    assert np.array_equal(boxes, sweep_boxes())
    for index, tile in enumerate(tiles):
        assert ink_box(tile) == boxes[index].tolist(), index


def test_box_tiles_rows_and_shared_noise(sampler):
    boxes = [(20, 20, 20, 20), (30, 0, 10, 40)]

    tiles, row_boxes = render_box_tiles(sampler, [5, 7], boxes, count=3)

    assert tiles.shape == (4, 3, 64, 64)
    assert row_boxes.tolist() == [list(boxes[0]), list(boxes[1])] * 2
    for row, box in zip(tiles, row_boxes):
        for tile in row:
            assert ink_box(tile) == box.tolist()
    # Every box of a digit shares its noise, but the two digits have different noise.
    assert np.array_equal(tiles[0, :, 0, 0], tiles[1, :, 0, 0])
    assert not np.array_equal(tiles[0, :, 0, 0], tiles[2, :, 0, 0])


def test_box_samples_files(sampler, tmp_path):
    paths = write_box_samples(sampler, [1], [(20, 20, 20, 20)], 2, str(tmp_path), draw_box=True)

    names = sorted(os.path.relpath(path, tmp_path) for path in paths)
    assert names == ["boxes.png", "boxes_bbox.png",
                     os.path.join("tiles", "digit_1_box_20_20_20_20_0.png"),
                     os.path.join("tiles", "digit_1_box_20_20_20_20_0_bbox.png"),
                     os.path.join("tiles", "digit_1_box_20_20_20_20_1.png"),
                     os.path.join("tiles", "digit_1_box_20_20_20_20_1_bbox.png")]
    with Image.open(tmp_path / "boxes.png") as grid:
        assert grid.size == (2 * 68, 68)


def test_animation_boxes_stay_on_canvas():
    boxes = animation_boxes()

    assert boxes.shape == (48, 4)
    validate_boxes(boxes)
    assert boxes[0].tolist()[2:] == [10, 14]
    assert boxes[24].tolist()[2:] == [26, 30]


def test_animation_box_glides_and_loops():
    boxes = animation_boxes()
    centres = boxes[:, :2] + boxes[:, 2:] / 2

    # The centre moves round the canvas, and the last frame leads back to the first.
    assert np.ptp(centres[:, 0]) >= 20
    assert np.ptp(centres[:, 1]) >= 20
    assert np.abs(boxes[-1] - boxes[0]).max() <= 2
    assert np.abs(np.diff(boxes, axis=0)).max() <= 3


def test_animation_frames_fixed_noise(sampler):
    frames, boxes = render_animation_frames(sampler, 9, num_frames=12)

    assert frames.shape == (12, 64, 64)
    for frame, box in zip(frames, boxes):
        assert ink_box(frame) == box.tolist()
    # Pixel (0, 0) carries the noise wherever the box leaves it uncovered.
    uncovered = frames[(boxes[:, 0] > 0) & (boxes[:, 1] > 0), 0, 0]
    assert len(set(uncovered.tolist())) == 1


def test_enlarge_repeats_pixels():
    frames = np.arange(8, dtype=np.uint8).reshape(2, 2, 2)

    enlarged = enlarge(frames, scale=3)

    assert enlarged.shape == (2, 6, 6)
    assert np.all(enlarged[1, 3:, :3] == frames[1, 1, 0])


def test_png_and_gif_reject_float(tmp_path):
    with pytest.raises(TypeError, match="uint8"):
        save_png(str(tmp_path / "a.png"), np.zeros((4, 4), np.float32))
    with pytest.raises(TypeError, match="uint8"):
        save_gif(str(tmp_path / "a.gif"), np.zeros((2, 4, 4), np.float32), 80)


def test_png_is_8_bit_grayscale(tmp_path):
    image = np.arange(256, dtype=np.uint8).reshape(16, 16)

    save_png(str(tmp_path / "a.png"), image)

    with Image.open(tmp_path / "a.png") as loaded:
        assert loaded.mode == "L"
        assert np.array_equal(np.array(loaded), image)


def test_check_out_dir_creates_nothing(tmp_path):
    nested = tmp_path / "a" / "b"

    check_out_dir(str(nested))
    check_out_dir(str(tmp_path))

    assert os.listdir(tmp_path) == []


def test_check_out_dir_rejects_file(tmp_path):
    (tmp_path / "file").write_text("")

    with pytest.raises(ValueError, match="is a file, not a folder"):
        check_out_dir(str(tmp_path / "file"))


def test_default_out_dir_avoids_existing(tmp_path):
    now = datetime.datetime(2026, 12, 4, 21, 30, 5)
    (tmp_path / "20261204-213005").mkdir()

    path = default_out_dir(str(tmp_path), now)

    assert path == os.path.join(str(tmp_path), "20261204-213005_1")


@pytest.mark.parametrize("text, expected", [
    ("20,20,20,20", (20, 20, 20, 20)),
    (" 0, 1 ,2,3 ", (0, 1, 2, 3)),
])
def test_parse_box_valid(text, expected):
    assert parse_box(text) == expected


@pytest.mark.parametrize("text", ["1,2,3", "1,2,3,4,5", "1.5,2,3,4", "a,b,c,d", ""])
def test_parse_box_invalid(text):
    with pytest.raises(ValueError, match="four whole numbers"):
        parse_box(text)


def test_config_outputs_and_digits():
    assert GenerateConfig().renders_sweep
    assert GenerateConfig().digits == list(range(10))
    assert GenerateConfig(digit=4).digits == [4]
    assert not GenerateConfig(animate=True).renders_sweep
    assert not GenerateConfig(boxes=[[1, 1, 5, 5]]).renders_sweep
    assert GenerateConfig(boxes=[[1, 1, 5, 5]]).boxes == ((1, 1, 5, 5),)
    assert GenerateConfig(boxes=[[1, 1, 5, 5]]).samples_per_box == 10


@pytest.mark.parametrize("config, message", [
    (GenerateConfig(digit=10), "--digit 10"),
    (GenerateConfig(boxes=[(0, 0, 65, 10)]), "--box 0,0,65,10"),
    (GenerateConfig(boxes=[(0, 0, 1.5, 10)]), "whole numbers"),
    (GenerateConfig(count=2), "no --box"),
    (GenerateConfig(iteration=-5), "--iteration -5"),
])
def test_config_validate_rejects(config, message):
    with pytest.raises(ValueError, match=message):
        config.validate()
