"""Nonlinearities and pooling of channels-last feature maps, looked up by name.

All functions take maps of shape ``(m, h, w, K)`` (the engine's layout) and
work in place where they can, so a batch's maps are read back while still in
cache. Reductions run over the axis whose inner block is the longest
contiguous run (first the rows of a region, then its columns), which is several
times faster than a multi-axis numpy reduction on this layout.
"""

import numpy as np


def _relu(maps):
    return np.maximum(maps, 0, out=maps)


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

# Nondecreasing functions commute with max: max(f(x)) == f(max(x)).
_NONDECREASING = {None, "relu", "tanh", "sigmoid"}
# Functions with f(x) > 0 exactly when x > 0: they leave the PPV unchanged.
_SIGN_PRESERVING = {None, "relu", "tanh"}

POOLINGS = ("max", "mean", "sum", "ppv")
"""Pooling statistics: maximum, mean, sum, proportion of positive values."""


def region_bounds(length, n_regions):
    """Boundaries of ``n_regions`` contiguous, non-overlapping, near-equal regions.

    Parameters
    ----------
    length : int
        Length of the axis.
    n_regions : int
        Number of regions, ``1 <= n_regions <= length``.

    Returns
    -------
    bounds : ndarray of shape (n_regions + 1,)
        Region ``i`` covers ``bounds[i]:bounds[i + 1]``.
    """
    return (np.arange(n_regions + 1) * length) // n_regions


def _reduce_axis(ufunc, array, bounds, axis):
    """Reduce ``array`` over the regions ``bounds`` of ``axis`` (kept, resized)."""
    n_regions = len(bounds) - 1
    length = array.shape[axis]
    if n_regions == length:
        return array
    if length % n_regions == 0:
        shape = array.shape[:axis] + (n_regions, length // n_regions) + array.shape[axis + 1 :]
        return ufunc.reduce(array.reshape(shape), axis=axis + 1)
    parts = [
        ufunc.reduce(np.take(array, np.arange(a, b), axis=axis), axis=axis, keepdims=True)
        if b - a > 1
        else np.take(array, [a], axis=axis)
        for a, b in zip(bounds[:-1], bounds[1:])
    ]
    return np.concatenate(parts, axis=axis)


def grid_reduce(ufunc, maps, grid):
    """Reduce ``(m, h, w, K)`` maps over a ``(gh, gw)`` grid of regions.

    Parameters
    ----------
    ufunc : numpy.ufunc
        ``np.maximum`` or ``np.add``.
    maps : ndarray of shape (m, h, w, K)
    grid : tuple of int
        ``(gh, gw)`` regions along rows and columns.

    Returns
    -------
    pooled : ndarray of shape (m, gh, gw, K)
    """
    m, h, w, k = maps.shape
    if tuple(grid) == (h, w):
        return maps.copy()
    rows = _reduce_axis(ufunc, maps.reshape(m, h, w * k), region_bounds(h, grid[0]), 1)
    rows = rows.reshape(m, grid[0], w, k)
    return _reduce_axis(ufunc, rows, region_bounds(w, grid[1]), 2)


def region_sizes(out_shape, grid):
    """Number of positions in each region, shape ``(gh, gw, 1)`` for broadcasting."""
    heights = np.diff(region_bounds(out_shape[0], grid[0]))
    widths = np.diff(region_bounds(out_shape[1], grid[1]))
    return np.outer(heights, widths)[:, :, None]


def _pool_max(maps, grid):
    return grid_reduce(np.maximum, maps, grid)


def _pool_sum(maps, grid):
    return grid_reduce(np.add, maps, grid)


def _pool_mean(maps, grid):
    return _pool_sum(maps, grid) / region_sizes(maps.shape[1:3], grid)


def _pool_ppv(maps, grid):
    return _pool_mean(np.greater(maps, 0).astype(maps.dtype), grid)


_POOL_FUNCTIONS = {"max": _pool_max, "mean": _pool_mean, "sum": _pool_sum, "ppv": _pool_ppv}


def pool_maps(maps, nonlinearity, poolings, grid):
    """Apply a nonlinearity then pool maps, fusing what commutes.

    ``max`` after a nondecreasing nonlinearity is taken on the raw maps and the
    nonlinearity applied to the (much smaller) pooled values; ``ppv`` after a
    sign-preserving one is taken on the raw maps. The full-size nonlinearity runs
    only when another statistic needs it.

    Parameters
    ----------
    maps : ndarray of shape (m, h, w, K)
        Raw convolution maps; may be overwritten.
    nonlinearity : str or None
        A key of :data:`NONLINEARITIES`, or None for the identity.
    poolings : tuple of str
        Statistics from :data:`POOLINGS`.
    grid : tuple of int
        ``(gh, gw)`` pooling regions.

    Returns
    -------
    features : ndarray of shape (m, K * len(poolings) * gh * gw)
        In (kernel, statistic, region row, region column) order.
    """
    apply = NONLINEARITIES[nonlinearity] if nonlinearity is not None else None
    early = {
        p
        for p in poolings
        if (p == "max" and nonlinearity in _NONDECREASING)
        or (p == "ppv" and nonlinearity in _SIGN_PRESERVING)
    }
    pooled = {p: _POOL_FUNCTIONS[p](maps, grid) for p in early}
    if apply is not None and "max" in early:
        apply(pooled["max"])
    late = [p for p in poolings if p not in early]
    if apply is not None and late:
        apply(maps)
    pooled.update((p, _POOL_FUNCTIONS[p](maps, grid)) for p in late)
    stacked = np.stack([pooled[p] for p in poolings], axis=1)  # (m, S, gh, gw, K)
    features = np.moveaxis(stacked, -1, 1).reshape(maps.shape[0], -1)
    return features.astype(maps.dtype, copy=False)
