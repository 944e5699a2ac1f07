"""Nonlinearities and pooling of channels-last feature maps, looked up by name.

All functions take maps of shape ``(m, h, w, K)`` (the engine's layout) and
work in place where they can, so a batch's maps are read back while still in
cache. Reductions run over the axis whose inner block is the longest
contiguous run (first the rows of a region, then its columns), which is several
times faster than a multi-axis numpy reduction on this layout.
"""

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

# Nondecreasing functions commute with max: max(f(x)) == f(max(x)).
_NONDECREASING = {None, "relu", "tanh", "sigmoid"}
# Functions with f(x) > 0 exactly when x > 0: they leave the PPV unchanged.
_SIGN_PRESERVING = {None, "relu", "tanh"}

POOLINGS = ("max", "mean", "sum", "ppv", "l2")
"""Pooling statistics: maximum, mean, sum, proportion of positive values, root mean square."""

WINDOWED_POOLINGS = ("mean", "sum", "l2")
"""The statistics that also have a Gaussian-window form (``sigma`` not None)."""


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


@lru_cache(maxsize=64)
def gaussian_windows(length, n_regions, sigma):
    """Gaussian weights of ``n_regions`` overlapping windows along an axis.

    Window ``i`` is centred on region ``i`` of :func:`region_bounds` and has a
    standard deviation of ``sigma`` times the mean region length; its weights
    over the axis's ``length`` positions sum to one.

    Parameters
    ----------
    length : int
        Length of the axis.
    n_regions : int
        Number of windows.
    sigma : float
        Standard deviation, in units of the region length ``length / n_regions``.

    Returns
    -------
    weights : ndarray of shape (n_regions, length)
        Read-only, float64.
    """
    bounds = region_bounds(length, n_regions)
    centres = (bounds[:-1] + bounds[1:] - 1) / 2
    scale = sigma * length / n_regions
    exponents = -0.5 * ((np.arange(length) - centres[:, None]) / scale) ** 2
    # Shifted so that each window's largest weight is exactly 1: a window much
    # narrower than a pixel then weighs its nearest position(s), never 0 / 0.
    weights = np.exp(exponents - exponents.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    weights.flags.writeable = False
    return weights


def window_reduce(maps, grid, sigma):
    """Gaussian-weighted means of ``(m, h, w, K)`` maps over a ``(gh, gw)`` grid of windows.

    The 2-D windows are separable, so this is one small matrix product along the
    rows and one along the columns (see :func:`gaussian_windows`).

    Parameters
    ----------
    maps : ndarray of shape (m, h, w, K)
    grid : tuple of int
        ``(gh, gw)`` windows along rows and columns.
    sigma : float
        Window standard deviation, in units of the region length.

    Returns
    -------
    pooled : ndarray of shape (m, gh, gw, K)
    """
    m, h, w, k = maps.shape
    rows = gaussian_windows(h, grid[0], sigma).astype(maps.dtype, copy=False)
    cols = gaussian_windows(w, grid[1], sigma).astype(maps.dtype, copy=False)
    pooled = np.matmul(rows, maps.reshape(m, h, w * k))  # (m, gh, w * K)
    pooled = np.matmul(cols, pooled.reshape(m * grid[0], w, k))  # (m * gh, gw, K)
    return pooled.reshape(m, grid[0], grid[1], k)


def _slice(array, axis, start, stop):
    return array[(slice(None),) * axis + (slice(start, stop),)]


def tree_reduce(ufunc, array, axis, dtype=None):
    """Reduce ``axis`` to length 1 by pairwise halving with a binary ufunc.

    Each step combines two contiguous halves with one ufunc call, so the inner
    loops run over whole trailing blocks; numpy's own ``ufunc.reduce`` over a
    non-final axis loops over short rows and is 2-3x slower on this layout.
    Sums come out pairwise, which is also more accurate.

    Parameters
    ----------
    ufunc : numpy.ufunc
        ``np.maximum`` or ``np.add``.
    array : ndarray
    axis : int
    dtype : dtype, default=None
        Result dtype (e.g. to sum a boolean array as floats).

    Returns
    -------
    reduced : ndarray
        ``array`` reduced along ``axis``, kept with length 1. Never a view of
        ``array``.
    """
    if array.dtype == np.uint8 and ufunc is np.add and dtype is not None:
        return _count_tree(array, axis, dtype)
    length = array.shape[axis]
    if length == 1:
        return array.astype(dtype or array.dtype, copy=True)
    half = length // 2
    out = ufunc(_slice(array, axis, 0, half), _slice(array, axis, half, 2 * half), dtype=dtype)
    if length % 2:
        first = _slice(out, axis, 0, 1)
        ufunc(first, _slice(array, axis, length - 1, length), out=first, dtype=out.dtype)
    length = half
    while length > 1:
        half = length // 2
        if length % 2:
            first = _slice(out, axis, 0, 1)
            ufunc(first, _slice(out, axis, length - 1, length), out=first)
        lower = _slice(out, axis, 0, half)
        ufunc(lower, _slice(out, axis, half, 2 * half), out=lower)
        length = half
    return _slice(out, axis, 0, 1)


def _count_tree(array, axis, dtype):
    """Sum 0/1 ``uint8`` values along ``axis``: in ``uint8`` while partial sums fit.

    The same pairwise tree as :func:`tree_reduce`, but the first levels (those
    whose partial sums cannot exceed 255, tracked exactly) move a quarter of the
    bytes of a float32 tree; the rest runs in ``dtype``.
    """
    length = array.shape[axis]
    sizes = np.ones(length, dtype=np.int64)  # how many inputs each slot sums
    out, owned = array, False
    while length > 1:
        half = length // 2
        new_sizes = sizes[:half] + sizes[half : 2 * half]
        if length % 2:
            new_sizes[0] += sizes[length - 1]
        if out.dtype == np.uint8 and new_sizes.max() > 255:
            out, owned = _slice(out, axis, 0, length).astype(dtype), True
        lower, upper = _slice(out, axis, 0, half), _slice(out, axis, half, 2 * half)
        if owned:
            if length % 2:
                first = _slice(out, axis, 0, 1)
                np.add(first, _slice(out, axis, length - 1, length), out=first)
            np.add(lower, upper, out=lower)
        else:
            summed = np.add(lower, upper)
            if length % 2:
                first = _slice(summed, axis, 0, 1)
                np.add(first, _slice(out, axis, length - 1, length), out=first)
            out, owned = summed, True
        sizes, length = new_sizes, half
    return _slice(out, axis, 0, 1).astype(dtype)


def _reduce_regions(ufunc, array, bounds, axis, dtype=None):
    """Reduce ``array`` over the regions ``bounds`` of ``axis`` (kept, resized)."""
    n_regions = len(bounds) - 1
    length = array.shape[axis]
    if length % n_regions == 0:
        size = length // n_regions
        shape = array.shape[:axis] + (n_regions, size) + array.shape[axis + 1 :]
        reduced = tree_reduce(ufunc, array.reshape(shape), axis + 1, dtype)
        return reduced.reshape(array.shape[:axis] + (n_regions,) + array.shape[axis + 1 :])
    parts = [
        tree_reduce(ufunc, _slice(array, axis, a, b), axis, dtype)
        for a, b in zip(bounds[:-1], bounds[1:])
    ]
    return np.concatenate(parts, axis=axis)


def grid_reduce(ufunc, maps, grid, dtype=None):
    """Reduce ``(m, h, w, K)`` maps over a ``(gh, gw)`` grid of regions.

    Parameters
    ----------
    ufunc : numpy.ufunc
        ``np.maximum`` or ``np.add``.
    maps : ndarray of shape (m, h, w, K)
    grid : tuple of int
        ``(gh, gw)`` regions along rows and columns.
    dtype : dtype, default=None
        Result dtype.

    Returns
    -------
    pooled : ndarray of shape (m, gh, gw, K)
        A new array (never a view of ``maps``).
    """
    m, h, w, k = maps.shape
    if grid[1] == 1 and h % grid[0] == 0 and grid[0] < h:
        # Regions of whole rows are contiguous blocks: one tree over each.
        blocks = maps.reshape(m, grid[0], (h // grid[0]) * w, k)
        return tree_reduce(ufunc, blocks, 2, dtype)
    if grid[0] == h:
        rows = maps.reshape(m, h, w * k)
    else:
        rows = _reduce_regions(
            ufunc, maps.reshape(m, h, w * k), region_bounds(h, grid[0]), 1, dtype
        )
    rows = rows.reshape(m, grid[0], w, k)
    if grid[1] == w:  # rows is still a view of maps if no row was reduced
        return rows.astype(dtype or rows.dtype, copy=grid[0] == h)
    return _reduce_regions(ufunc, rows, region_bounds(w, grid[1]), 2, dtype)


def region_sizes(out_shape, grid):
    """Number of positions in each region, shape ``(gh, gw, 1)`` for broadcasting."""
    heights = np.diff(region_bounds(out_shape[0], grid[0]))
    widths = np.diff(region_bounds(out_shape[1], grid[1]))
    return np.outer(heights, widths)[:, :, None]


def _pool_max(maps, grid, sigma):
    return grid_reduce(np.maximum, maps, grid)


def _pool_sum(maps, grid, sigma):
    if sigma is not None:  # a Gaussian window weighs as many positions as its region
        return window_reduce(maps, grid, sigma) * region_sizes(maps.shape[1:3], grid)
    return grid_reduce(np.add, maps, grid)


def _pool_mean(maps, grid, sigma):
    if sigma is not None:
        return window_reduce(maps, grid, sigma)
    return grid_reduce(np.add, maps, grid) / region_sizes(maps.shape[1:3], grid)


def _pool_l2(maps, grid, sigma):
    return np.sqrt(_pool_mean(np.square(maps), grid, sigma))


def _pool_ppv(maps, grid, sigma):
    positive = np.greater(maps, 0).view(np.uint8)  # fast with a scalar, unlike np.maximum
    counts = grid_reduce(np.add, positive, grid, dtype=maps.dtype)
    return counts / region_sizes(maps.shape[1:3], grid)


_POOL_FUNCTIONS = {
    "max": _pool_max,
    "mean": _pool_mean,
    "sum": _pool_sum,
    "ppv": _pool_ppv,
    "l2": _pool_l2,
}


def pools_by_max_only(nonlinearity, poolings):
    """True when ``pool_maps`` needs only the maps' region maxima.

    That is when every statistic is ``max`` and the nonlinearity is
    nondecreasing (applied to the pooled maxima): the maps can then be reduced
    to their region maxima as they are computed (see
    :func:`skconv._engine.map_batches`'s ``max_grid``).
    """
    return (
        poolings is not None
        and len(poolings) > 0
        and all(p == "max" for p in poolings)
        and nonlinearity in _NONDECREASING
    )


def pool_maps(maps, nonlinearity, poolings, grid, sigma=None):
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
    sigma : float, default=None
        None pools each region's own positions; a float pools ``mean``, ``sum``
        and ``l2`` over overlapping Gaussian windows instead (see
        :func:`gaussian_windows`). The other statistics ignore it.

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
    pooled = {p: _POOL_FUNCTIONS[p](maps, grid, sigma) for p in early}
    if apply is not None and "max" in early:
        apply(pooled["max"])
    late = [p for p in poolings if p not in early]
    if apply is not None and late:
        apply(maps)
    pooled.update((p, _POOL_FUNCTIONS[p](maps, grid, sigma)) for p in late)
    stacked = np.stack([pooled[p] for p in poolings], axis=1)  # (m, S, gh, gw, K)
    features = np.moveaxis(stacked, -1, 1).reshape(maps.shape[0], -1)
    return features.astype(maps.dtype, copy=False)


# Positions compared per step of the biased PPV count: the step's booleans stay
# in cache and their uint8 sums cannot overflow (measured fastest at 32 on
# 150-long maps of 84 kernels x 128 series: 0.3 ns per comparison).
_PPV_STEP = 32


def _biased_ppv(maps, grid, biases):
    """``mean(map > bias)`` per region: ``(m, K, B, gh * gw)``.

    For each region, runs of up to ``_PPV_STEP`` positions are compared with
    each bias and summed in ``uint8`` before being added to the counts: two
    passes over cache-resident data per bias, and no float copy of the maps.
    """
    m, h, w, n_cols = maps.shape
    n_biases = biases.shape[1]
    rows, cols = region_bounds(h, grid[0]), region_bounds(w, grid[1])
    out = np.empty((m, n_cols, n_biases, grid[0] * grid[1]), dtype=maps.dtype)
    positive = np.empty((m, _PPV_STEP, n_cols), dtype=bool)
    partial = np.empty((m, n_cols), dtype=np.uint8)
    counts = np.empty((n_biases, m, n_cols), dtype=np.int64)
    levels = np.ascontiguousarray(biases.T, dtype=maps.dtype)  # contiguous rows: SIMD compares
    for ry, (y0, y1) in enumerate(zip(rows[:-1], rows[1:])):
        for rx, (x0, x1) in enumerate(zip(cols[:-1], cols[1:])):
            block = maps[:, y0:y1, x0:x1].reshape(m, -1, n_cols)
            counts[...] = 0
            for start in range(0, block.shape[1], _PPV_STEP):
                run = block[:, start : start + _PPV_STEP]
                step = positive[:, : run.shape[1]]
                for j in range(n_biases):
                    np.greater(run, levels[j], out=step)
                    np.add.reduce(step.view(np.uint8), axis=1, dtype=np.uint8, out=partial)
                    counts[j] += partial
            region = ry * grid[1] + rx
            out[:, :, :, region] = np.moveaxis(counts, 0, -1) / block.shape[1]
    return out


def pool_biased_maps(maps, nonlinearity, poolings, grid, biases, sigma=None):
    """Pool ``nonlinearity(maps - bias)`` once per bias of each kernel.

    Parameters
    ----------
    maps : ndarray of shape (m, h, w, K)
        Raw convolution maps (not modified).
    nonlinearity, poolings, grid, sigma :
        See :func:`pool_maps`.
    biases : ndarray of shape (K, B)
        The biases of each kernel (column ``k`` of ``maps``).

    Returns
    -------
    features : ndarray of shape (m, K * B * len(poolings) * gh * gw)
        In (kernel, bias, statistic, region row, region column) order.

    Notes
    -----
    The proportion of positive values alone (MiniRocket's features) after a
    sign-preserving nonlinearity is counted straight from ``maps > bias``
    (:func:`_biased_ppv`); every other spec pools a shifted copy of the maps
    per bias.
    """
    m, n_kernels, n_biases = maps.shape[0], biases.shape[0], biases.shape[1]
    if tuple(poolings) == ("ppv",) and nonlinearity in _SIGN_PRESERVING:
        return _biased_ppv(maps, grid, biases).reshape(m, -1)
    shifted = np.empty_like(maps)
    parts = []
    for j in range(n_biases):
        np.subtract(maps, biases[:, j], out=shifted)
        pooled = pool_maps(shifted, nonlinearity, poolings, grid, sigma)
        parts.append(pooled.reshape(m, n_kernels, -1))
    return np.stack(parts, axis=2).reshape(m, -1)
