"""From images to feature rows: carry out a part's plan (batches or tiles), allocate the output."""

from dataclasses import dataclass, field

import numpy as np

from ..pooling import NONLINEARITIES, pool_biased_maps, pool_maps
from .compiled import load
from .core import map_batches
from .fft import FftTiles
from .gemm import STREAM_OUTPUT_BYTES, GemmTiles
from .learned import ENCODERS, encode, pooled_features
from .planner import plan_conv
from .tiled import run_tiles


def n_features_out(geometry, n_kernels, poolings, grid, n_biases=None):
    """Number of features per sample for a pooling spec (``poolings=None``: maps)."""
    if poolings is None:
        return n_kernels * geometry.n_positions
    return n_kernels * (n_biases or 1) * len(poolings) * grid[0] * grid[1]


@dataclass(frozen=True)
class FeatureLayout:
    """The order, number and names of the output features: the one place that knows.

    Features come in (dilation group, kernel, bias, statistic, region row,
    region column) order; whole maps (``poolings=None``) in (dilation group,
    kernel, row, column) order.

    Parameters
    ----------
    n_kernels : int
    poolings : tuple of str or None
    grid : tuple of int
        ``(gh, gw)`` pooling regions (``(1, g)`` for signals).
    n_axes : int
        Spatial axes of the samples (1 or 2).
    dilations : tuple of tuple of int
        One per-axis dilation per group.
    n_biases : tuple of (int or None)
        Biases per kernel in each group; None: no biases.
    map_shapes : tuple of tuple of int
        ``(h_out, w_out)`` of each group's maps.
    name_dilations : bool
        Whether names carry the dilation (set when ``dilation`` asked for several).
    """

    n_kernels: int
    poolings: tuple
    grid: tuple
    n_axes: int
    dilations: tuple
    n_biases: tuple
    map_shapes: tuple
    name_dilations: bool = False

    def group_size(self, g):
        """Number of features of group ``g``."""
        if self.poolings is None:
            return self.n_kernels * self.map_shapes[g][0] * self.map_shapes[g][1]
        per_map = len(self.poolings) * self.grid[0] * self.grid[1]
        return self.n_kernels * (self.n_biases[g] or 1) * per_map

    @property
    def n_features(self):
        """Number of features per sample."""
        return sum(self.group_size(g) for g in range(len(self.dilations)))

    def group_slices(self):
        """The columns of each group in the output, as slices."""
        bounds = np.cumsum([0] + [self.group_size(g) for g in range(len(self.dilations))])
        return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]

    def names(self, prefix):
        """Feature names ``{prefix}_[d{dilation}_]k{kernel}[_b{bias}]_{statistic}[_r{region}]``.

        Regions are ``r{row}c{col}`` for images and ``r{index}`` for signals
        (no region suffix with one region); whole maps are named
        ``{prefix}_[d{dilation}_]k{kernel}_y{row}_x{col}`` (``_t{index}`` for signals).
        """
        names = []
        for g, dilation in enumerate(self.dilations):
            group = prefix
            if self.name_dilations:
                # Series given as images of height 1 name their one real axis.
                axes = dilation[-1:] if self.map_shapes[g][0] == 1 else dilation
                group += "_d" + "x".join(str(d) for d in axes)
            places = self._places(g)
            biases = [""] if not self.n_biases[g] else [f"_b{j}" for j in range(self.n_biases[g])]
            names += [
                f"{group}_k{k}{b}_{p}"
                for k in range(self.n_kernels)
                for b in biases
                for p in places
            ]
        return np.asarray(names, dtype=object)

    def _places(self, g):
        one_d = self.n_axes == 1
        if self.poolings is None:
            h, w = self.map_shapes[g]
            if one_d:
                return [f"t{x}" for x in range(w)]
            return [f"y{y}_x{x}" for y in range(h) for x in range(w)]
        gh, gw = self.grid
        regions = (
            [f"_r{x}" for x in range(gw)]
            if one_d
            else [f"_r{y}c{x}" for y in range(gh) for x in range(gw)]
        )
        regions = [""] if gh * gw == 1 else regions
        return [f"{p}{r}" for p in self.poolings for r in regions]


@dataclass(frozen=True)
class PoolingSpec:
    """What becomes of the maps: the nonlinearity, the pooling, the biases.

    The default spec keeps the raw maps (what :func:`skconv.convolve` returns).

    Attributes
    ----------
    nonlinearity : str or None
        A key of ``NONLINEARITIES``, an encoder (``"triangle"``,
        ``"soft_threshold"``), or None.
    poolings : tuple of str or None
        None keeps the maps, flattened in (kernel, row, column) order.
    grid : tuple of int
        ``(gh, gw)`` pooling regions.
    sigma : float or None
        Gaussian pooling windows (see :func:`~skconv.pooling.pool_maps`).
    threshold : float
        The soft threshold's offset.
    biases : ndarray of shape (K, B) or None
        Pool each map once per bias (see :func:`~skconv.pooling.pool_biased_maps`).
    group : int or None
        Consecutive kernels that compete (the competing statistics).
    """

    nonlinearity: object = None
    poolings: object = None
    grid: tuple = (1, 1)
    sigma: object = None
    threshold: float = 0.0
    biases: object = field(default=None, compare=False, repr=False)
    group: object = None


def make_reducer(spec, response=None):
    """The per-batch function ``(maps, patches) -> features (m, n_out)``.

    Parameters
    ----------
    spec : PoolingSpec
    response : ResponsePlan, default=None
        For learned banks and encoders: how raw GEMM columns become responses.

    Returns
    -------
    reduce_maps : callable
    """
    nonlinearity, poolings, grid = spec.nonlinearity, spec.poolings, spec.grid
    pool_sigma, threshold, biases, group = spec.sigma, spec.threshold, spec.biases, spec.group

    def finish(maps, pointwise):
        if biases is not None:
            # A batch-last batch arrives as one pseudo-sample whose columns are
            # (kernel, image) pairs, kernel-major.
            columns = np.repeat(biases, maps.shape[-1] // biases.shape[0], axis=0)
            return pool_biased_maps(maps, pointwise, poolings, grid, columns, pool_sigma, group)
        if poolings is not None:
            return pool_maps(maps, pointwise, poolings, grid, pool_sigma, group)
        if pointwise is not None:
            NONLINEARITIES[pointwise](maps)
        return np.moveaxis(maps, -1, 1).reshape(maps.shape[0], -1)

    if response is None:
        return lambda maps, patches: finish(maps, nonlinearity)
    pointwise = None if nonlinearity in ENCODERS else nonlinearity

    def learned(maps, patches):
        m, h, w, _ = maps.shape
        raw = maps.reshape(m * h * w, -1)
        values = encode(raw, patches.reshape(m * h * w, -1), response, nonlinearity, threshold)
        return finish(values.reshape(m, h, w, -1), pointwise)

    return learned


OUTPUT_ALIGNMENT = 64
"""Bytes the output arrays' first item is aligned to (a cache line): numpy's
own allocations are 16-byte aligned, and the compiled loops' stores of whole
vectors, and their stores around the caches, each then straddle two lines
(stores around the caches into lines they fill only in part ran at about
half the rate). torch aligns its tensors the same way."""


HUGE_PAGE_BYTES = 2 << 20
"""Outputs of this many bytes up to :data:`NUMPY_HUGE_PAGE_BYTES` start on
a boundary of this many (a huge page of x86-64 Linux), in a buffer of at
least :data:`NUMPY_HUGE_PAGE_BYTES`, so that the kernel backs them with
huge pages (transparent huge pages, which numpy asks for on buffers that
large): a few faults per call instead of one per 4 KiB page. An output
freshly mapped (after another library's calls in the process trimmed the
heap) otherwise takes hundreds of them while the loops write it: 800 on
the 2.4 MB maps of 128 7x7 kernels on a 4x480x40 image, whose call then
took 1.54 ms instead of 0.82 (0.87 ms with huge pages). The cost: the
output's last huge page is whole in memory (at most 2 MiB more than its
bytes). Larger outputs get numpy's huge pages as they are: 2 MiB more
would take a 31 MB output past glibc's largest heap allocation (32 MiB)
into a fresh mapping, zeroed, at every call (2.6x the time of a call on
15x3x64x64 images with 128 kernels)."""

NUMPY_HUGE_PAGE_BYTES = 4 << 20
"""numpy advises huge pages (``madvise``) for buffers of at least this many bytes."""

FRESH_MAPPING_BYTES = 32 << 20
"""glibc maps buffers of at least this many bytes afresh at every allocation
(its largest heap allocation); their pages are all faulted in as they are
first written, so mapping them first costs nothing more (smaller outputs
may come from heap memory still mapped, where the extra pass measured
1.1-1.6x the time of a 1 ms call)."""


def allocate_output(n_samples, n_out, dtype, n_threads=1):
    """The ``(n_samples, n_out)`` output array, its first item aligned to
    :data:`OUTPUT_ALIGNMENT` bytes (:data:`HUGE_PAGE_BYTES` for outputs of
    2 to 4 MiB), or a MemoryError saying what to change. Outputs of
    :data:`FRESH_MAPPING_BYTES` or more have their huge pages mapped
    before the loops write them, by up to ``n_threads`` threads each over
    its own (``_encoders.touch_pages``; without the compiled loops, by one
    numpy write): threads of the loops writing one fresh huge page at once
    each had the kernel clear a page of 2 MiB for it, which made the maps
    of 7 float64 images of 72x128 with 128 kernels (66 MB) take 48 ms with
    two threads instead of 12."""
    dtype = np.dtype(dtype)
    nbytes = n_samples * n_out * dtype.itemsize
    alignment, size = OUTPUT_ALIGNMENT, nbytes + OUTPUT_ALIGNMENT
    if HUGE_PAGE_BYTES <= nbytes < NUMPY_HUGE_PAGE_BYTES:
        alignment, size = HUGE_PAGE_BYTES, nbytes + HUGE_PAGE_BYTES
    try:
        buffer = np.empty(size, dtype=np.uint8)
    except MemoryError:
        gib = n_samples * n_out * np.dtype(dtype).itemsize / 2**30
        raise MemoryError(
            f"The output of {n_samples} sample(s) x {n_out} feature(s) in {np.dtype(dtype)} "
            f"needs {gib:.1f} GiB, more than this machine can allocate. Transform fewer "
            "samples at a time (or a dask array), pool the maps (pooling, pool_grid), "
            "use a stride, fewer kernels, or float32 data."
        ) from None
    if size >= FRESH_MAPPING_BYTES:
        loops = load("_encoders")
        if loops is None:
            buffer[::HUGE_PAGE_BYTES] = 0
        else:
            loops.touch_pages(buffer, n_threads)
    start = -buffer.ctypes.data % alignment
    return buffer[start : start + nbytes].view(dtype).reshape(n_samples, n_out)


def conv_features(
    images,
    geometry,
    weights,
    spec=PoolingSpec(),
    *,
    response=None,
    plan=None,
    method="gemm",
    spectra=None,
    padding_mode="constant",
    batch_size=None,
    n_threads=1,
    progress=None,
    out=None,
    layout=None,
):
    """Features of ``images`` ``(n, C, H, W)``, as a :class:`~skconv.engine.planner.PartPlan` says.

    The plan (from :func:`skconv.engine.planner.plan_conv` when not given) decides
    everything: small images go batch by batch through
    :func:`~skconv.engine.core.map_batches` (many images per GEMM, or per compiled
    loop, max pooling fused into it where it pays); larger ones, and the FFT
    method, tile by tile through :func:`~skconv.engine.tiled.run_tiles` (each image
    cut into output tiles whose workspace fits scikit-learn's
    ``working_memory``, pooling merged across tiles), so working memory never
    grows with the image.

    Parameters
    ----------
    images : array of shape (n, C, H, W)
        Sliceable along the first axis (ndarray, memmap, ...); any real dtype
        (each batch is converted to ``weights.dtype`` as it is read).
    geometry : Geometry
    weights : ndarray of shape (kh * kw * C, K)
        Kernel matrix in the computation dtype.
    spec : PoolingSpec, default=PoolingSpec()
        Nonlinearity, pooling and biases (the default keeps the raw maps).
    response : ResponsePlan, default=None
        For learned banks and encoders: how raw GEMM columns become responses.
    plan : PartPlan, default=None
        How to run; None plans it here from the arguments below.
    method : {"gemm", "fft"}, default="gemm"
        The algorithm (already resolved from ``"auto"``), for the planner.
    spectra : KernelSpectra, default=None
        The kernels' spectra cache; required with ``method="fft"``.
    padding_mode : str, default="constant"
    batch_size : int or None, default=None
        Forces batches of this many images (for the planner).
    n_threads : int, default=1
        Threads available (for the planner).
    progress : callable, default=None
        See :func:`~skconv.engine.core.map_batches`.
    out : ndarray of shape (n, n_out), default=None
        Preallocated output (e.g. a memmap); allocated when None.
    layout : {"channels_last", "batch_last"}, default=None
        Forces a batch layout (for the planner).

    Returns
    -------
    features : ndarray of shape (n, n_out)
    """
    n_kernels = weights.shape[1] if response is None else response.n_kernels
    biases = spec.biases
    if biases is not None and spec.poolings is None:
        raise ValueError("Biases need pooling: each map is pooled once per bias.")
    n_biases = None if biases is None else biases.shape[1]
    n_out = n_features_out(geometry, n_kernels, spec.poolings, spec.grid, n_biases)
    if out is None:
        out = allocate_output(images.shape[0], n_out, weights.dtype, n_threads)
    if plan is None:
        plan = plan_conv(
            images.shape[0],
            geometry,
            weights.shape[1],
            weights.dtype,
            spec,
            response=response,
            method=method,
            n_threads=n_threads,
            batch_size=batch_size,
            layout=layout,
        )
    if plan.path == "encoded":
        return pooled_features(
            images, geometry, response, spec, out, plan, padding_mode, progress, weights=weights
        )
    if plan.path in ("batches", "fused_max"):
        return map_batches(
            images,
            geometry,
            weights,
            make_reducer(spec, response),
            out,
            padding_mode=padding_mode,
            batch_size=plan.batch_size,
            n_threads=plan.n_threads,
            progress=progress,
            layout=plan.layout,
            max_grid=spec.grid if plan.fused == ("max",) else None,
            direct=plan.method == "direct",
        )
    return _tiled_features(
        images, geometry, weights, spec, out, plan, response, spectra, padding_mode, progress
    )


def _tiled_features(
    images, geometry, weights, spec, out, plan, response, spectra, padding_mode, progress
):
    """The tiles path of :func:`conv_features`: the plan's tiling, groups and threads."""
    n_kernels = weights.shape[1] if response is None else response.n_kernels
    tiling = plan.tiling
    # Unpooled maps of the "planes" loop take their relu in its registers.
    rectified = (
        plan.method == "planes"
        and response is None
        and spec.poolings is None
        and spec.nonlinearity == "relu"
    )
    if plan.method == "fft":

        def make_workspace(size):
            return FftTiles(geometry, tiling, spectra, size, weights.dtype, plan.fft_workers)

    else:
        encoded = spec.nonlinearity if response is not None else None
        # Large maps returned as they are: nothing reads them before the caller.
        stream = (
            spec.poolings is None
            and (spec.nonlinearity is None or rectified)
            and out.nbytes >= STREAM_OUTPUT_BYTES
        )

        def make_workspace(size):
            return GemmTiles(
                geometry,
                tiling,
                weights,
                size,
                response,
                encoded,
                spec.threshold,
                plan.method,
                stream,
                plan.loop_threads,
                rectify=rectified,
            )

        make_workspace.writes_out = response is None and out.dtype == weights.dtype
        # (the compiled loops write the maps of any tile in place; a GEMM per
        # image pays for large tiles only)
        make_workspace.writes_out_at_any_size = plan.method in ("direct", "planes")
        # The compiled loops call no BLAS (the poolers may).
        make_workspace.uses_blas = (
            plan.method not in ("direct", "planes") or spec.poolings is not None
        )

    pointwise = None if spec.nonlinearity in ENCODERS else spec.nonlinearity
    if rectified:
        pointwise = None  # applied by the loop
    pooling = None
    if spec.poolings is not None:
        pooling = dict(
            nonlinearity=pointwise,
            poolings=spec.poolings,
            grid=spec.grid,
            sigma=spec.sigma,
            group=spec.group,
        )
        if spec.biases is not None:
            pooling["biases"] = spec.biases
    return run_tiles(
        images,
        geometry,
        tiling,
        make_workspace,
        out,
        group_size=plan.batch_size,
        n_kernels=n_kernels,
        pooling=pooling,
        nonlinearity=pointwise,
        padding_mode=padding_mode,
        n_threads=plan.n_threads // plan.loop_threads,
        progress=progress,
    )
