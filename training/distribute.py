"""Choosing a tf.distribute strategy by name."""

import json
import os

import tensorflow as tf


def make_strategy(name, logical_cpus=1):
    """Create the strategy named `name`.

    Args:
      name: "default" (one device), "mirrored" (all local GPUs, else all
        logical CPU devices) or "multi_worker" (MultiWorkerMirroredStrategy,
        cluster from the TF_CONFIG environment variable).
      logical_cpus: split the CPU into this many logical devices first, so
        that "mirrored" can run several replicas without GPUs. Must be called
        before TensorFlow initialises its devices.
    """
    if logical_cpus > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * logical_cpus)

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = gpus or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy multi_worker needs the TF_CONFIG environment variable "
                             "that describes the cluster and this worker's task")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown --strategy {name!r}; choose default, mirrored or multi_worker")


def is_chief(strategy):
    """True unless this process is a non-chief worker of a multi-worker cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return _is_chief_task(resolver.task_type, resolver.task_id)


def is_chief_process():
    """Like is_chief, from TF_CONFIG alone, for work done before any strategy exists.

    True without TF_CONFIG or without a task in it.
    """
    task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
    if not task.get("type"):
        return True
    return _is_chief_task(task["type"], int(task.get("index", 0)))


def _is_chief_task(task_type, task_id):
    # Without a "chief" task in the cluster, worker 0 is the chief.
    if task_type == "chief":
        return True
    has_chief = "chief" in json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    return task_type == "worker" and task_id == 0 and not has_chief


def describe_devices(strategy):
    """Return a short text naming the strategy and its replica devices."""
    try:
        devices = list(strategy.extended.worker_devices)
    except RuntimeError:
        # The default strategy has no device list: it runs where TensorFlow places ops.
        devices = [device.name for device in tf.config.list_logical_devices()]
    return f"{type(strategy).__name__} with {strategy.num_replicas_in_sync} replica(s) on {', '.join(devices)}"
