"""Settings of lwawtd_generate.py, and the checks made on them before any work."""

import dataclasses
from typing import Optional

from positional_mnist.reader import validate_boxes

NUM_DIGITS = 10
DEFAULT_COUNT = 10


@dataclasses.dataclass
class GenerateConfig:
    """Settings of one generate call.

    Attributes:
      model: run folder or checkpoint prefix, or None for the bundled
        pretrained generator.
      iteration: saved iteration to load, or None for the latest.
      digit: the only digit to render (0-9), or None for all ten.
      draw_box: also write copies with the requested box outlined.
      out_dir: output folder, or None for generated_images/<timestamp>.
      seed: seed of the noise, or None for a fresh seed, which is logged.
      boxes: custom boxes, each (x, y, w, h) in pixels of the 64x64 canvas.
      count: samples per custom box, or None for DEFAULT_COUNT.
      animate: write one animated GIF per digit.
    """

    model: Optional[str] = None
    iteration: Optional[int] = None
    digit: Optional[int] = None
    draw_box: bool = False
    out_dir: Optional[str] = None
    seed: Optional[int] = None
    boxes: tuple = ()
    count: Optional[int] = None
    animate: bool = False

    def __post_init__(self):
        self.boxes = tuple(tuple(box) for box in self.boxes)

    def validate(self):
        """Raise ValueError naming the first invalid setting and what to do instead."""
        if self.digit is not None and self.digit not in range(NUM_DIGITS):
            raise ValueError(f"--digit {self.digit} is invalid: give a digit from 0 to 9, "
                             f"or leave --digit out to render all ten")
        if self.iteration is not None and self.iteration < 0:
            raise ValueError(f"--iteration {self.iteration} is invalid: give a saved iteration "
                             f"(>= 0), or leave it out to load the latest checkpoint")
        if self.seed is not None and self.seed < 0:
            raise ValueError(f"--seed {self.seed} is invalid: give an integer >= 0")
        if self.count is not None and not self.boxes:
            raise ValueError("--count sets the samples per --box, but no --box was given; "
                             "add --box X,Y,W,H or leave --count out")
        if self.count is not None and self.count < 1:
            raise ValueError(f"--count {self.count} is invalid: give at least 1 sample per box")
        if len(set(self.boxes)) != len(self.boxes):
            repeated = next(box for box in self.boxes if self.boxes.count(box) > 1)
            raise ValueError(f"--box {','.join(map(str, repeated))} is given more than once; "
                             f"give each box once")
        for box in self.boxes:
            try:
                validate_boxes(box)
            except ValueError as error:
                flag = ",".join(str(value) for value in box)
                raise ValueError(f"--box {flag}: {error}") from error

    @property
    def digits(self):
        """The digits to render, as a list."""
        return list(range(NUM_DIGITS)) if self.digit is None else [self.digit]

    @property
    def samples_per_box(self):
        """The number of samples for each custom box."""
        return DEFAULT_COUNT if self.count is None else self.count

    @property
    def renders_sweep(self):
        """True unless --box or --animate selects other outputs."""
        return not self.boxes and not self.animate


def parse_box(text):
    """Parse "X,Y,W,H" into a tuple of four ints (pixels), or raise ValueError."""
    parts = [part.strip() for part in text.split(",")]
    try:
        box = tuple(int(part) for part in parts)
    except ValueError:
        box = ()
    if len(box) != 4:
        raise ValueError(f"invalid box {text!r}: give four whole numbers of pixels X,Y,W,H "
                         f"(left, top, width, height on the 64x64 canvas), e.g. 20,20,20,20")
    return box
