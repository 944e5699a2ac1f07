"""GEMM on patches, one output tile at a time (im2col in planes).

The tile's padded input window is copied channels-first, and its patch matrix
is built transposed, ``(kh * kw * C, positions)``: row block ``(i, j)`` is the
window shifted by tap ``(i, j)``. All the shifted windows are one strided view
of the window, copied by one call (runs of whole tile rows, several times
faster than a gather of short patch rows, and no Python loop over taps). One
matrix product ``(K, P) @ (P, positions)`` then gives the tile's maps for
every kernel, already channels-first. The buffers are sized for one tile,
never for the image.

With few channels in float32, a compiled loop (:mod:`skconv.engine._direct`, built at
install when a C compiler is present) computes the tile's maps from the window
directly instead: there the patch matrix is skinny, its copy costs as much as
the product, and OpenBLAS runs far from its peak. On CPUs with AVX-512 or AVX2,
another compiled loop (:func:`skconv.engine._encoders.correlate_planes`) needs
no patch matrix at any stride, dilation, channel count or dtype: the window is
split into its column phases, and registers hold blocks of positions x kernels
over all the taps (the plan's ``"planes"`` method, where the cost model
predicts it faster).
"""

import threading

import numpy as np

from .cache import BUFFERS
from .compiled import load, warn_missing
from .core import DIRECT_MAX_CHANNELS, direct_kernel_rows
from .learned import encode
from .tiles import read_window

_direct = load("_direct")  # optional: without it, every tile takes the GEMM
DIRECT_MIN_WIDTH = getattr(_direct, "MIN_WIDTH", None)
correlate_windows = getattr(_direct, "correlate_windows", None)
_encoders = load("_encoders")
correlate_planes = getattr(_encoders, "correlate_planes", None)

_PACKED, _PACKED_LOCK = {}, threading.Lock()

STREAM_OUTPUT_BYTES = 8 << 20
"""Outputs of at least this many bytes, that nothing reads back before the
transform returns, are written by the ``"planes"`` loop around the caches
(see ``stream`` in :func:`skconv.engine._encoders.correlate_planes`): four
times the L2 cache of a core here, so that no later step would have found
them in cache."""

TILE_METHODS = ("gemm", "direct", "planes")
"""How a tile's maps are computed: BLAS's GEMM on the patch matrix, or one of
the compiled loops without it."""


def packed_planes(weights):
    """``weights`` packed for the ``"planes"`` loop, once per kernel matrix
    (every thread's workspace of a transform shares them)."""
    key = (id(weights), weights.shape, weights.dtype.str, _encoders.plane_group())
    with _PACKED_LOCK:
        entry = _PACKED.get(key)
        if entry is not None and entry[0] is weights:
            return entry[1]
    packed = _encoders.plane_weights(weights)
    with _PACKED_LOCK:
        _PACKED.clear()  # the last kernel matrix only: a transform's parts run in turn
        _PACKED[key] = (weights, packed)
    return packed


def plane_work(geometry, n_kernels, itemsize):
    """Multiply-adds per map value of the ``"planes"`` loop on this CPU, in float32 units.

    The taps, over the share of the loop's lanes that carry wanted values, in
    the register layout it takes for these maps (see
    :func:`skconv.engine._encoders.plane_layout`), less the taps it skips
    over the padding (:func:`skconv.engine._encoders.tap_reach`).
    """
    oh, ow = geometry.out_shape
    wq = -(-geometry.padded_shape[1] // geometry.stride[1])
    reach = (
        *geometry.kernel_shape,
        *geometry.stride,
        *geometry.dilation,
        geometry.pads[0][0],
        geometry.pads[1][0],
        *geometry.in_shape,
    )
    return _encoders.plane_layout(oh, ow, n_kernels, geometry.patch_size, itemsize, wq, reach)[2]


def plane_lanes(dtype):
    """Positions per vector of the ``"planes"`` loop for ``dtype`` on this CPU (0: none)."""
    if correlate_planes is None:
        return 0
    return _encoders.plane_lanes(dtype)


def plane_threads_inside():
    """True when the ``"planes"`` loop shares its work between threads itself
    (built with OpenMP): the plan then hands it all its threads."""
    return correlate_planes is not None and _encoders.openmp_threads()


def plane_loop_threads(n_threads):
    """Threads the ``"planes"`` loop runs itself for ``n_threads``: 1 where it
    runs none (see :func:`plane_threads_inside`), else at most the OpenMP
    runtime's limit (``OMP_NUM_THREADS``, threadpoolctl's ``"openmp"``
    limits)."""
    if not plane_threads_inside():
        return 1
    return _encoders.loop_threads(n_threads)


def uses_direct(geometry, tile_width, dtype, response=None):
    """True when the compiled loop computes the tiles of this geometry."""
    applies = (
        response is None
        and np.dtype(dtype) == np.float32
        and geometry.n_channels <= DIRECT_MAX_CHANNELS
        and geometry.stride[1] == 1
    )
    if correlate_windows is None:
        if applies:
            warn_missing("_direct")
        return False
    return applies and tile_width >= DIRECT_MIN_WIDTH


def gemm_bytes_per_position(geometry, n_columns, itemsize, direct=False):
    """Workspace bytes per output position: its patch column and its map values.

    With the compiled loop (``direct``) there is no patch matrix: the window's
    values under the position (about one per channel) and its map values.
    """
    taps = geometry.n_channels if direct else geometry.patch_size
    return (taps + n_columns) * itemsize


def plane_bytes(geometry, n_kernels, itemsize, window_shape):
    """The ``"planes"`` loop's buffers for one window: its phases and a block's values."""
    lanes = 64 // itemsize
    wq = -(-window_shape[1] // geometry.stride[1])
    phases = geometry.stride[1] * geometry.n_channels * window_shape[0] * wq + 2 * lanes
    return (phases + n_kernels * (_encoders.BLOCK_POSITIONS + 2 * lanes)) * itemsize


class GemmTiles:
    """Buffers to compute the maps of one tile of ``m`` images by GEMM.

    Parameters
    ----------
    geometry : Geometry
        The whole image's geometry.
    tiling : Tiling
    weights : ndarray of shape (kh * kw * C, n_columns)
        The GEMM operand (kernels, or a learned response plan's columns), rows in
        (tap row, tap column, channel) order.
    m : int
        Images per group.
    response : ResponsePlan, default=None
        A learned bank's responses: the tile's raw columns are encoded with the
        tile's patches (see :func:`~skconv.engine.learned.encode`).
    nonlinearity : str or None, default=None
        Passed to the encoder when ``response`` is given.
    threshold : float, default=0.0
    method : {"gemm", "direct", "planes"}, default=None
        How the tiles are computed (the plan's decision, one of
        :data:`TILE_METHODS`); None decides between ``"gemm"`` and
        ``"direct"`` as :func:`uses_direct`.
    stream : bool, default=False
        Maps written into the caller's ``out`` are not read back before the
        transform returns: the ``"planes"`` loop may write them around the
        caches.
    n_threads : int, default=1
        Threads of the ``"planes"`` loop inside each tile (the plan's
        ``loop_threads``).
    rectify : bool, default=False
        The ``"planes"`` loop applies relu to the maps before they leave its
        registers (unpooled maps of plain kernels: no pass over them after).
    """

    def __init__(
        self,
        geometry,
        tiling,
        weights,
        m,
        response=None,
        nonlinearity=None,
        threshold=0.0,
        method=None,
        stream=False,
        n_threads=1,
        *,
        rectify=False,
    ):
        self.geometry, self.tiling, self.weights = geometry, tiling, weights
        self.stream, self.n_threads = stream, n_threads
        self.n_kernels = weights.shape[1]
        self.response, self.nonlinearity, self.threshold = response, nonlinearity, threshold
        (kh, kw), c = geometry.kernel_shape, geometry.n_channels
        th, tw = tiling.tile_shape
        dtype = weights.dtype
        # Images sit inside the GEMM's column axis: (P, m * positions), so a
        # group of images is one matrix product. Flat buffers: a short last
        # group uses a contiguous prefix of each. Taken when first used: the
        # "planes" loop reading the images and writing into the caller's
        # maps needs neither.
        self._shapes = {
            "window": (c, m, *tiling.window_shape),
            "maps": (weights.shape[1] * m * th * tw,),
        }
        self._taken = {}
        if method is None:  # as the planner would decide
            method = "direct" if uses_direct(geometry, tw, dtype, response) else "gemm"
        if method not in TILE_METHODS or (method != "gemm" and response is not None):
            raise ValueError(f"GemmTiles: method must be one of {TILE_METHODS}, got {method!r}")
        if rectify and method != "planes":
            raise ValueError(f"GemmTiles: only the planes loop rectifies, not {method!r}")
        self.method, self.rectify = method, rectify
        self.patches = None
        if method == "planes":  # the loop reads its own packing of the weights only
            self.plane_weights = packed_planes(weights)
            self.zero_bias = np.zeros(weights.shape[1], dtype)
            return
        self.kernel_rows = np.ascontiguousarray(weights.T)
        if method == "direct":
            self.direct_weights = direct_kernel_rows(self.kernel_rows, geometry)
        else:
            self.patches = BUFFERS.take((kh * kw * c * m * th * tw,), dtype)

    def _buffer(self, name):
        """The work buffer ``name``, taken from the pool on first use."""
        buffer = self._taken.get(name)
        if buffer is None:
            buffer = self._taken[name] = BUFFERS.take(self._shapes[name], self.weights.dtype)
        return buffer

    @property
    def window(self):
        """The tile's padded images ``(C, m, *window_shape)``."""
        return self._buffer("window")

    @property
    def maps(self):
        """Room for a tile's maps, flat."""
        return self._buffer("maps")

    def close(self):
        """Give the buffers back to the pool."""
        for buffer in (self.patches, *self._taken.values()):
            if buffer is not None:
                BUFFERS.give(buffer)
        self._taken = {}

    def _gather(self, m, per_image=False):
        """The patch matrix: ``(P, m * positions)``, or ``(m, P, positions)`` per image."""
        (kh, kw), (sh, sw), (dh, dw) = (
            self.geometry.kernel_shape,
            self.geometry.stride,
            self.geometry.dilation,
        )
        th, tw = self.tiling.tile_shape
        c = self.geometry.n_channels
        window = self.window[:, :m]
        size = kh * kw * c * m * th * tw
        if per_image:
            patches = self.patches[:size].reshape(m, kh, kw, c, th, tw)
            targets = patches.transpose(1, 2, 3, 0, 4, 5)  # (kh, kw, c, m, th, tw) view
        else:
            patches = targets = self.patches[:size].reshape(kh, kw, c, m, th, tw)
        # Every tap's shifted window as one strided view, copied by one call.
        sc, sm, sy, sx = window.strides
        taps = np.lib.stride_tricks.as_strided(
            window,
            shape=(kh, kw, c, m, th, tw),
            strides=(dh * sy, dw * sx, sc, sm, sh * sy, sw * sx),
            writeable=False,
        )
        np.copyto(targets, taps)
        if per_image:
            return patches.reshape(m, -1, th * tw)
        return patches.reshape(-1, m * th * tw)

    def _target(self, m, out=None):
        """Where a compiled loop writes the maps: ``out`` seen as ``(m, K, rows, tw)``,
        or the workspace's ``(m, K, th, tw)``."""
        n_kernels = self.n_kernels
        th, tw = self.tiling.tile_shape
        if out is not None:
            return out.reshape(m, n_kernels, -1, tw)
        return self.maps[: n_kernels * m * th * tw].reshape(m, n_kernels, th, tw)

    def _correlate(self, m, out=None):
        """The compiled loop: maps ``(m, K, th, tw)`` of the window (or into ``out``)."""
        n_kernels = self.n_kernels
        target = self._target(m, out)
        correlate_windows(
            self.window.swapaxes(0, 1)[:m],
            self.direct_weights,
            target,
            n_kernels,
            self.geometry.stride[0],
            *self.geometry.dilation,
        )
        return target

    def _correlate_planes(self, m, out=None, images=None, pads=None):
        """The ``"planes"`` loop: maps ``(m, K, th, tw)`` of the window (or into ``out``);
        of ``images`` with the zeros ``pads`` around them instead, when given."""
        target = self._target(m, out)
        correlate_planes(
            self.window.swapaxes(0, 1)[:m] if images is None else images,
            self.plane_weights,
            self.zero_bias,
            self.geometry.kernel_shape,
            self.geometry.stride,
            self.geometry.dilation,
            target,
            rectify=self.rectify,
            pads=pads,
            stream=self.stream and out is not None,
            n_threads=self.n_threads,
        )
        return target

    def _unpadded_source(self, images, row_read, col_read):
        """The tile's images as the ``"planes"`` loop can pad them itself, or None.

        When the window is a block of the images between zeros (constant
        padding), the loop reads the block and adds the zeros while it splits
        the image into phases: no padded copy of the window.
        """
        (r0, r1, rows), (c0, c1, cols) = row_read, col_read
        if not (isinstance(rows, slice) and isinstance(cols, slice)):
            return None
        if images.dtype != self.weights.dtype or images.strides[3] != images.itemsize:
            return None
        ih, iw = self.tiling.window_shape
        return images[:, :, rows, cols], (r0, ih - r1, c0, iw - c1)

    def compute(self, images, row_read, col_read, out=None):
        """Maps ``(m, K, th, tw)`` of the tile read from these sources.

        With ``out`` (an ``(m, K, rows * tw)`` view into the caller's maps, with
        contiguous rows, ``rows <= th``), the products are written there
        directly, one GEMM per image on the first ``rows * tw`` positions, and
        ``out`` is returned reshaped to ``(m, K, rows, tw)``.
        """
        m = images.shape[0]
        th, tw = self.tiling.tile_shape
        if self.method == "planes":
            source = self._unpadded_source(images, row_read, col_read)
            if source is not None:
                return self._correlate_planes(m, out, *source)
        read_window(images, row_read, col_read, self.window.swapaxes(0, 1), channels_last=False)
        if self.method == "direct":
            return self._correlate(m, out)
        if self.method == "planes":
            return self._correlate_planes(m, out)
        if self.response is None and out is not None:
            patches = self._gather(m, per_image=True)[:, :, : out.shape[-1]]
            np.matmul(self.kernel_rows, patches, out=out)
            return out.reshape(m, out.shape[1], -1, tw)
        patches = self._gather(m)  # (P, m * positions)
        if self.response is None:
            maps = self.maps[: self.n_kernels * m * th * tw].reshape(-1, m * th * tw)
            np.matmul(self.kernel_rows, patches, out=maps)
            return maps.reshape(-1, m, th, tw).swapaxes(0, 1)
        rows = np.ascontiguousarray(patches.T)  # (N, P)
        raw = rows @ self.weights
        values = encode(raw, rows, self.response, self.nonlinearity, self.threshold)
        return np.moveaxis(values.reshape(m, th, tw, -1), -1, 1)
