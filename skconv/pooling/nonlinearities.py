"""Elementwise nonlinearities applied to maps before pooling, in place, by name."""

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=16)
def _zero_row(length, dtype):
    row = np.zeros(length, dtype=dtype)
    row.flags.writeable = False
    return row


def _as_rows(array):
    """A 2-D view with long rows, for binary ufuncs against a broadcast zero row.

    ``np.maximum(a, 0)`` with a scalar takes a slow path in numpy (about 4x
    slower than against an array); a zero row of the same dtype is fast.
    """
    if not array.flags.c_contiguous:
        return array  # broadcast against a row of the last axis
    width = 256 if array.size % 256 == 0 else array.shape[-1]
    return array.reshape(-1, width)


def _relu(maps):
    rows = _as_rows(maps)
    np.maximum(rows, _zero_row(rows.shape[-1], maps.dtype), out=rows)
    return maps


def _abs(maps):
    return np.abs(maps, out=maps)


def _square(maps):
    return np.square(maps, out=maps)


def _tanh(maps):
    return np.tanh(maps, out=maps)


def _sigmoid(maps):
    # 1 / (1 + exp(-x)), computed as 0.5 * (1 + tanh(x / 2)) to avoid overflow.
    np.multiply(maps, 0.5, out=maps)
    np.tanh(maps, out=maps)
    np.add(maps, 1.0, out=maps)
    return np.multiply(maps, 0.5, out=maps)


NONLINEARITIES = {
    "relu": _relu,
    "abs": _abs,
    "square": _square,
    "tanh": _tanh,
    "sigmoid": _sigmoid,
}
"""In-place elementwise nonlinearities, by name."""

NONDECREASING = frozenset({None, "relu", "tanh", "sigmoid"})
"""Nonlinearities that commute with max: ``max(f(x)) == f(max(x))``."""

SIGN_PRESERVING = frozenset({None, "relu", "tanh"})
"""Nonlinearities with ``f(x) > 0`` exactly when ``x > 0``: statistics of signs are unchanged."""


def apply_nonlinearity(maps, nonlinearity):
    """Apply ``nonlinearity`` (a key of :data:`NONLINEARITIES`, or None) to ``maps`` in place."""
    if nonlinearity is not None:
        NONLINEARITIES[nonlinearity](maps)
    return maps
