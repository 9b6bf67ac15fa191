"""Tiny training runs through lwawtd.main: run folder, events, TensorBoard, bad input, NaN.

The runs use a data set of 256 real-MNIST images, batch 8 and a handful of
iterations, so they check plumbing, not image quality.
"""

import glob
import json
import logging
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import types
import urllib.parse
import urllib.request

import numpy as np
import pytest
import tensorflow as tf

import lwawtd
from training import run as run_module
from training.checkpoints import make_manager, saved_iterations
from training.config import TrainConfig, resolve_config
from training.gan import GanTrainer
from training.run import TrainingDiverged, TrainingLoop, train

SCALAR_TAGS = {
    "loss/discriminator", "loss/generator",
    "discriminator/prob_real_on_real_images", "discriminator/prob_real_on_generated_images",
    "learning_rate/discriminator", "learning_rate/generator", "speed/iterations_per_second",
}
SWEEP_IMAGE_TAGS = {"images/location_sweep", "images/size_sweep"}
GRID_PIXELS = 680  # 10 tiles of 64 pixels plus a frame of 2 pixels on each side


class MessageList(logging.Handler):
    """Collects the formatted log messages of a run."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def run_main(flags):
    """Run lwawtd.main with INFO logging and return (exit code, log messages)."""
    root = logging.getLogger()
    handler = MessageList()
    previous_level = root.level
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    try:
        code = lwawtd.main([str(flag) for flag in flags])
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)
    return code, handler.messages


def read_events(run_dir):
    """Return {tag: [(step, plugin name, value)]} from all event files of a run folder."""
    events = {}
    for path in sorted(glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                entry = (event.step, value.metadata.plugin_data.plugin_name,
                         tf.make_ndarray(value.tensor))
                events.setdefault(value.tag, []).append(entry)
    return events


def checkpoint_values(prefix):
    """Return {checkpoint key: numpy value} of every tensor in a checkpoint."""
    reader = tf.train.load_checkpoint(prefix)
    return {key: reader.get_tensor(key) for key in reader.get_variable_to_shape_map()
            if key != "_CHECKPOINTABLE_OBJECT_GRAPH"}


def only_run_dir(log_dir):
    runs = sorted(glob.glob(os.path.join(log_dir, "lwawtd_*")))
    assert len(runs) == 1, f"expected one run folder in {log_dir}, found {runs}"
    return runs[0]


# One finished run of 4 iterations: summaries at 2 and 4, checkpoints at 3 and 4 (the end).

@pytest.fixture(scope="module")
def finished_run(tiny_dataset, tmp_path_factory):
    log_dir = str(tmp_path_factory.mktemp("logs"))
    flags = ["--dataset", tiny_dataset, "--log_dir", log_dir, "--max_iter", 4,
             "--batch_size", 8, "--summary_every", 2, "--checkpoint_every", 3,
             "--log_every", 1, "--seed", 5]
    code, messages = run_main(flags)
    return types.SimpleNamespace(code=code, messages=messages, log_dir=log_dir,
                                 dataset=tiny_dataset)


def test_run_exits_zero(finished_run):
    assert finished_run.code == 0, "\n".join(finished_run.messages[-20:])


def test_run_folder_layout(finished_run):
    run_dir = only_run_dir(finished_run.log_dir)

    assert re.fullmatch(r"lwawtd_\d{8}-\d{6}", os.path.basename(run_dir))
    assert os.path.isfile(os.path.join(run_dir, "config.json"))
    assert os.path.isfile(os.path.join(run_dir, "generator.keras"))
    assert len(glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))) == 1


def test_config_json_is_resolved_config(finished_run):
    run_dir = only_run_dir(finished_run.log_dir)
    saved = TrainConfig.from_json(os.path.join(run_dir, "config.json"))

    expected = resolve_config({"dataset": finished_run.dataset, "log_dir": finished_run.log_dir,
                               "max_iter": 4, "batch_size": 8, "summary_every": 2,
                               "checkpoint_every": 3, "log_every": 1, "seed": 5})
    assert saved == expected
    assert saved.lr_boundaries == (20000, 30000, 40000)
    assert saved.lr_d == 3e-4
    assert saved.lr_g == 1e-4


def test_checkpoints_at_interval_and_end(finished_run):
    run_dir = only_run_dir(finished_run.log_dir)

    assert saved_iterations(run_dir) == [3, 4]
    for iteration in (3, 4):
        values = checkpoint_values(os.path.join(run_dir, "checkpoints", f"ckpt-{iteration}"))
        assert values["iteration/.ATTRIBUTES/VARIABLE_VALUE"] == iteration
        assert values["d_optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"] == iteration
        assert values["g_optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"] == iteration
        assert all(np.all(np.isfinite(value)) for value in values.values()
                   if value.dtype.kind == "f")


def test_events_scalar_tags_and_steps(finished_run):
    events = read_events(only_run_dir(finished_run.log_dir))

    scalars = {tag for tag, entries in events.items() if entries[0][1] == "scalars"}
    assert scalars == SCALAR_TAGS
    for tag in SCALAR_TAGS:
        assert [step for step, _, _ in events[tag]] == [2, 4], tag


def test_events_image_tags_and_steps(finished_run):
    events = read_events(only_run_dir(finished_run.log_dir))

    images = {tag for tag, entries in events.items() if entries[0][1] == "images"}
    assert images == SWEEP_IMAGE_TAGS | {"images/real"}
    assert [step for step, _, _ in events["images/real"]] == [0]
    for tag in images:
        assert [step for step, _, _ in events[tag]] == ([0] if tag == "images/real" else [2, 4])
        for _, _, value in events[tag]:
            # An image summary is [width, height, PNG bytes].
            assert value[0] == value[1] == str(GRID_PIXELS).encode(), tag
            assert value[2].startswith(b"\x89PNG"), tag


def test_events_config_text(finished_run):
    run_dir = only_run_dir(finished_run.log_dir)
    events = read_events(run_dir)

    (step, plugin, value), = events["config"]
    assert (step, plugin) == (0, "text")
    text = value.item().decode()
    with open(os.path.join(run_dir, "config.json"), encoding="utf-8") as file:
        assert json.loads(text.strip("`\n")) == json.load(file)


def test_events_scalar_values(finished_run):
    events = read_events(only_run_dir(finished_run.log_dir))

    def values(tag):
        return [float(value) for _, _, value in events[tag]]

    assert values("learning_rate/discriminator") == [np.float32(3e-4)] * 2
    assert values("learning_rate/generator") == [np.float32(1e-4)] * 2
    for tag in ("discriminator/prob_real_on_real_images",
                "discriminator/prob_real_on_generated_images"):
        assert all(0.0 < value < 1.0 for value in values(tag)), tag
    for tag in ("loss/discriminator", "loss/generator", "speed/iterations_per_second"):
        assert all(math.isfinite(value) and value > 0 for value in values(tag)), tag


def test_scalars_average_the_interval(finished_run):
    # The progress line shows the running means since the last summary, so
    # the line of a summary iteration shows the value that the summary logs.
    events = read_events(only_run_dir(finished_run.log_dir))
    logged = {}
    for message in finished_run.messages:
        match = re.match(r"iteration (\d+)/4\s+d_loss ([\d.]+)\s+g_loss ([\d.]+)", message)
        if match:
            logged[int(match.group(1))] = (float(match.group(2)), float(match.group(3)))

    assert sorted(logged) == [1, 2, 3, 4]
    for step, _, value in events["loss/discriminator"]:
        assert float(value) == pytest.approx(logged[step][0], abs=5e-4), step
    for step, _, value in events["loss/generator"]:
        assert float(value) == pytest.approx(logged[step][1], abs=5e-4), step


def test_start_and_end_log_lines(finished_run):
    run_dir = only_run_dir(finished_run.log_dir)
    messages = finished_run.messages

    assert f"data set {finished_run.dataset}: 256 training records in 2 file(s)" in messages
    assert any(message.startswith("strategy: _DefaultDistributionStrategy with 1 replica(s)")
               for message in messages)
    assert f"starting run {run_dir} at iteration 0 of 4" in messages
    assert f"finished 4 iterations; run folder {run_dir}" in messages


def test_no_tensorflow_info_lines_between_progress(finished_run):
    # TensorFlow logs one of these per checkpoint save unless lwawtd.py quiets it.
    sharding = [line for line in finished_run.messages if "Sharding callback" in line]

    assert f"saved checkpoint {only_run_dir(finished_run.log_dir)}/checkpoints/ckpt-3" in \
        finished_run.messages
    assert sharding == []


# A real TensorBoard server on the finished run.

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_json(port, path, **query):
    url = f"http://127.0.0.1:{port}{path}"
    if query:
        url += "?" + urllib.parse.urlencode(query)
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def wait_for_tags(server, port, plugin, run, expected, timeout):
    """Poll the plugin's tags route until `run` has all `expected` tags, and return them."""
    deadline = time.monotonic() + timeout
    tags = {}
    while time.monotonic() < deadline:
        assert server.poll() is None, f"tensorboard exited with code {server.returncode}"
        try:
            tags = get_json(port, f"/data/plugin/{plugin}/tags").get(run, {})
        except OSError:
            pass  # not listening yet
        if expected <= set(tags):
            return tags
        time.sleep(0.5)
    raise AssertionError(f"tensorboard did not list {sorted(expected)} for run {run} within "
                         f"{timeout} s; last answer: {sorted(tags)}")


@pytest.fixture(scope="module")
def tensorboard_server(finished_run, tmp_path_factory):
    """`tensorboard --logdir` on the finished run's log folder, stopped after the tests."""
    port = free_port()
    executable = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    log_path = tmp_path_factory.mktemp("tensorboard") / "tensorboard.log"
    with open(log_path, "w", encoding="utf-8") as log_file:
        server = subprocess.Popen(
            [executable, "--logdir", finished_run.log_dir, "--host", "127.0.0.1",
             "--port", str(port), "--reload_interval", "1"],
            stdout=log_file, stderr=subprocess.STDOUT)
    try:
        yield server, port
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_tensorboard_serves_run(finished_run, tensorboard_server):
    server, port = tensorboard_server
    run = os.path.basename(only_run_dir(finished_run.log_dir))

    scalar_tags = wait_for_tags(server, port, "scalars", run, SCALAR_TAGS, timeout=120)
    image_tags = wait_for_tags(server, port, "images", run, SWEEP_IMAGE_TAGS, timeout=60)

    assert set(scalar_tags) == SCALAR_TAGS
    assert set(image_tags) == SWEEP_IMAGE_TAGS | {"images/real"}
    assert run in get_json(port, "/data/runs")

    losses = get_json(port, "/data/plugin/scalars/scalars", run=run, tag="loss/discriminator")
    assert [step for _, step, _ in losses] == [2, 4]
    sweeps = get_json(port, "/data/plugin/images/images", run=run, tag="images/size_sweep")
    assert [entry["step"] for entry in sweeps] == [2, 4]


def test_tensorboard_stops(tensorboard_server):
    server, port = tensorboard_server

    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)

    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


# Input that must be rejected before training starts.

def write_examples(path, examples):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for features in examples:
            writer.write(tf.train.Example(features=tf.train.Features(feature=features))
                         .SerializeToString())


def int_feature(*values):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


def bytes_feature(value):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def bad_dataset(kind, folder):
    """Write a data set path of the given fault under `folder` and return it."""
    if kind == "missing":
        return str(folder / "nothing_here" / "*.tfrecord.gz")
    path = folder / "bad.tfrecord"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "no_box":
        write_examples(path, [{"image": bytes_feature(bytes(64 * 64)), "label": int_feature(3),
                               "mnist_index": int_feature(0)}] * 4)
    elif kind == "short_image":
        write_examples(path, [{"image": bytes_feature(bytes(100)), "label": int_feature(3),
                               "box": int_feature(1, 2, 10, 20),
                               "mnist_index": int_feature(0)}] * 4)
    return str(path)


@pytest.mark.parametrize("kind, message", [
    ("missing", "no train record files match"),
    ("empty", "no records"),
    ("no_box", "does not match the positional MNIST schema"),
    ("short_image", "image has 100 bytes, expected 64 * 64 = 4096"),
])
def test_bad_dataset_rejected(tmp_path, kind, message):
    dataset = bad_dataset(kind, tmp_path)
    log_dir = tmp_path / "logs"

    code, messages = run_main(["--dataset", dataset, "--log_dir", log_dir, "--batch_size", 8])

    assert code == 2
    assert any(message in line and dataset.split("*")[0] in line for line in messages), messages
    assert not log_dir.exists(), "no run folder for a rejected run"


@pytest.mark.parametrize("flags, message", [
    (["--batch_size", 0], "--batch_size must be positive, got 0"),
    (["--lr_d", 0], "--lr_d must be positive, got 0.0"),
    (["--lr_g", -1e-4], "--lr_g must be positive, got -0.0001"),
    (["--max_iter", 0], "--max_iter must be positive, got 0"),
    (["--lr_boundaries", "100,50", "--lr_factors", "1,0.5,0.25"],
     "--lr_boundaries must increase strictly"),
    (["--lr_boundaries", "100", "--lr_factors", "1"], "one factor more than boundaries"),
])
def test_bad_setting_rejected(tiny_dataset, tmp_path, flags, message):
    log_dir = tmp_path / "logs"

    code, messages = run_main(["--dataset", tiny_dataset, "--log_dir", log_dir, *flags])

    assert code == 2
    assert any(message in line for line in messages), messages
    assert not log_dir.exists(), "no run folder for a rejected run"


def test_log_dir_under_file_rejected(tiny_dataset, tmp_path):
    log_dir = tmp_path / "a_file"
    log_dir.write_text("not a folder")

    code, messages = run_main(["--dataset", tiny_dataset, "--log_dir", log_dir])

    assert code == 2
    assert any(f"cannot create a run folder under --log_dir {log_dir}" in line
               for line in messages), messages


def test_unknown_strategy_rejected_by_cli(tiny_dataset, capsys):
    with pytest.raises(SystemExit) as exit_info:
        lwawtd.main(["--dataset", tiny_dataset, "--strategy", "tpu"])

    assert exit_info.value.code == 2
    assert "argument --strategy: invalid choice: 'tpu'" in capsys.readouterr().err


def test_unknown_strategy_rejected_by_train(tiny_dataset, tmp_path):
    config = TrainConfig(dataset=tiny_dataset, log_dir=str(tmp_path / "logs"), strategy="tpu")

    with pytest.raises(ValueError, match="unknown --strategy 'tpu'"):
        train(config)
    assert not (tmp_path / "logs").exists()


def test_multi_worker_without_tf_config_rejected(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    log_dir = tmp_path / "logs"

    code, messages = run_main(["--dataset", tiny_dataset, "--log_dir", log_dir,
                               "--strategy", "multi_worker"])

    assert code == 2
    assert any("needs the TF_CONFIG environment variable" in line for line in messages), messages
    assert not log_dir.exists()


def test_resume_without_checkpoint_rejected(tiny_dataset, tmp_path):
    run_dir = tmp_path / "lwawtd_20260101-000000"
    run_dir.mkdir()
    resolve_config({"dataset": tiny_dataset}).to_json(run_dir / "config.json")

    code, messages = run_main(["--resume", run_dir])

    assert code == 2
    assert any(f"--resume {run_dir}: the run folder contains no checkpoint" in line
               for line in messages), messages
    assert sorted(os.listdir(run_dir)) == ["config.json"]


def test_resume_without_config_rejected(tmp_path):
    code, messages = run_main(["--resume", tmp_path / "not_a_run"])

    assert code == 2
    assert any("no config.json found" in line for line in messages), messages


def copy_of_finished_run(finished_run, tmp_path):
    """Copy the finished 4-iteration run, so that a test can resume it alone."""
    run_dir = tmp_path / "lwawtd_20260101-000000"
    shutil.copytree(only_run_dir(finished_run.log_dir), run_dir)
    return run_dir


def test_resume_with_max_iter_extends_run(finished_run, tmp_path):
    run_dir = copy_of_finished_run(finished_run, tmp_path)

    code, messages = run_main(["--resume", run_dir, "--max_iter", 6])

    assert code == 0, "\n".join(messages[-20:])
    assert "extending the run from --max_iter 4 to 6" in messages
    assert f"resuming run {run_dir} at iteration 4 of 6" in messages
    assert saved_iterations(run_dir) == [3, 4, 6]
    values = checkpoint_values(os.path.join(run_dir, "checkpoints", "ckpt-6"))
    assert values["iteration/.ATTRIBUTES/VARIABLE_VALUE"] == 6
    # A later plain --resume must keep the new end instead of the old one.
    assert TrainConfig.from_json(os.path.join(run_dir, "config.json")).max_iter == 6


def test_resume_of_finished_run_rejected(finished_run, tmp_path):
    run_dir = copy_of_finished_run(finished_run, tmp_path)
    files_before = sorted(os.listdir(run_dir))

    code, messages = run_main(["--resume", run_dir])

    assert code == 2
    assert (f"--resume {run_dir}: the run already finished at iteration 4; give a "
            f"--max_iter above 4 to train it longer") in messages, messages
    assert sorted(os.listdir(run_dir)) == files_before
    assert saved_iterations(run_dir) == [3, 4]


@pytest.mark.parametrize("max_iter", [-5, 0, 1, 3])
def test_resume_with_max_iter_before_last_checkpoint_rejected(finished_run, tmp_path, max_iter):
    run_dir = copy_of_finished_run(finished_run, tmp_path)
    config_before = (run_dir / "config.json").read_text()

    code, messages = run_main(["--resume", run_dir, "--max_iter", max_iter])

    assert code == 2
    assert (f"--max_iter {max_iter} with --resume must be larger than the run's last "
            f"checkpoint, iteration 4; give a --max_iter above 4") in messages, messages
    assert (run_dir / "config.json").read_text() == config_before
    assert saved_iterations(run_dir) == [3, 4]


def damage_config(run_dir, change):
    """Rewrite the run's config.json with `change`: a setting and its value, or raw bytes."""
    path = run_dir / "config.json"
    if isinstance(change, bytes):
        path.write_bytes(change)
        return
    values = json.loads(path.read_text())
    values.update(change)
    path.write_text(json.dumps(values))


@pytest.mark.parametrize("change, message", [
    (b"[1, 2]", "config.json contains a JSON array, not an object of settings"),
    (b"5", "config.json contains a JSON whole number, not an object of settings"),
    (b'{"max_iter": 4, \xff}', "config.json is not valid JSON"),
    ({"max_iter": "ten"}, 'config.json: max_iter is "ten", but it must be a whole number'),
    ({"max_iter": 3.5}, "config.json: max_iter is 3.5, but it must be a whole number"),
    ({"batch_size": True}, "config.json: batch_size is true, but it must be a whole number"),
    ({"lr_d": "fast"}, 'config.json: lr_d is "fast", but it must be a number'),
    ({"lr_factors": 1}, "config.json: lr_factors is 1, but it must be a list of numbers"),
    ({"lr_boundaries": [2.5]},
     "config.json: lr_boundaries is [2.5], but it must be a list of whole numbers"),
    ({"precision": None}, "config.json: precision is null, but it must be a string"),
])
def test_resume_with_damaged_config_rejected(finished_run, tmp_path, change, message):
    run_dir = copy_of_finished_run(finished_run, tmp_path)
    damage_config(run_dir, change)
    config_before = (run_dir / "config.json").read_bytes()

    code, messages = run_main(["--resume", run_dir, "--max_iter", 6])

    assert code == 2
    assert any(message in line for line in messages), messages
    assert (run_dir / "config.json").read_bytes() == config_before
    assert saved_iterations(run_dir) == [3, 4]


@pytest.mark.parametrize("change, message", [
    ({"precision": "float16"}, "unknown --precision 'float16'; choose one of float32, "
                               "mixed_bfloat16"),
    ({"batch_size": 0}, "--batch_size must be positive, got 0"),
])
def test_resume_with_invalid_saved_setting_rejected(finished_run, tmp_path, change, message):
    run_dir = copy_of_finished_run(finished_run, tmp_path)
    damage_config(run_dir, change)
    config_before = (run_dir / "config.json").read_bytes()

    code, messages = run_main(["--resume", run_dir, "--max_iter", 6])

    assert code == 2
    assert f"--resume {run_dir}: invalid setting in its config.json: {message}" in messages, \
        messages
    # The new --max_iter must not be written into a configuration that cannot train.
    assert (run_dir / "config.json").read_bytes() == config_before


# Non-finite values stop a run and never reach a checkpoint.

def nan_image_in_batch(batch_index):
    """Return a make_dataset replacement whose batch `batch_index` has one all-NaN image."""
    real_make_dataset = run_module.make_dataset

    def make_dataset(files, batch_size, **kwargs):
        def poison(position, batch):
            images, labels, boxes = batch
            nan_first = tf.concat([images[:1] * np.nan, images[1:]], axis=0)
            images = tf.cond(position == batch_index, lambda: nan_first, lambda: images)
            return images, labels, boxes

        return real_make_dataset(files, batch_size, **kwargs).enumerate().map(poison)

    return make_dataset


def test_nan_batch_stops_run(tiny_dataset, tmp_path, monkeypatch):
    # Batch 2 (0-based) is the real batch of iteration 3, and checkpoints come every 2
    # iterations.
    monkeypatch.setattr(run_module, "make_dataset", nan_image_in_batch(2))

    code, messages = run_main(["--dataset", tiny_dataset, "--log_dir", tmp_path, "--max_iter", 6,
                               "--batch_size", 8, "--checkpoint_every", 2,
                               "--summary_every", 100])

    run_dir = only_run_dir(str(tmp_path))
    last_good = os.path.join(run_dir, "checkpoints", "ckpt-2")
    assert code == 1
    assert any(line.startswith("training diverged: non-finite loss at iteration 3:")
               and line.endswith(f"Last good checkpoint: {last_good}") for line in messages), \
        messages[-3:]
    assert saved_iterations(run_dir) == [2]
    values = checkpoint_values(last_good)
    assert all(np.all(np.isfinite(value)) for value in values.values() if value.dtype.kind == "f")
    assert not os.path.exists(os.path.join(run_dir, "generator.keras"))


def poisoned_step(pick_variable):
    """Return a TrainingLoop._train_one stand-in that makes one variable NaN at iteration 2.

    The stand-in counts iterations and returns finite losses without
    training. So only the check before saving can catch the NaN, as with a
    weight or an Adam moment that turns non-finite while the losses of the
    same iteration are finite.
    """
    def train_one(loop):
        loop.trainer.iteration.assign_add(1)
        if int(loop.trainer.iteration.numpy()) == 2:
            variable = pick_variable(loop.trainer)
            variable.assign(np.full(variable.shape, np.nan, np.float32))
        return {"d_loss": 1.4, "g_loss": 0.7, "d_prob_real": 0.5, "d_prob_fake": 0.5}

    return train_one


@pytest.mark.parametrize("pick_variable", [
    lambda trainer: trainer.generator.trainable_variables[0],
    lambda trainer: trainer.discriminator.trainable_variables[-1],
    lambda trainer: trainer.discriminator.non_trainable_variables[0],
    lambda trainer: trainer.d_optimizer.variables[-1],
    lambda trainer: trainer.g_optimizer.variables[1],
], ids=["generator", "discriminator", "discriminator_moving_mean", "d_optimizer",
        "g_optimizer"])
def test_nan_variable_never_saved(tiny_dataset, tmp_path, monkeypatch, pick_variable):
    monkeypatch.setattr(TrainingLoop, "_train_one", poisoned_step(pick_variable))
    config = resolve_config({"dataset": tiny_dataset, "log_dir": str(tmp_path), "max_iter": 4,
                             "batch_size": 8, "checkpoint_every": 2, "summary_every": 100})

    with pytest.raises(TrainingDiverged, match=r"at iteration 2\b"):
        train(config)

    assert saved_iterations(only_run_dir(str(tmp_path))) == []


# A data set smaller than the grid of real images logged at the start.

def test_dataset_smaller_than_real_grid(make_positional_mnist, tmp_path):
    dataset = make_positional_mnist(40, num_test_images=8)

    code, messages = run_main(["--dataset", dataset, "--log_dir", tmp_path, "--max_iter", 1,
                               "--batch_size", 8])

    assert code == 0, messages[-5:]
    events = read_events(only_run_dir(str(tmp_path)))
    (step, _, value), = events["images/real"]
    assert step == 0
    assert value[0] == value[1] == str(GRID_PIXELS).encode()
