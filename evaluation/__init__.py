"""Measure what and where a generator draws: digit accuracy, box IoU, ink inside and FID."""
