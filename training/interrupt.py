"""Turn Ctrl-C and SIGTERM into a flag that the training loop checks between iterations."""

import logging
import signal


class InterruptFlag:
    """Context manager that records SIGINT and SIGTERM instead of dying mid-iteration.

    The first signal sets `signal_number`; the loop then saves a checkpoint
    and stops. A second Ctrl-C raises KeyboardInterrupt at once, for a user
    who does not want to wait for the save.
    """

    def __init__(self):
        self.signal_number = None
        self._previous = {}

    def __enter__(self):
        for number in (signal.SIGINT, signal.SIGTERM):
            self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc_info):
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        return False

    @property
    def requested(self):
        return self.signal_number is not None

    def _handle(self, number, frame):
        if self.requested and number == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal_number = number
        logging.warning("received %s: saving a checkpoint after this iteration "
                        "(Ctrl-C again to quit without saving)", signal.Signals(number).name)
