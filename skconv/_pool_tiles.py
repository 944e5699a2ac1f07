"""Pooling fused across tiles: per-region accumulators fed one tile at a time.

When an image is processed in tiles, its maps never exist whole. Each tile is
passed through the nonlinearity and reduced into accumulators of shape
``(m, K, gh, gw)`` per statistic: running maxima, sums (float64), counts of
positive values, sums of squares, or Gaussian-window weighted sums (the
windows are separable, so a tile contributes ``rows[:, y0:y1] @ tile @
cols[:, x0:x1].T``). :meth:`TilePooler.finish` turns them into the feature rows
of :func:`~skconv._pooling.pool_maps`, in the same (kernel, statistic, region
row, region column) order.
"""

import numpy as np

from ._pooling import (
    _NONDECREASING,
    _SIGN_PRESERVING,
    NONLINEARITIES,
    gaussian_windows,
    region_bounds,
    region_sizes,
)

# What each statistic accumulates: "max", "sum" (of values), "count" (of
# positives), "sumsq" (of values); with Gaussian windows, weighted sums.
_ACCUMULATES = {"max": "max", "mean": "sum", "sum": "sum", "ppv": "count", "l2": "sumsq"}


def _overlaps(bounds, start, stop):
    """``(region, lo, hi)`` for each region of ``bounds`` meeting ``[start, stop)``."""
    first = int(np.searchsorted(bounds, start, side="right")) - 1
    pieces = []
    for region in range(max(first, 0), len(bounds) - 1):
        lo, hi = max(bounds[region], start), min(bounds[region + 1], stop)
        if lo >= stop:
            break
        if hi > lo:
            pieces.append((region, int(lo - start), int(hi - start)))
    return pieces


class TilePooler:
    """Accumulates the pooled features of ``m`` images from their map tiles.

    Parameters
    ----------
    m : int
        Number of images.
    n_kernels : int
    nonlinearity : str or None
        A key of :data:`~skconv._pooling.NONLINEARITIES`, or None.
    poolings : tuple of str
    grid : tuple of int
        ``(gh, gw)`` regions.
    out_shape : tuple of int
        ``(h_out, w_out)`` of the whole maps.
    sigma : float or None
        Gaussian windows (see :func:`~skconv._pooling.pool_maps`).
    """

    def __init__(self, m, n_kernels, nonlinearity, poolings, grid, out_shape, sigma):
        self.nonlinearity, self.poolings, self.grid = nonlinearity, poolings, grid
        self.out_shape, self.sigma = out_shape, sigma
        self.early = {
            p
            for p in poolings
            if (p == "max" and nonlinearity in _NONDECREASING)
            or (p == "ppv" and nonlinearity in _SIGN_PRESERVING)
        }
        shape = (m, n_kernels, *grid)
        kinds = {_ACCUMULATES[p] for p in poolings}
        self.acc = {
            kind: np.full(shape, -np.inf) if kind == "max" else np.zeros(shape) for kind in kinds
        }
        self.n_tiles = 0
        self._bounds = [region_bounds(n, g) for n, g in zip(out_shape, grid)]
        self._windows = None
        if sigma is not None:
            self._windows = [gaussian_windows(n, g, sigma) for n, g in zip(out_shape, grid)]

    def add(self, maps, y0, x0):
        """Reduce one tile of maps ``(m, K, th, tw)`` (any strides) at output ``(y0, x0)``.

        The tile may be overwritten (the nonlinearity is applied in place).
        """
        late = [p for p in self.poolings if p not in self.early]
        for kind in {_ACCUMULATES[p] for p in self.early}:
            self._accumulate(kind, maps, y0, x0)
        if late:
            if self.nonlinearity is not None:
                NONLINEARITIES[self.nonlinearity](maps)
            for kind in {_ACCUMULATES[p] for p in late}:
                self._accumulate(kind, maps, y0, x0)
        self.n_tiles += 1

    def _accumulate(self, kind, maps, y0, x0):
        th, tw = maps.shape[2:]
        acc = self.acc[kind]
        if self._windows is not None and kind in ("sum", "sumsq"):
            values = np.square(maps) if kind == "sumsq" else maps
            rows = self._windows[0][:, y0 : y0 + th].astype(maps.dtype)
            cols = self._windows[1][:, x0 : x0 + tw].astype(maps.dtype)
            acc += rows @ (values @ cols.T)
            return
        for gy, a, b in _overlaps(self._bounds[0], y0, y0 + th):
            for gx, c, d in _overlaps(self._bounds[1], x0, x0 + tw):
                block = maps[:, :, a:b, c:d]
                if kind == "max":
                    np.maximum(acc[:, :, gy, gx], block.max(axis=(2, 3)), out=acc[:, :, gy, gx])
                elif kind == "sum":
                    acc[:, :, gy, gx] += block.sum(axis=(2, 3), dtype=np.float64)
                elif kind == "count":
                    acc[:, :, gy, gx] += np.count_nonzero(block > 0, axis=(2, 3))
                else:
                    acc[:, :, gy, gx] += np.einsum("mkyx,mkyx->mk", block, block, dtype=np.float64)

    def merge(self, other):
        """Fold the accumulators of another pooler of the same images into this one."""
        for kind, acc in self.acc.items():
            if kind == "max":
                np.maximum(acc, other.acc[kind], out=acc)
            else:
                acc += other.acc[kind]
        self.n_tiles += other.n_tiles

    def finish(self, dtype):
        """Feature rows ``(m, K * len(poolings) * gh * gw)`` in ``dtype``."""
        sizes = region_sizes(self.out_shape, self.grid)[:, :, 0]
        windowed = self._windows is not None
        stats = []
        for p in self.poolings:
            kind = _ACCUMULATES[p]
            acc = self.acc[kind]
            if p == "max":
                value = acc.astype(dtype)
                if "max" in self.early and self.nonlinearity is not None:
                    NONLINEARITIES[self.nonlinearity](value)
            elif p == "sum":
                value = acc * sizes if windowed else acc
            elif p == "l2":
                value = np.sqrt(acc if windowed else acc / sizes)
            else:  # mean, ppv: windows already sum to one
                value = acc if windowed and p == "mean" else acc / sizes
            stats.append(np.asarray(value, dtype=dtype))
        stacked = np.stack(stats, axis=2)  # (m, K, S, gh, gw)
        return stacked.reshape(stacked.shape[0], -1)


class BiasedTilePooler:
    """A :class:`TilePooler` per bias: pools ``map - bias`` for each bias of each kernel.

    Parameters
    ----------
    m, n_kernels, nonlinearity, poolings, grid, out_shape, sigma :
        As for :class:`TilePooler`.
    biases : ndarray of shape (K, B)
    """

    def __init__(self, m, n_kernels, nonlinearity, poolings, grid, out_shape, sigma, biases):
        self.biases = biases
        self.poolers = [
            TilePooler(m, n_kernels, nonlinearity, poolings, grid, out_shape, sigma)
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


def make_tile_pooler(m, n_kernels, out_shape, biases=None, **pooling):
    """A :class:`TilePooler`, or a :class:`BiasedTilePooler` when ``biases`` is given."""
    if biases is None:
        return TilePooler(m, n_kernels, out_shape=out_shape, **pooling)
    return BiasedTilePooler(m, n_kernels, out_shape=out_shape, biases=biases, **pooling)
