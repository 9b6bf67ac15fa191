"""End-to-end tests of lwawtd_generate.py on freshly initialised and briefly trained models."""

import json
import logging
import os
import re
import shutil

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import lwawtd_generate
from generation import model as generation_model
from generation import output as generation_output
from generation.model import load_model
from generation.sampling import DigitSampler
from grids import draw_box_outline, sweep_boxes
from training.checkpoints import CheckpointError, make_manager
from training.config import TrainConfig
from training.gan import GanTrainer

BATCH_SIZE = 4
# One sample in one box: the cheapest run, for tests about loading and output folders.
ONE_SAMPLE = ["--box", "20,20,20,20", "--count", "1"]


def save_run(trainer, run_dir, iterations):
    """Write config.json and one checkpoint per iteration, as lwawtd.py lays out a run folder."""
    os.makedirs(run_dir, exist_ok=True)
    manager = make_manager(trainer.checkpoint, run_dir)
    for iteration in iterations:
        manager.save(checkpoint_number=iteration)
    trainer.config.to_json(os.path.join(run_dir, "config.json"))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run folder of a freshly initialised GAN with checkpoints at iterations 5 and 10."""
    path = str(tmp_path_factory.mktemp("run"))
    save_run(GanTrainer(TrainConfig(batch_size=BATCH_SIZE)), path, [5, 10])
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A GAN whose generator BatchNorm statistics have moved away from their initial values.

    Calls in training mode move the moving mean and variance as a training
    iteration does, without the cost of tracing a full iteration.
    """
    trainer = GanTrainer(TrainConfig(batch_size=BATCH_SIZE, seed=3))
    rng = np.random.default_rng(0)
    for _ in range(3):
        noise = tf.constant(rng.uniform(-1, 1, (8, trainer.config.num_z)), tf.float32)
        labels = tf.one_hot(rng.integers(0, 10, 8), 10)
        boxes = tf.constant([[10, 12, 20, 18]] * 8, tf.float32)
        trainer.generator([noise, labels, boxes], training=True)
    path = str(tmp_path_factory.mktemp("trained_run"))
    save_run(trainer, path, [2])
    return trainer, path


@pytest.fixture(scope="module")
def full_run(run_dir, tmp_path_factory):
    """The output folder of one run over all ten digits with --draw_box and --seed 7."""
    out_dir = tmp_path_factory.mktemp("full_run") / "out"
    exit_code = run_script("--model", run_dir, "--draw_box", "--seed", 7, "--out_dir", out_dir)
    return exit_code, out_dir


def run_script(*flags):
    return lwawtd_generate.main([str(flag) for flag in flags])


def read_png(path):
    with Image.open(path) as image:
        return image.mode, np.array(image)


def file_bytes(folder):
    """Return {file name: bytes} of the pictures directly in `folder`."""
    names = sorted(name for name in os.listdir(folder) if name.endswith((".png", ".gif")))
    result = {}
    for name in names:
        with open(os.path.join(folder, name), "rb") as file:
            result[name] = file.read()
    return result


# End-to-end runs.

def test_sweep_all_digits_with_boxes(full_run):
    exit_code, out_dir = full_run

    assert exit_code == 0
    expected = {f"digit_{digit}{suffix}.png" for digit in range(10) for suffix in ("", "_bbox")}
    assert set(file_bytes(out_dir)) == expected
    mode, grid = read_png(out_dir / "digit_0.png")
    assert mode == "L"
    assert grid.shape == (680, 680)
    assert np.all(grid[0::68] == 255)
    assert np.all(grid[:, 67::68] == 255)


def test_sweep_outline_on_requested_box(full_run):
    out_dir = full_run[1]

    plain = read_png(out_dir / "digit_4.png")[1]
    outlined = read_png(out_dir / "digit_4_bbox.png")[1]

    # Tile (row 2, column 5) requests box x = 24, y = 12, w = 16, h = 13.
    top, left = 2 + 68 * 2, 2 + 68 * 5
    tile = outlined[top:top + 64, left:left + 64]
    assert np.all(tile[12, 24:40] == 255)
    assert np.all(tile[24, 24:40] == 255)
    assert np.all(tile[12:25, 24] == 255)
    assert np.all(tile[12:25, 39] == 255)
    for index, box in enumerate(sweep_boxes()):
        top, left = 2 + 68 * (index // 10), 2 + 68 * (index % 10)
        cell = np.s_[top:top + 64, left:left + 64]
        assert np.array_equal(outlined[cell], draw_box_outline(plain[cell], box)), index


def test_same_seed_same_bytes(run_dir, full_run, tmp_path):
    # A second run of one digit repeats the full run's files for that digit.
    run_script("--model", run_dir, "--digit", 8, "--draw_box", "--seed", 7,
               "--out_dir", tmp_path / "again")
    run_script("--model", run_dir, "--digit", 8, "--seed", 8, "--out_dir", tmp_path / "other")

    full, again = file_bytes(full_run[1]), file_bytes(tmp_path / "again")
    assert set(again) == {"digit_8.png", "digit_8_bbox.png"}
    assert again["digit_8.png"] == full["digit_8.png"]
    assert again["digit_8_bbox.png"] == full["digit_8_bbox.png"]
    assert file_bytes(tmp_path / "other")["digit_8.png"] != full["digit_8.png"]


def test_draw_bbox_alias(run_dir, tmp_path):
    assert run_script("--model", run_dir, "--draw_bbox", "--digit", 0, "--seed", 1,
                      "--out_dir", tmp_path, *ONE_SAMPLE) == 0

    assert (tmp_path / "boxes_bbox.png").is_file()


def test_custom_boxes_grid_and_tiles(run_dir, tmp_path):
    assert run_script("--model", run_dir, "--digit", 2, "--box", "20,20,20,20", "--box",
                      "0,0,64,64", "--count", 3, "--draw_box", "--seed", 1,
                      "--out_dir", tmp_path) == 0

    assert read_png(tmp_path / "boxes.png")[1].shape == (2 * 68, 3 * 68)
    assert read_png(tmp_path / "boxes_bbox.png")[1].shape == (2 * 68, 3 * 68)
    tiles = sorted(os.listdir(tmp_path / "tiles"))
    assert len(tiles) == 2 * 3 * 2
    assert "digit_2_box_20_20_20_20_0.png" in tiles
    assert "digit_2_box_0_0_64_64_2_bbox.png" in tiles
    mode, tile = read_png(tmp_path / "tiles" / "digit_2_box_20_20_20_20_1.png")
    grid = read_png(tmp_path / "boxes.png")[1]
    assert mode == "L"
    assert np.array_equal(tile, grid[2:66, 70:134])
    assert not (tmp_path / "digit_2.png").exists()


def test_animation_gif(run_dir, tmp_path):
    assert run_script("--model", run_dir, "--digit", 6, "--animate", "--draw_box", "--seed", 1,
                      "--out_dir", tmp_path) == 0

    assert set(file_bytes(tmp_path)) == {"digit_6.gif", "digit_6_bbox.gif"}
    with Image.open(tmp_path / "digit_6_bbox.gif") as animation:
        assert animation.size == (256, 256)
        assert animation.n_frames == 48
        assert animation.info["loop"] == 0


def test_iteration_picks_checkpoint(run_dir, tmp_path):
    assert run_script("--model", run_dir, "--iteration", 5, "--digit", 1, "--seed", 1,
                      "--out_dir", tmp_path, *ONE_SAMPLE) == 0

    with open(tmp_path / "generate_config.json", encoding="utf-8") as file:
        settings = json.load(file)
    assert settings["iteration"] == 5
    assert settings["seed"] == 1


def test_checkpoint_prefix_as_model(run_dir, tmp_path):
    prefix = os.path.join(run_dir, "checkpoints", "ckpt-5")

    assert run_script("--model", prefix, "--digit", 1, "--seed", 1, "--out_dir", tmp_path,
                      *ONE_SAMPLE) == 0

    assert (tmp_path / "boxes.png").is_file()


def test_default_seed_is_logged(run_dir, tmp_path, caplog):
    caplog.set_level(logging.INFO)

    assert run_script("--model", run_dir, "--digit", 1, "--out_dir", tmp_path, *ONE_SAMPLE) == 0

    with open(tmp_path / "generate_config.json", encoding="utf-8") as file:
        seed = json.load(file)["seed"]
    assert f"--seed {seed}" in caplog.text


def test_pretrained_folder_by_default(run_dir, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(generation_model, "PRETRAINED_DIR", run_dir)
    caplog.set_level(logging.INFO)

    assert run_script("--digit", 1, "--seed", 1, "--out_dir", tmp_path, *ONE_SAMPLE) == 0

    assert "bundled pretrained generator" in caplog.text
    assert (tmp_path / "boxes.png").is_file()


def test_default_out_dir_has_timestamp(run_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    assert run_script("--model", run_dir, "--digit", 1, "--seed", 1, *ONE_SAMPLE) == 0

    folders = os.listdir(tmp_path / "generated_images")
    assert len(folders) == 1
    assert re.fullmatch(r"\d{8}-\d{6}", folders[0])
    assert os.path.isfile(tmp_path / "generated_images" / folders[0] / "boxes.png")


# Loading: the loaded generator is the trained one, and a mismatch is an error.

def test_loaded_generator_equals_trainer(trained):
    trainer, path = trained
    generator, config, iteration = load_model(path)
    noise = np.random.default_rng(0).uniform(-1, 1, (1, config.num_z)).astype(np.float32)
    boxes = np.array([[20, 20, 20, 20]], np.float32)
    labels = tf.one_hot([3], 10)

    loaded = DigitSampler(generator, config.num_z, seed=0).images(noise, 3, boxes)
    # The trained generator with its current weights, in float32 as drawing uses it.
    trained_generator = trainer.float32_generator()
    expected = trained_generator([tf.constant(noise), labels, tf.constant(boxes)],
                                 training=False)
    training_mode = trained_generator([tf.constant(noise), labels, tf.constant(boxes)],
                                      training=True)

    assert iteration == 2
    moving_mean = trainer.generator.get_layer("g_dense_bn").moving_mean.numpy()
    assert np.abs(moving_mean).max() > 0
    np.testing.assert_allclose(loaded, expected.numpy(), atol=1e-6, rtol=0)
    # Inference mode differs from training mode, so the check above compares
    # BatchNorm's restored moving statistics, not only the weights.
    assert np.abs(training_mode.numpy() - expected.numpy()).max() > 1e-3


def test_mismatched_checkpoint_writes_nothing(tmp_path, caplog):
    # A checkpoint of a generator with 50 noise inputs, under a config.json with num_z 100.
    save_run(GanTrainer(TrainConfig(batch_size=BATCH_SIZE, num_z=50)), str(tmp_path / "run"), [1])
    TrainConfig(batch_size=BATCH_SIZE).to_json(str(tmp_path / "run" / "config.json"))
    out_dir = tmp_path / "out"

    assert run_script("--model", tmp_path / "run", "--out_dir", out_dir) == 2

    assert "does not match" in caplog.text
    assert not out_dir.exists()


def test_checkpoint_without_generator_rejected(tmp_path):
    trainer = GanTrainer(TrainConfig(batch_size=BATCH_SIZE))
    checkpoint = tf.train.Checkpoint(discriminator=trainer.discriminator)
    make_manager(checkpoint, str(tmp_path)).save(checkpoint_number=1)
    trainer.config.to_json(str(tmp_path / "config.json"))

    with pytest.raises(CheckpointError, match="does not match"):
        load_model(str(tmp_path))


# Errors: each exits non-zero with a message naming the value, before any file is written.

@pytest.mark.parametrize("flags, message", [
    (["--digit", "10"], "--digit 10 is invalid"),
    (["--digit", "-1"], "--digit -1 is invalid"),
    (["--box", "10,10,0,5"], "width w < 1"),
    (["--box", "10,10,5,0"], "height h < 1"),
    (["--box", "60,0,10,10"], "x + w > 64"),
    (["--box", "0,60,10,10"], "y + h > 64"),
    (["--box=-1,0,10,10"], "x < 0"),
    (["--box", "1,1,5,5", "--box", "1,1,5,5"], "given more than once"),
    (["--count", "3"], "no --box was given"),
    (["--box", "1,1,5,5", "--count", "0"], "--count 0 is invalid"),
    (["--seed", "-2"], "--seed -2 is invalid"),
    (["--iteration", "7"], "iteration 7 was not saved"),
])
def test_invalid_flags_rejected(run_dir, tmp_path, caplog, flags, message):
    out_dir = tmp_path / "out"

    assert run_script("--model", run_dir, "--out_dir", out_dir, *flags) == 2

    assert message in caplog.text
    assert not out_dir.exists()


def test_unsaved_iteration_lists_saved(run_dir, tmp_path, caplog):
    assert run_script("--model", run_dir, "--iteration", 7, "--out_dir", tmp_path / "out") == 2

    assert "saved iterations: [5, 10]" in caplog.text


def test_missing_model_names_path(tmp_path, caplog):
    missing = tmp_path / "no_such_run"

    assert run_script("--model", missing, "--out_dir", tmp_path / "out") == 2

    assert str(missing) in caplog.text
    assert not (tmp_path / "out").exists()


def test_empty_model_folder_names_path(tmp_path, caplog):
    empty = tmp_path / "empty_run"
    empty.mkdir()

    assert run_script("--model", empty, "--out_dir", tmp_path / "out") == 2

    assert "no checkpoint found" in caplog.text
    assert str(empty) in caplog.text
    assert not (tmp_path / "out").exists()


def test_run_without_config_rejected(run_dir, tmp_path, caplog):
    copy = tmp_path / "run_without_config"
    copy.mkdir()
    os.symlink(os.path.join(run_dir, "checkpoints"), copy / "checkpoints")

    assert run_script("--model", copy, "--out_dir", tmp_path / "out") == 2

    assert "config.json not found" in caplog.text
    assert not (tmp_path / "out").exists()


def test_invalid_config_json_rejected(run_dir, tmp_path, caplog):
    copy = tmp_path / "run_with_bad_config"
    copy.mkdir()
    os.symlink(os.path.join(run_dir, "checkpoints"), copy / "checkpoints")
    (copy / "config.json").write_text('{"max_iter": ')

    assert run_script("--model", copy, "--out_dir", tmp_path / "out") == 2

    assert "config.json is not valid JSON" in caplog.text
    assert not (tmp_path / "out").exists()


def test_truncated_checkpoint_rejected(run_dir, tmp_path, caplog):
    copy = tmp_path / "run_with_truncated_checkpoint"
    shutil.copytree(run_dir, copy)
    data_file = next((copy / "checkpoints").glob("ckpt-10.data-*"))
    data_file.write_bytes(data_file.read_bytes()[:10_000])

    assert run_script("--model", copy, "--out_dir", tmp_path / "out") == 2

    assert "is truncated or corrupt" in caplog.text
    assert "ckpt-10" in caplog.text
    assert not (tmp_path / "out").exists()


def test_iteration_contradicting_prefix(run_dir, tmp_path, caplog):
    prefix = os.path.join(run_dir, "checkpoints", "ckpt-5")

    assert run_script("--model", prefix, "--iteration", 10, "--out_dir", tmp_path / "out") == 2

    assert "--iteration 10 contradicts" in caplog.text


def test_missing_pretrained_requests_model(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(generation_model, "PRETRAINED_DIR", str(tmp_path / "pretrained"))

    assert run_script("--out_dir", tmp_path / "out") == 2

    assert "pass --model" in caplog.text
    assert not (tmp_path / "out").exists()


def test_out_dir_under_file_rejected(run_dir, tmp_path, caplog):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")

    assert run_script("--model", run_dir, "--out_dir", blocker / "out") == 2

    assert f"{blocker} is a file, not a folder" in caplog.text


def test_unwritable_out_dir_rejected(run_dir, tmp_path, monkeypatch, caplog):
    # Root passes every permission check, so the denial is simulated.
    monkeypatch.setattr(generation_output, "is_writable", lambda path: False)

    assert run_script("--model", run_dir, "--out_dir", tmp_path / "out") == 2

    assert "is not writable" in caplog.text
    assert not (tmp_path / "out").exists()


def test_malformed_box_exits_with_usage(run_dir, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_script("--model", run_dir, "--box", "1,2,3")

    assert exit_info.value.code == 2
    assert "invalid box '1,2,3'" in capsys.readouterr().err


def test_negative_box_reaches_box_check(run_dir, tmp_path, caplog):
    # argparse alone would read "-1,0,10,10" as an unknown flag.
    assert run_script("--model", run_dir, "--box", "-1,0,10,10",
                      "--out_dir", tmp_path / "out") == 2

    assert "--box -1,0,10,10: invalid box [x, y, w, h] = [-1, 0, 10, 10]: x < 0" in caplog.text
    assert not (tmp_path / "out").exists()
