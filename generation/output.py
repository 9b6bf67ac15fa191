"""The output folder and the picture files: PNG for grids and tiles, GIF for animations.

Pillow writes no timestamp into either format, so the same pixels always give
the same bytes.
"""

import datetime
import json
import os

import numpy as np
from PIL import Image

OUTPUT_ROOT = "generated_images"
SETTINGS_FILE = "generate_config.json"


def default_out_dir(root=OUTPUT_ROOT, now=None):
    """Return root/<timestamp>, with a suffix _1, _2, ... if that folder already exists."""
    stamp = (now or datetime.datetime.now()).strftime("%Y%m%d-%H%M%S")
    path = os.path.join(root, stamp)
    suffix = 1
    while os.path.exists(path):
        path = os.path.join(root, f"{stamp}_{suffix}")
        suffix += 1
    return path


def check_out_dir(path):
    """Raise ValueError unless `path` is a writable folder or can be created as one.

    Creates nothing, so that a run rejected later writes no file.
    """
    existing = path
    while not os.path.exists(existing):
        parent = os.path.dirname(existing.rstrip(os.sep))
        existing = parent if parent else "."
    if not os.path.isdir(existing):
        raise ValueError(f"--out_dir {path} is invalid: {existing} is a file, not a folder; "
                         f"choose another output folder")
    if not is_writable(existing):
        raise ValueError(f"--out_dir {path} is not writable: no permission to write to "
                         f"{existing}; choose another output folder")


def is_writable(folder):
    """Return True if files can be created in `folder`.

    NOTE: for root, os.access ignores file permissions but still reports a
    read-only file system.
    """
    return os.access(folder, os.W_OK | os.X_OK)


def save_png(path, image):
    """Write a uint8 array (H, W) as an 8-bit grayscale PNG."""
    Image.fromarray(_checked_uint8(image)).save(path, format="PNG")


def save_gif(path, frames, frame_duration_ms):
    """Write uint8 frames (T, H, W) as a grayscale GIF that loops forever."""
    images = [Image.fromarray(frame) for frame in _checked_uint8(frames)]
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:],
                   duration=frame_duration_ms, loop=0)


def save_settings(out_dir, settings):
    """Write the resolved generate settings as JSON beside the pictures and return its path."""
    path = os.path.join(out_dir, SETTINGS_FILE)
    with open(path, "w", encoding="utf-8") as file:
        json.dump(settings, file, indent=2, sort_keys=True)
        file.write("\n")
    return path


def _checked_uint8(array):
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise TypeError(f"pictures must be uint8, got dtype {array.dtype}")
    return array
