"""The evaluation report: a JSON-ready dict, the printed tables and the JSON file."""

import contextlib
import json
import os
import tempfile

from evaluation.conditions import SWEEP, TEST

REAL = "real"
SET_NAMES = {
    REAL: "real test images (ceiling)",
    SWEEP: "generated, sweep grid",
    TEST: "generated, test conditions",
}
SET_DESCRIPTIONS = {
    REAL: "the first num_records records of the test split, with their own labels and boxes",
    SWEEP: "the 100 boxes of the 10x10 sweep grid (tile (r, c): x = 4 (c + 1), y = 4 (r + 1), "
           "w = 11 + c, h = 11 + r) for each digit 0-9",
    TEST: "the labels and boxes of the same test records as the real row",
}
FID_METHOD = ("d^2 = |m1 - m2|^2 + tr(C1) + tr(C2) - 2 tr((C1 C2)^(1/2)) in float64, with "
              "tr((C1 C2)^(1/2)) = sum of the square roots of the eigenvalues of the symmetric "
              "C1^(1/2) C2 C1^(1/2), C1^(1/2) from numpy.linalg.eigh; rounding-negative "
              "eigenvalues set to 0; unbiased covariances")


def build_report(config, model, judge, reference, scores):
    """Collect the settings and the scores of every set into one JSON-ready dict.

    Args:
      config: evaluate.EvaluationConfig.
      model: evaluate.LoadedModel, or None for real images only.
      judge: judge.Judge.
      reference: scoring.FeatureReference.
      scores: {set name: scoring.SetScores}, set names from SET_NAMES.
    """
    model_entry = None
    if model is not None:
        model_entry = {"run_dir": os.path.abspath(model.run_dir), "iteration": model.iteration,
                       "config": model.config}
    return {
        "model": model_entry,
        "judge": {
            "judge_dir": os.path.abspath(config.judge_dir),
            "test_accuracy": judge.info.get("test_accuracy"),
            "num_test_records": judge.info.get("num_test_records"),
            "features": "the judge's penultimate layer (128 ReLU units)",
        },
        "settings": {
            "dataset": os.path.abspath(config.dataset),
            "num_records": config.num_records,
            "fid_reference_images": reference.num_images,
            "seed": config.seed,
            "ink_threshold": config.ink_threshold,
            "ink": f"pixels with a value above {config.ink_threshold} (images in [0, 1])",
            "ink_inside": "share of the ink mass (sum of ink pixel values) inside the "
                          "requested box; 0 for an image without ink",
            "fid_method": FID_METHOD,
        },
        "sets": {name: {"name": SET_NAMES[name], "conditions": SET_DESCRIPTIONS[name],
                        **set_scores.as_dict()}
                 for name, set_scores in scores.items()},
    }


def check_writable(path):
    """Raise ValueError unless a JSON report can be written to `path`, creating its folder."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise ValueError(f"--output {path} is a folder; give a file path such as "
                         f"{os.path.join(path, 'report.json')}")
    if path.endswith(os.sep):
        raise ValueError(f"--output {path} ends with {os.sep}, so it names a folder; give a "
                         f"file path such as {os.path.join(path, 'report.json')}")
    ancestor = _nearest_existing(folder)
    if not os.path.isdir(ancestor):
        raise ValueError(f"--output {path}: {ancestor} is a file, so no folder can be created "
                         f"inside it; choose another path")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise ValueError(f"cannot create the folder of --output {path}: {error}") from error
    # A real file is created and removed, because os.access() ignores the
    # permission bits for root, and a folder such as /proc takes no new files.
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write_check_"):
            pass
    except OSError as error:
        raise ValueError(f"--output {path}: folder {folder} is not writable ({error.strerror}); "
                         f"choose another path") from error


def _nearest_existing(path):
    """Return `path` or its closest ancestor that exists."""
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return path


def write_json(report, path):
    """Write the report to `path` as indented JSON, creating its folder.

    The JSON goes to `path`.partial, which then replaces `path`, so a failed
    write leaves no half-written report. Like `check_writable`, this resolves
    `path` with os.path.abspath, so "missing/../report.json" works.

    Raises:
      ValueError: the file cannot be written; the message names it and the error.
    """
    path = os.path.abspath(path)
    partial = f"{path}.partial"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(partial, "w", encoding="utf-8") as file:
            json.dump(report, file, indent=2)
            file.write("\n")
        os.replace(partial, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            os.remove(partial)
        raise ValueError(f"failed to write the report to {path}: {error}; give another path "
                         f"with --output") from error


def format_tables(report):
    """Return the summary table and the per-digit table of a report as text."""
    return format_summary(report) + "\n\n" + format_per_digit(report)


def format_summary(report):
    """Return one line per set: images, digit accuracy, box IoU, ink inside and FID."""
    model = report["model"]
    title = ("real test images only" if model is None
             else f"generator {model['run_dir']} at iteration {model['iteration']}")
    judge_accuracy = report["judge"]["test_accuracy"]
    judge_accuracy = "unknown" if judge_accuracy is None else f"{judge_accuracy:.4f}"
    lines = [
        f"Evaluation of {title}",
        f"judge test accuracy {judge_accuracy}; ink = pixels above "
        f"{report['settings']['ink_threshold']}; FID against "
        f"{report['settings']['fid_reference_images']} real test images",
        "",
        f"{'set':<30} {'images':>7} {'digit acc':>10} {'box IoU':>8} {'ink inside':>11} "
        f"{'FID':>9}",
    ]
    for scores in report["sets"].values():
        lines.append(
            f"{scores['name']:<30} {scores['num_images']:>7d} {scores['digit_accuracy']:>10.4f} "
            f"{scores['box_iou']:>8.4f} {scores['ink_inside']:>11.4f} {scores['fid']:>9.3f}")
    return "\n".join(lines)


def format_per_digit(report):
    """Return a table with one row per digit and digit accuracy / box IoU / ink inside per set."""
    sets = report["sets"]
    header = f"{'digit':<6}" + "".join(f"{scores['name'][:28]:>30}" for scores in sets.values())
    lines = ["Per digit: digit accuracy / box IoU / ink inside", header]
    for digit in map(str, range(10)):
        cells = []
        for scores in sets.values():
            entry = scores["per_digit"].get(digit)
            cells.append("-" if entry is None else
                         f"{entry['digit_accuracy']:.3f} / {entry['box_iou']:.3f} / "
                         f"{entry['ink_inside']:.3f}")
        lines.append(f"{digit:<6}" + "".join(f"{cell:>30}" for cell in cells))
    return "\n".join(lines)
