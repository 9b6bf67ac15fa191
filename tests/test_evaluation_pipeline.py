"""The evaluation end to end on a tiny data set: judge cache, CLI, scores, training hook.

The data set has 300 train and 100 test images from real MNIST. Two judges
serve here. One, trained briefly by train_judge on the train split, reads
digits barely better than chance but gives features in which real and
unreal images differ. The other has memorised the first NUM_RECORDS test
images, so its accuracy on them checks that images, labels and predictions
stay aligned through the pipeline, not how well a judge reads unseen digits.
"""

import contextlib
import io
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import lwawtd_evaluate
import multi_mnist
from evaluation.conditions import SWEEP, TEST, split_records, sweep_conditions
from evaluation.evaluate import EvaluationConfig, generate_images, load_test_split, run_evaluation
from evaluation.hook import TAGS, TrainingEvaluator
from evaluation.judge import (FEATURES_LAYER, JudgeTrainingConfig, build_judge, load_judge,
                              save_judge, train_judge)
from evaluation.report import write_json
from evaluation.scoring import score_images
from grids import sweep_boxes
from positional_mnist.reader import list_record_files
from training.checkpoints import build_generator_from_config, load_generator, make_manager
from training.config import TrainConfig

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST_PATH = os.path.join(REPO_ROOT, "..", "shared", "data", "mnist.npz")
NUM_TEST_IMAGES = 100
NUM_RECORDS = 40
ITERATION = 7


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    if not os.path.isfile(MNIST_PATH):
        pytest.fail(f"MNIST not found at {os.path.abspath(MNIST_PATH)}: these tests need the "
                    f"real MNIST file ../shared/data/mnist.npz beside the repository")
    folder = str(tmp_path_factory.mktemp("evaluation") / "data")
    status = multi_mnist.main(["--mnist", MNIST_PATH, "--num_images", "300",
                               "--num_test_images", str(NUM_TEST_IMAGES), "--workers", "1",
                               "--out_dir", folder])
    assert status == 0
    return folder


@pytest.fixture(scope="module")
def trained_judge(dataset_dir, tmp_path_factory):
    """(judge folder, judge.json contents) of a judge trained by train_judge for 3 x 300 images."""
    folder = str(tmp_path_factory.mktemp("trained_judge"))
    info = train_judge(JudgeTrainingConfig(dataset=dataset_dir, judge_dir=folder, epochs=3,
                                           images_per_epoch=300, batch_size=50))
    return folder, info


@pytest.fixture(scope="module")
def judge_dir(dataset_dir, tmp_path_factory):
    """A judge that has memorised the first NUM_RECORDS test images."""
    records, _ = split_records(list_record_files(dataset_dir, "test"), NUM_RECORDS)
    keras.utils.set_random_seed(0)
    model = build_judge()
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    model.fit(records.images, np.eye(10)[records.digits], epochs=20, batch_size=NUM_RECORDS,
              verbose=0)
    folder = str(tmp_path_factory.mktemp("memorising_judge"))
    save_judge(model, {"test_accuracy": None, "num_test_records": NUM_RECORDS}, folder)
    return folder


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run folder with a checkpoint of an untrained generator at iteration ITERATION."""
    folder = str(tmp_path_factory.mktemp("run"))
    config = TrainConfig()
    config.to_json(os.path.join(folder, "config.json"))
    keras.utils.set_random_seed(0)
    generator = build_generator_from_config(config)
    make_manager(tf.train.Checkpoint(generator=generator), folder).save(checkpoint_number=ITERATION)
    return folder


@pytest.fixture(scope="module")
def cli_report(dataset_dir, judge_dir, run_dir):
    """The JSON report and printed text of the CLI on the run folder, default output path."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = lwawtd_evaluate.main(["--model", run_dir, "--dataset", dataset_dir,
                                       "--judge_dir", judge_dir,
                                       "--num_records", str(NUM_RECORDS)])
    assert status == 0
    with open(os.path.join(run_dir, f"evaluation_{ITERATION}.json"), encoding="utf-8") as file:
        return json.load(file), printed.getvalue()


class ConstantGenerator:
    """Stands in for a generator: returns uniform noise images, or blank ones."""

    def __init__(self, kind):
        self.kind = kind
        self.rng = np.random.default_rng(0)

    def __call__(self, inputs, training=False):
        shape = (len(inputs[0]), 64, 64, 1)
        if self.kind == "blank":
            return np.zeros(shape, np.float32)
        return self.rng.uniform(0.0, 1.0, shape).astype(np.float32)


def test_sweep_conditions_layout():
    conditions = sweep_conditions()
    assert len(conditions) == 1000
    np.testing.assert_array_equal(conditions.digits, np.repeat(np.arange(10), 100))
    np.testing.assert_array_equal(conditions.boxes[300:400], sweep_boxes())
    # Digit 4, tile (row 2, column 3): x = 4 * 4, y = 4 * 3, w = 11 + 3, h = 11 + 2.
    assert conditions.boxes[423].tolist() == [16, 12, 14, 13]


def test_condition_noise_fixed_by_seed():
    conditions = sweep_conditions()
    np.testing.assert_array_equal(conditions.noise(100, 0), conditions.noise(100, 0))
    assert not np.array_equal(conditions.noise(100, 0), conditions.noise(100, 1))
    noise = conditions.noise(100, 0)
    assert noise.shape == (1000, 100)
    assert noise.min() >= -1.0
    assert noise.max() <= 1.0


def test_split_records_keeps_file_order(dataset_dir):
    files = list_record_files(dataset_dir, "test")
    first, rest = split_records(files, NUM_RECORDS, batch_size=30)
    all_records, _ = split_records(files, NUM_TEST_IMAGES, batch_size=30)
    rest_digits = np.concatenate([digits for _, digits, _ in rest])
    assert len(first) == NUM_RECORDS
    np.testing.assert_array_equal(first.digits, all_records.digits[:NUM_RECORDS])
    np.testing.assert_array_equal(rest_digits, all_records.digits[NUM_RECORDS:])


def test_train_judge_writes_cache(trained_judge):
    folder, info = trained_judge
    assert 0.0 <= info["test_accuracy"] <= 1.0
    assert info["num_test_records"] == NUM_TEST_IMAGES
    assert info["settings"]["epochs"] == 3
    assert info["dataset_manifest"]["num_train_images"] == 300

    judge = load_judge(folder)
    assert judge.info == info
    assert judge.model.get_layer(FEATURES_LAYER).units == 128
    digits, features = judge.read(np.zeros((3, 64, 64, 1), np.float32))
    assert digits.shape == (3,)
    assert features.shape == (3, 128)


def test_real_images_score_ceiling(dataset_dir, judge_dir, tmp_path):
    output = str(tmp_path / "real.json")
    config = EvaluationConfig(dataset=dataset_dir, judge_dir=judge_dir, num_records=NUM_RECORDS,
                              output=output, real_only=True)
    report, path = run_evaluation(config)
    real = report["sets"]["real"]
    assert path == output
    assert real["num_images"] == NUM_RECORDS
    assert real["digit_accuracy"] >= 0.98
    assert real["box_iou"] >= 0.95
    assert real["ink_inside"] == 1.0
    assert real["images_without_ink"] == 0
    assert report["settings"]["fid_reference_images"] == NUM_TEST_IMAGES - NUM_RECORDS
    with open(output, encoding="utf-8") as file:
        assert json.load(file) == json.loads(json.dumps(report))


@pytest.mark.parametrize("kind", ["noise", "blank"])
def test_noise_and_blank_score_low(dataset_dir, trained_judge, kind):
    judge = load_judge(trained_judge[0])
    records, reference = load_test_split(judge, dataset_dir, NUM_RECORDS)
    real = score_images(judge, records.images, records.digits, records.boxes, reference)
    conditions = sweep_conditions()
    images = generate_images(ConstantGenerator(kind), conditions, noise_dim=100, seed=0)
    scores = score_images(judge, images, conditions.digits, conditions.boxes, reference)

    assert scores.num_images == 1000
    assert scores.digit_accuracy <= 0.2  # chance is 0.1 on the balanced sweep set
    assert scores.box_iou < 0.1
    assert scores.ink_inside < 0.1
    assert scores.fid > 5 * real.fid  # real against real test images: sampling noise only
    assert scores.images_without_ink == (1000 if kind == "blank" else 0)


def test_cli_report_has_every_set(cli_report):
    report, printed = cli_report
    sets = report["sets"]
    assert list(sets) == ["real", SWEEP, TEST]
    assert [sets[name]["num_images"] for name in sets] == [NUM_RECORDS, 1000, NUM_RECORDS]
    assert sorted(sets[SWEEP]["per_digit"]) == [str(digit) for digit in range(10)]
    assert all(entry["num_images"] == 100 for entry in sets[SWEEP]["per_digit"].values())
    assert report["model"]["iteration"] == ITERATION
    assert report["model"]["config"]["num_z"] == 100
    for name in ("real test images (ceiling)", "generated, sweep grid",
                 "generated, test conditions", "Per digit"):
        assert name in printed


def test_cli_test_set_uses_record_conditions(cli_report):
    report, _ = cli_report
    real_digits = report["sets"]["real"]["per_digit"]
    test_digits = report["sets"][TEST]["per_digit"]
    assert {digit: entry["num_images"] for digit, entry in real_digits.items()} == \
        {digit: entry["num_images"] for digit, entry in test_digits.items()}


def test_hook_matches_cli_sweep_row(cli_report, dataset_dir, judge_dir, run_dir, tmp_path):
    generator, config, _ = load_generator(run_dir)
    evaluator = TrainingEvaluator(dataset_dir, config.num_z, judge_dir=judge_dir,
                                  num_records=NUM_RECORDS)
    writer = tf.summary.create_file_writer(str(tmp_path))
    values = evaluator(generator, writer, step=5)
    writer.flush()

    sweep = cli_report[0]["sets"][SWEEP]
    for name, value in values.items():
        assert value == pytest.approx(sweep[name], rel=1e-6, abs=1e-9), name

    events = [path for path in os.listdir(tmp_path) if path.startswith("events")]
    tags = set()
    for event in tf.compat.v1.train.summary_iterator(os.path.join(tmp_path, events[0])):
        tags.update(value.tag for value in event.summary.value if event.step == 5)
    assert tags == set(TAGS.values())


@pytest.mark.parametrize("arguments, message", [
    (["--num_records", "0"], "--num_records must be at least 1"),
    (["--num_records", str(NUM_TEST_IMAGES - 1)], "Lower --num_records"),
    (["--ink_threshold", "1.5"], "--ink_threshold must be in [0, 1)"),
    (["--iteration", "99"], "saved iterations: [7]"),
    (["--model", "{tmp}/missing"], "not found"),
    (["--real_only"], "drop --model"),
    (["--output", "{tmp}"], "is a folder"),
    (["--output", "{tmp}/new_folder/"], "ends with /, so it names a folder"),
    (["--output", ""], "--output '' is empty"),
    (["--output", "/proc/report.json"], "folder /proc is not writable"),
    (["--judge_dir", "{tmp}/no_judge"], "--train_judge"),
    (["--dataset", "{tmp}/no_data"], "no_data"),
])
def test_cli_rejects_invalid_arguments(arguments, message, dataset_dir, judge_dir, run_dir,
                                       tmp_path, caplog):
    defaults = {"--model": run_dir, "--dataset": dataset_dir, "--judge_dir": judge_dir,
                "--num_records": str(NUM_RECORDS)}
    argv = [value.format(tmp=tmp_path) for value in arguments]
    for flag, value in defaults.items():
        if flag not in arguments:
            argv += [flag, value]

    assert lwawtd_evaluate.main(argv) == 2
    assert message in caplog.text
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".json")]


def test_cli_rejects_output_under_file(dataset_dir, judge_dir, run_dir, tmp_path, caplog):
    blocking_file = tmp_path / "notes.txt"
    blocking_file.write_text("not a folder\n")
    output = blocking_file / "sub" / "report.json"

    code = lwawtd_evaluate.main(["--model", run_dir, "--dataset", dataset_dir,
                                 "--judge_dir", judge_dir, "--num_records", str(NUM_RECORDS),
                                 "--output", str(output)])

    assert code == 2
    assert f"--output {output}: {blocking_file} is a file" in caplog.text
    assert blocking_file.read_text() == "not a folder\n"


def test_cli_output_through_missing_folder(dataset_dir, judge_dir, run_dir, tmp_path):
    # "missing/.." is resolved by its text, as the folder check resolves it,
    # although the folder "missing" does not exist.
    output = tmp_path / "missing" / ".." / "report.json"

    with contextlib.redirect_stdout(io.StringIO()):
        code = lwawtd_evaluate.main(["--model", run_dir, "--dataset", dataset_dir,
                                     "--judge_dir", judge_dir,
                                     "--num_records", str(NUM_RECORDS), "--output", str(output)])

    assert code == 0
    assert sorted(os.listdir(tmp_path)) == ["report.json"]
    with open(tmp_path / "report.json", encoding="utf-8") as file:
        assert json.load(file)["model"]["iteration"] == ITERATION


def test_write_json_failure_leaves_no_file(tmp_path):
    # A folder at the report's path makes the final rename fail.
    (tmp_path / "report.json").mkdir()

    with pytest.raises(ValueError, match="failed to write the report to "):
        write_json({"sets": {}}, str(tmp_path / "report.json"))

    assert sorted(os.listdir(tmp_path)) == ["report.json"]
    assert os.listdir(tmp_path / "report.json") == []


def test_threshold_sweep_rows(dataset_dir, run_dir):
    from evaluation.metrics import box_iou, ink_boxes, ink_inside
    from evaluation.threshold_sweep import format_table, sweep_thresholds

    result = sweep_thresholds(run_dir, dataset_dir, num_records=NUM_RECORDS,
                              thresholds=(0.05, 0.5))
    assert result["iteration"] == ITERATION
    assert [row["ink_threshold"] for row in result["rows"]] == [0.05, 0.5]

    # Real records: at the data set's own cut-off the ink box is the stored box.
    assert result["rows"][0]["real_box_iou"] == 1.0
    assert result["rows"][0]["real_ink_inside"] == 1.0

    # The generated rows equal the metrics applied to the evaluator's sweep images.
    generator, config, _ = load_generator(run_dir)
    conditions = sweep_conditions()
    images = generate_images(generator, conditions, config.num_z, seed=0)
    expected_iou = float(np.mean(box_iou(ink_boxes(images, 0.5), conditions.boxes)))
    expected_inside = float(np.mean(ink_inside(images, conditions.boxes, 0.5)))
    assert result["rows"][1]["sweep_box_iou"] == pytest.approx(expected_iou, abs=1e-9)
    assert result["rows"][1]["sweep_ink_inside"] == pytest.approx(expected_inside, abs=1e-9)
    assert format_table(result).count("\n") == 3
