"""Pooling regions of a map and fast reductions over them.

Maps here are channels-last, ``(m, h, w, K)`` (the engine's layout; tiles are
handed over as views of that shape). Reductions run over the axis whose inner
block is the longest contiguous run (first the rows of a region, then its
columns), which is several times faster than a multi-axis numpy reduction on
this layout.
"""

from functools import lru_cache

import numpy as np


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


def overlaps(bounds, start, stop):
    """``(region, lo, hi)`` for each region of ``bounds`` meeting ``[start, stop)``.

    ``lo`` and ``hi`` are relative to ``start``: the region's part of a block
    that begins at ``start``.
    """
    first = int(np.searchsorted(bounds, start, side="right")) - 1
    pieces = []
    for region in range(max(first, 0), len(bounds) - 1):
        lo, hi = max(bounds[region], start), min(bounds[region + 1], stop)
        if lo >= stop:
            break
        if hi > lo:
            pieces.append((region, int(lo - start), int(hi - start)))
    return pieces


@lru_cache(maxsize=64)
def region_offsets(out_shape, grid):
    """Each position's 0-based row-major index within its region, shape ``(h, w)``.

    Parameters
    ----------
    out_shape : tuple of int
        ``(h, w)`` of the maps.
    grid : tuple of int
        ``(gh, gw)`` regions.

    Returns
    -------
    offsets : ndarray of shape (h, w)
        Read-only, float64: ``(y - y0) * region_width + (x - x0)`` for the
        region ``[y0:y1, x0:x1]`` holding ``(y, x)``.
    """
    rows = region_bounds(out_shape[0], grid[0])
    cols = region_bounds(out_shape[1], grid[1])
    y = np.arange(out_shape[0])
    x = np.arange(out_shape[1])
    row_start = rows[np.searchsorted(rows, y, side="right") - 1]
    col_index = np.searchsorted(cols, x, side="right") - 1
    col_start, width = cols[col_index], np.diff(cols)[col_index]
    offsets = (y - row_start)[:, None] * width[None, :] + (x - col_start)[None, :]
    offsets = offsets.astype(np.float64)
    offsets.flags.writeable = False
    return offsets
