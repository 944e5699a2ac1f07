"""Batched convolution engine: output geometry, cached patch indices, gather + GEMM.

The idea follows the "vectorized convolutions" recipe: the coordinates of every
patch (micro-image) are built once with :func:`numpy.meshgrid` and broadcasting,
cached, and a single matrix product (BLAS) performs all micro-convolutions of a
batch at once. Two things differ from the recipe:

* the cached index describes **one** image (its size depends on the geometry,
  never on the number of images), and images are processed in batches, so peak
  memory is bounded whatever the number of samples;
* the batch is laid out channels-last, so that the gathered patch matrix is
  contiguous and the matrix product writes maps of shape ``(m, h, w, K)``, which
  the pooling functions reduce while they are still in cache; when maps are
  small, a batch-last layout (:class:`_BatchLastWorkspace`) makes the same
  cached index gather runs of one value per image instead of single values
  (or, in float32 with few channels, lets the compiled loop of
  :mod:`skconv.engine._direct` read the padded batch without any patch matrix).

Everything here is a plain function on arrays: no estimator state.
"""

import atexit
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from .._validation import normalize_axes_param
from ..pooling.regions import region_bounds
from .cache import ByteBoundedCache
from .compiled import load, warn_missing

_direct = load("_direct")  # optional: without it, batch-last batches take the GEMM
DIRECT_MIN_WIDTH = getattr(_direct, "MIN_WIDTH", None)
correlate_batch_last = getattr(_direct, "correlate_batch_last", None)
max_pool_batch_last = getattr(_direct, "max_pool_batch_last", None)

# The compiled direct loop is used up to this many channels. Measured on one
# core (float32, 16-64 kernels): 1-16 channels of 3x3-7x7 kernels, 70-90
# GFLOP/s against 25-60 for the patch matrix and OpenBLAS; 64-128 channels,
# 50-70 against 65-72 (OpenBLAS's GEMM is efficient once the patches are long).
DIRECT_MAX_CHANNELS = 16

PADDING_NAMES = ("valid", "same", "full")
PADDING_MODES = ("constant", "reflect", "edge", "symmetric", "wrap")

# Target size in bytes of one batch's maps + patch matrix: small enough to stay in
# cache (0.5-2 MiB L2 per core, 32 MiB shared L3 here) while the nonlinearity and the
# pooling read the maps back, large enough to amortise Python's per-batch cost
# (benchmarks/profile_stages.py shows where a batch's time goes).
_BATCH_BYTES = 4 << 20


class Geometry(NamedTuple):
    """Shapes of one convolution, always in 2-D form (1-D signals have height 1).

    Attributes
    ----------
    n_channels : int
        Number of input channels ``C``.
    in_shape : tuple of int
        Spatial input shape ``(H, W)``.
    kernel_shape : tuple of int
        Spatial kernel shape ``(kh, kw)``.
    stride, dilation : tuple of int
        Per-axis stride and dilation.
    pads : tuple of tuple of int
        ``((top, bottom), (left, right))`` padding.
    out_shape : tuple of int
        Spatial output shape ``(h_out, w_out)``.
    """

    n_channels: int
    in_shape: tuple
    kernel_shape: tuple
    stride: tuple
    dilation: tuple
    pads: tuple
    out_shape: tuple

    @property
    def padded_shape(self):
        """Spatial shape of the padded image ``(Hp, Wp)``."""
        return tuple(n + a + b for n, (a, b) in zip(self.in_shape, self.pads))

    @property
    def n_positions(self):
        """Number of output positions ``h_out * w_out``."""
        return self.out_shape[0] * self.out_shape[1]

    @property
    def patch_size(self):
        """Length of one flattened patch ``kh * kw * C``."""
        return self.kernel_shape[0] * self.kernel_shape[1] * self.n_channels


def _resolve_pads(padding, in_shape, kernel_shape, dilation):
    """Per-axis ``(before, after)`` zero-padding for a padding spec."""
    spans = [d * (k - 1) for k, d in zip(kernel_shape, dilation)]
    if isinstance(padding, str):
        if padding == "valid":
            return tuple((0, 0) for _ in spans)
        if padding == "same":
            return tuple((s // 2, s - s // 2) for s in spans)
        if padding == "full":
            return tuple((s, s) for s in spans)
        raise ValueError(
            f"padding must be one of {PADDING_NAMES}, an int or a sequence of int; got {padding!r}."
        )
    return tuple((p, p) for p in normalize_axes_param(padding, len(spans), "padding", 0))


def make_geometry(input_shape, kernel_shape, *, stride=1, padding="same", dilation=1):
    """Validate a convolution's parameters and compute its output geometry.

    Parameters
    ----------
    input_shape : tuple of int
        ``(C, L)`` for 1-D signals or ``(C, H, W)`` for images.
    kernel_shape : tuple of int
        ``(C, k)`` or ``(C, kh, kw)``.
    stride, dilation : int or tuple of int, default=1
        Per-axis step between output positions and between kernel taps.
    padding : {"valid", "same", "full"}, int or tuple of int, default="same"
        Padding spec. ``"same"`` pads ``dilation * (k - 1)`` in total per axis (the
        extra pixel, if any, after), so that with stride 1 the output keeps the
        input's size.

    Returns
    -------
    geometry : Geometry
        The geometry in 2-D form (1-D signals get height 1).
    """
    input_shape, kernel_shape = tuple(input_shape), tuple(kernel_shape)
    if all(_is_plain(a) for a in (input_shape, kernel_shape, stride, padding, dilation)):
        # Made once per distinct call (a convolve call on images of one
        # shape, dask blocks): the arguments are then hashable, and their
        # types exact, so that no cached value stands for an invalid one.
        return _cached_geometry(input_shape, kernel_shape, stride, padding, dilation)
    return _make_geometry(input_shape, kernel_shape, stride, padding, dilation)


def _is_plain(value):
    """True for a str, an int, or a tuple of ints (bool, float, numpy ints excluded)."""
    kind = type(value)
    return kind is int or kind is str or (kind is tuple and all(type(v) is int for v in value))


def _make_geometry(input_shape, kernel_shape, stride, padding, dilation):
    n_axes = len(input_shape) - 1
    if n_axes not in (1, 2) or len(kernel_shape) != n_axes + 1:
        raise ValueError(
            f"Expected 1 or 2 spatial axes with kernels of the same rank; got input "
            f"shape {tuple(input_shape)} and kernel shape {tuple(kernel_shape)}."
        )
    if input_shape[0] != kernel_shape[0]:
        raise ValueError(
            f"The kernels have {kernel_shape[0]} channel(s) but the images have {input_shape[0]}."
        )
    stride = normalize_axes_param(stride, n_axes, "stride")
    dilation = normalize_axes_param(dilation, n_axes, "dilation")
    spatial, ksize = tuple(input_shape[1:]), tuple(kernel_shape[1:])
    if min(spatial) < 1 or min(ksize) < 1:
        raise ValueError(f"Empty image or kernel: {input_shape} and {kernel_shape}.")
    pads = _resolve_pads(padding, spatial, ksize, dilation)
    out = []
    for n, k, s, d, (a, b) in zip(spatial, ksize, stride, dilation, pads):
        span = d * (k - 1) + 1
        if span > n + a + b:
            raise ValueError(
                f"Kernel of size {ksize} with dilation {dilation} spans {span} pixels, "
                f"larger than the padded input ({n + a + b} pixels along an axis of "
                f"length {n} with padding {padding!r})."
            )
        out.append((n + a + b - span) // s + 1)
    _check_map_fits(out, padding)
    if n_axes == 1:
        spatial, ksize, stride, dilation = (1, *spatial), (1, *ksize), (1, *stride), (1, *dilation)
        pads, out = ((0, 0), *pads), [1, *out]
    return Geometry(int(input_shape[0]), spatial, ksize, stride, dilation, tuple(pads), tuple(out))


_cached_geometry = lru_cache(maxsize=256)(_make_geometry)


@lru_cache(maxsize=1)
def physical_memory_bytes():
    """This machine's physical memory in bytes (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return None


def _check_map_fits(out_shape, padding):
    """Refuse, before any allocation or tiling, maps of which one would not fit in memory.

    One kernel's map of one sample, in float64, larger than the machine's
    memory means work no computation here can finish (a huge ``padding``,
    typically); the message says how much it would take.
    """
    positions = math.prod(int(n) for n in out_shape)  # Python ints: no overflow
    total = physical_memory_bytes()
    if total is not None and positions * 8 > total:
        shape = "x".join(str(n) for n in out_shape)
        raise ValueError(
            f"With padding={padding!r} the map of one kernel on one sample has {shape} "
            f"positions: {positions * 8 / 2**30:,.0f} GiB in float64, more than this "
            f"machine's {total / 2**30:.1f} GiB of memory. Use a smaller padding (or "
            "stride, or image)."
        )


# Patch indices are cached per geometry, bounded in bytes (not in number of
# geometries): the tiled path caches one tile's index, whatever the image size.
_INDEX_CACHE_BYTES = 64 << 20
INDEX_CACHE = ByteBoundedCache(_INDEX_CACHE_BYTES)


def patch_indices(geometry):
    """Flat indices of every patch of one channels-last padded image.

    Built with :func:`numpy.meshgrid` and broadcasting, as in the seed recipe, but
    for a single image (or a single tile of one): the result is shared by all
    images, batches and tiles, so its size never grows with the number of
    samples. Cached in :data:`INDEX_CACHE`, which is bounded in bytes.

    Parameters
    ----------
    geometry : Geometry

    Returns
    -------
    indices : ndarray of shape (h_out * w_out, kh * kw * C), dtype int32 or intp
        ``indices[p]`` lists, in (row, column, channel) order, the positions in a
        flattened ``(Hp, Wp, C)`` image of the patch under output position ``p``;
        int32 when the padded image has fewer than 2**31 values. The array is
        read-only (it is cached).
    """
    return INDEX_CACHE.get(geometry, lambda: _build_patch_indices(geometry))


def _build_patch_indices(geometry):
    (h, w), (kh, kw) = geometry.out_shape, geometry.kernel_shape
    (sh, sw), (dh, dw) = geometry.stride, geometry.dilation
    (hp, wp), c = geometry.padded_shape, geometry.n_channels
    dtype = np.int32 if hp * wp * c < 2**31 else np.intp
    out_y, out_x = np.meshgrid(np.arange(h) * sh, np.arange(w) * sw, indexing="ij")
    tap_y, tap_x, chan = np.meshgrid(
        np.arange(kh) * dh, np.arange(kw) * dw, np.arange(c), indexing="ij"
    )
    rows = out_y.reshape(-1, 1) + tap_y.reshape(1, -1)
    cols = out_x.reshape(-1, 1) + tap_x.reshape(1, -1)
    indices = ((rows * wp + cols) * c + chan.reshape(1, -1)).astype(dtype)
    indices.flags.writeable = False
    return indices


def pad_batch(batch, geometry, padding_mode, out, channels_last=True):
    """Write a batch ``(m, C, H, W)`` into ``out``, padded as the geometry says.

    ``out`` is ``(m, Hp, Wp, C)`` (``channels_last``) or ``(m, C, Hp, Wp)``.
    With ``padding_mode="constant"``, its border must already hold zeros (it
    is never written): buffers reused batch after batch are zeroed once.

    Returns
    -------
    out : ndarray
    """
    (top, bottom), (left, right) = geometry.pads
    h, w = geometry.in_shape
    if channels_last:
        batch = np.moveaxis(batch, 1, -1)
        inside, pads = (
            (slice(None), slice(top, top + h), slice(left, left + w)),
            (
                (0, 0),
                (top, bottom),
                (left, right),
                (0, 0),
            ),
        )
    else:
        inside = (slice(None), slice(None), slice(top, top + h), slice(left, left + w))
        pads = ((0, 0), (0, 0), (top, bottom), (left, right))
    if padding_mode == "constant":
        out[inside] = batch
    else:
        out[...] = np.pad(batch, pads, mode=padding_mode)
    return out


def kernel_matrix(kernels, dtype):
    """Reshape ``(K, C, kh, kw)`` kernels to the ``(kh * kw * C, K)`` GEMM operand."""
    n_kernels = kernels.shape[0]
    # One copy: the (kh, kw, C, K) view made contiguous, then seen as 2-D.
    return np.ascontiguousarray(kernels.transpose(2, 3, 1, 0), dtype=dtype).reshape(-1, n_kernels)


def direct_kernel_rows(kernel_rows, geometry):
    """Kernels ``(K, kh * kw * C)`` as the compiled loop reads them: ``(K4, kh, kw, C)``.

    ``K4`` is ``K`` rounded up to a multiple of 4 (the loop's kernel block),
    with zero kernels (the loop never writes their maps).
    """
    n_kernels, (kh, kw), c = kernel_rows.shape[0], geometry.kernel_shape, geometry.n_channels
    padded = np.zeros((-(-n_kernels // 4) * 4, kh, kw, c), kernel_rows.dtype)
    padded[:n_kernels] = kernel_rows.reshape(n_kernels, kh, kw, c)
    return padded


def uses_batch_last_loop(geometry, batch_size, dtype):
    """True when the compiled loop computes the maps of batch-last batches.

    The loop runs along the batch (16 or 24 images at a time), so it needs at
    least ``DIRECT_MIN_WIDTH`` images per batch; float32 and at most
    ``DIRECT_MAX_CHANNELS`` channels, as on the tiled path.
    """
    applies = np.dtype(dtype) == np.float32 and geometry.n_channels <= DIRECT_MAX_CHANNELS
    if correlate_batch_last is None:
        if applies:
            warn_missing("_direct")
        return False
    return applies and batch_size >= DIRECT_MIN_WIDTH


# Bytes of one region's running maxima (K x batch values) when the compiled
# loop fuses max pooling: every output position reads and writes them, so they
# should stay in the L1/L2 caches. W1 (64 kernels) and W3 (32 kernels) measured
# fastest with 128-256 images per batch.
_FUSED_MAX_BYTES = 32 << 10


def default_batch_size(geometry, n_kernels, itemsize, layout="channels_last", fused_max=False):
    """Number of images per batch so that maps + patches fit about 4 MiB (8 MiB batch-last).

    With ``fused_max`` (batch-last, the compiled loop keeping only the regions'
    maxima), so that one region's maxima fit ``_FUSED_MAX_BYTES``, in multiples
    of 16 images (the loop's block), at least 16.
    """
    if fused_max:
        size = _FUSED_MAX_BYTES // (n_kernels * itemsize) // 16 * 16
        return int(max(16, min(4096, size)))
    per_image = geometry.n_positions * (n_kernels + geometry.patch_size) * itemsize
    size = _BATCH_BYTES // max(per_image, 1)
    if layout == "batch_last":
        # Its maps are reduced in large contiguous blocks, so twice the budget
        # costs little in cache misses and halves the per-batch overhead; the
        # per-position GEMMs want wide batches anyway.
        size = max(2 * size, 128)
    return int(max(1, min(4096, size)))


class _Workspace:
    """Buffers of one worker, allocated once and reused for every batch."""

    def __init__(self, geometry, n_kernels, batch_size, dtype, padding_mode):
        hp, wp = geometry.padded_shape
        c = geometry.n_channels
        self.geometry, self.padding_mode = geometry, padding_mode
        self.padded = np.zeros((batch_size, hp, wp, c), dtype=dtype)
        self.patches = np.empty(
            (batch_size, geometry.n_positions, geometry.patch_size), dtype=dtype
        )
        self.maps = np.empty((batch_size * geometry.n_positions, n_kernels), dtype=dtype)
        self.indices = patch_indices(geometry)
        self.nbytes = self.padded.nbytes + self.patches.nbytes + self.maps.nbytes

    def compute_maps(self, batch, weights, bias):
        """Maps ``(m, h_out, w_out, K)`` of a batch ``(m, C, H, W)`` (a view)."""
        m = batch.shape[0]
        geometry = self.geometry
        padded = pad_batch(batch, geometry, self.padding_mode, self.padded[:m])
        patches = self.patches[:m]
        np.take(padded.reshape(m, -1), self.indices, axis=1, out=patches)
        maps = self.maps[: m * geometry.n_positions]
        np.matmul(patches.reshape(maps.shape[0], -1), weights, out=maps)
        if bias is not None:
            maps += bias
        return maps.reshape(m, *geometry.out_shape, -1)


class _BatchLastWorkspace:
    """Buffers for the batch-last layout, used when maps are small.

    The padded batch is stored as ``(Hp, Wp, C, b)``: the cached patch index then
    selects whole runs of ``b`` values (one per image) instead of single values,
    the GEMM runs per output position as ``(K, kh*kw*C) @ (kh*kw*C, b)``, and the
    maps ``(h, w, K, b)`` are reduced over positions with calls on large
    contiguous blocks. For small images this beats the channels-last layout,
    whose gather and pooling work on short runs; for large maps the per-position
    GEMMs would be too small, so :func:`choose_layout` decides.

    When :func:`uses_batch_last_loop` says so, the compiled loop computes the
    maps from the padded batch itself (no patch matrix, no index): the batch is
    its contiguous axis, 4 kernels x 16 or 24 images stay in registers over
    every tap (W3 of bench_transform.py, 8x8 images with 32 3x3 kernels and
    global max pooling: from 2.4x to 4.2x PyTorch with the max fused).
    """

    def __init__(self, geometry, n_kernels, batch_size, dtype, padding_mode, direct=False):
        hp, wp = geometry.padded_shape
        c, positions = geometry.n_channels, geometry.n_positions
        self.geometry, self.padding_mode, self.batch_size = geometry, padding_mode, batch_size
        self.padded = np.zeros((hp, wp, c, batch_size), dtype=dtype)
        self.maps_shape = (positions, n_kernels, batch_size)
        self.direct = direct  # uses_batch_last_loop's answer, given by the caller
        self._pooled_grid = self._pooled_buffer = None
        if self.direct:
            # The maps only when a batch needs them (fused max pooling never does).
            self.maps = self.patches = self.indices = None
        else:
            self.maps = np.empty(self.maps_shape, dtype=dtype)
            self.patches = np.empty((positions, geometry.patch_size, batch_size), dtype=dtype)
            self.indices = patch_indices(geometry)

    @property
    def nbytes(self):
        """Bytes held by the buffers allocated so far."""
        buffers = (self.padded, self.patches, self.maps, self._pooled_buffer)
        return sum(a.nbytes for a in buffers if a is not None)

    def compute_maps(self, batch, weights_t, bias, direct_weights=None, max_grid=None):
        """Maps ``(h_out, w_out, K, b)`` of a batch ``(m, C, H, W)``, ``m <= b``.

        ``weights_t`` is the ``(K, kh * kw * C)`` kernel matrix; the compiled
        loop reads ``direct_weights`` (:func:`direct_kernel_rows`) instead when
        this workspace uses it. With the loop and a ``max_grid`` ``(gh, gw)``,
        the result is the maps' maximum over each region of that grid,
        ``(gh, gw, K, b)``, and the maps are never written. Columns past ``m``
        hold values computed from earlier batches (finite, ignored by the
        caller).
        """
        m = batch.shape[0]
        geometry = self.geometry
        (top, bottom), (left, right) = geometry.pads
        h, w = geometry.in_shape
        batch_last = batch.transpose(2, 3, 1, 0)  # (H, W, C, m)
        if self.padding_mode == "constant":
            self.padded[top : top + h, left : left + w, :, :m] = batch_last
        else:
            self.padded[..., :m] = np.pad(
                batch_last, ((top, bottom), (left, right), (0, 0), (0, 0)), mode=self.padding_mode
            )
        if self.direct:
            n_kernels = weights_t.shape[0]
            (sy, sx), (dy, dx) = geometry.stride, geometry.dilation
            if max_grid is not None:
                pooled, row_bounds, col_bounds = self._pooled(max_grid, n_kernels)
                max_pool_batch_last(
                    self.padded,
                    direct_weights,
                    pooled,
                    n_kernels,
                    row_bounds,
                    col_bounds,
                    sy,
                    sx,
                    dy,
                    dx,
                )
                if bias is not None:
                    pooled += bias[:, None]
                return pooled
            if self.maps is None:
                self.maps = np.empty(self.maps_shape, dtype=self.padded.dtype)
            maps = self.maps.reshape(*geometry.out_shape, n_kernels, self.batch_size)
            correlate_batch_last(self.padded, direct_weights, maps, n_kernels, sy, sx, dy, dx)
        else:
            rows = self.padded.reshape(-1, self.batch_size)
            np.take(rows, self.indices, axis=0, out=self.patches)
            np.matmul(weights_t, self.patches, out=self.maps)
        if bias is not None:
            self.maps += bias[:, None]
        return self.maps.reshape(*geometry.out_shape, -1, self.batch_size)

    def _pooled(self, grid, n_kernels):
        """The buffer of region maxima for ``grid`` and its region bounds (kept)."""
        if self._pooled_grid != grid:
            self._pooled_grid = grid
            self._pooled_buffer = np.empty((*grid, n_kernels, self.batch_size), np.float32)
            self._bounds = [
                region_bounds(length, n).astype(np.intp)
                for length, n in zip(self.geometry.out_shape, grid)
            ]
        return self._pooled_buffer, *self._bounds


def choose_layout(geometry, n_kernels, itemsize):
    """``"batch_last"`` when a 4 MiB batch holds >= 128 images' maps, else channels-last."""
    per_image = geometry.n_positions * n_kernels * itemsize
    return "batch_last" if _BATCH_BYTES // per_image >= 128 else "channels_last"


@lru_cache(maxsize=1)
def _blas_controller():
    """A cached threadpoolctl controller (finding the BLAS libraries costs ~2 ms)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


_BLAS_LOCK = threading.Lock()
_BLAS_STATE = {"depth": 0, "saved": ()}


@contextmanager
def single_threaded_blas():
    """Limit BLAS to one thread while any skconv call in the process needs it.

    BLAS thread limits are process-wide. Calls that overlap (several threads
    transforming at once) share one limit through a reference count: the first
    to enter sets it, the last to leave restores the limits found by the first,
    so the process's settings are left as they were whatever the interleaving.
    The libraries' own setters are called directly (a few microseconds;
    threadpoolctl's ``limit`` re-reads every library's state, ~70 us a call).
    """
    with _BLAS_LOCK:
        if _BLAS_STATE["depth"] == 0:
            libraries = _blas_controller().lib_controllers
            saved = tuple(
                (library, library.num_threads)
                for library in libraries
                if library.user_api == "blas"
            )
            for library, n_threads in saved:
                if n_threads != 1:
                    library.set_num_threads(1)
            _BLAS_STATE["saved"] = saved
        _BLAS_STATE["depth"] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_STATE["depth"] -= 1
            if _BLAS_STATE["depth"] == 0:
                for library, n_threads in _BLAS_STATE["saved"]:
                    if n_threads != 1:
                        library.set_num_threads(n_threads)
                _BLAS_STATE["saved"] = ()


# Idle workspaces kept between calls: fresh buffers cost a page fault per 4 KiB,
# which dominates the transform of small datasets. Bounded in count and size.
# benchmarks/bench_idle_workspaces.py: 10 and 200 digits transform 1.2-1.5x
# faster with them; the 1,797 digits within noise (0.9-1.0: their features are
# pooled by the compiled loop, which keeps no batch workspace).
_IDLE_WORKSPACES = {}
_IDLE_LOCK = threading.Lock()
_MAX_IDLE = 4
_MAX_IDLE_BYTES = 64 << 20


@contextmanager
def _borrowed_workspace(geometry, n_kernels, batch_size, dtype, padding_mode, layout, direct):
    """A workspace for one worker: an idle one with the same key, or a new one."""
    batch_last = layout == "batch_last"
    key = (geometry, n_kernels, batch_size, np.dtype(dtype).str, padding_mode, layout, direct)
    with _IDLE_LOCK:
        idle = _IDLE_WORKSPACES.pop(key, [])
        workspace = idle.pop() if idle else None
        if idle:
            _IDLE_WORKSPACES[key] = idle
    if workspace is None:
        if batch_last:
            workspace = _BatchLastWorkspace(
                geometry, n_kernels, batch_size, dtype, padding_mode, direct
            )
        else:
            workspace = _Workspace(geometry, n_kernels, batch_size, dtype, padding_mode)
    yield workspace
    if workspace.nbytes > _MAX_IDLE_BYTES:
        return
    with _IDLE_LOCK:
        _IDLE_WORKSPACES.setdefault(key, []).append(workspace)
        while sum(len(v) for v in _IDLE_WORKSPACES.values()) > _MAX_IDLE:
            oldest = next(iter(_IDLE_WORKSPACES))
            _IDLE_WORKSPACES[oldest].pop(0)
            if not _IDLE_WORKSPACES[oldest]:
                del _IDLE_WORKSPACES[oldest]


_EXECUTOR = {"pid": None, "pool": None}
_EXECUTOR_LOCK = threading.Lock()


def _executor():
    """A process-wide thread pool, created lazily (and again after a fork).

    Its threads are the workers of ``n_jobs`` (itself resolved by
    :func:`joblib.effective_n_jobs`, so ``joblib.parallel_config(n_jobs=...)``
    applies when ``n_jobs`` is None). Workers: one per core (at least 4); the pool is
    shut down when the interpreter exits.
    """
    with _EXECUTOR_LOCK:
        if _EXECUTOR["pid"] != os.getpid():
            workers = max(4, os.cpu_count() or 1)
            _EXECUTOR["pool"] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="skconv")
            _EXECUTOR["pid"] = os.getpid()
        return _EXECUTOR["pool"]


@atexit.register
def _shutdown_executor():
    pool = _EXECUTOR["pool"]
    if pool is not None and _EXECUTOR["pid"] == os.getpid():
        pool.shutdown(wait=False, cancel_futures=True)


def map_batches(
    images,
    geometry,
    weights,
    reduce_maps,
    out,
    *,
    bias=None,
    padding_mode="constant",
    batch_size=None,
    n_threads=1,
    progress=None,
    layout="channels_last",
    max_grid=None,
    direct=None,
):
    """Convolve ``images`` batch by batch and write ``reduce_maps(maps)`` to ``out``.

    Parameters
    ----------
    images : array of shape (n, C, H, W)
        Any array that supports slicing along the first axis (ndarray, memmap...).
        Only one batch per thread is read into memory at a time.
    geometry : Geometry
    weights : ndarray of shape (kh * kw * C, K)
        From :func:`kernel_matrix`, in the computation dtype.
    reduce_maps : callable
        ``reduce_maps(maps, patches) -> ndarray (m, n_out)`` with ``maps`` of
        shape ``(m, h_out, w_out, K)`` (it may overwrite them) and the batch's
        patch matrix ``(m, h_out * w_out, kh * kw * C)`` (read-only use).
    out : ndarray of shape (n, n_out)
        Where the results go (may be a memmap).
    bias : ndarray of shape (K,), default=None
    padding_mode : str, default="constant"
        A :func:`numpy.pad` mode.
    batch_size : int, default=None
        Images per batch; ``None`` picks one from the cache budget.
    n_threads : int, default=1
        Worker threads; each processes a contiguous range of samples. The GIL is
        released by the gather, the GEMM and the reductions.
    progress : callable, default=None
        Called with the number of samples of each finished batch (thread-safe
        callables only).
    layout : {"channels_last", "batch_last"}, default="channels_last"
        ``"batch_last"`` (see :class:`_BatchLastWorkspace`) hands ``reduce_maps``
        the batch as one pseudo-sample ``(1, h_out, w_out, K * b)`` with
        ``patches=None``, and reorders its output; only layout-agnostic
        reducers (elementwise nonlinearity, grid pooling) may be used with it.
    max_grid : tuple of int, default=None
        ``(gh, gw)`` when ``reduce_maps`` pools by region maxima only (a max
        over that grid, then at most a nondecreasing nonlinearity). Batch-last
        batches computed by the compiled loop then hand ``reduce_maps`` the
        regions' maxima as maps of shape ``(gh, gw)`` (whose max over the same
        grid is themselves) and never write the maps.
    direct : bool, default=None
        Whether the compiled loop computes batch-last batches (the plan's
        decision); None decides as :func:`uses_batch_last_loop`.

    Returns
    -------
    out : ndarray
    """
    n = images.shape[0]
    n_kernels = weights.shape[1]
    batch_last = layout == "batch_last"
    if batch_size is None:
        fused_max = (
            batch_last
            and max_grid is not None
            and uses_batch_last_loop(geometry, DIRECT_MIN_WIDTH or 0, weights.dtype)
        )
        batch_size = default_batch_size(
            geometry, n_kernels, weights.dtype.itemsize, layout, fused_max
        )
    batch_size = max(1, min(batch_size, n))
    kernel_rows = np.ascontiguousarray(weights.T) if batch_last else weights
    if direct is None:
        direct = batch_last and uses_batch_last_loop(geometry, batch_size, weights.dtype)
    direct_rows = direct_kernel_rows(kernel_rows, geometry) if direct else None

    def run(start, stop):
        # Even batches: a short last batch would waste a batch-last GEMM's width.
        size = -(-(stop - start) // -(-(stop - start) // batch_size))
        if direct_rows is not None and size < DIRECT_MIN_WIDTH <= batch_size:
            # ... but the compiled loop needs 16 columns: a short last batch
            # runs in them instead (its other columns are ignored).
            size = min(batch_size, stop - start)
        dtype = weights.dtype
        # The loop needs DIRECT_MIN_WIDTH columns: a thread with fewer images
        # than that takes the GEMM.
        looped = direct and size >= DIRECT_MIN_WIDTH
        with _borrowed_workspace(
            geometry, n_kernels, size, dtype, padding_mode, layout, looped
        ) as ws:
            for s in range(start, stop, size):
                e = min(s + size, stop)
                batch = np.asarray(images[s:e], dtype=dtype)
                if batch_last:
                    maps = ws.compute_maps(batch, kernel_rows, bias, direct_rows, max_grid)
                else:
                    maps = ws.compute_maps(batch, kernel_rows, bias)
                if batch_last:
                    h, w, k, b = maps.shape
                    features = reduce_maps(maps.reshape(1, h, w, k * b), None)
                    features = features.reshape(k, b, -1).transpose(1, 0, 2)[: e - s]
                    out[s:e] = features.reshape(e - s, -1)
                else:
                    out[s:e] = reduce_maps(maps, ws.patches[: e - s])
                if progress is not None:
                    progress(e - s)

    n_threads = max(1, min(n_threads, -(-n // batch_size)))
    if n_threads == 1:
        if n:
            run(0, n)
        return out
    split_over_threads(run, n, n_threads)
    return out


def split_over_threads(run, n, n_threads):
    """Call ``run(start, stop)`` on ``n_threads`` contiguous ranges of ``range(n)`` at once.

    The calling thread takes the first range, the process's pool the others.
    BLAS gets one thread for the duration: threadpoolctl's limit is process-wide
    and set from the calling thread; OpenBLAS 0.3.31 does not reliably honour
    thread-count changes made from several threads at once (measured), so
    worker threads never change it themselves.
    """
    bounds = [n * i // n_threads for i in range(n_threads + 1)]
    with single_threaded_blas():
        futures = [_executor().submit(run, a, b) for a, b in zip(bounds[1:-1], bounds[2:])]
        try:
            run(bounds[0], bounds[1])
        finally:
            for future in futures:
                future.result()
