"""Measure what and where a generator draws: digit accuracy, box IoU, ink inside and FID.

A judge CNN (judge.py) reads the digits and supplies the FID features;
metrics.py contains the per-image metrics, conditions.py the condition sets,
scoring.py turns a set of images into scores, evaluate.py runs a whole
evaluation, report.py prints and saves it, and hook.py scores a generator
during training.
"""

from evaluation.evaluate import EvaluationConfig, run_evaluation
from evaluation.hook import TrainingEvaluator
from evaluation.judge import JudgeError, JudgeTrainingConfig, load_judge, train_judge

__all__ = ["EvaluationConfig", "JudgeError", "JudgeTrainingConfig", "TrainingEvaluator",
           "load_judge", "run_evaluation", "train_judge"]
