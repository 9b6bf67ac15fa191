"""tf.distribute: MirroredStrategy against one device, and a two-worker cluster on localhost.

Both checks run TensorFlow in child processes, because the CPU can be split
into logical devices only before TensorFlow initialises, and because each
worker of a cluster is a process of its own. The cluster listens on
127.0.0.1 only.
"""

import glob
import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from training.checkpoints import saved_iterations
from training.config import TrainConfig
from training.distribute import is_chief_process

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 600  # seconds allowed for one child process, generous because the machine is shared

# One iteration (one D and one G update) on a fixed batch of 8 under the
# strategy named in argv[1] and the --precision in argv[3], with the CPU split
# into two logical devices in both cases. The models start from the same seed.
# Everything that one Adam step changes is written to argv[2].npz, and the
# losses to argv[2].json.
STEP_SCRIPT = """
import json, sys
import keras
import numpy as np
import tensorflow as tf
from training.config import TrainConfig
from training.distribute import make_strategy
from training.gan import GanTrainer

strategy_name, out, precision = sys.argv[1], sys.argv[2], sys.argv[3]
strategy = make_strategy(strategy_name, logical_cpus=2)
keras.utils.set_random_seed(7)
trainer = GanTrainer(TrainConfig(batch_size=8, seed=3, precision=precision), strategy)

rng = np.random.default_rng(0)
images = rng.uniform(0, 1, (8, 64, 64, 1)).astype(np.float32)
labels = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 8)]
boxes = np.array([[4 + 4 * i, 6 + 3 * i, 12 + i, 18] for i in range(8)], np.float32)
batches = tf.data.Dataset.from_tensors((images, labels, boxes))

models = {"d": (trainer.discriminator, trainer.d_optimizer),
          "g": (trainer.generator, trainer.g_optimizer)}
arrays = {}
for name, (model, _) in models.items():
    for variable in model.variables:
        arrays[f"{name}/{variable.path}/before"] = variable.numpy()

results = trainer.train_iteration(next(iter(strategy.experimental_distribute_dataset(batches))))

for name, (model, optimizer) in models.items():
    for variable in model.variables:
        arrays[f"{name}/{variable.path}/after"] = variable.numpy()
    # Keras 3.15 keeps Adam's slots in lists parallel to the variables it was built with.
    slots = zip(model.trainable_variables, optimizer._momentums, optimizer._velocities)
    for variable, momentum, velocity in slots:
        assert momentum.shape == variable.shape
        arrays[f"{name}/{variable.path}/momentum"] = momentum.numpy()
        arrays[f"{name}/{variable.path}/velocity"] = velocity.numpy()
np.savez(out + ".npz", **arrays)
with open(out + ".json", "w") as file:
    json.dump({"replicas": strategy.num_replicas_in_sync,
               "results": {key: float(value) for key, value in results.items()}}, file)
"""

# Adam (Keras 3.15): with m0 = v0 = 0, the first step moves a weight by
# lr * g / (|g| + EPSILON_HAT) with EPSILON_HAT = epsilon / sqrt(1 - beta_2).
ADAM_EPSILON_HAT = 1e-8 / np.sqrt(1 - 0.999)
LEARNING_RATES = {"d": TrainConfig.lr_d, "g": TrainConfig.lr_g}
BETA_1 = 0.5


def run_step_pair(folder, precision):
    """Run STEP_SCRIPT under the default and the mirrored strategy, side by side."""
    children = {}
    for name in ("default", "mirrored"):
        log = open(folder / f"{name}.log", "w", encoding="utf-8")
        children[name] = (subprocess.Popen(
            [sys.executable, "-c", STEP_SCRIPT, name, str(folder / name), precision],
            cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT), log)

    outputs = {}
    try:
        for name, (child, log) in children.items():
            code = child.wait(timeout=TIMEOUT)
            log.close()
            text = (folder / f"{name}.log").read_text(encoding="utf-8")
            assert code == 0, f"{name} strategy step failed:\n{text[-3000:]}"
            with np.load(folder / f"{name}.npz") as arrays:
                values = {key: arrays[key] for key in arrays.files}
            with open(folder / f"{name}.json", encoding="utf-8") as file:
                outputs[name] = (values, json.load(file))
    finally:
        for child, log in children.values():
            if child.poll() is None:
                child.kill()
                child.wait()
            log.close()
    return outputs


@pytest.fixture(scope="module")
def one_step(tmp_path_factory):
    """One step in float32, which the tolerances of the tests below are derived for."""
    return run_step_pair(tmp_path_factory.mktemp("one_step"), "float32")


@pytest.fixture(scope="module")
def one_step_mixed(tmp_path_factory):
    """One step with --precision mixed_bfloat16."""
    return run_step_pair(tmp_path_factory.mktemp("one_step_mixed"), "mixed_bfloat16")


def variable_names(arrays, field):
    suffix = f"/{field}"
    return sorted(key[:-len(suffix)] for key in arrays if key.endswith(suffix))


def test_mirrored_uses_two_replicas(one_step):
    assert one_step["default"][1]["replicas"] == 1
    assert one_step["mirrored"][1]["replicas"] == 2


def test_mirrored_same_initial_weights(one_step):
    # The comparison below needs both runs to start from identical models.
    default, mirrored = one_step["default"][0], one_step["mirrored"][0]

    assert variable_names(default, "before") == variable_names(mirrored, "before")
    for name in variable_names(default, "before"):
        np.testing.assert_array_equal(mirrored[f"{name}/before"], default[f"{name}/before"],
                                      err_msg=name)


def test_mirrored_same_losses(one_step):
    default, mirrored = one_step["default"][1]["results"], one_step["mirrored"][1]["results"]

    assert sorted(mirrored) == sorted(default)
    for key, value in default.items():
        assert mirrored[key] == pytest.approx(value, rel=1e-5), key


def test_mirrored_same_gradients(one_step):
    # After one step, Adam's moments are (1 - beta_1) g and (1 - beta_2) g^2,
    # so comparing them compares the global-batch gradients. The two runs add
    # the same float32 numbers in another order: two per-replica partial sums
    # and an all-reduce, and BatchNorm moments from sums instead of the fused
    # kernel. That moved the moments by at most about 4e-5 of a tensor's
    # largest value on this test's batch. A tolerance of 1e-3 leaves room for
    # that, while BatchNorm statistics taken per replica (5% or more, measured
    # with this script) or a loss averaged over the per-replica batch (a
    # factor of 2) fail.
    default, mirrored = one_step["default"][0], one_step["mirrored"][0]

    names = variable_names(default, "momentum")
    assert names == variable_names(mirrored, "momentum")
    assert len(names) > 40
    for name in names:
        for field in ("momentum", "velocity"):
            expected, actual = default[f"{name}/{field}"], mirrored[f"{name}/{field}"]
            scale = np.max(np.abs(expected))
            assert scale > 0, f"{name}: no gradient"
            assert np.max(np.abs(actual - expected)) <= 1e-3 * scale, f"{name} {field}"


def test_mirrored_same_moving_statistics(one_step):
    # The moving statistics move by about 1e-2 in this step, and 1e-5 (about
    # 84 float32 ulps at 1.0) is three orders of magnitude below that.
    default, mirrored = one_step["default"][0], one_step["mirrored"][0]

    names = [name for name in variable_names(default, "after") if "moving_" in name]
    assert len(names) == 2 * 14, "mean and variance of 14 BatchNorm layers"
    for name in names:
        moved = np.max(np.abs(default[f"{name}/after"] - default[f"{name}/before"]))
        assert moved > 1e-4, f"{name} did not move"
        np.testing.assert_allclose(mirrored[f"{name}/after"], default[f"{name}/after"],
                                   rtol=0, atol=1e-5, err_msg=name)


# bfloat16 (8 significant bits, rounding error at most u = 2**-9 of a value):
# both runs round the same activations, but where the replicas' float32 sums
# move a value by a few float32 ulps, it may round to the neighbouring
# bfloat16 value. The losses average such differences over the batch and
# agreed to 4e-4 of their size, below the 2 u (3.9e-3) allowed here. The
# moving statistics agreed to 3e-4 and moved by at least 3.9e-3 in this step,
# so 1e-3 is allowed. BatchNorm statistics taken per replica (measured with
# this script) moved the D loss by 5.8e-3 of its size, the G loss by 0.21 and
# the moving statistics by up to 0.054, so both checks fail for them.

def test_mirrored_mixed_same_losses(one_step_mixed):
    default, mirrored = one_step_mixed["default"][1], one_step_mixed["mirrored"][1]

    assert mirrored["replicas"] == 2
    assert sorted(mirrored["results"]) == sorted(default["results"])
    for key, value in default["results"].items():
        assert mirrored["results"][key] == pytest.approx(value, rel=2 * 2.0 ** -9), key


def test_mirrored_mixed_same_moving_statistics(one_step_mixed):
    default, mirrored = one_step_mixed["default"][0], one_step_mixed["mirrored"][0]

    names = [name for name in variable_names(default, "after") if "moving_" in name]
    assert len(names) == 2 * 14, "mean and variance of 14 BatchNorm layers"
    for name in names:
        assert mirrored[f"{name}/after"].dtype == np.float32, name
        moved = np.max(np.abs(default[f"{name}/after"] - default[f"{name}/before"]))
        assert moved > 1e-3, f"{name} moved too little for the tolerance"
        np.testing.assert_allclose(mirrored[f"{name}/after"], default[f"{name}/after"],
                                   rtol=0, atol=1e-3, err_msg=name)


def test_mirrored_same_updated_weights(one_step):
    # One Adam step from zero moments moves a weight by
    # u(g) = lr * g / (|g| + EPSILON_HAT), which is lr * sign(g) wherever |g|
    # is well above EPSILON_HAT (3.2e-7) but changes fast for gradients near
    # zero. Between the two runs' gradients g1 and g2 (from their moments),
    # |u(g1) - u(g2)| <= lr * EPSILON_HAT * |g1 - g2| / (min(|g1|, |g2|) + EPSILON_HAT)^2,
    # with min taken as 0 when the signs differ. Each weight must agree to
    # that bound plus 1e-6 for float32 rounding of the update, so the weights
    # may differ only as much as the gradient differences explain.
    default, mirrored = one_step["default"][0], one_step["mirrored"][0]

    for name in variable_names(default, "momentum"):
        rate = LEARNING_RATES[name.split("/")[0]]
        gradient_default = default[f"{name}/momentum"] / (1 - BETA_1)
        gradient_mirrored = mirrored[f"{name}/momentum"] / (1 - BETA_1)
        same_sign = np.sign(gradient_default) == np.sign(gradient_mirrored)
        smallest = np.where(same_sign, np.minimum(np.abs(gradient_default),
                                                  np.abs(gradient_mirrored)), 0.0)
        bound = (rate * ADAM_EPSILON_HAT * np.abs(gradient_default - gradient_mirrored)
                 / (smallest + ADAM_EPSILON_HAT) ** 2)

        difference = np.abs(mirrored[f"{name}/after"] - default[f"{name}/after"])
        moved = np.abs(default[f"{name}/after"] - default[f"{name}/before"])
        assert np.max(moved) > 0.5 * rate, f"{name} did not take an Adam step"
        worst = np.argmax(difference - bound)
        assert np.all(difference <= bound + 1e-6), (
            f"{name}: weights differ by {difference.flat[worst]:.3g} where the gradients "
            f"allow {bound.flat[worst]:.3g}")


# A two-worker MultiWorkerMirroredStrategy cluster on localhost.

def free_ports(count):
    probes = []
    try:
        for _ in range(count):
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            probe.bind(("127.0.0.1", 0))
            probes.append(probe)
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def run_cluster(flags, folder, name):
    """Run lwawtd.py as both workers of a localhost cluster and return [(exit code, log)].

    Each worker's TMPDIR is its own folder under `folder`, so that the test
    can see what a worker leaves behind. If one worker fails, the other
    would wait for it forever, so it is stopped.
    """
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    workers = []
    for index in range(2):
        temp_dir = folder / f"{name}_tmp_{index}"
        temp_dir.mkdir()
        env = dict(os.environ, TMPDIR=str(temp_dir), TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}))
        log_path = folder / f"{name}_worker_{index}.log"
        with open(log_path, "w", encoding="utf-8") as log:
            process = subprocess.Popen(
                [sys.executable, os.path.join(REPO_ROOT, "lwawtd.py"), *map(str, flags)],
                cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT)
        workers.append((process, log_path))

    deadline = time.monotonic() + TIMEOUT
    try:
        while any(process.poll() is None for process, _ in workers):
            failed = [process for process, _ in workers if process.poll() not in (None, 0)]
            if failed or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        for process, _ in workers:
            if process.poll() is None:
                process.kill()
                process.wait()
    return [(process.returncode, log_path.read_text(encoding="utf-8"))
            for process, log_path in workers]


def assert_workers_succeeded(results):
    for index, (code, log) in enumerate(results):
        assert code == 0, f"worker {index} exited with {code}:\n{log[-4000:]}"


def leftover_worker_folders(folder, name):
    return sorted(glob.glob(str(folder / f"{name}_tmp_*" / "lwawtd_worker_*")))


@pytest.fixture(scope="module")
def cluster_runs(tiny_dataset, tmp_path_factory):
    """Train 2 iterations on two workers, lose the last checkpoint, resume on two workers.

    Losing checkpoint 2 stands for a cluster killed between its checkpoints
    at iterations 1 and 2, whose state file still points at checkpoint 1.
    """
    folder = tmp_path_factory.mktemp("cluster")
    log_dir = folder / "logs"
    flags = ["--strategy", "multi_worker", "--dataset", tiny_dataset, "--log_dir", log_dir,
             "--max_iter", 2, "--batch_size", 8, "--checkpoint_every", 1,
             "--summary_every", 2, "--log_every", 1]
    first = run_cluster(flags, folder, "first")
    assert_workers_succeeded(first)
    runs = glob.glob(str(log_dir / "lwawtd_*"))
    assert len(runs) == 1, f"one run folder expected, found {runs}"
    run_dir = runs[0]
    first_saved = saved_iterations(run_dir)

    checkpoints = os.path.join(run_dir, "checkpoints")
    for path in glob.glob(os.path.join(checkpoints, "ckpt-2.*")):
        os.remove(path)
    state = tf.train.get_checkpoint_state(checkpoints)
    state.model_checkpoint_path = state.all_model_checkpoint_paths[0]
    del state.all_model_checkpoint_paths[1:]
    del state.all_model_checkpoint_timestamps[1:]
    with open(os.path.join(checkpoints, "checkpoint"), "w", encoding="utf-8") as file:
        file.write(text_format.MessageToString(state))

    resumed = run_cluster(["--resume", run_dir], folder, "resumed")
    return folder, run_dir, first, first_saved, resumed


def test_cluster_trains_on_two_workers(cluster_runs):
    _, run_dir, first, first_saved, _ = cluster_runs
    chief_log, worker_log = first[0][1], first[1][1]

    assert "with 2 replica(s) on /job:worker/replica:0/task:0/device:CPU:0" in chief_log
    assert f"starting run {run_dir} at iteration 0 of 2" in chief_log
    for log in (chief_log, worker_log):
        assert "iteration 2/2" in log
    assert first_saved == [1, 2]


def test_cluster_chief_writes_run_folder(cluster_runs):
    _, run_dir, _, _, _ = cluster_runs
    config = TrainConfig.from_json(os.path.join(run_dir, "config.json"))
    events = glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))

    assert config.strategy == "multi_worker"
    assert len(events) == 2, "one event file per chief process"
    steps = [event.step for path in events for event in tf.compat.v1.train.summary_iterator(path)
             for value in event.summary.value if value.tag == "loss/discriminator"]
    assert sorted(steps) == [2, 2]


def test_cluster_resumes_on_both_workers(cluster_runs):
    _, run_dir, _, _, resumed = cluster_runs
    assert_workers_succeeded(resumed)

    for _, log in resumed:
        assert f"resuming run {run_dir} at iteration 1 of 2" in log
        assert "iteration 2/2" in log
    assert saved_iterations(run_dir) == [1, 2]
    reader = tf.train.load_checkpoint(os.path.join(run_dir, "checkpoints", "ckpt-2"))
    assert int(reader.get_tensor("iteration/.ATTRIBUTES/VARIABLE_VALUE")) == 2
    assert int(reader.get_tensor("d_optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE")) == 2


def test_cluster_worker_leaves_no_temporary_folder(cluster_runs):
    folder, _, _, _, _ = cluster_runs

    assert leftover_worker_folders(folder, "first") == []
    assert leftover_worker_folders(folder, "resumed") == []


@pytest.mark.parametrize("tf_config, expected", [
    (None, True),
    ({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}}, True),
    ({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}, False),
    ({"cluster": {"chief": ["a:1"], "worker": ["b:2"]}, "task": {"type": "chief", "index": 0}},
     True),
    ({"cluster": {"chief": ["a:1"], "worker": ["b:2"]}, "task": {"type": "worker", "index": 0}},
     False),
])
def test_is_chief_process_from_tf_config(tf_config, expected, monkeypatch):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))

    assert is_chief_process() is expected
