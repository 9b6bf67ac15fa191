"""Pictures from a trained generator: box-sweep grids, samples in custom boxes, animations.

`generate(GenerateConfig(...))` is what lwawtd_generate.py calls.
"""

from generation.config import GenerateConfig, parse_box
from generation.run import generate

__all__ = ["GenerateConfig", "generate", "parse_box"]
