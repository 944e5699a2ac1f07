"""From images to feature rows: engine maps, then nonlinearity and pooling."""

import numpy as np

from ._engine import map_batches
from ._pooling import NONLINEARITIES, pool_maps


def n_features_out(geometry, n_kernels, poolings, grid):
    """Number of features per sample for a pooling spec (``poolings=None``: maps)."""
    if poolings is None:
        return n_kernels * geometry.n_positions
    return n_kernels * len(poolings) * grid[0] * grid[1]


def make_reducer(nonlinearity, poolings, grid):
    """The per-batch function ``maps (m, h, w, K) -> features (m, n_out)``.

    Parameters
    ----------
    nonlinearity : str or None
    poolings : tuple of str or None
        None keeps the maps, flattened in (kernel, row, column) order.
    grid : tuple of int
        ``(gh, gw)`` pooling regions.

    Returns
    -------
    reduce_maps : callable
    """
    if poolings is not None:
        return lambda maps: pool_maps(maps, nonlinearity, poolings, grid)
    apply = NONLINEARITIES.get(nonlinearity, lambda maps: maps)

    def flatten(maps):
        return np.moveaxis(apply(maps), -1, 1).reshape(maps.shape[0], -1)

    return flatten


def conv_features(
    images,
    geometry,
    weights,
    *,
    nonlinearity,
    poolings,
    grid,
    padding_mode="constant",
    batch_size=None,
    n_threads=1,
    out=None,
):
    """Features of ``images`` of shape ``(n, C, H, W)``, batch by batch.

    Parameters
    ----------
    images : array of shape (n, C, H, W)
        Sliceable along the first axis (ndarray, memmap, ...).
    geometry : Geometry
    weights : ndarray of shape (kh * kw * C, K)
        Kernel matrix in the computation dtype.
    nonlinearity, poolings, grid :
        See :func:`make_reducer`.
    padding_mode : str, default="constant"
    batch_size : int or None, default=None
    n_threads : int, default=1
    out : ndarray of shape (n, n_out), default=None
        Preallocated output (e.g. a memmap); allocated when None.

    Returns
    -------
    features : ndarray of shape (n, n_out)
    """
    n_out = n_features_out(geometry, weights.shape[1], poolings, grid)
    if out is None:
        out = np.empty((images.shape[0], n_out), dtype=weights.dtype)
    return map_batches(
        images,
        geometry,
        weights,
        make_reducer(nonlinearity, poolings, grid),
        out,
        padding_mode=padding_mode,
        batch_size=batch_size,
        n_threads=n_threads,
    )
