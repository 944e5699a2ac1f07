"""A dependency-free progress bar for long transforms (``verbose > 0``)."""

import sys
import threading
import time


class ProgressBar:
    """A thread-safe text progress bar on standard error, redrawn at most 10x/s.

    Parameters
    ----------
    total : int
        Number of items (samples) to process.
    label : str
        Shown before the bar.
    file : file-like, default=None
        Where to draw (``sys.stderr`` when None).
    """

    def __init__(self, total, label, file=None):
        self.total, self.label = max(int(total), 1), label
        self.file = file if file is not None else sys.stderr
        self.done, self.start, self.last, self.drawn = 0, time.perf_counter(), 0.0, -1
        self.lock = threading.Lock()

    def update(self, count):
        """Record ``count`` more items done; redraw if due."""
        with self.lock:
            self.done += count
            now = time.perf_counter()
            if now - self.last >= 0.1 or self.done >= self.total - 1e-9:
                self.last = now
                self._draw(now)

    def _draw(self, now):
        self.drawn = self.done
        fraction = min(self.done / self.total + 1e-12, 1.0)
        filled = int(30 * fraction)
        self.file.write(
            f"\r{self.label} [{'#' * filled}{' ' * (30 - filled)}] {100 * fraction:3.0f}% "
            f"{int(self.done + 1e-9)}/{self.total} samples {now - self.start:5.1f}s"
        )
        self.file.flush()

    def close(self):
        """Finish the line."""
        with self.lock:
            if self.drawn != self.done:
                self._draw(time.perf_counter())
            self.file.write("\n")
            self.file.flush()
