"""Progress lines with rate and estimated time left, for long loops."""

import logging
import time

logger = logging.getLogger(__name__)

LOG_INTERVAL_SECONDS = 5.0


class ProgressLog:
    """Log how many of `total` items are done, at most once per interval.

    Each line gives the count, the percentage, the mean rate since start and
    an ETA that assumes the rest runs at that mean rate.
    """

    def __init__(self, total, unit="images", interval=LOG_INTERVAL_SECONDS, clock=time.monotonic):
        self.total = total
        self.unit = unit
        self.interval = interval
        self.clock = clock
        self.start = clock()
        self.done = 0
        self._last_log = self.start

    def update(self, done):
        """Record that `done` items are finished, and log if an interval has passed."""
        self.done = done
        now = self.clock()
        if now - self._last_log >= self.interval:
            self._last_log = now
            logger.info("%s", self.format_line(now))

    def format_line(self, now):
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        percent = 100 * self.done / self.total
        return (f"{self.done:,} / {self.total:,} {self.unit} ({percent:.1f}%), "
                f"{rate:,.0f} {self.unit}/s, ETA {eta:.0f} s")

    def elapsed(self):
        """Return the seconds since the log was created."""
        return self.clock() - self.start
