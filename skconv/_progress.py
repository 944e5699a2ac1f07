"""Progress bars for long transforms (``verbose > 0``), drawn by tqdm.

``tqdm.auto`` draws a widget in notebooks and a text bar on terminals; it is
imported only when a bar is asked for, so ``import skconv`` stays light.
"""

import threading


class ProgressBar:
    """A thread-safe progress bar over ``total`` samples.

    The engine reports finished batches from several threads, and fractions
    of a batch when a transform makes several passes (one per dilation
    group); tqdm is updated with whole samples under a lock.

    Parameters
    ----------
    total : int
        Number of samples to process.
    label : str
        Shown before the bar.
    file : file-like, default=None
        Where to draw (standard error when None).
    """

    def __init__(self, total, label, file=None):
        from tqdm.auto import tqdm

        self.total = max(int(total), 1)
        self.bar = tqdm(total=self.total, desc=label, unit="samples", file=file, leave=True)
        self.done, self.shown = 0.0, 0
        self.lock = threading.Lock()

    def update(self, count):
        """Record ``count`` more samples done (may be a fraction)."""
        with self.lock:
            self.done += count
            whole = min(int(self.done + 1e-9), self.total)
            if whole > self.shown:
                self.bar.update(whole - self.shown)
                self.shown = whole

    def close(self):
        """Finish the bar."""
        with self.lock:
            self.bar.close()
