"""From images to feature rows: engine maps, then nonlinearity and pooling."""

import numpy as np

from ._engine import choose_layout, map_batches
from ._learned import ENCODERS, encode
from ._pooling import NONLINEARITIES, pool_maps


def n_features_out(geometry, n_kernels, poolings, grid):
    """Number of features per sample for a pooling spec (``poolings=None``: maps)."""
    if poolings is None:
        return n_kernels * geometry.n_positions
    return n_kernels * len(poolings) * grid[0] * grid[1]


def make_reducer(nonlinearity, poolings, grid, plan=None, threshold=0.0, pool_sigma=None):
    """The per-batch function ``(maps, patches) -> features (m, n_out)``.

    Parameters
    ----------
    nonlinearity : str or None
        A key of ``NONLINEARITIES``, an encoder (``"triangle"``,
        ``"soft_threshold"``), or None.
    poolings : tuple of str or None
        None keeps the maps, flattened in (kernel, row, column) order.
    grid : tuple of int
        ``(gh, gw)`` pooling regions.
    plan : ResponsePlan, default=None
        For learned banks and encoders: how raw GEMM columns become responses.
    threshold : float, default=0.0
        The soft threshold's offset.
    pool_sigma : float, default=None
        Gaussian pooling windows (see :func:`~skconv._pooling.pool_maps`).

    Returns
    -------
    reduce_maps : callable
    """

    def finish(maps, pointwise):
        if poolings is not None:
            return pool_maps(maps, pointwise, poolings, grid, pool_sigma)
        if pointwise is not None:
            NONLINEARITIES[pointwise](maps)
        return np.moveaxis(maps, -1, 1).reshape(maps.shape[0], -1)

    if plan is None:
        return lambda maps, patches: finish(maps, nonlinearity)
    pointwise = None if nonlinearity in ENCODERS else nonlinearity

    def learned(maps, patches):
        m, h, w, _ = maps.shape
        raw = maps.reshape(m * h * w, -1)
        values = encode(raw, patches.reshape(m * h * w, -1), plan, nonlinearity, threshold)
        return finish(values.reshape(m, h, w, -1), pointwise)

    return learned


def _resolve_layout(layout, plan, geometry, n_kernels, itemsize):
    if plan is not None:  # learned plans read each position's patch row
        return "channels_last"
    return layout or choose_layout(geometry, n_kernels, itemsize)


def conv_features(
    images,
    geometry,
    weights,
    *,
    nonlinearity,
    poolings,
    grid,
    plan=None,
    threshold=0.0,
    pool_sigma=None,
    padding_mode="constant",
    batch_size=None,
    n_threads=1,
    progress=None,
    out=None,
    layout=None,
):
    """Features of ``images`` of shape ``(n, C, H, W)``, batch by batch.

    Parameters
    ----------
    images : array of shape (n, C, H, W)
        Sliceable along the first axis (ndarray, memmap, ...).
    geometry : Geometry
    weights : ndarray of shape (kh * kw * C, K)
        Kernel matrix in the computation dtype.
    nonlinearity, poolings, grid, plan, threshold, pool_sigma :
        See :func:`make_reducer`.
    padding_mode : str, default="constant"
    batch_size : int or None, default=None
    n_threads : int, default=1
    progress : callable, default=None
        See :func:`~skconv._engine.map_batches`.
    out : ndarray of shape (n, n_out), default=None
        Preallocated output (e.g. a memmap); allocated when None.
    layout : {"channels_last", "batch_last"}, default=None
        The engine's batch layout; None picks the faster one for the geometry
        (learned plans always use channels-last).

    Returns
    -------
    features : ndarray of shape (n, n_out)
    """
    n_kernels = weights.shape[1] if plan is None else plan.n_kernels
    n_out = n_features_out(geometry, n_kernels, poolings, grid)
    if out is None:
        out = np.empty((images.shape[0], n_out), dtype=weights.dtype)
    return map_batches(
        images,
        geometry,
        weights,
        make_reducer(nonlinearity, poolings, grid, plan, threshold, pool_sigma),
        out,
        padding_mode=padding_mode,
        batch_size=batch_size,
        n_threads=n_threads,
        progress=progress,
        layout=_resolve_layout(layout, plan, geometry, n_kernels, weights.dtype.itemsize),
    )
