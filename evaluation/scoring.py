"""Score a set of images against the digits and boxes they were meant to show."""

import dataclasses

import numpy as np

from evaluation import metrics


@dataclasses.dataclass
class FeatureReference:
    """The judge's feature statistics of the real images every FID compares with.

    Attributes:
      mean: float64 (d,).
      covariance: float64 (d, d).
      num_images: how many images the statistics come from.
    """

    mean: np.ndarray
    covariance: np.ndarray
    num_images: int


@dataclasses.dataclass
class SetScores:
    """The metrics of one set of images.

    Attributes:
      num_images: images in the set.
      digit_accuracy: share of images whose digit the judge reads as requested.
      box_iou: mean IoU of each image's ink box with its requested box.
      ink_inside: mean share of each image's ink mass inside its requested box.
      fid: Frechet distance of the set's judge features to the reference's.
      images_without_ink: images with no pixel above the ink threshold
        (their IoU and ink inside are 0).
      per_digit: {digit: {"num_images", "digit_accuracy", "box_iou", "ink_inside"}}.
    """

    num_images: int
    digit_accuracy: float
    box_iou: float
    ink_inside: float
    fid: float
    images_without_ink: int
    per_digit: dict

    def as_dict(self):
        """Return the scores as a JSON-ready dict; per-digit keys become strings."""
        values = dataclasses.asdict(self)
        values["per_digit"] = {str(digit): scores for digit, scores in self.per_digit.items()}
        return values


def reference_statistics(judge, batches):
    """Return the FeatureReference of the images in `batches`.

    Args:
      judge: evaluation.judge.Judge.
      batches: iterable of (images, digits, boxes) numpy batches; only the
        images are used.
    """
    features = [judge.read(images)[1] for images, _, _ in batches]
    features = np.concatenate(features) if features else np.zeros((0, 0))
    mean, covariance = metrics.feature_statistics(features)
    return FeatureReference(mean, covariance, len(features))


def score_images(judge, images, digits, boxes, reference, ink_threshold=metrics.INK_THRESHOLD,
                 batch_size=500):
    """Score images against the digits and boxes requested for them.

    Args:
      judge: evaluation.judge.Judge.
      images: float32 (n, 64, 64, 1) in [0, 1].
      digits: int (n,), the requested digits 0-9.
      boxes: (n, 4), the requested boxes x, y, w, h in pixels.
      reference: FeatureReference for the FID.
      ink_threshold: pixels above it are ink.
      batch_size: images per judge call.

    Returns:
      SetScores.
    """
    digits = np.asarray(digits)
    predicted, features = judge.read_all(images, batch_size)
    correct = (predicted == digits).astype(np.float64)
    drawn_boxes = metrics.ink_boxes(images, ink_threshold)
    iou = metrics.box_iou(drawn_boxes, boxes)
    inside = metrics.ink_inside(images, boxes, ink_threshold)

    mean, covariance = metrics.feature_statistics(features)
    fid = metrics.frechet_distance(mean, covariance, reference.mean, reference.covariance)

    per_digit = {}
    for digit in np.unique(digits).tolist():
        chosen = digits == digit
        per_digit[digit] = {
            "num_images": int(chosen.sum()),
            "digit_accuracy": float(correct[chosen].mean()),
            "box_iou": float(iou[chosen].mean()),
            "ink_inside": float(inside[chosen].mean()),
        }
    return SetScores(
        num_images=len(digits),
        digit_accuracy=float(correct.mean()),
        box_iou=float(iou.mean()),
        ink_inside=float(inside.mean()),
        fid=fid,
        images_without_ink=int(np.sum(drawn_boxes[:, 2] == 0)),
        per_digit=per_digit,
    )
