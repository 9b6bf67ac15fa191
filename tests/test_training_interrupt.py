"""Stopping and resuming one run: SIGTERM, SIGINT and SIGKILL to real processes, then --resume.

One run of 12 iterations (checkpoints every 4, summaries every 2,
conditions drawn from the data) is driven through four processes:

  A  fresh start, SIGTERM before iteration 3   -> saves ckpt-3, exit code 143
  B  --resume, SIGINT before iteration 6       -> starts at 3, saves 4 and 6, exit code 130
  C  --resume, SIGKILL before iteration 10     -> starts at 6, saves 8, loses iteration 9
  D  --resume in this process                  -> starts at 8, finishes at 12

Each child process runs lwawtd.main unchanged except that, before a chosen
iteration, it waits until a signal has arrived. The test sends the signal
once the child logs that it waits, so the interrupted iteration is known
exactly instead of depending on how fast this machine trains.
"""

import glob
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import types

import numpy as np
import pytest
import tensorflow as tf

import lwawtd
from training.checkpoints import saved_iterations

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_ITER = 12
TIMEOUT = 600  # seconds allowed for one child step, generous because the machine is shared

CHILD_SCRIPT = """
import logging, sys, time
import lwawtd
from training.interrupt import InterruptFlag
from training.run import TrainingLoop

gate = int(sys.argv[1])
signals = []
handle_signal = InterruptFlag._handle
train_one = TrainingLoop._train_one

def record_signal(flag, number, frame):
    signals.append(number)
    handle_signal(flag, number, frame)

def gated_train_one(loop):
    if int(loop.trainer.iteration.numpy()) + 1 == gate:
        logging.warning("waiting for a signal before iteration %d", gate)
        while not signals:
            time.sleep(0.05)
    return train_one(loop)

InterruptFlag._handle = record_signal
TrainingLoop._train_one = gated_train_one
sys.exit(lwawtd.main(sys.argv[2:]))
"""


class Child:
    """lwawtd.main in a child process that waits for a signal before iteration `gate`."""

    def __init__(self, gate, flags):
        self.lines = []
        self.process = subprocess.Popen(
            [sys.executable, "-c", CHILD_SCRIPT, str(gate), *map(str, flags)], cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def output(self):
        return "\n".join(self.lines[-40:])

    def wait_for(self, text):
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            if self.process.poll() is not None:
                self.reader.join(timeout=10)
                if any(text in line for line in self.lines):
                    return
                pytest.fail(f"child exited with {self.process.returncode} before logging "
                            f"{text!r}:\n{self.output()}")
            time.sleep(0.1)
        pytest.fail(f"child did not log {text!r} within {TIMEOUT} s:\n{self.output()}")

    def signal_at_gate(self, number):
        """Wait until the child waits at its gate, send `number` and return the exit code."""
        self.wait_for("waiting for a signal before iteration")
        self.process.send_signal(number)
        code = self.process.wait(timeout=TIMEOUT)
        self.reader.join(timeout=10)
        return code

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class MessageList(logging.Handler):
    """Collects the formatted log messages of a run in this process."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def run_child(gate, flags, number):
    child = Child(gate, flags)
    try:
        code = child.signal_at_gate(number)
    finally:
        child.kill()
    return types.SimpleNamespace(code=code, lines=child.lines, output=child.output())


def logged(result, text):
    return any(text in line for line in result.lines)


def checkpoint_numbers(prefix):
    """Return (iteration, D update count, G update count) stored in a checkpoint."""
    reader = tf.train.load_checkpoint(prefix)
    return tuple(int(reader.get_tensor(f"{name}/.ATTRIBUTES/VARIABLE_VALUE"))
                 for name in ("iteration", "d_optimizer/_iterations", "g_optimizer/_iterations"))


def read_event_files(run_dir):
    """Return, per event file in the order written, {tag: [steps]}."""
    files = []
    for path in glob.glob(os.path.join(run_dir, "events.out.tfevents.*")):
        events = list(tf.compat.v1.train.summary_iterator(path))
        steps = {}
        for event in events:
            for value in event.summary.value:
                steps.setdefault(value.tag, []).append(event.step)
        files.append((events[0].wall_time, steps))
    return [steps for _, steps in sorted(files, key=lambda item: item[0])]


def simulate_save_cut_short(run_dir, iteration):
    """Create the files that a process killed while writing checkpoint `iteration` leaves behind.

    TensorFlow writes a checkpoint's shards into <prefix>_temp/, merges them
    into <prefix>.data-* and <prefix>.index, and only then points the
    `checkpoint` state file at the new prefix. Here the data file is half
    written, the index is missing and the temporary shards are still there.
    """
    folder = os.path.join(run_dir, "checkpoints")
    previous = max(saved_iterations(run_dir))
    with open(os.path.join(folder, f"ckpt-{previous}.data-00000-of-00001"), "rb") as file:
        data = file.read()
    with open(os.path.join(folder, f"ckpt-{iteration}.data-00000-of-00001"), "wb") as file:
        file.write(data[:len(data) // 2])
    os.makedirs(os.path.join(folder, f"ckpt-{iteration}_temp"))
    shutil.copy(os.path.join(folder, f"ckpt-{previous}.index"),
                os.path.join(folder, f"ckpt-{iteration}_temp", "part-00000-of-00001.index"))


@pytest.fixture(scope="module")
def interrupted_run(tiny_dataset, tmp_path_factory):
    log_dir = str(tmp_path_factory.mktemp("logs"))
    flags = ["--dataset", tiny_dataset, "--log_dir", log_dir, "--max_iter", MAX_ITER,
             "--batch_size", 8, "--checkpoint_every", 4, "--summary_every", 2,
             "--log_every", 1, "--seed", 3, "--conditions", "data"]
    phases = {}

    phases["sigterm"] = run_child(3, flags, signal.SIGTERM)
    runs = glob.glob(os.path.join(log_dir, "lwawtd_*"))
    assert len(runs) == 1, f"expected one run folder, found {runs}:\n{phases['sigterm'].output}"
    run_dir = runs[0]
    phases["sigterm"].saved = saved_iterations(run_dir)

    phases["sigint"] = run_child(6, ["--resume", run_dir], signal.SIGINT)
    phases["sigint"].saved = saved_iterations(run_dir)

    phases["sigkill"] = run_child(10, ["--resume", run_dir], signal.SIGKILL)
    phases["sigkill"].saved = saved_iterations(run_dir)
    simulate_save_cut_short(run_dir, MAX_ITER)

    root = logging.getLogger()
    handler = MessageList()
    previous_level = root.level
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    try:
        code = lwawtd.main(["--resume", run_dir])
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)
    phases["resume"] = types.SimpleNamespace(code=code, lines=handler.messages,
                                             saved=saved_iterations(run_dir),
                                             output="\n".join(handler.messages[-40:]))
    return run_dir, phases


def test_sigterm_saves_and_exits(interrupted_run):
    _, phases = interrupted_run
    result = phases["sigterm"]

    assert result.code == 128 + signal.SIGTERM, result.output
    assert logged(result, "received SIGTERM: saving a checkpoint after this iteration")
    assert logged(result, "stopped after saving a checkpoint; continue with --resume")
    assert result.saved == [3]


def test_sigint_resumes_then_saves(interrupted_run):
    run_dir, phases = interrupted_run
    result = phases["sigint"]

    assert logged(result, f"resuming run {run_dir} at iteration 3 of {MAX_ITER}"), result.output
    assert result.code == 128 + signal.SIGINT, result.output
    assert logged(result, "received SIGINT: saving a checkpoint after this iteration")
    assert result.saved == [3, 4, 6]


def test_sigkill_loses_only_unsaved_iterations(interrupted_run):
    run_dir, phases = interrupted_run
    killed, resumed = phases["sigkill"], phases["resume"]

    assert logged(killed, f"resuming run {run_dir} at iteration 6 of {MAX_ITER}"), killed.output
    assert killed.code == -signal.SIGKILL
    assert logged(killed, f"iteration 9/{MAX_ITER}"), "iteration 9 ran before the kill"
    assert killed.saved == [3, 4, 6, 8]
    # Iteration 9 is lost, and the next process starts from checkpoint 8.
    assert logged(resumed, f"resuming run {run_dir} at iteration 8 of {MAX_ITER}"), \
        resumed.output


def test_resume_stops_at_original_max_iter(interrupted_run):
    run_dir, phases = interrupted_run
    result = phases["resume"]

    assert result.code == 0, result.output
    assert logged(result, f"finished {MAX_ITER} iterations; run folder {run_dir}")
    assert result.saved == [3, 4, 6, 8, MAX_ITER]
    assert os.path.isfile(os.path.join(run_dir, "generator.keras"))


def test_checkpoints_store_their_iteration(interrupted_run):
    # The update counts continue across the four processes instead of restarting.
    run_dir, _ = interrupted_run

    for iteration in (3, 4, 6, 8, MAX_ITER):
        prefix = os.path.join(run_dir, "checkpoints", f"ckpt-{iteration}")
        assert checkpoint_numbers(prefix) == (iteration, iteration, iteration)


def test_checkpoint_cut_short_is_overwritten(interrupted_run):
    run_dir, _ = interrupted_run
    prefix = os.path.join(run_dir, "checkpoints", f"ckpt-{MAX_ITER}")

    reader = tf.train.load_checkpoint(prefix)
    values = [reader.get_tensor(key) for key in reader.get_variable_to_shape_map()
              if key != "_CHECKPOINTABLE_OBJECT_GRAPH"]
    assert all(np.all(np.isfinite(value)) for value in values if value.dtype.kind == "f")
    assert not os.path.exists(prefix + "_temp")


def test_summaries_continue_at_right_steps(interrupted_run):
    run_dir, _ = interrupted_run
    files = read_event_files(run_dir)

    # One event file per process: A, B, C (killed after its summary at 8) and D.
    assert len(files) == 4
    expected_steps = [[2], [4, 6], [8], [10, 12]]
    for steps, expected in zip(files, expected_steps):
        assert steps["loss/discriminator"] == expected
        assert steps["images/size_sweep"] == expected
    assert files[0]["images/real"] == [0]
    assert files[0]["config"] == [0]
    assert all("images/real" not in steps and "config" not in steps for steps in files[1:])
