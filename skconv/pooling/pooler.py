"""Nonlinearity and pooling of maps, whole or tile by tile, from one set of definitions.

:func:`pool_maps` pools complete batches of maps (the small-image path);
:class:`Pooler` accumulates the same features from tiles of large images, and
two poolers of the same images merge (tiles split across threads). Both read
the statistics of :mod:`skconv.pooling.statistics` and nothing else: the
partial states each statistic needs, what is taken on the raw maps (what
commutes with the nonlinearity), and how states finish into features, in
(kernel, statistic, region row, region column) order.
"""

import numpy as np

from .nonlinearities import NONDECREASING, SIGN_PRESERVING, apply_nonlinearity
from .regions import region_bounds
from .statistics import PARTIALS, STATISTICS, region_context


def split_partials(poolings, nonlinearity, sigma=None):
    """The partial states of ``poolings``: those taken on the raw maps, and the rest.

    A partial that reads only signs is unchanged by a sign-preserving
    nonlinearity, and the maximum commutes with a nondecreasing one (applied
    to the pooled maxima instead): both are taken before the nonlinearity, so
    the full-size nonlinearity runs only when another partial needs it.

    Returns
    -------
    early, late : tuple of str
        Keys of :data:`~skconv.pooling.statistics.PARTIALS`.
    """
    names = []
    for pooling in poolings:
        names += [n for n in STATISTICS[pooling].partials_for(sigma) if n not in names]

    def early(name):
        partial = PARTIALS[name]
        return (partial.sign_only and nonlinearity in SIGN_PRESERVING) or (
            partial.commutes and nonlinearity in NONDECREASING
        )

    return tuple(n for n in names if early(n)), tuple(n for n in names if not early(n))


def finish_features(results, poolings, ctx, nonlinearity, early, dtype):
    """Feature rows ``(m, K * S * gh * gw)`` from finished partial states ``(m, gh, gw, K)``."""
    if "max" in results and "max" in early and nonlinearity is not None:
        results = {**results, "max": apply_nonlinearity(results["max"].astype(dtype), nonlinearity)}
    sizes = ctx.sizes
    stats = [STATISTICS[p].finish(results, sizes, ctx.sigma) for p in poolings]
    stacked = np.stack(stats, axis=1)  # (m, S, gh, gw, K)
    features = np.moveaxis(stacked, -1, 1).reshape(stacked.shape[0], -1)
    return features.astype(dtype, copy=False)


def pools_by_max_only(nonlinearity, poolings):
    """True when :func:`pool_maps` needs only the maps' region maxima.

    That is when every statistic is ``max`` and the nonlinearity is
    nondecreasing (applied to the pooled maxima): the maps can then be reduced
    to their region maxima as they are computed (the compiled loop's fused
    max, see :func:`skconv.engine.core.map_batches`'s ``max_grid``).
    """
    return (
        poolings is not None
        and len(poolings) > 0
        and all(p == "max" for p in poolings)
        and nonlinearity in NONDECREASING
    )


def pool_maps(maps, nonlinearity, poolings, grid, sigma=None, group=None):
    """Apply a nonlinearity then pool complete maps, fusing what commutes.

    Parameters
    ----------
    maps : ndarray of shape (m, h, w, K)
        Raw convolution maps; may be overwritten.
    nonlinearity : str or None
        A key of :data:`~skconv.pooling.nonlinearities.NONLINEARITIES`, or None.
    poolings : tuple of str
        Statistics from :data:`~skconv.pooling.statistics.POOLINGS`.
    grid : tuple of int
        ``(gh, gw)`` pooling regions.
    sigma : float, default=None
        None pools each region's own positions; a float pools ``mean``, ``sum``
        and ``l2`` over overlapping Gaussian windows instead (see
        :func:`~skconv.pooling.regions.gaussian_windows`). The other statistics
        ignore it.
    group : int, default=None
        Consecutive kernels that compete, for the competing statistics
        (:data:`~skconv.pooling.statistics.COMPETING_POOLINGS`).

    Returns
    -------
    features : ndarray of shape (m, K * len(poolings) * gh * gw)
        In (kernel, statistic, region row, region column) order.
    """
    ctx = region_context(tuple(maps.shape[1:3]), tuple(grid), sigma, group)
    early, late = split_partials(poolings, nonlinearity, sigma)
    results = {name: PARTIALS[name].whole(maps, ctx) for name in early}
    if late:
        apply_nonlinearity(maps, nonlinearity)
        results.update((name, PARTIALS[name].whole(maps, ctx)) for name in late)
    return finish_features(results, poolings, ctx, nonlinearity, early, maps.dtype)


class Pooler:
    """Accumulates the pooled features of ``m`` images from tiles of their maps.

    Parameters
    ----------
    m : int
        Number of images.
    n_kernels : int
    nonlinearity : str or None
    poolings : tuple of str
    grid : tuple of int
        ``(gh, gw)`` regions.
    out_shape : tuple of int
        ``(h_out, w_out)`` of the whole maps.
    sigma : float or None
        Gaussian windows (see :func:`pool_maps`).
    group : int, default=None
        Consecutive kernels that compete (see :func:`pool_maps`).
    """

    def __init__(self, m, n_kernels, nonlinearity, poolings, grid, out_shape, sigma, group=None):
        self.nonlinearity, self.poolings = nonlinearity, poolings
        self.ctx = region_context(tuple(out_shape), tuple(grid), sigma, group)
        self.early, self.late = split_partials(poolings, nonlinearity, sigma)
        shape = (m, *grid, n_kernels)
        self.states = {name: PARTIALS[name].init(shape) for name in self.early + self.late}
        self.n_tiles = 0

    def add(self, maps, y0, x0):
        """Reduce one tile of maps ``(m, K, th, tw)`` (any strides) at output ``(y0, x0)``.

        The tile may be overwritten (the nonlinearity is applied in place).
        """
        for name in self.early:
            self._update(name, maps, y0, x0)
        if self.late:
            apply_nonlinearity(maps, self.nonlinearity)
            for name in self.late:
                self._update(name, maps, y0, x0)
        self.n_tiles += 1

    def _update(self, name, values, y0, x0):
        self.states[name] = PARTIALS[name].update(self.states[name], values, y0, x0, self.ctx)

    def merge(self, other):
        """Fold the states of another pooler of the same images into this one."""
        for name, state in self.states.items():
            self.states[name] = PARTIALS[name].merge(state, other.states[name])
        self.n_tiles += other.n_tiles

    def finish(self, dtype):
        """Feature rows ``(m, K * len(poolings) * gh * gw)`` in ``dtype``."""
        results = {n: PARTIALS[n].result(s, self.ctx) for n, s in self.states.items()}
        return finish_features(
            results, self.poolings, self.ctx, self.nonlinearity, self.early, dtype
        )


class BiasedPooler:
    """A :class:`Pooler` per bias: pools ``map - bias`` for each bias of each kernel.

    Parameters
    ----------
    m, n_kernels, nonlinearity, poolings, grid, out_shape, sigma :
        As for :class:`Pooler`.
    biases : ndarray of shape (K, B)
    group : int, default=None
        As for :class:`Pooler`.
    """

    def __init__(
        self, m, n_kernels, nonlinearity, poolings, grid, out_shape, sigma, biases, group=None
    ):
        self.biases = biases
        self.poolers = [
            Pooler(m, n_kernels, nonlinearity, poolings, grid, out_shape, sigma, group)
            for _ in range(biases.shape[1])
        ]

    @property
    def n_tiles(self):
        """Tiles added so far."""
        return self.poolers[0].n_tiles

    def add(self, maps, y0, x0):
        """Reduce one tile of maps ``(m, K, th, tw)`` for every bias (``maps`` is kept)."""
        shifted = np.empty(maps.shape, dtype=maps.dtype)
        for j, pooler in enumerate(self.poolers):
            np.subtract(maps, self.biases[:, j, None, None].astype(maps.dtype), out=shifted)
            pooler.add(shifted, y0, x0)

    def merge(self, other):
        """Fold another pooler of the same images into this one."""
        for mine, theirs in zip(self.poolers, other.poolers):
            mine.merge(theirs)

    def finish(self, dtype):
        """Feature rows ``(m, K * B * len(poolings) * gh * gw)``, in (kernel, bias, ...) order."""
        parts = [pooler.finish(dtype) for pooler in self.poolers]
        m, n_kernels = parts[0].shape[0], self.biases.shape[0]
        stacked = np.stack([p.reshape(m, n_kernels, -1) for p in parts], axis=2)
        return stacked.reshape(m, -1)


def make_pooler(m, n_kernels, out_shape, biases=None, **pooling):
    """A :class:`Pooler`, or a :class:`BiasedPooler` when ``biases`` is given."""
    if biases is None:
        return Pooler(m, n_kernels, out_shape=out_shape, **pooling)
    return BiasedPooler(m, n_kernels, out_shape=out_shape, biases=biases, **pooling)


# Positions compared per step of the biased count: the step's booleans stay
# in cache and their uint8 sums cannot overflow (measured fastest at 32 on
# 150-long maps of 84 kernels x 128 series: 0.3 ns per comparison).
_COUNT_STEP = 32


def count_above_biases(maps, grid, biases):
    """The ``count`` partial of ``maps - bias`` for every bias: ``(m, K, B, gh * gw)``.

    A specialization of the generic count (``(maps - bias > 0)`` summed per
    region) for many biases: runs of up to ``_COUNT_STEP`` positions are
    compared with each bias and summed in ``uint8`` before being added to the
    counts, two passes over cache-resident data per bias and no shifted copy
    of the maps.
    """
    m, h, w, n_cols = maps.shape
    n_biases = biases.shape[1]
    rows, cols = region_bounds(h, grid[0]), region_bounds(w, grid[1])
    out = np.empty((m, n_cols, n_biases, grid[0] * grid[1]), dtype=np.int64)
    positive = np.empty((m, _COUNT_STEP, n_cols), dtype=bool)
    partial = np.empty((m, n_cols), dtype=np.uint8)
    counts = np.empty((n_biases, m, n_cols), dtype=np.int64)
    levels = np.ascontiguousarray(biases.T, dtype=maps.dtype)  # contiguous rows: SIMD compares
    for ry, (y0, y1) in enumerate(zip(rows[:-1], rows[1:])):
        for rx, (x0, x1) in enumerate(zip(cols[:-1], cols[1:])):
            block = maps[:, y0:y1, x0:x1].reshape(m, -1, n_cols)
            counts[...] = 0
            for start in range(0, block.shape[1], _COUNT_STEP):
                run = block[:, start : start + _COUNT_STEP]
                step = positive[:, : run.shape[1]]
                for j in range(n_biases):
                    np.greater(run, levels[j], out=step)
                    np.add.reduce(step.view(np.uint8), axis=1, dtype=np.uint8, out=partial)
                    counts[j] += partial
            out[:, :, :, ry * grid[1] + rx] = np.moveaxis(counts, 0, -1)
    return out


def pool_biased_maps(maps, nonlinearity, poolings, grid, biases, sigma=None, group=None):
    """Pool ``nonlinearity(maps - bias)`` once per bias of each kernel.

    Parameters
    ----------
    maps : ndarray of shape (m, h, w, K)
        Raw convolution maps (not modified).
    nonlinearity, poolings, grid, sigma, group :
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
    sign-preserving nonlinearity takes the ``count`` partial from
    :func:`count_above_biases`; every other spec pools a shifted copy of the
    maps per bias.
    """
    m, n_kernels, n_biases = maps.shape[0], biases.shape[0], biases.shape[1]
    if tuple(poolings) == ("ppv",) and nonlinearity in SIGN_PRESERVING:
        counts = count_above_biases(maps, grid, biases)
        sizes = region_context(tuple(maps.shape[1:3]), tuple(grid)).sizes.reshape(-1)
        ppv = STATISTICS["ppv"].finish({"count": counts}, sizes)
        return ppv.astype(maps.dtype, copy=False).reshape(m, -1)
    shifted = np.empty_like(maps)
    parts = []
    for j in range(n_biases):
        np.subtract(maps, biases[:, j], out=shifted)
        pooled = pool_maps(shifted, nonlinearity, poolings, grid, sigma, group)
        parts.append(pooled.reshape(m, n_kernels, -1))
    return np.stack(parts, axis=2).reshape(m, -1)
