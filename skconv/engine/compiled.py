"""The optional compiled loops: which are built, and one warning when one is missing.

``setup.py`` builds them when a C compiler is present; without one the install
still succeeds and numpy / BLAS compute the same numbers more slowly. The first
time a computation that would use a missing loop runs, a
:class:`SlowPathWarning` says so (once per loop and process), and
:func:`skconv.show_versions` lists what is built.
"""

import importlib

from .._warnings import warn

LOOPS = {
    "_direct": "direct correlation of few-channel float32 images (GEMM tiles, small-image "
    "batches, fused max pooling)",
    "_encoders": "the planes loop (convolution without a patch matrix), responses and "
    "encoders of learned banks (PatchBank, the triangle and soft-threshold encoders), and "
    "convolve's check for NaN and infinity",
    "_stat_loops": "statistics of map values above biases (the proportion of positive "
    "values of signals, MiniRocket's features, and MultiRocket's mean, mean index and "
    "longest run of them)",
}
"""The compiled extension modules of skconv and what each computes."""


class SlowPathWarning(UserWarning):
    """A computation runs without the compiled loop it would use (skconv built without C)."""


def load(name):
    """The compiled module ``skconv.engine.<name>``, or None when it is not built.

    Parameters
    ----------
    name : str
        A key of :data:`LOOPS`.

    Returns
    -------
    module : module or None
    """
    try:
        return importlib.import_module(f"{__package__}.{name}")
    except ImportError:
        return None


_warned = set()


def warn_missing(name):
    """Warn once per process that the compiled loop ``name`` would run here but is not built.

    Parameters
    ----------
    name : str
        A key of :data:`LOOPS`.
    """
    if name in _warned:
        return
    _warned.add(name)
    warn(
        f"skconv's compiled loop {__package__}.{name} ({LOOPS[name]}) is not built, so this "
        "computation takes numpy's slower path (same numbers, 1.2-5x the time). Reinstall "
        "skconv where a C compiler is available (pip install --force-reinstall --no-binary "
        "skconv skconv); skconv.show_versions() lists the compiled loops.",
        SlowPathWarning,
    )


def status():
    """Whether each compiled loop is built: ``{name: bool}``."""
    return {name: load(name) is not None for name in LOOPS}
