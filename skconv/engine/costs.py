"""Choosing the algorithm and the tiles for a geometry, from a small cost model.

As :func:`scipy.signal.choose_conv_method` does, ``method="auto"`` compares
estimated times of the two methods:

* ``"gemm"``: every output position costs a gather of its patch (``P = kh * kw
  * C`` values) and ``P * K`` multiply-adds in BLAS; with few channels in
  float32, the compiled direct loop does the same multiply-adds without the
  gather (its own constants);
* the compiled ``"planes"`` loop (CPUs with AVX-512 or AVX2, any stride and
  dtype) does the same multiply-adds with no gather, in vectors of positions
  along map rows (a row's last vector is partly empty) times groups of kernels;
* ``"fft"``: every tile costs ``C`` forward and ``K`` inverse real FFTs of its
  window, ``C * K`` complex multiply-adds per frequency, and it yields a
  whole tile of outputs (subsampled by the stride).

The constants are seconds per unit of work, measured on the project machine
(2 cores of an AMD EPYC, OpenBLAS, scipy.fft/pocketfft) with
``python benchmarks/calibrate_methods.py``; ``benchmarks/bench_scale.py``
shows which method wins on each geometry and what ``auto`` picked.
"""

import math
from functools import lru_cache

from .fft import fft_bytes_per_image, fft_shape, spectra_bytes
from .gemm import gemm_bytes_per_position, plane_lanes, plane_work, uses_direct
from .tiles import make_tiling

METHODS = ("auto", "gemm", "fft")
"""Convolution algorithms: ``"auto"`` picks one per geometry."""

# Seconds per unit of work (float32, one thread), fitted by
# benchmarks/calibrate_methods.py on 26 geometries (2-D 32..1024 pixels, 1-64
# channels, kernels 3..63, 1-D 1k..100k; four of them 3-channel 11x11, where
# the direct loop and FFT are close): the fitted model picks the faster method
# on 25 of 26.
GEMM_SECONDS_PER_MAC = 2.33e-11
GEMM_SECONDS_PER_GATHERED = 3.77e-10
GEMM_SECONDS_PER_OUTPUT = 9.37e-10
# Patches gathered along rows read at a stride (every other value) cost this
# much more than the contiguous runs the constants above were fitted on
# (bench_geometries.py's stride-2 GEMM cells measured 1.9-4.3x their
# prediction, stride-1 cells 0.7-0.8x).
STRIDED_GATHER_FACTOR = 2.5
# The compiled direct loop (skconv/engine/_direct.pyx), fitted by the same script on
# the geometries where it applies (few channels, float32).
DIRECT_SECONDS_PER_MAC = 2.28e-11
DIRECT_SECONDS_PER_TAP = 7.51e-11
DIRECT_SECONDS_PER_OUTPUT = 5.94e-10
# The "planes" loop (skconv/engine/_encoders.pyx, correlate_planes): seconds
# per multiply-add as the registers compute them (gemm.plane_work: the lanes'
# waste of the layout the loop takes for the maps included), per map
# value written and per padded input value split into its phases (float32;
# the planner doubles them for float64). Fitted on 73 geometries of
# benchmarks/bench_geometries.py (seeds 0 and 1, one thread; predicted /
# measured 0.78-1.20 on 80% of them), then divided by the measured /
# modelled factor of the GEMM tiles so that they compare with the constants
# above, which leave out the same costs.
PLANE_SECONDS_PER_MAC = 2.44e-11 / 1.8
PLANE_SECONDS_PER_OUTPUT = 1.04e-09 / 1.8
PLANE_SECONDS_PER_INPUT = 2.41e-09 / 1.8
FFT_SECONDS_PER_POINT_LOG = 3.08e-10
FFT_SECONDS_PER_COMPLEX_MAC = 8.70e-10
FFT_SECONDS_PER_OUTPUT = 1.93e-09
FFT_SECONDS_PER_TILE = 5.82e-05  # Python and call overhead of one tile of a group

# Target workspace per thread: GEMM tiles stay in cache; FFT tiles are larger
# (their passes over the window are few and long).
GEMM_TILE_BYTES = 4 << 20
# An image is split between threads only into tiles of at least this many
# positions (smaller ones cost more in calls than the second thread saves).
MIN_SPLIT_POSITIONS = 4096
# Estimated seconds of GEMM work per thread below which fewer threads are used.
MIN_THREAD_SECONDS = 1e-3
FFT_TILE_BYTES = 16 << 20
# An FFT tiling this much slower (by the model) than the cheapest may be taken
# for a smaller workspace.
FFT_MEMORY_SLACK = 1.1


def working_memory_bytes():
    """The scikit-learn ``working_memory`` budget, in bytes."""
    from sklearn import get_config

    return int(get_config()["working_memory"] * 2**20)


def gemm_tiling(
    geometry, n_columns, itemsize, budget, min_tiles=1, direct=False, min_split=MIN_SPLIT_POSITIONS
):
    """Tiles of whole output rows (or of one row's columns) that fit ``budget`` bytes.

    ``min_tiles`` asks for at least that many tiles (one per thread when an
    image is alone), as long as tiles keep ``min_split`` positions;
    ``direct``: a compiled loop computes them (no patch matrix).
    """
    per_position = gemm_bytes_per_position(geometry, n_columns, itemsize, direct)
    positions = max(1, min(GEMM_TILE_BYTES, budget) // per_position)
    h, w = geometry.out_shape
    if min_tiles > 1:
        share = max(min_split, -(-h * w // min_tiles))
        positions = min(positions, share)
    if positions >= w:
        return make_tiling(geometry, (max(1, min(h, positions // w)), w))
    return make_tiling(geometry, (1, positions))


def _fft_tile_seconds(shape, n_channels, n_kernels):
    points = shape[0] * shape[1]
    spectrum = shape[0] * (shape[1] // 2 + 1)
    transforms = (n_channels + n_kernels) * points * math.log2(max(points, 2))
    return (
        transforms * FFT_SECONDS_PER_POINT_LOG
        + n_channels * n_kernels * spectrum * FFT_SECONDS_PER_COMPLEX_MAC
        + n_kernels * points * FFT_SECONDS_PER_OUTPUT
    )


def fft_tiling(geometry, n_kernels, itemsize, budget):
    """The cheapest FFT tiling whose workspace fits ``budget`` bytes, and its cost.

    The workspace counts one image's tile buffers and the kernel spectra. Square
    tiles (in input pixels) of 16, 32, 64, ... and the whole output are
    tried; the cost of a tiling is its number of tiles times the estimated time
    of one tile. Among the tilings within ``FFT_MEMORY_SLACK`` of the cheapest,
    the one with the smallest workspace is taken (large tiles often cost about
    the same as medium ones, for several times the memory).

    Returns
    -------
    tiling : Tiling
    seconds : float
        Estimated seconds per image (float32).
    """
    c = geometry.n_channels
    h, w = geometry.out_shape
    sides = [2**p for p in range(4, 22)]
    candidates = []
    for side in sides:
        tile = tuple(max(1, min(n, -(-side // s))) for n, s in zip((h, w), geometry.stride))
        tiling = make_tiling(geometry, tile)
        shape = fft_shape(tiling.window_shape)
        per_image = fft_bytes_per_image(c, n_kernels, shape, itemsize)
        memory = per_image + spectra_bytes(c, n_kernels, shape, itemsize)
        group = max(1, min(FFT_TILE_BYTES, budget) // per_image)
        seconds = tiling.n_tiles * (
            _fft_tile_seconds(shape, c, n_kernels) + FFT_SECONDS_PER_TILE / group
        )
        candidates.append((tiling, seconds, memory))
        if tile == (h, w):
            break
    fitting = [cand for cand in candidates if cand[2] <= budget] or [
        min(candidates, key=lambda cand: cand[2])
    ]
    cheapest = min(seconds for _, seconds, _ in fitting)
    tiling, seconds, _ = min(
        (cand for cand in fitting if cand[1] <= FFT_MEMORY_SLACK * cheapest),
        key=lambda cand: cand[2],
    )
    return tiling, seconds


def direct_applies(geometry, itemsize=4):
    """True when the GEMM method's tiles of this geometry take the compiled direct loop."""
    dtype = "float32" if itemsize == 4 else "float64"
    return uses_direct(geometry, geometry.out_shape[1], dtype)


def plane_seconds(geometry, n_kernels, itemsize=4):
    """Estimated seconds per image (float32 units, as :func:`gemm_seconds`) of the
    ``"planes"`` loop, or None where it does not run.

    In float64 a vector holds half the positions (rounding each map row up to
    whole vectors wastes less); the planner doubles every method's float32
    seconds for float64.
    """
    if not plane_lanes("float32" if itemsize == 4 else "float64"):
        return None
    h, w = geometry.out_shape
    hp, wp = geometry.padded_shape
    work = plane_work(geometry, n_kernels, itemsize)
    return (
        h * w * n_kernels * (work * PLANE_SECONDS_PER_MAC + PLANE_SECONDS_PER_OUTPUT)
        + geometry.n_channels * hp * wp * PLANE_SECONDS_PER_INPUT
    )


def tile_method(geometry, n_kernels, itemsize=4):
    """The fastest way, by the model, to compute tiles without FFT, and its seconds per image.

    Returns
    -------
    method : {"gemm", "direct", "planes"}
    seconds : float
        Estimated seconds per image (float32 units, as :func:`gemm_seconds`).
    """
    method = "direct" if direct_applies(geometry, itemsize) else "gemm"
    seconds = gemm_seconds(geometry, n_kernels, itemsize)
    planes = plane_seconds(geometry, n_kernels, itemsize)
    if planes is not None and planes < seconds:
        return "planes", planes
    return method, seconds


def gemm_seconds(geometry, n_kernels, itemsize=4):
    """Estimated seconds per image (float32) of the GEMM method (or its direct loop)."""
    p = geometry.patch_size
    if direct_applies(geometry, itemsize):
        return geometry.n_positions * (
            p * n_kernels * DIRECT_SECONDS_PER_MAC
            + p * DIRECT_SECONDS_PER_TAP
            + n_kernels * DIRECT_SECONDS_PER_OUTPUT
        )
    gathered = GEMM_SECONDS_PER_GATHERED * (
        STRIDED_GATHER_FACTOR if geometry.stride[1] > 1 else 1.0
    )
    return geometry.n_positions * (
        p * n_kernels * GEMM_SECONDS_PER_MAC + p * gathered + n_kernels * GEMM_SECONDS_PER_OUTPUT
    )


def choose_method(geometry, n_kernels, itemsize=4, learned=False, n_images=None):
    """``"gemm"`` or ``"fft"``, whichever the cost model says is faster.

    Parameters
    ----------
    geometry : Geometry
    n_kernels : int
    itemsize : int, default=4
    learned : bool, default=False
        Learned banks and encoders need each position's patch: GEMM only.
    n_images : int, default=None
        Images convolved with the kernels this once: the FFT's kernel spectra
        (``C * K`` transforms) are then shared by these images only
        (:func:`skconv.convolve`). None: the spectra are computed once and
        reused by every transform (:class:`skconv.ConvFeatures` computes them
        at fit).

    Returns
    -------
    method : str
    """
    if learned:
        return "gemm"
    lanes = plane_lanes("float32" if itemsize == 4 else "float64")
    return _cheaper_method(geometry, n_kernels, itemsize, working_memory_bytes(), n_images, lanes)


@lru_cache(maxsize=256)
def _cheaper_method(geometry, n_kernels, itemsize, budget, n_images=None, lanes=0):
    """:func:`choose_method`'s comparison, cached (trying FFT tilings takes ~40 us).

    ``lanes`` (the ``"planes"`` loop's, 0 without it) only keys the cache: the
    loops a CPU runs can be capped at run time.
    """
    tiling, fft_seconds = fft_tiling(geometry, n_kernels, itemsize, budget)
    if n_images is not None:
        fft_seconds += spectra_seconds(geometry, n_kernels, tiling) / max(1, n_images)
    return "fft" if fft_seconds < tile_method(geometry, n_kernels, itemsize)[1] else "gemm"


def spectra_seconds(geometry, n_kernels, tiling):
    """Estimated seconds (float32) of the kernel spectra of an FFT tiling: ``C * K`` transforms."""
    shape = fft_shape(tiling.window_shape)
    points = shape[0] * shape[1]
    transforms = geometry.n_channels * n_kernels * points * math.log2(max(points, 2))
    return transforms * FFT_SECONDS_PER_POINT_LOG


def group_size(n, per_image_bytes, target_bytes):
    """Images per group so that a group's workspace stays near ``target_bytes``."""
    return int(max(1, min(n, target_bytes // max(per_image_bytes, 1))))
