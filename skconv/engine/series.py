"""Biased statistics of 1-D signals: the Rocket family's features at MiniRocket's speed.

The generic engine computes whole maps, then pools them. For signals pooled
by statistics of the values above fitted biases (``n_biases`` with
``pooling`` among ``"ppv"``, ``"mpv"``, ``"mipv"``, ``"lspv"``: MiniRocket's
and MultiRocket's features), this path never holds more than a run of
positions:

* a batch of series is stored series-major, ``(m, C, L)`` (batch-last,
  ``(C, L, m)``, for batches of 64 series or more when the counts are done by
  numpy), and padded once, by the largest pads of its dilations, in a reused
  buffer (the middle of a wider padding is the narrower one, in every mode);
* with the compiled loops (:mod:`skconv.engine._stat_loops`), each pooling
  region of a dilation group is one call that releases the GIL. Kernels
  whose weights are mostly one value (MiniRocket's: -1 on six taps, 2 on
  three) are split by :func:`split_rows` into that value times the sum of
  every tap (computed once per series and run, shared by all kernels) plus
  their few remaining taps, and correlated directly into a buffer of the
  first-level cache; other kernels take one GEMM per run of positions
  (scipy's BLAS), the maps kept in the second-level cache. Either way the
  values above each bias are counted straight from there, four biases per
  read of a value, counts in registers;
* without the compiled loops, for a run of output positions the patch
  matrix ``(k * C, positions * m)`` is one strided copy (no index gather),
  one GEMM gives the maps kernel-major, ``(K, positions * m)``, and numpy
  counts: every bias of every kernel compared in one call (each bias a
  scalar against its kernel's row), the booleans summed over the run by one
  ``uint8`` einsum;
* for the other statistics, a second compiled loop updates the partial
  states they finish from (:data:`skconv.pooling.PARTIALS`: ``count``,
  ``possum``, ``offsets``, ``run``) for sixteen biases per read of a value,
  carrying each run of positive values from one run of positions to the
  next; the features are those states finished by
  :data:`skconv.pooling.STATISTICS`, as on every other path (without the
  compiled loop these statistics take the generic path);
* every dilation group of a batch runs before the next batch is read, and
  batches are spread over threads (the compiled loop releases the GIL).

Memory is a few MiB per thread, whatever the length of the series.
"""

import math
from types import SimpleNamespace

import numpy as np

from ..pooling import STATISTICS, region_bounds
from .cache import BUFFERS
from .compiled import load, warn_missing
from .core import split_over_threads

# The compiled counts (optional: without them, numpy's passes give the same counts).
compiled_count_above = getattr(load("_stat_loops"), "count_above", None)
# The compiled states of the other statistics of positive values (optional:
# without them, those statistics take the generic path).
compiled_positive_stats = getattr(load("_stat_loops"), "positive_stats", None)
# The whole run loop of a region in one compiled call (copies, GEMM, states).
compiled_biased_region = getattr(load("_stat_loops"), "biased_region", None)

SERIES_POOLINGS = ("ppv", "mpv", "mipv", "lspv")
"""The statistics this path computes (``"ppv"`` alone, or with the others)."""

# The partial states the compiled positive_stats loop updates, by statistic.
_STATES = ("count", "possum", "offsets", "run")

# Series per batch, and bytes of maps per run of positions. Long runs pay:
# each run costs 3 numpy calls per bias (measured on 256 series of 1460
# samples, 2 threads: 0.65 s with 4 MiB runs, 1.1 s with 1 MiB, 2.7 s with
# 256 KiB, where the calls' overhead dominates).
_BATCH_SERIES = 128
_RUN_BYTES = 4 << 20
# With the compiled counts (series-major batches), measured on 2 threads:
# ACSF1 (200 series of 1460) 0.22 s with batches of 32, 0.25 with 128;
# OSULeaf and ArrowHead fastest with 64.
_BATCH_SERIES_COMPILED = 32
# A run's uint8 sums must not overflow.
_MAX_RUN = 255
# When the compiled loop runs a whole region (one call, no numpy call per run
# to pay for): bytes of maps per GEMM run, kept in the core's second-level
# cache (measured, 5000 series of 500 samples: 2 MiB runs 1.88 s, 4 MiB
# 1.97, 512 KiB 2.03; rows shorter than about 64 positions slow the counts);
# for the direct loop, bytes of one kernel's values over a run, in the
# first-level cache, and the shortest run.
_GEMM_BYTES = 2 << 20
_DIRECT_BYTES = 32 << 10
_DIRECT_MIN_RUN = 128
# Rows longer than this (taps times channels) are not split (the pairwise
# comparison of common_weight grows with its square; many-channel rows are
# mostly zeros, which the GEMM handles as well).
_MAX_SPLIT_DEPTH = 64
# Batches of fewer series are stored series-major, (m, C, L): numpy's sum
# over positions then runs along contiguous positions instead of along rows
# of m booleans (measured, 84 kernels x 4 biases: 0.26 ns a boolean with
# rows of 16 against 0.08 series-major; batch-last wins from 64 series on).
_SERIES_MAJOR_BELOW = 64
# Booleans compared in one call. Large: every numpy call hands the GIL over
# between threads, which costs more on this 2-core machine than the cache
# misses of large blocks (measured: 256 KiB blocks 2.1x slower than 16 MiB
# with 2 threads; a one-call np.add.reduce instead of pairwise halving 1.2x
# slower).
_COMPARE_BYTES = 16 << 20


def series_batch_size(n, n_threads):
    """Series per batch: a batch for every thread, at most the path's batch."""
    batch = _BATCH_SERIES if compiled_count_above is None else _BATCH_SERIES_COMPILED
    return max(1, min(batch, -(-n // max(1, n_threads))))


def _run_length(m, n_kernels, itemsize):
    return int(max(1, min(_MAX_RUN, _RUN_BYTES // max(1, m * n_kernels * itemsize))))


class _Scratch:
    """One thread's work buffers, taken from the process pool and reused.

    A fresh buffer costs a page fault per 4 KiB on its first write (most of
    the time of short series); these are kept for every batch and group of a
    call, grown when a larger one is needed, and given back at the end.
    """

    def __init__(self):
        self._buffers = {}

    def get(self, name, shape, dtype):
        """An uninitialised array ``shape``, ``dtype`` (a view of ``name``'s buffer)."""
        dtype = np.dtype(dtype)
        size = math.prod(shape) * dtype.itemsize
        buffer = self._buffers.get(name)
        if buffer is None or buffer.nbytes < size:
            if buffer is not None:
                BUFFERS.give(buffer)
            buffer = self._buffers[name] = BUFFERS.take((max(size, 1),), np.uint8)
        return buffer[:size].view(dtype).reshape(shape)

    def release(self):
        """Give every buffer back to the pool."""
        for buffer in self._buffers.values():
            BUFFERS.give(buffer)
        self._buffers.clear()


def common_weight(kernel_rows):
    """Each row's most frequent weight, and the rows less it.

    Parameters
    ----------
    kernel_rows : ndarray of shape (K, D)

    Returns
    -------
    alphas : ndarray of shape (K,)
        0 for a row with no repeated weight.
    deltas : ndarray of shape (K, D), C-contiguous
        ``kernel_rows - alphas[:, None]``: with MiniRocket's kernels (-1 on
        six taps, 2 on three) three taps of 3 each.
    """
    # How often each weight occurs in its row: one comparison of every pair.
    repeats = (kernel_rows[:, :, None] == kernel_rows[:, None, :]).sum(axis=-1)
    most = np.argmax(repeats, axis=1)
    rows = np.arange(len(kernel_rows))
    alphas = np.where(repeats[rows, most] > 1, kernel_rows[rows, most], 0).astype(kernel_rows.dtype)
    deltas = np.ascontiguousarray(kernel_rows - alphas[:, None])
    return alphas, deltas


def split_rows(kernel_rows):
    """A part's kernels as the compiled direct loop reads them: rows, and alphas.

    The compiled direct loop computes ``alphas[k] * (sum of every tap) +
    deltas[k] . taps``, the sum shared by every kernel, reading only the
    nonzero taps of each row; it pays when that is fewer multiply-adds than
    the rows have nonzero weights (MiniRocket's kernels: 345 for 84 kernels
    of 9 taps against 756; measured 1.25x faster than a GEMM per run on 5000
    series of 500 samples). Otherwise (or without the compiled loop) the
    rows, and no alphas: one GEMM per run. The planner
    (:func:`skconv.engine.planner.plan_series`) asks this for its method.

    Parameters
    ----------
    kernel_rows : ndarray of shape (K, D), C-contiguous

    Returns
    -------
    rows : ndarray of shape (K, D)
    alphas : ndarray of shape (K,) or None
    """
    if (
        compiled_biased_region is None
        or compiled_count_above is None
        or not kernel_rows.size
        or kernel_rows.shape[1] > _MAX_SPLIT_DEPTH
    ):
        return kernel_rows, None
    alphas, deltas = common_weight(kernel_rows)
    n_kernels, depth = kernel_rows.shape
    if np.count_nonzero(deltas) + n_kernels + depth < np.count_nonzero(kernel_rows):
        return deltas, alphas
    return kernel_rows, None


def _sum_positions(above, width, series_major=False):
    """Sum ``above`` (uint8 0/1) over its ``width`` positions.

    ``above`` is ``(K, B, run, m)`` (batch-last) or ``(K, B, m, width)``
    (series-major). One ``einsum`` in ``uint8`` (a run has at most 255
    positions, so the sums fit): a single pass over the booleans, measured
    1.6x faster than pairwise halving with ``np.add`` and 2x faster than
    ``np.add.reduce``. Returns the ``(K, B, m)`` sums.
    """
    if series_major:
        return np.einsum("kbmw->kbm", above)
    return np.einsum("kbwm->kbm", above[:, :, :width])


def shared_padding(length, pads, padding_mode):
    """The widest pads, and which of ``pads`` are the middle of that padding.

    A batch padded once by the widest pads serves every dilation whose own
    padding is its middle (``np.pad(a, P)[P - p : P + L + p] == np.pad(a, p)``):
    true in every numpy mode while pads are shorter than the series; for
    longer reflecting pads, some numpy versions (1.25) reflect differently, so
    each pair of pads is checked on the index map.

    Parameters
    ----------
    length : int
    pads : list of (int, int)
    padding_mode : str

    Returns
    -------
    widest : (int, int)
    shared : list of bool
    """
    left, right = max(a for a, _ in pads), max(b for _, b in pads)
    index = np.arange(length)
    wide = np.pad(index, (left, right), mode=padding_mode)
    shared = [
        np.array_equal(wide[left - a : left + length + b], np.pad(index, (a, b), mode=padding_mode))
        for a, b in pads
    ]
    return (left, right), shared


def _padded(series, pads, padding_mode, scratch, axis=1, name="padded"):
    """``series`` (``(C, L, m)``, or ``(m, C, L)`` with ``axis=2``) padded along L.

    In the reused buffer ``name``.
    """
    left, right = pads
    if not (left or right):
        return series
    length = series.shape[axis]
    shape = list(series.shape)
    shape[axis] = left + length + right
    padded = scratch.get(name, tuple(shape), series.dtype)
    along = np.moveaxis(padded, axis, 0)  # views with L first
    if padding_mode == "constant":
        along[:left] = 0
        along[left + length :] = 0
        along[left : left + length] = np.moveaxis(series, axis, 0)
    else:  # every other mode is an index map: which sample each padded slot copies
        index = np.pad(np.arange(length), (left, right), mode=padding_mode)
        np.take(series, index, axis=axis, out=padded)
    return padded


def group_biased(
    series,
    first,
    geometry,
    kernel_rows,
    biases,
    n_regions,
    out,
    scratch,
    series_major=False,
    poolings=("ppv",),
    alphas=None,
):
    """Biased statistics of one dilation group's part for a batch of series, into ``out``.

    Parameters
    ----------
    series : ndarray of shape (C, L', m), or (m, C, L') if ``series_major``
        The batch, batch-last (or series-major), C-contiguous, padded at least
        by ``geometry.pads``.
    first : int
        Where the series padded by ``geometry.pads`` starts along ``L'``.
    geometry : Geometry
        A 1-D geometry (height 1).
    kernel_rows : ndarray of shape (K, k * C)
        The kernels as rows, taps in (tap, channel) order.
    biases : ndarray of shape (K, B)
        In the computation dtype.
    n_regions : int
        Pooling regions along the series.
    out : ndarray of shape (m, K, B, len(poolings), n_regions)
        Where the features go (any strides, e.g. a view of every other
        kernel's columns of the whole output).
    scratch : _Scratch
    series_major : bool, default=False
        The layout of ``series``; the maps' columns follow it: ``(positions,
        m)`` batch-last, ``(m, positions)`` series-major. Statistics other
        than ``"ppv"`` need it (and the compiled loop).
    poolings : tuple of str, default=("ppv",)
        Keys of :data:`SERIES_POOLINGS`.
    alphas : ndarray of shape (K,), default=None
        With the compiled loop, series-major: each kernel is ``alphas[k]`` on
        every tap plus ``kernel_rows[k]`` (see :func:`split_rows`), and the
        compiled direct loop computes it (one sum of the taps shared by every
        kernel, then the few taps of each row). None: one GEMM per run.

    Returns
    -------
    out : ndarray

    Notes
    -----
    A run's maps come out of one GEMM kernel-major, ``(K, positions * m)``:
    each kernel's values are one contiguous row. The compiled loop counts a
    series-major run in one call; numpy compares each row with its kernel's
    bias as a scalar (numpy's fastest comparison loop: about 0.1 ns per value
    against 0.23 for a row of per-column biases).
    """
    if series_major:
        m, n_channels, _ = series.shape
    else:
        n_channels, _, m = series.shape
    n_kernels, n_biases = biases.shape
    taps, dilation, stride = geometry.kernel_shape[1], geometry.dilation[1], geometry.stride[1]
    n_positions = geometry.out_shape[1]
    dtype = kernel_rows.dtype
    run = _run_length(m, n_kernels, dtype.itemsize)
    counts_only = tuple(poolings) == ("ppv",)
    # Booleans compared at once: every bias of as many kernels as the budget
    # holds (they stay in cache for the sums), or fewer biases of one kernel.
    per_kernel = n_biases * run * m
    kernel_chunk = int(max(1, min(n_kernels, _COMPARE_BYTES // per_kernel)))
    chunk = (
        n_biases if kernel_chunk > 1 else int(max(1, min(n_biases, _COMPARE_BYTES // (run * m))))
    )
    patches = scratch.get("patches", (taps * n_channels * run * m,), dtype)
    maps = scratch.get("maps", (n_kernels * run * m,), dtype)  # a run's prefix is contiguous
    compiled = compiled_count_above is not None
    if not (compiled and series_major):
        if not counts_only:
            raise ValueError("statistics other than 'ppv' need the compiled loop, series-major")
        above = scratch.get("above", (kernel_chunk, chunk, run * m), bool)
    shape = (n_regions, n_kernels, n_biases, m)
    counts = scratch.get("counts", shape, np.int32)
    counts[...] = 0
    if not counts_only:
        possum = scratch.get("possum", shape, np.float64)
        offsets = scratch.get("offsets", shape, np.float64)
        run_now = scratch.get("run", shape, np.int32)
        best = scratch.get("best", shape, np.int32)
        for state in (possum, offsets, run_now, best):
            state[...] = 0
    levels = biases[:, :, None]  # (K, B, 1): one scalar per kernel and bias
    bounds = region_bounds(n_positions, n_regions)
    whole_regions = compiled and compiled_biased_region is not None and series_major
    if alphas is not None and not whole_regions:  # the rows themselves, for the GEMM
        kernel_rows, alphas = kernel_rows + alphas[:, None], None
    if whole_regions:  # the compiled loop runs each region in one call
        direct = alphas is not None
        if direct:  # the values of a kernel over a run, in a buffer of the first-level cache
            run = int(max(_DIRECT_MIN_RUN, _DIRECT_BYTES // (m * dtype.itemsize)))
        else:  # a GEMM per run, its maps in the core's cache
            run = int(max(1, _GEMM_BYTES // (m * n_kernels * dtype.itemsize)))
        run = max(1, min(run, n_positions, 1 << 15))  # the loop's index sums fit an int
        if direct:
            patches = maps = scratch.get("maps", (2 * run * m,), dtype)
        else:
            patches = scratch.get("patches", (taps * n_channels * run * m,), dtype)
            maps = scratch.get("maps", (n_kernels * run * m,), dtype)
        for region in range(n_regions):
            states = (
                ()
                if counts_only
                else (possum[region], offsets[region], run_now[region], best[region])
            )
            compiled_biased_region(
                series,
                first,
                taps,
                dilation,
                stride,
                bounds[region],
                bounds[region + 1],
                run,
                kernel_rows,
                biases,
                patches,
                maps,
                counts[region],
                *states,
                direct=direct,
                alphas=alphas,
            )
    item = series.itemsize
    for region in range(0 if whole_regions else n_regions):
        for p0 in range(bounds[region], bounds[region + 1], run):
            width = min(p0 + run, bounds[region + 1]) - p0
            # The taps' windows, one strided view copied at once: (k, C, width, m)
            # batch-last, (k, C, m, width) series-major.
            if series_major:
                shape = (taps, n_channels, m, width)
                offset = (first + p0 * stride) * item
                strides = (dilation * item, series.strides[1], series.strides[0], stride * item)
            else:
                shape = (taps, n_channels, width, m)
                offset = (first + p0 * stride) * m * item
                strides = (dilation * m * item, series.strides[0], stride * m * item, item)
            windows = np.ndarray(shape, dtype, buffer=series, offset=offset, strides=strides)
            matrix = patches[: windows.size].reshape(shape)
            np.copyto(matrix, windows)
            matrix = matrix.reshape(taps * n_channels, width * m)
            values = maps[: n_kernels * width * m].reshape(n_kernels, width * m)
            np.matmul(kernel_rows, matrix, out=values)
            if not counts_only:
                compiled_positive_stats(
                    values.reshape(n_kernels, m, width),
                    biases,
                    p0 - bounds[region],
                    counts[region],
                    possum[region],
                    offsets[region],
                    run_now[region],
                    best[region],
                )
                continue
            if compiled and series_major:
                compiled_count_above(values.reshape(n_kernels, m, width), biases, counts[region])
                continue
            block = values[:, None, :]
            for k0 in range(0, n_kernels, kernel_chunk):
                k1 = min(k0 + kernel_chunk, n_kernels)
                for j0 in range(0, n_biases, chunk):
                    j1 = min(j0 + chunk, n_biases)
                    step = above[: k1 - k0, : j1 - j0, : width * m]
                    np.greater(block[k0:k1], levels[k0:k1, j0:j1], out=step)
                    flags = step.view(np.uint8).reshape(k1 - k0, j1 - j0, *shape[2:])
                    total = counts[region, k0:k1, j0:j1]
                    np.add(total, _sum_positions(flags, width, series_major), out=total)
    for region in range(n_regions):
        size = dtype.type(bounds[region + 1] - bounds[region])
        # The partial states, (m, K, B) each, finished as on every other path.
        states = {"count": counts[region].transpose(2, 0, 1)}
        if not counts_only:
            states.update(
                possum=possum[region].transpose(2, 0, 1),
                offsets=offsets[region].transpose(2, 0, 1),
                run=best[region].transpose(2, 0, 1),
            )
        for i, name in enumerate(poolings):
            out[..., i, region] = STATISTICS[name].finish(states, size)
    return out


def biased_series_features(
    images,
    groups,
    biases,
    n_regions,
    columns,
    out,
    *,
    dtype,
    padding_mode="constant",
    n_threads=1,
    progress=None,
    plan=None,
    poolings=("ppv",),
):
    """Write the biased statistics of every dilation group to ``out``.

    Parameters
    ----------
    images : array of shape (n, C, 1, L)
        Sliceable along the first axis; one batch per thread is read at a time.
    groups : list of list of ConvPart
        The parts of each dilation group (1-D geometries).
    biases : list of ndarray of shape (K, B_g)
    n_regions : int
    columns : list of slice
        Each group's columns in ``out``.
    out : ndarray of shape (n, n_features)
    dtype : dtype
        The computation dtype.
    padding_mode : str, default="constant"
    n_threads : int, default=1
    progress : callable, default=None
        Called with the number of series of each finished batch.
    plan : PartPlan, default=None
        Its threads, batch size and method (from
        :func:`skconv.engine.planner.plan_series`: ``"direct"``, the kernels
        split by :func:`split_rows`, or ``"gemm"``); None: as the planner
        would decide, with ``n_threads`` threads and the default batches.
    poolings : tuple of str, default=("ppv",)
        Keys of :data:`SERIES_POOLINGS`, in the order of the columns (kernel,
        bias, statistic, region).

    Returns
    -------
    out : ndarray
    """
    n = images.shape[0]
    if plan is None:  # as the planner would decide
        direct = all(
            split_rows(part.weights.T)[1] is not None for parts in groups for part in parts
        )
        plan = SimpleNamespace(
            n_threads=max(1, min(n_threads, n)), method="direct" if direct else "gemm"
        )
        plan.batch_size = series_batch_size(n, plan.n_threads)
    rows_of = split_rows if plan.method == "direct" else (lambda rows: (rows, None))
    work = [
        (
            part.geometry,
            *rows_of(np.ascontiguousarray(part.weights.T, dtype=dtype)),
            part.kernels,
            biases[g][part.kernels].astype(dtype),
            columns[g],
            biases[g].shape,
        )
        for g, parts in enumerate(groups)
        for part in parts
    ]
    # Each batch is padded once, by the widest pads; each group reads its part.
    (left, right), shared = shared_padding(
        images.shape[-1], [geometry.pads[1] for geometry, *_ in work], padding_mode
    )
    poolings = tuple(poolings)
    if poolings != ("ppv",) and compiled_positive_stats is None:
        raise ValueError(f"poolings {poolings} on the series path need the compiled loop")
    if compiled_count_above is None:
        warn_missing("_stat_loops")
    n_threads, size = plan.n_threads, plan.batch_size

    def run(start, stop):
        scratch = _Scratch()
        try:
            for s0 in range(start, stop, size):
                s1 = min(s0 + size, stop)
                rows = np.asarray(images[s0:s1], dtype=dtype)[:, :, 0, :]
                series_major = compiled_count_above is not None or s1 - s0 < _SERIES_MAJOR_BELOW
                series = np.ascontiguousarray(rows if series_major else rows.transpose(1, 2, 0))
                axis = 2 if series_major else 1
                padded = _padded(series, (left, right), padding_mode, scratch, axis)
                for shares, (
                    geometry,
                    rows_k,
                    alphas,
                    kernels,
                    bias,
                    cols,
                    (n_kernels, n_biases),
                ) in zip(shared, work):
                    source, first = padded, left - geometry.pads[1][0]
                    if not shares:  # its own padding
                        own = _padded(series, geometry.pads[1], padding_mode, scratch, axis, "own")
                        source, first = own, 0
                    target = out[s0:s1, cols].reshape(
                        s1 - s0, n_kernels, n_biases, len(poolings), n_regions
                    )
                    group_biased(
                        source,
                        first,
                        geometry,
                        rows_k,
                        bias,
                        n_regions,
                        target[:, kernels],
                        scratch,
                        series_major,
                        poolings,
                        alphas,
                    )
                if progress is not None:
                    progress(s1 - s0)
        finally:
            scratch.release()

    # One BLAS thread even for one worker: the run GEMMs are small, and BLAS
    # threads woken for each cost more than they save (measured 1.2 ms per
    # 1536 x 9 x 84 GEMM inside the loop against 0.04 ms single-threaded).
    split_over_threads(run, n, n_threads)
    return out
