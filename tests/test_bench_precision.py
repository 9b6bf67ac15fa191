"""Tests of the benchmark scripts' precision comparisons: compare_precision.py and bench_train.py.

They check the bookkeeping (which runs start equal, how curves, ratios and
rates are computed), not timings.
"""

import json
import os
import sys

import numpy as np
import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO_ROOT, "bench"))

import bench_train  # noqa: E402
import compare_precision  # noqa: E402
from training.config import TrainConfig  # noqa: E402


# compare_precision.py

@pytest.fixture(scope="module")
def comparison(tiny_dataset, tmp_path_factory):
    """The JSON record and printed report of a 4-iteration comparison at batch 8."""
    path = tmp_path_factory.mktemp("compare") / "compare.json"
    compare_precision.main(["--data", tiny_dataset, "--iterations", "4", "--interval", "2",
                            "--batch_size", "8", "--seed", "3", "--other_seed", "4",
                            "--json", str(path)])
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def test_comparison_runs(comparison):
    runs = comparison["runs"]
    assert list(runs) == ["float32", "mixed_bfloat16", "float32, seed 4"]
    assert [(run["precision"], run["seed"]) for run in runs.values()] == [
        ("float32", 3), ("mixed_bfloat16", 3), ("float32", 4)]
    for run in runs.values():
        for metric in compare_precision.METRICS:
            assert len(run["values"][metric]) == 4
            assert all(np.isfinite(run["values"][metric]))


def test_comparison_same_start_for_same_seed(comparison):
    runs = comparison["runs"]
    reference, bfloat16, reseeded = (runs[name] for name in runs)
    assert bfloat16["initial_weights_sha256"] == reference["initial_weights_sha256"]
    assert bfloat16["first_batch_sha256"] == reference["first_batch_sha256"]
    assert reseeded["initial_weights_sha256"] != reference["initial_weights_sha256"]
    assert reseeded["first_batch_sha256"] != reference["first_batch_sha256"]


def test_comparison_curves_are_interval_means(comparison):
    for name, run in comparison["runs"].items():
        for metric, values in run["values"].items():
            expected = [np.mean(values[0:2]), np.mean(values[2:4])]
            np.testing.assert_allclose(comparison["curves"][name][metric], expected,
                                       rtol=1e-12, err_msg=f"{name} {metric}")


def test_comparison_distances_from_float32(comparison):
    curves = comparison["curves"]
    distances = comparison["curve_distance_from_float32"]
    assert list(distances) == ["mixed_bfloat16", "float32, seed 4"]
    for name, by_metric in distances.items():
        for metric, distance in by_metric.items():
            expected = np.mean(np.abs(np.subtract(curves[name][metric],
                                                  curves["float32"][metric])))
            assert distance == pytest.approx(expected, rel=1e-12), f"{name} {metric}"


def test_comparison_gradient_agreement(comparison):
    agreement = comparison["gradient_agreement"]
    assert sorted(agreement) == ["discriminator", "generator"]
    for model, comparisons in agreement.items():
        assert sorted(comparisons) == ["float32, second batch", "mixed_bfloat16"]
        # Same weights and inputs: bfloat16 rounding only. A second batch
        # points the gradient elsewhere.
        assert comparisons["mixed_bfloat16"]["cosine"] > 0.98, model
        assert comparisons["mixed_bfloat16"]["relative_l2_difference"] < 0.2, model
        assert (comparisons["float32, second batch"]["relative_l2_difference"]
                > comparisons["mixed_bfloat16"]["relative_l2_difference"]), model


def test_compare_vectors_exact():
    result = compare_precision.compare_vectors([3.0, 4.0], [3.0, 0.0])
    assert result["cosine"] == pytest.approx(0.6)
    assert result["relative_l2_difference"] == pytest.approx(0.8)


@pytest.mark.parametrize("flags, message", [
    (["--iterations", "10", "--interval", "3"], "--interval 3 must divide --iterations 10"),
    (["--seed", "2", "--other_seed", "2"], "--other_seed must differ from --seed, both are 2"),
    (["--batch_size", "0"], "--batch_size must be at least 1, got 0"),
])
def test_compare_rejects_flags(flags, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        compare_precision.parse_args(flags)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


# bench_train.py

def measurement(name, seconds, images=64, flops=100e9):
    result = bench_train.Measurement(name, None, images, flops)
    result.seconds_per_step = list(seconds)
    return result


def synthetic_measurements(precision):
    """Three rounds of made-up timings, with the naive version 2x and 3x slower."""
    return [
        measurement(bench_train.project_pipeline(precision), [0.52, 0.53, 0.51]),
        measurement(bench_train.project_fixed("float32"), [0.75, 0.8, 0.7]),
        measurement(bench_train.project_fixed("mixed_bfloat16"), [0.5, 0.5, 0.5]),
        measurement(bench_train.stand_in_name(precision), [0.45, 0.475, 0.48]),
        measurement(bench_train.NAIVE, [1.5, 1.5, 1.5]),
        measurement(bench_train.PIPELINE_ALONE, [0.001] * 3, flops=0),
        measurement(bench_train.MATMULS["float32"], [0.4] * 3, images=0, flops=200e9),
        measurement(bench_train.MATMULS["mixed_bfloat16"], [0.25] * 3, images=0, flops=200e9),
    ]


def test_bench_summary_ratios():
    summary = bench_train.summarise(synthetic_measurements("mixed_bfloat16"), "mixed_bfloat16")

    assert summary["precision"] == "mixed_bfloat16"
    # Medians of the per-round ratios naive / project.
    assert summary["speedup_over_naive"] == pytest.approx({"float32": 2.0,
                                                           "mixed_bfloat16": 3.0})
    # 1 - stubbed / project at mixed_bfloat16: 0.1, 0.05, 0.04.
    assert summary["transformer_share"] == pytest.approx(0.05)
    # pipeline / project - 1: 0.04, 0.06, 0.02.
    assert summary["pipeline_overhead"] == pytest.approx(0.04)
    assert summary["matmul_gflops"] == pytest.approx({"float32": 500.0,
                                                      "mixed_bfloat16": 800.0})


def test_bench_summary_rates_against_own_precision():
    summary = bench_train.summarise(synthetic_measurements("mixed_bfloat16"), "mixed_bfloat16")
    rates = summary["useful_gflops"]
    fractions = summary["fraction_of_matmul"]

    assert rates[bench_train.project_fixed("float32")] == pytest.approx(100 / 0.75)
    assert rates[bench_train.project_fixed("mixed_bfloat16")] == pytest.approx(200.0)
    assert rates[bench_train.project_pipeline("mixed_bfloat16")] == pytest.approx(100 / 0.52)
    assert rates[bench_train.NAIVE] == pytest.approx(100 / 1.5)
    # float32 configurations against the float32 product, bfloat16 ones against bfloat16.
    assert fractions[bench_train.project_fixed("float32")] == pytest.approx(100 / 0.75 / 500)
    assert fractions[bench_train.project_fixed("mixed_bfloat16")] == pytest.approx(200 / 800)
    assert fractions[bench_train.project_pipeline("mixed_bfloat16")] == pytest.approx(
        100 / 0.52 / 800)
    assert fractions[bench_train.NAIVE] == pytest.approx(100 / 1.5 / 500)


def test_bench_report_names_both_precisions():
    measurements = synthetic_measurements("float32")
    measurements[0] = measurement(bench_train.project_pipeline("float32"), [0.78, 0.84, 0.7])
    measurements[3] = measurement(bench_train.stand_in_name("float32"), [0.7, 0.76, 0.63])
    summary = bench_train.summarise(measurements, "float32")
    args = bench_train.parse_args(["--precision", "float32"])

    report = bench_train.format_table(measurements, summary, 52.8e9, args)

    assert "speed-up of the project in float32 over the naive version, d / b: 2.00x" in report
    assert "speed-up of the project in mixed_bfloat16 over the naive version, d / b: 3.00x" \
        in report
    assert "spatial transformers' share of an iteration in float32, (b - c) / b: 6.7%" in report
    assert "bfloat16 matmul 4096x4096: 800 GFLOP/s" in report


def test_bench_precision_default_is_training_default():
    assert bench_train.parse_args([]).precision == TrainConfig.precision


def test_bench_trainers_compute_dtypes():
    # build_trainers raises RuntimeError when a variant has other layers or dtypes.
    projects, stand_in, naive = bench_train.build_trainers(TrainConfig(batch_size=8),
                                                           "mixed_bfloat16")
    assert sorted(projects) == ["float32", "mixed_bfloat16"]
    assert bench_train.compute_dtypes(projects["mixed_bfloat16"]) == {"bfloat16", "float32"}
    assert bench_train.compute_dtypes(stand_in) == {"bfloat16", "float32"}
    assert bench_train.compute_dtypes(projects["float32"]) == {"float32"}
    assert bench_train.compute_dtypes(naive) == {"float32"}
    # The same initial weights in every variant with the same layers.
    for mine, reference in zip(projects["mixed_bfloat16"].generator.get_weights(),
                               projects["float32"].generator.get_weights()):
        np.testing.assert_array_equal(mine, reference)
