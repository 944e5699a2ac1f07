"""The pooling statistics, each defined once as a mergeable aggregate.

A statistic is computed, per (image, region, kernel), in the manner of
``dask.array.reduction`` (chunk / combine / aggregate) or a database's
aggregate functions (init / update / merge / finalize):

* its **partial states** (:class:`ReducePartial`, :class:`RunPartial`,
  :class:`WindowPartial`): what a block of map values contributes, how a block
  updates the state of the regions it meets, and how two states of the same
  images merge (tiles of one image split across threads);
* its **finalize**: the feature from the finished states and the regions'
  sizes.

Statistics share partial states (the count of positive values feeds ``ppv``,
``mpv`` and ``mipv``), and every path uses these definitions: whole batches of
maps (:func:`skconv.pooling.pooler.pool_maps`), tiles of large images
(:class:`skconv.pooling.pooler.Pooler`), the biased counts of signals and the
compiled loops, which are faster ways to compute one partial state (a running
max, counts above biases) checked against the generic one.

Positions within a region are numbered in row-major order (for signals, along
the signal): ``mipv`` and ``lspv`` read them in that order, so a run of
positive values may continue from the end of one row of a region to the start
of the next.

The competing statistics (Hydra's, Dempster et al. 2023) read a kernel's map
together with the other kernels of its group (``group`` consecutive kernels):
at each position, the kernel with its group's largest (smallest) response
wins; ``max_wins`` counts a kernel's wins and ``max_wins_sum`` sums its
responses where it wins (``min_wins``, ``min_wins_sum`` likewise).

Adding a statistic: define its partials here (or reuse one), add a
:class:`Statistic` to :data:`STATISTICS`; names, output order and every path
follow.
"""

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from .regions import (
    gaussian_windows,
    grid_reduce,
    overlaps,
    region_bounds,
    region_offsets,
    region_sizes,
    window_reduce,
)


@dataclass(frozen=True)
class RegionContext:
    """What a partial needs to know of the maps it pools.

    Attributes
    ----------
    out_shape : tuple of int
        ``(h, w)`` of the whole maps.
    grid : tuple of int
        ``(gh, gw)`` regions.
    sigma : float or None
        Gaussian windows (for :class:`WindowPartial`).
    group : int or None
        Consecutive kernels that compete (for :class:`CompetitionPartial`).
    """

    out_shape: tuple
    grid: tuple
    sigma: object = None
    group: object = None

    @cached_property
    def bounds(self):
        """Region bounds along rows and columns."""
        return [region_bounds(n, g) for n, g in zip(self.out_shape, self.grid)]

    @cached_property
    def _piece_cache(self):
        return {}

    def block_regions(self, axis, start, length):
        """The first region a block meets along ``axis`` and where each region starts in it.

        Returns
        -------
        first : int
        starts : ndarray of intp
            Offsets in the block of its part of each region it meets, in order.
        """
        key = (axis, start, length)
        found = self._piece_cache.get(key)
        if found is None:
            parts = overlaps(self.bounds[axis], start, start + length)
            found = parts[0][0], np.array([lo for _, lo, _ in parts], dtype=np.intp)
            self._piece_cache[key] = found
        return found

    def pieces(self, y0, x0, th, tw):
        """``(gy, gx, rows, cols)`` for each region meeting a block at ``(y0, x0)``.

        ``rows`` and ``cols`` are slices of the block. Tiles repeat from image
        to image, so each block's pieces are computed once.
        """
        key = (y0, x0, th, tw)
        found = self._piece_cache.get(key)
        if found is None:
            rows_bounds, cols_bounds = self.bounds
            found = tuple(
                (gy, gx, slice(a, b), slice(c, d))
                for gy, a, b in overlaps(rows_bounds, y0, y0 + th)
                for gx, c, d in overlaps(cols_bounds, x0, x0 + tw)
            )
            self._piece_cache[key] = found
        return found

    @cached_property
    def position_regions(self):
        """The region index ``gy * gw + gx`` of every position, shape ``(h, w)``, intp."""
        rows, cols = (np.repeat(np.arange(g), np.diff(b)) for g, b in zip(self.grid, self.bounds))
        return rows[:, None] * self.grid[1] + cols[None, :]

    @cached_property
    def sizes(self):
        """Positions per region, shape ``(gh, gw, 1)``."""
        return region_sizes(self.out_shape, self.grid)


@lru_cache(maxsize=256)
def region_context(out_shape, grid, sigma=None, group=None):
    """The :class:`RegionContext` of a map shape and grid, shared by every batch."""
    return RegionContext(tuple(out_shape), tuple(grid), sigma, group)


def _pieces(ctx, y0, x0, th, tw):
    """``(gy, gx, rows, cols)`` for each region meeting a block at ``(y0, x0)`` (cached)."""
    return ctx.pieces(y0, x0, th, tw)


class ReducePartial:
    """A state reduced with a binary ufunc over prepared values (sums, maxima, counts).

    Parameters
    ----------
    name : str
    ufunc : numpy.ufunc
        ``np.add`` or ``np.maximum``: how values and states combine.
    prepare : callable
        ``prepare(values, offsets) -> array`` of the values to reduce, from map
        values and, for order-dependent partials, each position's row-major
        index within its region, shaped to broadcast against the values.
    sign_only : bool, default=False
        Reads only the signs of the values (so a sign-preserving nonlinearity
        leaves it unchanged and it can be taken on the raw maps).
    commutes : bool, default=False
        Commutes with a nondecreasing nonlinearity (the maximum): taken on the
        raw maps, the nonlinearity applied to the state.
    needs_offsets : bool, default=False
        ``prepare`` reads the positions' offsets.
    batch_dtype : dtype, default=None
        The state's dtype on whole batches (None: the maps' dtype).
    """

    def __init__(
        self,
        name,
        ufunc,
        prepare,
        *,
        sign_only=False,
        commutes=False,
        needs_offsets=False,
        batch_dtype=None,
    ):
        self.name, self.ufunc, self.prepare = name, ufunc, prepare
        self.sign_only, self.commutes, self.needs_offsets = sign_only, commutes, needs_offsets
        self.batch_dtype = batch_dtype

    def _offsets(self, ctx):
        return region_offsets(ctx.out_shape, ctx.grid) if self.needs_offsets else None

    def init(self, shape):
        """The state of no values: ``shape`` ``(m, gh, gw, K)``, float64."""
        return np.full(shape, 0.0 if self.ufunc is np.add else -np.inf)

    def _prepared(self, values, offsets, ctx, kernel_axis):
        """The values to reduce (``kernel_axis``: where the kernels are in ``values``)."""
        return self.prepare(values, offsets)

    def whole(self, maps, ctx):
        """The state of complete maps ``(m, h, w, K)``: one reduction over the grid."""
        offsets = self._offsets(ctx)
        values = self._prepared(maps, None if offsets is None else offsets[:, :, None], ctx, -1)
        dtype = np.dtype(self.batch_dtype or maps.dtype)
        return grid_reduce(self.ufunc, values, ctx.grid, None if values.dtype == dtype else dtype)

    def update(self, state, block, y0, x0, ctx):
        """Fold a tile of maps ``(m, K, th, tw)`` at output ``(y0, x0)`` into ``state``."""
        offsets = self._offsets(ctx)
        th, tw = block.shape[2:]
        if offsets is not None:
            offsets = offsets[y0 : y0 + th, x0 : x0 + tw]
        values = self._prepared(block, offsets, ctx, 1)
        # The tile's part of every region it meets, in two reduceat calls (its
        # pieces form a grid), in the values' own dtype as whole batches are
        # (float32 counts are exact up to 2**24), merged into the float64 state.
        gy, row_starts = ctx.block_regions(0, y0, th)
        gx, col_starts = ctx.block_regions(1, x0, tw)
        dtype = np.float64 if values.dtype.itemsize < 4 else None
        pieces = self.ufunc.reduceat(values, col_starts, axis=3, dtype=dtype)
        pieces = self.ufunc.reduceat(pieces, row_starts, axis=2)  # (m, K, ny, nx)
        target = state[:, gy : gy + len(row_starts), gx : gx + len(col_starts)]
        self.ufunc(target, pieces.transpose(0, 2, 3, 1), out=target)
        return state

    def merge(self, state, other):
        """Fold ``other``, a state of the same images, into ``state``."""
        return self.ufunc(state, other, out=state)

    def result(self, state, ctx):
        """The finished state, ``(m, gh, gw, K)``."""
        return state


class CompetitionPartial(ReducePartial):
    """Sums over the positions where a kernel wins its group's competition.

    At each position, the kernels of each group of ``ctx.group`` consecutive
    kernels compete: the one with the largest response (``pick=np.argmax``;
    the first on ties) or the smallest (``np.argmin``) wins. The prepared value
    of a kernel is its response where it wins (``weighted``) or 1, and 0 where
    it loses; the state sums them over each region, as a ``ReducePartial``.

    Parameters
    ----------
    name : str
    pick : {numpy.argmax, numpy.argmin}
    weighted : bool
        Sum the winning responses (Hydra's soft counts) rather than count the
        wins (its hard counts).
    """

    def __init__(self, name, pick, weighted):
        super().__init__(name, np.add, None)
        self.pick, self.weighted = pick, weighted

    @staticmethod
    def _check_groups(n_kernels, group, name):
        if not group or n_kernels % group:
            raise ValueError(
                f"the competing statistic {name!r} needs the kernels in groups of "
                f"kernel_groups kernels; got {n_kernels} kernels and kernel_groups={group!r}"
            )

    def _compiled(self, maps, regions, state, group):
        """Add the wins of channels-last ``maps`` ``(m, h, w, K)`` to ``state`` (m, R, K).

        The compiled ``group_wins`` loop (a specialization of :meth:`_prepared`
        then the sum); False when it is not built or ``maps`` is not a float.
        """
        loop = _group_wins_loop()
        if loop is None or maps.dtype not in (np.float32, np.float64):
            return False
        m, h, w, k = maps.shape
        values = np.ascontiguousarray(maps).reshape(m, h * w, k)
        other = np.zeros_like(state)
        counts, sums = (other, state) if self.weighted else (state, other)
        loop(values, regions, group, self.pick is np.argmax, counts, sums)
        return True

    def whole(self, maps, ctx):
        """The state of complete maps ``(m, h, w, K)`` (the compiled loop when built)."""
        self._check_groups(maps.shape[-1], ctx.group, self.name)
        m, k = maps.shape[0], maps.shape[-1]
        state = np.zeros((m, ctx.grid[0] * ctx.grid[1], k))
        if self._compiled(maps, ctx.position_regions.ravel(), state, ctx.group):
            return state.reshape(m, *ctx.grid, k)
        return super().whole(maps, ctx)

    def update(self, state, block, y0, x0, ctx):
        """Fold a tile of maps ``(m, K, th, tw)`` at ``(y0, x0)`` into ``state``."""
        self._check_groups(block.shape[1], ctx.group, self.name)
        th, tw = block.shape[2:]
        regions = np.ascontiguousarray(ctx.position_regions[y0 : y0 + th, x0 : x0 + tw]).ravel()
        flat = state.reshape(state.shape[0], -1, state.shape[-1])
        maps = np.moveaxis(block, 1, -1)
        if state.flags.c_contiguous and self._compiled(maps, regions, flat, ctx.group):
            return state
        return super().update(state, block, y0, x0, ctx)

    def _prepared(self, values, offsets, ctx, kernel_axis):
        group = ctx.group
        moved = np.moveaxis(values, kernel_axis, -1)
        grouped = moved.reshape(*moved.shape[:-1], -1, group)
        winner = self.pick(grouped, axis=-1)[..., None]
        prepared = np.zeros_like(grouped)
        wins = np.take_along_axis(grouped, winner, axis=-1) if self.weighted else 1
        np.put_along_axis(prepared, winner, wins, axis=-1)
        return np.moveaxis(prepared.reshape(moved.shape), -1, kernel_axis)


def _group_wins_loop():
    """The compiled ``group_wins`` loop, or None when skconv was built without it."""
    from ..engine.compiled import load  # the engine imports this module: load when used

    return getattr(load("_stat_loops"), "group_wins", None)


def _run_summary(positive):
    """``(prefix, suffix, best)`` runs of True along axis 1 of ``(m, n, K)`` booleans.

    ``prefix``: leading Trues; ``suffix``: trailing Trues; ``best``: the
    longest run. Each of shape ``(m, K)``, float64. One step per position,
    each on whole ``(m, K)`` rows (a run cannot be found faster than by
    reading the positions in order; the rows keep every step in cache).
    """
    m, n, k = positive.shape
    run = np.zeros((m, k), dtype=np.int32)
    best = np.zeros((m, k), dtype=np.int32)
    prefix = np.zeros((m, k), dtype=np.int32)
    leading = np.ones((m, k), dtype=bool)
    for t in range(n):
        step = positive[:, t]
        np.add(run, 1, out=run)
        np.multiply(run, step, out=run)  # a False resets the run
        np.maximum(best, run, out=best)
        np.logical_and(leading, step, out=leading)
        np.add(prefix, leading, out=prefix)
    return prefix.astype(np.float64), run.astype(np.float64), best.astype(np.float64)


def merge_runs(left, right):
    """Runs of two adjacent stretches, ``left`` before ``right``: one stretch.

    Each is ``(length, prefix, suffix, best)``; ``length`` a number, the others
    arrays. The longest run is the longer of each side's and the one that
    crosses the boundary (``left``'s suffix then ``right``'s prefix).
    """
    n_left, p_left, s_left, b_left = left
    n_right, p_right, s_right, b_right = right
    prefix = np.where(p_left == n_left, n_left + p_right, p_left)
    suffix = np.where(s_right == n_right, n_right + s_left, s_right)
    best = np.maximum(np.maximum(b_left, b_right), s_left + p_right)
    return n_left + n_right, prefix, suffix, best


class RunPartial:
    """The longest run of consecutive positive values, in row-major order within a region.

    Its state is a list of summarised stretches ``(gy, gx, y, x, length,
    prefix, suffix, best)``: runs cannot be added like sums, but two adjacent
    stretches merge (:func:`merge_runs`), so any tiling, in any order, gives
    the same result once the stretches are chained in row-major order.
    """

    name = "run"
    sign_only, commutes = True, False

    def init(self, shape):
        """An empty list of stretches."""
        return []

    def whole(self, maps, ctx):
        """Longest runs of complete maps ``(m, h, w, K)``: ``(m, gh, gw, K)``."""
        return self.result(self.update([], maps.transpose(0, 3, 1, 2), 0, 0, ctx), ctx)

    def update(self, state, block, y0, x0, ctx):
        """Summarise each region's part of a tile ``(m, K, th, tw)`` at ``(y0, x0)``."""
        th, tw = block.shape[2:]
        col_bounds = ctx.bounds[1]
        positive = np.moveaxis(block > 0, 1, -1)  # (m, th, tw, K)
        m, k = block.shape[:2]
        for gy, gx, rows, cols in _pieces(ctx, y0, x0, th, tw):
            piece = positive[:, rows, cols]
            y, x = y0 + rows.start, x0 + cols.start
            full_width = cols.stop - cols.start == col_bounds[gx + 1] - col_bounds[gx]
            if full_width:  # whole rows of the region: one row-major stretch
                stretches = [(y, piece.reshape(m, -1, k))]
            else:  # parts of rows: a stretch per row
                stretches = [(y + r, piece[:, r]) for r in range(piece.shape[1])]
            for row, stretch in stretches:
                state.append((gy, gx, row, x, stretch.shape[1], *_run_summary(stretch)))
        return state

    def merge(self, state, other):
        """Both lists of stretches."""
        return state + other

    def result(self, state, ctx):
        """Chain each region's stretches in row-major order: its longest run ``(m, gh, gw, K)``."""
        by_region = {}
        for gy, gx, y, x, *summary in state:
            by_region.setdefault((gy, gx), []).append(((y, x), tuple(summary)))
        shape = (*state[0][5].shape[:1], *ctx.grid, state[0][5].shape[1]) if state else None
        best = np.zeros(shape)
        for (gy, gx), stretches in by_region.items():
            stretches.sort(key=lambda item: item[0])
            total = stretches[0][1]
            for _, summary in stretches[1:]:
                total = merge_runs(total, summary)
            best[:, gy, gx] = total[3]
        return best


class WindowPartial:
    """Gaussian-window weighted sums of prepared values (``sigma`` not None).

    The windows are separable, so a block at ``(y0, x0)`` contributes
    ``rows[:, y0:y1] @ values @ cols[:, x0:x1].T`` to every window.
    """

    sign_only, commutes = False, False

    def __init__(self, name, prepare):
        self.name, self.prepare = name, prepare

    def init(self, shape):
        """Zero sums, ``shape`` ``(m, gh, gw, K)``."""
        return np.zeros(shape)

    def whole(self, maps, ctx):
        """Window sums of complete maps."""
        return window_reduce(self.prepare(maps), ctx.grid, ctx.sigma)

    def update(self, state, block, y0, x0, ctx):
        """Add a tile's ``(m, K, th, tw)`` weighted values to every window."""
        th, tw = block.shape[2:]
        rows = gaussian_windows(ctx.out_shape[0], ctx.grid[0], ctx.sigma)[:, y0 : y0 + th]
        cols = gaussian_windows(ctx.out_shape[1], ctx.grid[1], ctx.sigma)[:, x0 : x0 + tw]
        values = self.prepare(block)
        state += np.einsum("ay,mkyx,bx->mabk", rows, values, cols, optimize=True)
        return state

    def merge(self, state, other):
        """Sums add."""
        state += other
        return state

    def result(self, state, ctx):
        """The sums."""
        return state


def _positive_flags(values, offsets=None):
    return np.greater(values, 0).view(np.uint8)  # fast with a scalar, unlike np.maximum


def _positive_offsets(values, offsets):
    return np.greater(values, 0) * offsets  # offsets broadcast over the spatial axes


PARTIALS = {
    partial.name: partial
    for partial in (
        ReducePartial("max", np.maximum, lambda v, o: v, commutes=True),
        ReducePartial("sum", np.add, lambda v, o: v),
        ReducePartial("sumsq", np.add, lambda v, o: np.square(v)),
        ReducePartial("count", np.add, _positive_flags, sign_only=True),
        ReducePartial("possum", np.add, lambda v, o: np.maximum(v, 0)),
        ReducePartial(
            "offsets",
            np.add,
            _positive_offsets,
            sign_only=True,
            needs_offsets=True,
            batch_dtype=np.float64,
        ),
        RunPartial(),
        CompetitionPartial("max_wins", np.argmax, weighted=False),
        CompetitionPartial("max_wins_sum", np.argmax, weighted=True),
        CompetitionPartial("min_wins", np.argmin, weighted=False),
        CompetitionPartial("min_wins_sum", np.argmin, weighted=True),
        WindowPartial("wsum", lambda v: v),
        WindowPartial("wsumsq", np.square),
    )
}
"""Every partial state, by name."""


@dataclass(frozen=True)
class Statistic:
    """A pooling statistic: the partial states it reads and how they finish into a feature.

    Attributes
    ----------
    name : str
    summary : str
        One line for the documentation.
    partials : tuple of str
        Keys of :data:`PARTIALS`.
    finalize : callable
        ``finalize(states, sizes) -> values``: ``states`` maps partial names to
        finished arrays, ``sizes`` (broadcastable) the positions per region.
    window_partials : tuple of str or None
        The partials with Gaussian windows (``sigma``), if the statistic has a
        windowed form.
    window_finalize : callable or None
    """

    name: str
    summary: str
    partials: tuple
    finalize: object
    window_partials: object = None
    window_finalize: object = None

    def partials_for(self, sigma):
        """The partials read with ``sigma`` (None: regions, a float: Gaussian windows)."""
        return self.window_partials if sigma is not None and self.window_partials else self.partials

    def finish(self, states, sizes, sigma=None):
        """The feature values from finished ``states``."""
        if sigma is not None and self.window_partials:
            return self.window_finalize(states, sizes)
        return self.finalize(states, sizes)


def _mean_of_positive(states, sizes):
    count = states["count"]
    return np.where(count > 0, states["possum"] / np.maximum(count, 1), 0.0)


def _mean_index_of_positive(states, sizes):
    count = states["count"]
    return np.where(count > 0, states["offsets"] / np.maximum(count, 1) / sizes, -1.0)


STATISTICS = {
    statistic.name: statistic
    for statistic in (
        Statistic(
            "max",
            "maximum",
            ("max",),
            lambda s, n: s["max"],
        ),
        Statistic(
            "mean",
            "mean",
            ("sum",),
            lambda s, n: s["sum"] / n,
            ("wsum",),
            lambda s, n: s["wsum"],
        ),
        Statistic(
            "sum",
            "sum",
            ("sum",),
            lambda s, n: s["sum"],
            ("wsum",),
            lambda s, n: s["wsum"] * n,  # a window weighs as many positions as its region
        ),
        Statistic(
            "ppv",
            "proportion of positive values",
            ("count",),
            lambda s, n: s["count"] / n,
        ),
        Statistic(
            "l2",
            "root mean square",
            ("sumsq",),
            lambda s, n: np.sqrt(s["sumsq"] / n),
            ("wsumsq",),
            lambda s, n: np.sqrt(s["wsumsq"]),
        ),
        Statistic(
            "mpv",
            "mean of the positive values (0 where none)",
            ("possum", "count"),
            _mean_of_positive,
        ),
        Statistic(
            "mipv",
            "mean row-major index of the positive values / positions in the region (-1 where none)",
            ("offsets", "count"),
            _mean_index_of_positive,
        ),
        Statistic(
            "lspv",
            "longest run of consecutive positive values / positions in the region",
            ("run",),
            lambda s, n: s["run"] / n,
        ),
        Statistic(
            "max_wins",
            "positions where the kernel gives its group's largest response",
            ("max_wins",),
            lambda s, n: s["max_wins"],
        ),
        Statistic(
            "max_wins_sum",
            "sum of the kernel's responses where they are its group's largest",
            ("max_wins_sum",),
            lambda s, n: s["max_wins_sum"],
        ),
        Statistic(
            "min_wins",
            "positions where the kernel gives its group's smallest response",
            ("min_wins",),
            lambda s, n: s["min_wins"],
        ),
        Statistic(
            "min_wins_sum",
            "sum of the kernel's responses where they are its group's smallest",
            ("min_wins_sum",),
            lambda s, n: s["min_wins_sum"],
        ),
    )
}
"""Every pooling statistic, by name, in the order of :data:`POOLINGS`."""

POOLINGS = tuple(STATISTICS)
"""The names of the pooling statistics."""

COMPETING_POOLINGS = tuple(
    name
    for name, stat in STATISTICS.items()
    if any(isinstance(PARTIALS[p], CompetitionPartial) for p in stat.partials)
)
"""The statistics whose kernels compete in groups (``kernel_groups``)."""

WINDOWED_POOLINGS = tuple(name for name, stat in STATISTICS.items() if stat.window_partials)
"""The statistics that also have a Gaussian-window form (``sigma`` not None)."""
