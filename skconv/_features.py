"""From images to feature rows: engine maps, then nonlinearity and pooling."""

from dataclasses import dataclass, field

import numpy as np

from ._engine import (
    _BATCH_BYTES,
    DIRECT_MIN_WIDTH,
    choose_layout,
    map_batches,
    uses_batch_last_loop,
)
from ._fft import FftTiles, fft_bytes_per_image, fft_shape
from ._gemm import GemmTiles, gemm_bytes_per_position
from ._learned import ENCODERS, encode
from ._methods import (
    FFT_TILE_BYTES,
    GEMM_TILE_BYTES,
    MIN_THREAD_SECONDS,
    fft_tiling,
    gemm_seconds,
    gemm_tiling,
    group_size,
    working_memory_bytes,
)
from ._tiled import run_tiles
from .pooling import NONLINEARITIES, pool_biased_maps, pool_maps, pools_by_max_only

# Maps of at least this many positions go through the tiled GEMM path: its
# plane-wise patch copies beat the cached-index gather once planes are long
# (benchmarks/bench_scale.py), and smaller maps batch many images per GEMM.
_MIN_TILED_POSITIONS = 2048


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
    """

    nonlinearity: object = None
    poolings: object = None
    grid: tuple = (1, 1)
    sigma: object = None
    threshold: float = 0.0
    biases: object = field(default=None, compare=False, repr=False)


def make_reducer(spec, plan=None):
    """The per-batch function ``(maps, patches) -> features (m, n_out)``.

    Parameters
    ----------
    spec : PoolingSpec
    plan : ResponsePlan, default=None
        For learned banks and encoders: how raw GEMM columns become responses.

    Returns
    -------
    reduce_maps : callable
    """
    nonlinearity, poolings, grid = spec.nonlinearity, spec.poolings, spec.grid
    pool_sigma, threshold, biases = spec.sigma, spec.threshold, spec.biases

    def finish(maps, pointwise):
        if biases is not None:
            # A batch-last batch arrives as one pseudo-sample whose columns are
            # (kernel, image) pairs, kernel-major.
            columns = np.repeat(biases, maps.shape[-1] // biases.shape[0], axis=0)
            return pool_biased_maps(maps, pointwise, poolings, grid, columns, pool_sigma)
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


def allocate_output(n_samples, n_out, dtype):
    """The ``(n_samples, n_out)`` output array, or a MemoryError saying what to change."""
    try:
        return np.empty((n_samples, n_out), dtype=dtype)
    except MemoryError:
        gib = n_samples * n_out * np.dtype(dtype).itemsize / 2**30
        raise MemoryError(
            f"The output of {n_samples} sample(s) x {n_out} feature(s) in {np.dtype(dtype)} "
            f"needs {gib:.1f} GiB, more than this machine can allocate. Transform fewer "
            "samples at a time (or a dask array), pool the maps (pooling, pool_grid), "
            "use a stride, fewer kernels, or float32 data."
        ) from None


def _resolve_layout(layout, plan, geometry, n_kernels, itemsize, biases=None, by_max=False):
    if plan is not None:  # learned plans read each position's patch row
        return "channels_last"
    if biases is not None and layout is None:
        # The biased PPV count compares whole rows of (kernel, image) columns:
        # 0.36 ns per comparison batch-last against 1.1 channels-last (150-long
        # maps of 84 kernels, measured).
        return "batch_last"
    dtype = "float32" if itemsize == 4 else "float64"
    if by_max and layout is None and uses_batch_last_loop(geometry, DIRECT_MIN_WIDTH, dtype):
        # Max pooling fused into the compiled loop never writes the maps, so
        # their size no longer matters: W1 of bench_transform.py (28x28
        # images, 64 5x5 kernels, 2x2 max) went from 4.6x to 11.8-17.8x PyTorch.
        return "batch_last"
    return layout or choose_layout(geometry, n_kernels, itemsize)


# Bytes of the padded batch of 16 images up to which larger single-channel
# images pooled by max only take the batch-last loop with the max fused (see
# _fused_max_pays).
_FUSED_MAX_BATCH_BYTES = 32 << 20


def _fused_max_pays(n_images, geometry, dtype, budget, n_threads):
    """True when larger images pooled by max only should take the fused batch-last loop.

    Small images always do (see :func:`_resolve_layout`). Beyond them the
    loop with max pooling fused never writes the maps, where the tiled path
    writes every tile's maps and pools them. Measured in ad hoc runs of
    session 7 (2 threads, 16-64 kernels of 3x3 to 7x7, pool_grid=4): 1.5-4.5x
    faster for 16-64 single-channel images of 64-512 pixels, even when fewer
    than 16 images per thread leave a thread idle; 1.2-2.9x for 32 3-channel
    images of 64-256 pixels, but slower than the tiles' two threads when 16
    3-channel images of 256 pixels had one thread. So: 2-D images, one
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


def conv_features(
    images,
    geometry,
    weights,
    spec=PoolingSpec(),
    *,
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
    """Features of ``images`` of shape ``(n, C, H, W)``, batch by batch or tile by tile.

    Small images go through :func:`~skconv._engine.map_batches` (many images per
    GEMM). Images whose GEMM work does not fit the batch budget, and the FFT
    method, go through :func:`~skconv._tiled.run_tiles`: each image is cut into
    output tiles whose workspace fits the budget (scikit-learn's
    ``working_memory`` shared by the threads), and pooling is fused across
    tiles, so working memory never grows with the image.

    Parameters
    ----------
    images : array of shape (n, C, H, W)
        Sliceable along the first axis (ndarray, memmap, ...).
    geometry : Geometry
    weights : ndarray of shape (kh * kw * C, K)
        Kernel matrix in the computation dtype.
    spec : PoolingSpec, default=PoolingSpec()
        Nonlinearity, pooling and biases (the default keeps the raw maps).
    plan : ResponsePlan, default=None
        For learned banks and encoders: how raw GEMM columns become responses.
    method : {"gemm", "fft"}, default="gemm"
        The algorithm (already resolved from ``"auto"``).
    spectra : KernelSpectra, default=None
        The kernels' spectra cache; required with ``method="fft"``.
    padding_mode : str, default="constant"
    batch_size : int or None, default=None
        Images per batch of the untiled GEMM path.
    n_threads : int, default=1
    progress : callable, default=None
        See :func:`~skconv._engine.map_batches`.
    out : ndarray of shape (n, n_out), default=None
        Preallocated output (e.g. a memmap); allocated when None.
    layout : {"channels_last", "batch_last"}, default=None
        The untiled GEMM path's batch layout; None picks the faster one for the
        geometry (learned plans always use channels-last).

    Returns
    -------
    features : ndarray of shape (n, n_out)
    """
    n_kernels = weights.shape[1] if plan is None else plan.n_kernels
    biases = spec.biases
    if biases is not None and spec.poolings is None:
        raise ValueError("Biases need pooling: each map is pooled once per bias.")
    n_biases = None if biases is None else biases.shape[1]
    n_out = n_features_out(geometry, n_kernels, spec.poolings, spec.grid, n_biases)
    if out is None:
        out = allocate_output(images.shape[0], n_out, weights.dtype)
    itemsize = weights.dtype.itemsize
    per_image = geometry.n_positions * gemm_bytes_per_position(geometry, weights.shape[1], itemsize)
    budget = working_memory_bytes() // max(1, n_threads)
    # Pooled features of small images: many images per GEMM, pooled in cache.
    # Whole maps (no pooling) come out channels-first from the tiled path's
    # plane-wise GEMM without a transpose, which is faster at every size.
    small = (
        spec.poolings is not None
        and per_image <= min(_BATCH_BYTES, budget)
        and geometry.n_positions < _MIN_TILED_POSITIONS
    )
    by_max = plan is None and biases is None
    by_max = by_max and pools_by_max_only(spec.nonlinearity, spec.poolings)
    fused_large = (
        method == "gemm"
        and not small
        and batch_size is None
        and by_max
        and _fused_max_pays(images.shape[0], geometry, weights.dtype, budget, n_threads)
    )
    if fused_large:
        # 16 images a batch (the loop's minimum) and at least 16 per thread.
        batch_size = DIRECT_MIN_WIDTH
        n_threads = max(1, min(n_threads, images.shape[0] // DIRECT_MIN_WIDTH))
    if method == "gemm" and (small or batch_size is not None):
        return map_batches(
            images,
            geometry,
            weights,
            make_reducer(spec, plan),
            out,
            padding_mode=padding_mode,
            batch_size=batch_size,
            n_threads=n_threads,
            progress=progress,
            layout=_resolve_layout(layout, plan, geometry, n_kernels, itemsize, biases, by_max),
            max_grid=spec.grid if by_max else None,
        )
    return _tiled_features(
        images,
        geometry,
        weights,
        spec,
        out,
        plan=plan,
        method=method,
        spectra=spectra,
        padding_mode=padding_mode,
        n_threads=n_threads,
        progress=progress,
    )


def _tiled_features(
    images,
    geometry,
    weights,
    spec,
    out,
    *,
    plan,
    method,
    spectra,
    padding_mode,
    n_threads,
    progress,
):
    """The tiled path of :func:`conv_features` (see there)."""
    n = images.shape[0]
    n_kernels = weights.shape[1] if plan is None else plan.n_kernels
    itemsize = weights.dtype.itemsize
    budget = max(1, working_memory_bytes() // max(1, n_threads))
    if method == "fft":
        tiling, _ = fft_tiling(geometry, n_kernels, itemsize, budget)
        per_image = fft_bytes_per_image(
            geometry.n_channels, n_kernels, fft_shape(tiling.window_shape), itemsize
        )
        m = group_size(n, per_image, min(FFT_TILE_BYTES, budget))
        n_items = -(-n // m) * tiling.n_tiles
        workers = n_threads if n_items < n_threads else 1

        def make_workspace(size):
            return FftTiles(geometry, tiling, spectra, size, weights.dtype, workers)

    else:
        # A thread per MIN_THREAD_SECONDS of work (by the cost model): below
        # that, waking a second thread and sharing the GIL cost more than it
        # saves (benchmarks/bench_convolve_threads.py: one 128x128 image with
        # 16 3x3 kernels takes 1.7x longer on two threads than on one). Work
        # for every thread: fewer images than
        # threads split each image into as many tiles, and groups hold at
        # most n / n_threads images.
        work_seconds = n * gemm_seconds(geometry, weights.shape[1], itemsize)
        if work_seconds < n_threads * MIN_THREAD_SECONDS:
            n_threads = max(1, int(work_seconds / MIN_THREAD_SECONDS))
        min_tiles = -(-n_threads // n) if n < n_threads else 1
        tiling = gemm_tiling(geometry, weights.shape[1], itemsize, budget, min_tiles)
        per_tile = (tiling.tile_shape[0] * tiling.tile_shape[1]) * gemm_bytes_per_position(
            geometry, weights.shape[1], itemsize
        )
        m = group_size(-(-n // n_threads), per_tile, min(GEMM_TILE_BYTES, budget))
        encoded = spec.nonlinearity if plan is not None else None

        def make_workspace(size):
            return GemmTiles(geometry, tiling, weights, size, plan, encoded, spec.threshold)

        make_workspace.writes_out = plan is None and out.dtype == weights.dtype

    pointwise = None if spec.nonlinearity in ENCODERS else spec.nonlinearity
    pooling = None
    if spec.poolings is not None:
        pooling = dict(
            nonlinearity=pointwise, poolings=spec.poolings, grid=spec.grid, sigma=spec.sigma
        )
        if spec.biases is not None:
            pooling["biases"] = spec.biases
    return run_tiles(
        images,
        geometry,
        tiling,
        make_workspace,
        out,
        group_size=m,
        n_kernels=n_kernels,
        pooling=pooling,
        nonlinearity=pointwise,
        padding_mode=padding_mode,
        n_threads=n_threads,
        progress=progress,
    )
