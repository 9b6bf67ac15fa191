"""Per-image metrics of what and where an image shows, and the Frechet distance.

Ink: a pixel is ink when its value (images in [0, 1]) is above INK_THRESHOLD.
The data set sets every pixel below 5% of full intensity to 0, so its faintest
ink is 13/255 = 0.051 and the ink box of a real image is exactly its stored box.

Boxes are x, y, w, h in pixels of the 64x64 canvas, origin top-left, covering
columns x..x+w-1 and rows y..y+h-1. An image without ink has the empty box
(0, 0, 0, 0).
"""

import numpy as np

INK_THRESHOLD = 0.05
EMPTY_BOX = (0, 0, 0, 0)


def _to_pixels(images):
    """Return float images as (n, H, W), dropping a trailing channel axis of 1."""
    images = np.asarray(images)
    if not np.issubdtype(images.dtype, np.floating):
        raise TypeError(f"images must be float in [0, 1], got dtype {images.dtype}")
    if images.ndim == 4:
        if images.shape[-1] != 1:
            raise ValueError(f"images must have one channel, got shape {images.shape}")
        images = images[..., 0]
    if images.ndim != 3:
        raise ValueError(f"images must have shape (n, H, W) or (n, H, W, 1), got {images.shape}")
    return images


def _ink_mask(pixels, threshold):
    # Compare in the images' dtype, so a float32 pixel of 0.05 is not above 0.05.
    return pixels > pixels.dtype.type(threshold)


def ink_boxes(images, threshold=INK_THRESHOLD):
    """Return the bounding box of each image's ink.

    Args:
      images: float (n, H, W) or (n, H, W, 1) in [0, 1].
      threshold: pixels with a value above it are ink.

    Returns:
      int64 (n, 4) of x, y, w, h; (0, 0, 0, 0) for an image without ink.
    """
    ink = _ink_mask(_to_pixels(images), threshold)
    columns_with_ink = ink.any(axis=1)  # (n, W)
    rows_with_ink = ink.any(axis=2)  # (n, H)
    has_ink = rows_with_ink.any(axis=1)

    width, height = columns_with_ink.shape[1], rows_with_ink.shape[1]
    left = columns_with_ink.argmax(axis=1)
    right = width - columns_with_ink[:, ::-1].argmax(axis=1)
    top = rows_with_ink.argmax(axis=1)
    bottom = height - rows_with_ink[:, ::-1].argmax(axis=1)
    boxes = np.stack([left, top, right - left, bottom - top], axis=1).astype(np.int64)
    boxes[~has_ink] = EMPTY_BOX
    return boxes


def box_iou(boxes, other_boxes):
    """Return the intersection over union of the areas of paired boxes.

    Args:
      boxes, other_boxes: (n, 4) of x, y, w, h in pixels. A box with w or h
        of 0 is empty.

    Returns:
      float64 (n,) in [0, 1]; 0 where the union is empty.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    other_boxes = np.asarray(other_boxes, dtype=np.float64).reshape(-1, 4)
    if boxes.shape != other_boxes.shape:
        raise ValueError(f"box arrays must have the same shape, got {boxes.shape} and "
                         f"{other_boxes.shape}")

    left = np.maximum(boxes[:, 0], other_boxes[:, 0])
    top = np.maximum(boxes[:, 1], other_boxes[:, 1])
    right = np.minimum(boxes[:, 0] + boxes[:, 2], other_boxes[:, 0] + other_boxes[:, 2])
    bottom = np.minimum(boxes[:, 1] + boxes[:, 3], other_boxes[:, 1] + other_boxes[:, 3])
    intersection = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)

    union = boxes[:, 2] * boxes[:, 3] + other_boxes[:, 2] * other_boxes[:, 3] - intersection
    return np.divide(intersection, union, out=np.zeros_like(union), where=union > 0)


def ink_inside(images, boxes, threshold=INK_THRESHOLD):
    """Return the share of each image's ink mass that lies inside its box.

    The ink mass is the sum of the values of the ink pixels (above
    `threshold`), so faint background values below it count nowhere.

    Args:
      images: float (n, H, W) or (n, H, W, 1) in [0, 1].
      boxes: (n, 4) of x, y, w, h in whole pixels, the requested boxes.
      threshold: pixels with a value above it are ink.

    Returns:
      float64 (n,) in [0, 1]; 0 for an image without ink, which drew nothing
      inside its box.
    """
    pixels = _to_pixels(images)
    boxes = np.asarray(boxes).reshape(-1, 4).astype(np.int64)
    if len(boxes) != len(pixels):
        raise ValueError(f"need one box per image, got {len(boxes)} boxes for {len(pixels)} images")
    ink = np.where(_ink_mask(pixels, threshold), pixels.astype(np.float64), 0.0)

    height, width = pixels.shape[1:]
    rows = np.arange(height)[None, :, None]
    columns = np.arange(width)[None, None, :]
    x, y, w, h = (boxes[:, i, None, None] for i in range(4))
    inside = (columns >= x) & (columns < x + w) & (rows >= y) & (rows < y + h)

    total = ink.sum(axis=(1, 2))
    inside_mass = (ink * inside).sum(axis=(1, 2))
    return np.divide(inside_mass, total, out=np.zeros_like(total), where=total > 0)


def feature_statistics(features):
    """Return the mean (d,) and covariance (d, d) of features (n, d), in float64.

    The covariance is the unbiased sample covariance (divides by n - 1), so n
    must be at least 2.
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"features must have shape (n, d) with n >= 2, got {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mean_a, covariance_a, mean_b, covariance_b):
    """Return the Frechet distance between two Gaussians.

        d^2 = |mean_a - mean_b|^2 + tr(A) + tr(B) - 2 tr((A B)^(1/2))

    Numerical method: A B is not symmetric, so instead of a general matrix
    square root this uses tr((A B)^(1/2)) = sum of sqrt(eigenvalues of
    A^(1/2) B A^(1/2)), a symmetric positive semi-definite matrix similar to
    A B. A^(1/2) comes from the symmetric eigendecomposition (numpy eigh).
    Eigenvalues that rounding makes slightly negative are set to 0, and so is
    a slightly negative total. Everything runs in float64, and no complex
    values arise.
    """
    mean_a, mean_b = np.asarray(mean_a, np.float64), np.asarray(mean_b, np.float64)
    covariance_a = np.asarray(covariance_a, np.float64)
    covariance_b = np.asarray(covariance_b, np.float64)

    root_a = _symmetric_sqrt(covariance_a)
    product = root_a @ covariance_b @ root_a
    eigenvalues = np.linalg.eigvalsh((product + product.T) / 2)
    trace_root = np.sqrt(np.clip(eigenvalues, 0, None)).sum()

    distance = (np.sum((mean_a - mean_b) ** 2) + np.trace(covariance_a) + np.trace(covariance_b)
                - 2 * trace_root)
    return float(max(distance, 0.0))


def _symmetric_sqrt(matrix):
    """Return the square root of a symmetric positive semi-definite matrix."""
    eigenvalues, eigenvectors = np.linalg.eigh((matrix + matrix.T) / 2)
    roots = np.sqrt(np.clip(eigenvalues, 0, None))
    return (eigenvectors * roots) @ eigenvectors.T

