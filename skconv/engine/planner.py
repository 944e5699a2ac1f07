"""The planner: how each part of a transform runs, decided once, in one place.

Every decision about *how* to compute (which path, which layout, batch and
tile sizes, which statistics are fused into a compiled loop, how many threads)
is taken here, from the geometry, the number of images, the dtype, the pooling
and the ``working_memory`` budget, and written into an immutable
:class:`PartPlan`. The executors (:func:`skconv.engine.features.conv_features`,
:func:`skconv.engine.core.map_batches`, :func:`skconv.engine.tiled.run_tiles`, the series
path) carry a plan out and decide nothing, so :func:`skconv.convolve` and
:class:`skconv.ConvFeatures` always run the same way on the same work, and
:meth:`skconv.ConvFeatures.explain` shows exactly what ``transform`` will do,
with the cost model's predicted time and working memory (as SQL's ``EXPLAIN``).

Which method (GEMM or FFT) a part uses is chosen by the cost model of
:mod:`skconv.engine.costs` when the estimator is fitted (the FFT's kernel spectra
are computed then); everything else is chosen here, at transform time.
"""

import threading
from dataclasses import dataclass, field

import numpy as np

from ..pooling import COMPETING_POOLINGS, SIGN_PRESERVING, pools_by_max_only
from . import core as _core
from . import gemm as _gemm
from . import learned as _learned
from .core import (
    _BATCH_BYTES,
    DIRECT_MIN_WIDTH,
    choose_layout,
    default_batch_size,
    uses_batch_last_loop,
)
from .costs import (
    FFT_TILE_BYTES,
    GEMM_TILE_BYTES,
    MIN_SPLIT_POSITIONS,
    MIN_THREAD_SECONDS,
    fft_tiling,
    gemm_seconds,
    gemm_tiling,
    group_size,
    plane_seconds,
    working_memory_bytes,
)
from .fft import fft_bytes_per_image, fft_shape, spectra_bytes
from .gemm import gemm_bytes_per_position, plane_bytes, plane_loop_threads, uses_direct
from .learned import POOLED_BLOCK_POSITIONS as BLOCK_POSITIONS
from .learned import POOLED_COLUMN_LANES as COLUMN_LANES
from .learned import pooled_states

# Maps of at least this many positions go through the tiled GEMM path: its
# plane-wise patch copies beat the cached-index gather once planes are long
# (benchmarks/bench_scale.py), and smaller maps batch many images per GEMM.
_MIN_TILED_POSITIONS = 2048

# Channels-last batches hold at least this many images, or the tiles run.
_MIN_BATCH_IMAGES = 8

# Bytes of the padded batch of 16 images up to which larger single-channel
# images pooled by max only take the batch-last loop with the max fused.
_FUSED_MAX_BATCH_BYTES = 32 << 20

# Bytes of padded images per batch of the "encoded" path (and at most
# _ENCODED_MAX_BATCH images): enough to make Python's cost per batch small.
_ENCODED_BATCH_BYTES = 1 << 20
_ENCODED_MAX_BATCH = 256

# Taps of the largest kernels (7x7) the batch-last loop takes where the
# "planes" loop runs.
_BATCH_LOOP_MAX_TAPS = 49

# Patches (kh * kw * C) below which the direct loop and the fused max loop
# stay ahead of the "planes" loop (which copies the image into its phases
# first): 1.3-2.5x faster with 6 3x3 kernels on 8x8 to 48x48 single-channel
# images, 1.3-2x slower from 5x5 on 34x34 to 128x128 (2 threads; and
# compare_revisions.py's "convolve 32 k3 C1 K16"); and maps below which the
# fused max loop stays ahead (28x28 digits at stride 2, 64 5x5 kernels: 0.7x
# the planes loop's time).
_PLANE_MIN_TAPS = 25
_FUSED_MAX_MIN_PLANE_POSITIONS = 1024

# Bytes of the windows of a group of tiles computed by the "planes" loop.
_PLANE_GROUP_BYTES = 512 << 10
# Its threads: modelled seconds of work per thread below which fewer are used,
# and the positions a tile keeps when an image is split between threads
# (measured: one image's map rows shared by 2 threads, 3 ms of work 1.8x
# faster, 0.56 ms 1.2x, 0.26 ms 1.0x; the model predicts about a third of
# these times before calibration).
_PLANE_MIN_THREAD_SECONDS = 0.25e-3
_PLANE_MIN_SPLIT_POSITIONS = 256
# The same rule for the loop's own OpenMP threads, which wait spinning (no
# worker to wake, no GIL): measured on one image, 2 threads against 1, 0.85x
# the time on 29 us of modelled work (64x64, 8 3x3 kernels), 0.71-0.74x on
# 80-150 us, 0.52x from 0.9 ms; 1.09x on 7 us.
_PLANE_LOOP_MIN_THREAD_SECONDS = 20e-6
# The modelled seconds of one image's fold from which the pooled planes loop
# runs its own threads (bench_pooled.py, the two ways in turn: 1.1-1.25x
# faster on its own threads from 1.4 ms of modelled work per image, 1.3-1.45x
# slower at 0.1-0.6 ms, where the Python workers overlap their batches'
# Python steps).
_ENCODED_LOOP_MIN_IMAGE_SECONDS = 1e-3

# The cost model's constants are for float32; float64 moves twice the bytes
# and BLAS runs at about half the rate.
_FLOAT64_FACTOR = 2.0

# Seconds per comparison of a map value with a bias in the series path's
# counts (measured: 0.3 ns compiled, about 1 ns with numpy's comparisons).
_SECONDS_PER_COMPARISON = 0.3e-9
# Seconds per (map value, bias) in the loop that updates the states of
# MultiRocket's statistics (measured 0.24 ns, 84 kernels x 74 biases, float32).
_SECONDS_PER_STATE_UPDATE = 0.6e-9

# Measured over modelled seconds, per (path, method): the cost model counts
# the compute of the GEMM, the compiled loop and the FFT; this adds what it
# leaves out (pooling, copies, Python's cost per batch or tile, two threads
# sharing the work). The medians of benchmarks/bench_plan.py's 248 cells on
# this machine (2026-12-02; float32 and float64 alike, their own factor is
# _FLOAT64_FACTOR).
_MEASURED_OVER_MODEL = {
    ("batches", "gemm"): 3.8,
    ("batches", "direct"): 2.6,
    ("fused_max", "direct"): 1.2,
    ("tiles", "gemm"): 1.8,
    ("tiles", "direct"): 2.3,
    # Its constants were fitted on measured times, then divided by this factor.
    ("tiles", "planes"): 1.8,
    ("tiles", "fft"): 1.9,
    ("encoded", "gemm"): 1.0,
    # Below the tiles' factor: the loop folds each block of maps into the
    # states while in cache, where the tiles write the maps and pool them.
    ("encoded", "planes"): 1.5,
    ("series", "gemm"): 0.8,
    # The same GEMM-based model; the direct loop measured 0.67x the GEMM
    # runs' time (make_minirocket, 5000 series of 500 samples, 2 threads).
    ("series", "direct"): 0.8 * 0.67,
}


# The loops have grown faster since those medians were taken, all paths
# alike: on 2026-12-05 bench_plan.py's cells measured 0.54-0.66 of their
# predictions by (path, method) (median 0.61), so every factor is scaled by
# this one. The same for all leaves every choice between paths as it was.
_SPEED_SINCE_FIT = 0.6


def _calibrated(path, method, seconds):
    """Modelled seconds of a path and method, scaled to what is measured."""
    return seconds * _MEASURED_OVER_MODEL.get((path, method), 1.0) * _SPEED_SINCE_FIT


PATHS = ("batches", "fused_max", "encoded", "tiles", "series")
"""How a part's maps are computed and reduced.

``"batches"``: many small images per GEMM (or per compiled loop), pooled while
the batch's maps are in cache; ``"fused_max"``: batch-last batches through the
compiled loop, which keeps each region's maximum and never writes the maps;
``"encoded"``: a learned bank's patches gathered, multiplied (GEMM), encoded
and pooled image by image in one compiled loop, or plain kernels' responses
computed from the image's column phases (method ``"planes"``) and pooled in
that loop, the maps never written;
``"tiles"``: each image cut into output tiles whose workspace fits the budget,
pooling merged across tiles; ``"series"``: signals pooled by the proportion of
values above fitted biases, every dilation of a batch at once.
"""


@dataclass(frozen=True)
class PartPlan:
    """How one part (one geometry and its kernels) of a transform runs.

    Attributes
    ----------
    path : str
        One of :data:`PATHS`.
    method : {"gemm", "direct", "planes", "fft"}
        ``"direct"`` and ``"planes"``: a compiled loop computes the maps (the
        GEMM method without the patch matrix; ``"planes"`` on CPUs with
        AVX-512 or AVX2, any stride and dtype).
    layout : {"channels_last", "batch_last", "channels_first"} or None
        The batch layout (batch paths; ``"channels_first"``: the padded
        images of the ``"encoded"`` path).
    batch_size : int or None
        Images per batch (batch paths), per group of tiles (tiles path) or per
        batch of series.
    tiling : Tiling or None
        The output tiles of one image (tiles path).
    n_threads : int
        Threads that share the images (or the tiles).
    loop_threads : int
        Of those, the threads a compiled loop runs itself (the ``"planes"``
        loop's OpenMP threads, which share the items of each call); the
        executor's own workers are ``n_threads // loop_threads``.
    fused : tuple of str
        What a compiled loop computes without writing the maps: ``("max",)``
        for the fused max, ``("ppv",)`` for the series path's counts, the
        partial states (e.g. ``("max",)``, ``("sum", "count")``) on the
        ``"encoded"`` path.
    seconds : float
        Predicted seconds (the cost model of :mod:`skconv.engine.costs`).
    memory : int
        Predicted working memory in bytes, beyond the input and the output.
    fft_workers : int
        ``workers`` of :mod:`scipy.fft` inside a tile (FFT, fewer work items
        than threads).
    """

    path: str
    method: str
    layout: object
    batch_size: object
    tiling: object
    n_threads: int
    fused: tuple = ()
    seconds: float = 0.0
    memory: int = 0
    fft_workers: int = 1
    loop_threads: int = 1

    @property
    def tile_shape(self):
        """``(th, tw)`` of the output tiles, or None."""
        return None if self.tiling is None else tuple(self.tiling.tile_shape)

    def summary(self):
        """One dict of the plan's printable facts."""
        return {
            "path": self.path,
            "method": self.method,
            "layout": self.layout or "-",
            "batch": self.batch_size or "-",
            "tiles": "-"
            if self.tiling is None
            else f"{self.tiling.n_tiles} x {'x'.join(map(str, self.tile_shape))}",
            "threads": self.n_threads,
            "in_loop": self.loop_threads if self.loop_threads > 1 else "-",
            "fused": "+".join(self.fused) or "-",
            "seconds": self.seconds,
            "memory_mib": self.memory / 2**20,
        }


@dataclass(frozen=True)
class TransformPlan:
    """The plans of every part of a transform, in the order they run.

    Attributes
    ----------
    n_samples : int
    dtype : numpy.dtype
        The dtype the features are computed in.
    parts : tuple of tuple
        ``(label, n_kernels, PartPlan)`` per part; ``label`` names the dilation
        group and padding.
    per_block : bool
        The plan of one dask block of ``n_samples`` (each block runs it).
    """

    n_samples: int
    dtype: object
    parts: tuple = field(default_factory=tuple)
    per_block: bool = False

    @property
    def seconds(self):
        """Predicted seconds of the whole transform."""
        return sum(plan.seconds for _, _, plan in self.parts)

    @property
    def memory(self):
        """Predicted peak working memory in bytes (parts run one after another)."""
        return max((plan.memory for _, _, plan in self.parts), default=0)

    def rows(self):
        """One dict per part: its label, kernels and :meth:`PartPlan.summary`."""
        return [
            {"part": label, "kernels": n_kernels, **plan.summary()}
            for label, n_kernels, plan in self.parts
        ]

    def __str__(self):
        columns = [
            "part",
            "kernels",
            "path",
            "method",
            "layout",
            "batch",
            "tiles",
            "threads",
            "in_loop",
            "fused",
            "seconds",
            "memory_mib",
        ]
        cells = [
            [
                f"{row[c]:.3g}"
                if c == "seconds"
                else f"{row[c]:.1f}"
                if c == "memory_mib"
                else str(row[c])
                for c in columns
            ]
            for row in self.rows()
        ]
        widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
        what = "each dask block of up to" if self.per_block else "transform of"
        lines = [
            f"{what} {self.n_samples} sample(s) in {np.dtype(self.dtype)}: predicted "
            f"{self.seconds:.3g} s, {self.memory / 2**20:.1f} MiB of working memory",
            "  ".join(c.ljust(w) for c, w in zip(columns, widths)),
        ]
        lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
        return "\n".join(lines)

    def _repr_pretty_(self, printer, cycle):  # IPython
        printer.text(str(self))


def series_applies(geometries, poolings, nonlinearity, learned, has_biases):
    """True when the series path computes every part: biased statistics of 1-channel signals.

    The proportion of positive values (``"ppv"``) alone, after a
    sign-preserving nonlinearity; or MultiRocket's statistics (``"ppv"``,
    ``"mpv"``, ``"mipv"``, ``"lspv"``) after none or ReLU (which leave the
    positive values as they are), when their compiled loop is built.

    Parameters
    ----------
    geometries : list of Geometry
        Every part's geometry.
    poolings : tuple of str or None
    nonlinearity : str or None
    learned : bool
    has_biases : bool
    """
    from .series import SERIES_POOLINGS, compiled_positive_stats

    if not has_biases or learned or not poolings:
        return False
    if not all(g.in_shape[0] == 1 and g.kernel_shape[0] == 1 for g in geometries):
        return False
    if tuple(poolings) == ("ppv",):
        return nonlinearity in SIGN_PRESERVING
    return (
        compiled_positive_stats is not None
        and set(poolings) <= set(SERIES_POOLINGS)
        and nonlinearity in (None, "relu")
    )


def plan_series(
    n, geometries, n_kernels, n_biases, dtype, n_threads, poolings=("ppv",), direct=False
):
    """The plan of the series path for ``n`` signals (every part at once).

    ``direct``: the kernels split into a shared sum of the taps plus a few
    taps (:func:`skconv.engine.series.split_rows`), which the compiled loop
    correlates directly; else one GEMM per run of positions.
    """
    from .series import series_batch_size

    itemsize = np.dtype(dtype).itemsize
    factor = _FLOAT64_FACTOR if itemsize == 8 else 1.0
    per_comparison = (
        _SECONDS_PER_COMPARISON if tuple(poolings) == ("ppv",) else _SECONDS_PER_STATE_UPDATE
    )
    seconds = 0.0
    for geometry, k, b in zip(geometries, n_kernels, n_biases):
        comparisons = geometry.n_positions * k * b
        seconds += n * (gemm_seconds(geometry, k, 4) * factor + comparisons * per_comparison)
    n_threads = max(1, min(n_threads, n))
    size = series_batch_size(n, n_threads)
    widest = max(g.padded_shape[1] for g in geometries)
    memory = n_threads * size * widest * (max(n_kernels) + 9) * itemsize
    method = "direct" if direct else "gemm"
    return PartPlan(
        "series",
        method,
        None,
        size,
        None,
        n_threads,
        tuple(poolings),
        _calibrated("series", method, seconds / n_threads),
        int(memory),
    )


def _fused_max_pays(n_images, geometry, dtype, budget, n_threads):
    """True when larger images pooled by max only should take the fused batch-last loop.

    Small images always do. Beyond them the loop with max pooling fused never
    writes the maps, where the tiled path writes every tile's maps and pools
    them. Measured (2 threads, 16-64 kernels of 3x3 to 7x7, pool_grid=4):
    1.5-4.5x faster for 16-64 single-channel images of 64-512 pixels, even
    when fewer than 16 images per thread leave a thread idle; 1.2-2.9x for 32
    3-channel images of 64-256 pixels, but slower than the tiles' two threads
    when 16 3-channel images of 256 pixels had one thread. So: 2-D images, one
    channel and at least 16 images, or 2-3 channels and 16 images per thread;
    their padded batch of 16 must fit ``_FUSED_MAX_BATCH_BYTES`` and the
    per-thread budget.
    """
    if DIRECT_MIN_WIDTH is None:
        return False
    hp, wp = geometry.padded_shape
    c = geometry.n_channels
    batch_bytes = DIRECT_MIN_WIDTH * hp * wp * c * np.dtype(dtype).itemsize
    enough = n_images >= DIRECT_MIN_WIDTH * (1 if c == 1 else max(1, n_threads))
    return (
        c <= 3
        and enough
        and geometry.in_shape[0] > 1
        and uses_batch_last_loop(geometry, DIRECT_MIN_WIDTH, dtype)
        and batch_bytes <= min(_FUSED_MAX_BATCH_BYTES, budget)
    )


def _batch_layout(geometry, n_kernels, itemsize, dtype, *, learned, biased, by_max, layout):
    if learned:  # learned responses read each position's patch row
        return "channels_last"
    if layout is not None:
        return layout
    if biased:
        # The biased PPV count compares whole rows of (kernel, image) columns:
        # 0.36 ns per comparison batch-last against 1.1 channels-last (150-long
        # maps of 84 kernels, measured).
        return "batch_last"
    if by_max and uses_batch_last_loop(geometry, DIRECT_MIN_WIDTH or 0, dtype):
        # Max pooling fused into the compiled loop never writes the maps, so
        # their size no longer matters.
        return "batch_last"
    return choose_layout(geometry, n_kernels, itemsize)


def plan_part(
    n,
    geometry,
    n_columns,
    dtype,
    *,
    pooled,
    by_max=False,
    biased=False,
    learned=False,
    method="gemm",
    n_threads=1,
    batch_size=None,
    layout=None,
):
    """The plan of one part: ``n`` images, one geometry, ``n_columns`` GEMM columns.

    Parameters
    ----------
    n : int
        Number of images.
    geometry : Geometry
    n_columns : int
        Columns of the kernel matrix (kernels, or a learned plan's columns).
    dtype : dtype
        The computation dtype.
    pooled : bool
        The maps are pooled (else they are the output).
    by_max : bool, default=False
        Pooled by region maxima only (see :func:`~skconv.pooling.pools_by_max_only`).
    biased : bool, default=False
        Pooled once per fitted bias.
    learned : bool, default=False
        A learned bank's responses (GEMM on the patch matrix only).
    method : {"gemm", "fft"}, default="gemm"
        From the cost model (resolved at fit, or by :func:`skconv.convolve`).
    n_threads : int, default=1
    batch_size : int, default=None
        Forces the batch path with this many images per batch.
    layout : {"channels_last", "batch_last"}, default=None
        Forces a batch layout.

    Returns
    -------
    plan : PartPlan
    """
    dtype = np.dtype(dtype)
    itemsize = dtype.itemsize
    factor = _FLOAT64_FACTOR if itemsize == 8 else 1.0
    budget = max(1, working_memory_bytes() // max(1, n_threads))
    if method == "fft":
        return _plan_fft(n, geometry, n_columns, itemsize, budget, n_threads, factor)
    per_image = geometry.n_positions * gemm_bytes_per_position(geometry, n_columns, itemsize)
    small = (
        pooled
        and per_image <= min(_BATCH_BYTES, budget)
        and geometry.n_positions < _MIN_TILED_POSITIONS
    )
    by_max = by_max and not learned and not biased
    layout = _batch_layout(
        geometry,
        n_columns,
        itemsize,
        dtype,
        learned=learned,
        biased=biased,
        by_max=by_max,
        layout=layout,
    )
    if small and batch_size is None and layout == "channels_last" and n_columns < 128:
        # Channels-last batches of fewer than _MIN_BATCH_IMAGES images lose to
        # the tiles (one GEMM per group of images, or the compiled loop) unless
        # the kernels are many (BLAS's GEMM then runs near its peak): 1.1-2.7x
        # slower measured with 16-64 kernels (32x32 images with 3 channels,
        # 21x21 kernels in float64, 40x40 3-channel images in float32), 1.2x
        # faster with 256 (bench_transform.py's W2 and W4).
        small = default_batch_size(geometry, n_columns, itemsize) >= _MIN_BATCH_IMAGES
    fused_large = (
        not small
        and batch_size is None
        and by_max
        and _fused_max_pays(n, geometry, dtype, budget, n_threads)
    )
    if batch_size is None and not learned and not biased and layout == "batch_last":
        # The batch-last loop (fused max or not) was measured faster than the
        # tiles with kernels up to 7x7; beyond, the "planes" loop is 2-5x
        # faster (benchmarks/bench_pooled.py: 15x15 to 25x25 kernels).
        kh, kw = geometry.kernel_shape
        if kh * kw > _BATCH_LOOP_MAX_TAPS and plane_seconds(geometry, n_columns, itemsize):
            small = fused_large = False
    if small or batch_size is not None or fused_large:
        threads = n_threads
        if fused_large:  # 16 images a batch (the loop's minimum), at least 16 per thread
            batch_size = DIRECT_MIN_WIDTH
            threads = max(1, min(n_threads, n // DIRECT_MIN_WIDTH))
        return _plan_batches(
            n, geometry, n_columns, dtype, factor, threads, batch_size, layout, by_max
        )
    return _plan_gemm_tiles(n, geometry, n_columns, dtype, budget, n_threads, factor, learned)


def _plan_batches(n, geometry, n_columns, dtype, factor, n_threads, batch_size, layout, by_max):
    itemsize = dtype.itemsize
    batch_last = layout == "batch_last"
    fused = batch_last and by_max and uses_batch_last_loop(geometry, DIRECT_MIN_WIDTH or 0, dtype)
    if batch_size is None:
        batch_size = default_batch_size(geometry, n_columns, itemsize, layout, fused)
    batch_size = max(1, min(batch_size, n))
    direct = batch_last and uses_batch_last_loop(geometry, batch_size, dtype)
    n_threads = max(1, min(n_threads, -(-n // batch_size)))
    hp, wp = geometry.padded_shape
    padded = batch_size * hp * wp * geometry.n_channels * itemsize
    if fused and direct:
        memory = padded + batch_size * n_columns * itemsize * 64
    else:
        memory = (
            padded
            + batch_size
            * geometry.n_positions
            * (geometry.patch_size * (not direct) + n_columns)
            * itemsize
        )
    seconds = n * gemm_seconds(geometry, n_columns, itemsize) * factor / n_threads
    path, method = "fused_max" if fused and direct else "batches", "direct" if direct else "gemm"
    return PartPlan(
        path,
        method,
        layout,
        batch_size,
        None,
        n_threads,
        ("max",) if fused and direct else (),
        _calibrated(path, method, seconds),
        int(memory * n_threads),
    )


def _plan_gemm_tiles(n, geometry, n_columns, dtype, budget, n_threads, factor, learned):
    itemsize = dtype.itemsize
    # A thread per MIN_THREAD_SECONDS of work (by the cost model): below that,
    # waking a second thread and sharing the GIL cost more than it saves
    # (benchmarks/bench_convolve_threads.py). Work for every thread: fewer
    # images than threads split each image into as many tiles, and groups hold
    # at most n / n_threads images.
    per_image = gemm_seconds(geometry, n_columns, itemsize)
    response = "learned" if learned else None
    # The compiled loops need no patch matrix: their tiles (and groups) are larger.
    method = "direct" if uses_direct(geometry, geometry.out_shape[1], dtype, response) else "gemm"
    planes = None if learned else plane_seconds(geometry, n_columns, itemsize)
    if method == "direct" and geometry.patch_size < _PLANE_MIN_TAPS:
        planes = None
    if planes is not None and _calibrated("tiles", "planes", planes) < _calibrated(
        "tiles", method, per_image
    ):
        method, per_image = "planes", planes
    work_seconds = n * per_image
    # The planes loop built with OpenMP shares each call's images and blocks
    # of map rows between its own threads, which wait spinning: no tiles or
    # groups are cut for threads, and no worker has to be woken per call.
    in_loop = method == "planes" and plane_loop_threads(n_threads) > 1
    # The planes loop holds no GIL and no BLAS: a second thread pays on less
    # work, on still less when the loop runs it.
    min_seconds = _PLANE_MIN_THREAD_SECONDS if method == "planes" else MIN_THREAD_SECONDS
    if in_loop:
        min_seconds = _PLANE_LOOP_MIN_THREAD_SECONDS
    if work_seconds < n_threads * min_seconds:
        n_threads = max(1, int(work_seconds / min_seconds))
    loop_threads = plane_loop_threads(n_threads) if in_loop else 1
    workers = n_threads // loop_threads
    min_tiles = -(-workers // n) if n < workers else 1
    min_split = MIN_SPLIT_POSITIONS
    if method == "planes":
        min_split = _PLANE_MIN_SPLIT_POSITIONS
        if workers > 1 and n % workers and n < 4 * workers:
            min_tiles = workers  # a few images shared unevenly: split them too
    tiling = gemm_tiling(
        geometry, n_columns, itemsize, budget, min_tiles, method != "gemm", min_split
    )
    if method == "direct" and not uses_direct(geometry, tiling.tile_shape[1], dtype, response):
        method = "gemm"  # tiles too narrow for the loop: the patch matrix after all
        tiling = gemm_tiling(geometry, n_columns, itemsize, budget, min_tiles)
    per_tile = (tiling.tile_shape[0] * tiling.tile_shape[1]) * gemm_bytes_per_position(
        geometry, n_columns, itemsize, method != "gemm"
    )
    m = group_size(-(-n // workers), per_tile, min(GEMM_TILE_BYTES, budget))
    memory = per_tile * m
    if method == "planes":
        # The loop reads each window twice (its phases, then the taps): groups
        # whose windows stay in L2.
        window = geometry.n_channels * tiling.window_shape[0] * tiling.window_shape[1]
        # (the loop's threads take the group's images in turn: an L2 each)
        m = min(m, group_size(m, window * itemsize, _PLANE_GROUP_BYTES * loop_threads))
        memory = per_tile * m + plane_bytes(geometry, n_columns, itemsize, tiling.window_shape)
    m = balanced_group_size(n, m, tiling.n_tiles, workers)
    return PartPlan(
        "tiles",
        method,
        None,
        m,
        tiling,
        n_threads,
        (),
        _calibrated("tiles", method, work_seconds * factor / n_threads),
        int(memory * n_threads),
        loop_threads=loop_threads,
    )


def balanced_group_size(n, largest, n_tiles, n_threads):
    """Images per group, at most ``largest``, that share the work evenly between threads.

    The tiled driver (:func:`~skconv.engine.tiled.run_tiles`) gives each
    thread an equal run of (group, tile) items; with a short last group some
    thread gets more images (18 images in groups of 8 on 2 threads: 8 and
    10). Smaller groups are taken, the largest whose busiest thread has at
    most 10% more than its share (else the most even).
    """
    if n_threads == 1:
        return largest  # one worker: every group size is balanced
    best, best_load = largest, None
    for size in sorted({-(-n // (n_threads * j)) for j in range(1, 9)}, reverse=True):
        if size > largest:
            continue
        groups = [min(size, n - s) for s in range(0, n, size)]
        items = [g for g in groups for _ in range(n_tiles)]
        bounds = [len(items) * i // n_threads for i in range(n_threads + 1)]
        load = max(sum(items[a:b]) for a, b in zip(bounds[:-1], bounds[1:])) / n_tiles
        if load <= 1.1 * n / n_threads:
            return size
        if best_load is None or load < best_load:
            best, best_load = size, load
    return best


def _plan_encoded(
    n, geometry, n_columns, dtype, n_threads, batch_size, states, grid, method="gemm"
):
    """The ``"encoded"`` path's plan, or None when one padded image exceeds the budget.

    ``method``: ``"gemm"`` for a learned bank (gathered patches times the
    plan's columns), ``"planes"`` for plain kernels (None where that loop
    does not run).

    Threads split the images (or, with fewer images than threads, each
    image's map rows, their states merged after); each gathers, multiplies,
    encodes and pools one image at a time (the compiled loop's runs of
    positions stay in cache), so working memory is a batch of padded images,
    the loop's buffers and the states, whatever the image size.
    """
    itemsize = dtype.itemsize
    hp, wp = geometry.padded_shape
    per_image = hp * wp * geometry.n_channels * itemsize
    budget = max(1, working_memory_bytes() // max(1, n_threads))
    if 2 * per_image > budget:
        return None
    n_threads = max(1, min(n_threads, n if n >= n_threads else geometry.out_shape[0]))
    factor = _FLOAT64_FACTOR if itemsize == 8 else 1.0
    # The planes loop built with OpenMP folds whole images on its own threads
    # (the states are the images'), on batches of at least one image per
    # thread, where an image is enough work (_ENCODED_LOOP_MIN_IMAGE_SECONDS).
    # Else, as for a learned bank's loop, Python workers each prepare and
    # finish their own batches while the other folds: on the loop's threads
    # those steps run alone (measured 1.45x the time on 5,000 MNIST digits
    # with PatchBank, 1.2-1.4x on 38-113 small images with 64 kernels).
    # Fewer images than threads share their rows between workers.
    loop_threads = 1
    if method == "planes" and n >= n_threads > 1:
        image_seconds = plane_seconds(geometry, n_columns, itemsize)
        if image_seconds is not None and image_seconds * factor >= _ENCODED_LOOP_MIN_IMAGE_SECONDS:
            loop_threads = plane_loop_threads(n_threads)
    if batch_size is None:
        batch_size = min(_ENCODED_MAX_BATCH, max(1, _ENCODED_BATCH_BYTES // per_image))
        batch_size = max(batch_size, loop_threads)
    batch_size = max(1, min(batch_size, -(-n // (n_threads // loop_threads))))
    n_states, regions = len(states), grid[0] * grid[1]
    # The loop's buffers: a block's patches, columns and values, and a row of states.
    block = max(BLOCK_POSITIONS, geometry.out_shape[1]) + COLUMN_LANES
    loop = block * (geometry.patch_size + 2 * n_columns) * itemsize
    loop += n_states * n_columns * geometry.out_shape[1] * 8
    memory = batch_size * (per_image + n_states * regions * n_columns * 8) + loop
    if method == "planes":
        per_image = plane_seconds(geometry, n_columns, itemsize)
        if per_image is None:
            return None
        memory += plane_bytes(geometry, n_columns, itemsize, geometry.padded_shape)
    else:
        per_image = gemm_seconds(geometry, n_columns, itemsize)
    seconds = n * per_image * factor / n_threads
    return PartPlan(
        "encoded",
        method,
        "channels_first",
        batch_size,
        None,
        n_threads,
        tuple(states),
        _calibrated("encoded", method, seconds),
        int(memory * n_threads),
        loop_threads=loop_threads,
    )


def _plan_fft(n, geometry, n_kernels, itemsize, budget, n_threads, factor):
    tiling, per_image_seconds = fft_tiling(geometry, n_kernels, itemsize, budget)
    shape = fft_shape(tiling.window_shape)
    per_image = fft_bytes_per_image(geometry.n_channels, n_kernels, shape, itemsize)
    m = group_size(n, per_image, min(FFT_TILE_BYTES, budget))
    n_items = -(-n // m) * tiling.n_tiles
    workers = n_threads if n_items < n_threads else 1
    memory = per_image * m * n_threads + spectra_bytes(
        geometry.n_channels, n_kernels, shape, itemsize
    )
    return PartPlan(
        "tiles",
        "fft",
        None,
        m,
        tiling,
        n_threads,
        (),
        _calibrated("tiles", "fft", n * per_image_seconds * factor / n_threads),
        int(memory),
        workers,
    )


# Plans already made (plan_conv), by everything they depend on: the same
# work asked again (a convolve call, a transform of a few samples, dask blocks
# of one shape) skips 20-30 us of planning. At most _MAX_PLANS, the oldest
# dropped first; lookups need no lock, insertions take it (threads of dask
# plan at once).
_PLANS = {}
_MAX_PLANS = 256
_PLANS_LOCK = threading.Lock()


def _loop_state(n_threads):
    """What the plans depend on beyond their work: which compiled loops are
    there (tests and benchmarks withdraw some), the threads the ``"planes"``
    loop runs for ``n_threads`` (OpenMP's limits and a fork change them), the
    register loop it takes and any layout forced for tests."""
    built = (
        _core.correlate_batch_last is None,
        _gemm.correlate_windows is None,
        _learned.compiled_pool is None,
    )
    if _gemm.correlate_planes is None:
        return built
    encoders = _gemm._encoders
    return (*built, plane_loop_threads(n_threads), encoders.columns_level(), encoders._plane_layout)


def clear_plans():
    """Forget the plans :func:`plan_conv` made (after changing a planner constant)."""
    with _PLANS_LOCK:
        _PLANS.clear()


def plan_conv(
    n,
    geometry,
    n_columns,
    dtype,
    spec,
    *,
    response=None,
    method="gemm",
    n_threads=1,
    batch_size=None,
    layout=None,
):
    """:func:`plan_part` for a :class:`~skconv.engine.features.PoolingSpec` (``conv_features``).

    The plan is made once per distinct work: its arguments, the
    ``working_memory`` of :func:`sklearn.get_config`, and the state of the
    compiled loops (their threads, which OpenMP's limits and a fork change, and
    any layout forced for tests).

    Parameters
    ----------
    n, geometry, n_columns, dtype :
        See :func:`plan_part`.
    spec : PoolingSpec
    response : ResponsePlan, default=None
        A learned bank's responses.
    method, n_threads, batch_size, layout :
        See :func:`plan_part`.

    Returns
    -------
    plan : PartPlan
    """
    dtype = np.dtype(dtype)
    key = (
        n,
        geometry,
        n_columns,
        dtype,
        spec,
        spec.biases is None,
        response is None,
        method,
        n_threads,
        batch_size,
        layout,
        working_memory_bytes(),
        _loop_state(n_threads),
    )
    try:
        return _PLANS[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable spec (e.g. poolings given as a list)
        return _plan_conv(
            n, geometry, n_columns, dtype, spec, response, method, n_threads, batch_size, layout
        )
    plan = _plan_conv(
        n, geometry, n_columns, dtype, spec, response, method, n_threads, batch_size, layout
    )
    with _PLANS_LOCK:
        if len(_PLANS) >= _MAX_PLANS:
            del _PLANS[next(iter(_PLANS))]
        _PLANS[key] = plan
    return plan


def _plan_conv(
    n, geometry, n_columns, dtype, spec, response, method, n_threads, batch_size, layout
):
    learned = response is not None
    if learned and method == "gemm" and layout is None:
        states = pooled_states(spec, dtype)
        if states is not None:
            encoded = _plan_encoded(
                n, geometry, n_columns, dtype, n_threads, batch_size, states, spec.grid
            )
            if encoded is not None:
                return encoded
    by_max = pools_by_max_only(spec.nonlinearity, spec.poolings)
    if spec.group is not None and set(spec.poolings or ()) & set(COMPETING_POOLINGS):
        # Competing kernels must be the columns of one image's maps (a
        # batch-last batch mixes images into the columns).
        layout = "channels_last"
    part = plan_part(
        n,
        geometry,
        n_columns,
        dtype,
        pooled=spec.poolings is not None,
        by_max=by_max and not learned and spec.biases is None,
        biased=spec.biases is not None,
        learned=learned,
        method=method,
        n_threads=n_threads,
        batch_size=batch_size,
        layout=layout,
    )
    if learned or method != "gemm" or layout is not None or batch_size is not None:
        return part
    # Plain kernels pooled in the "planes" loop, the maps never written, where
    # the model predicts it faster than the part's plan.
    states = pooled_states(spec, dtype) if spec.nonlinearity in (None, "relu") else None
    if states is None or spec.group is not None:
        return part
    if part.path == "fused_max" and (
        geometry.patch_size < _PLANE_MIN_TAPS
        or geometry.n_positions < _FUSED_MAX_MIN_PLANE_POSITIONS
    ):
        return part
    encoded = _plan_encoded(
        n, geometry, n_columns, dtype, n_threads, None, states, spec.grid, method="planes"
    )
    return encoded if encoded is not None and encoded.seconds < part.seconds else part
