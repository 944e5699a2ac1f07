# cython: language_level=3, boundscheck=False, wraparound=False
"""The learned banks' responses and encoders (compiled).

:func:`skconv.engine.learned.encode_numpy` computes, for every patch of a
batch, the normalised and whitened responses of a learned bank and the
triangle or soft-threshold encoder, in a dozen numpy passes over ``(N, K)``
arrays; ``_encoders.h`` does the same operations in two layouts, both tested
against it: patch by patch for :func:`encode_patches` (patches one per row,
as the batches and tiles paths hold them) and along the positions for
:func:`pool_encoded` (gathered, multiplied, encoded and pooled in one loop;
transposing rows into that layout measured slower than the patch-by-patch
loop).
Optional: built at install when a C compiler is present; without it
:mod:`skconv.engine.learned` uses numpy for the same values.
"""

cdef extern from "_encoders.h":
    void skconv_encode_float(
        const float*, const float*, float*, float*, Py_ssize_t, Py_ssize_t, Py_ssize_t,
        Py_ssize_t, Py_ssize_t, int, float, const float*, const float*, const float*, int, float
    ) noexcept nogil
    void skconv_encode_double(
        const double*, const double*, double*, double*, Py_ssize_t, Py_ssize_t, Py_ssize_t,
        Py_ssize_t, Py_ssize_t, int, double, const double*, const double*, const double*, int,
        double
    ) noexcept nogil
    void skconv_normalise_float(
        float*, Py_ssize_t, Py_ssize_t, Py_ssize_t, int, float, int, float*, float*, float*
    ) noexcept nogil
    void skconv_normalise_double(
        double*, Py_ssize_t, Py_ssize_t, Py_ssize_t, int, double, int, double*, double*, double*
    ) noexcept nogil
    void skconv_encode_raw_float(
        const float*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, const float*,
        const float*, int, float*, float*, float*
    ) noexcept nogil
    void skconv_encode_raw_double(
        const double*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
        const double*, const double*, int, double*, double*, double*
    ) noexcept nogil
    void skconv_pool_float(
        float*, float*, float*, double*, Py_ssize_t, Py_ssize_t, Py_ssize_t, int, float, int,
        Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, const Py_ssize_t*, const Py_ssize_t*,
        Py_ssize_t,
        Py_ssize_t, const int*, int, double*
    ) noexcept nogil
    void skconv_pool_double(
        double*, double*, double*, double*, Py_ssize_t, Py_ssize_t, Py_ssize_t, int, double, int,
        Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, const Py_ssize_t*, const Py_ssize_t*,
        Py_ssize_t,
        Py_ssize_t, const int*, int, double*
    ) noexcept nogil
    void skconv_gather_float(
        const float*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
        Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
        Py_ssize_t, float*
    ) noexcept nogil
    void skconv_gather_double(
        const double*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
        Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
        Py_ssize_t, double*
    ) noexcept nogil
    int skconv_columns_float(
        const float*, Py_ssize_t, Py_ssize_t, Py_ssize_t, const float*, Py_ssize_t,
        const Py_ssize_t*, Py_ssize_t, Py_ssize_t, Py_ssize_t, const float*, const float*, int,
        float*, float*, float*
    ) noexcept nogil
    int skconv_columns_double(
        const double*, Py_ssize_t, Py_ssize_t, Py_ssize_t, const double*, Py_ssize_t,
        const Py_ssize_t*, Py_ssize_t, Py_ssize_t, Py_ssize_t, const double*, const double*, int,
        double*, double*, double*
    ) noexcept nogil
    int skconv_columns_level() noexcept nogil
    int skconv_plane_columns_float(
        const float*, const Py_ssize_t*, Py_ssize_t, const float*, Py_ssize_t, Py_ssize_t,
        const float*, int, const Py_ssize_t*, const Py_ssize_t*, Py_ssize_t, float*, Py_ssize_t,
        float*, Py_ssize_t, const Py_ssize_t*, int, const Py_ssize_t*, const Py_ssize_t*,
        Py_ssize_t
    ) noexcept nogil
    int skconv_plane_columns_double(
        const double*, const Py_ssize_t*, Py_ssize_t, const double*, Py_ssize_t, Py_ssize_t,
        const double*, int, const Py_ssize_t*, const Py_ssize_t*, Py_ssize_t, double*,
        Py_ssize_t, double*, Py_ssize_t, const Py_ssize_t*, int, const Py_ssize_t*,
        const Py_ssize_t*, Py_ssize_t
    ) noexcept nogil
    void skconv_split_phases_float(
        const float*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
        Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
        Py_ssize_t, Py_ssize_t, float*, float*
    ) noexcept nogil
    void skconv_split_phases_double(
        const double*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
        Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
        Py_ssize_t, Py_ssize_t, double*, double*
    ) noexcept nogil
    int skconv_plane_kernels_float(
        const float*, const Py_ssize_t*, Py_ssize_t, const float*, Py_ssize_t, const float*, int,
        const Py_ssize_t*, Py_ssize_t, float*, float*, Py_ssize_t, int, const Py_ssize_t*,
        const Py_ssize_t*, Py_ssize_t, Py_ssize_t, const Py_ssize_t*, Py_ssize_t
    ) noexcept nogil
    int skconv_plane_kernels_double(
        const double*, const Py_ssize_t*, Py_ssize_t, const double*, Py_ssize_t, const double*,
        int, const Py_ssize_t*, Py_ssize_t, double*, double*, Py_ssize_t, int,
        const Py_ssize_t*, const Py_ssize_t*, Py_ssize_t, Py_ssize_t, const Py_ssize_t*,
        Py_ssize_t
    ) noexcept nogil
    int skconv_plane_lanes(int) noexcept nogil
    int skconv_all_finite_float(const float*, Py_ssize_t) noexcept nogil
    int skconv_all_finite_double(const double*, Py_ssize_t) noexcept nogil
    void skconv_stream_copy(void*, const void*, size_t) noexcept nogil
    void skconv_copy_rows_float(
        float*, Py_ssize_t, const float*, Py_ssize_t, Py_ssize_t, Py_ssize_t
    ) noexcept nogil
    void skconv_copy_rows_double(
        double*, Py_ssize_t, const double*, Py_ssize_t, Py_ssize_t, Py_ssize_t
    ) noexcept nogil
    void skconv_stream_fence() noexcept nogil
    int skconv_plane_group() noexcept nogil
    int SKCONV_PLANE_VECTORS
    int SKCONV_PLANE_KERNEL_VECTORS
    int SKCONV_NARROW_KERNEL_POSITIONS
    int SKCONV_PLANE_TAP_BLOCK
    int skconv_columns_limit
    int SKCONV_COLUMN_LANES
    int skconv_column_group() noexcept nogil

from functools import lru_cache

from cython.parallel cimport prange, threadid
from libc.string cimport memcpy, memset

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define SKCONV_OPENMP 1
    static int skconv_openmp_max_threads(void) { return omp_get_max_threads(); }
    #else
    #define SKCONV_OPENMP 0
    static int skconv_openmp_max_threads(void) { return 1; }
    #endif
    """
    int SKCONV_OPENMP
    int skconv_openmp_max_threads() noexcept nogil

from scipy.linalg.cython_blas cimport dgemm, sgemm

ctypedef fused real:
    float
    double

MODES = {None: 0, "triangle": 1, "soft_threshold": 2}
"""The encoder codes of the loop (None: the responses alone)."""

STATES = {"max": 0, "sum": 1, "sumsq": 2, "count": 3, "possum": 4}
"""The partial states :func:`pool_encoded` keeps, by their names in
:data:`skconv.pooling.statistics.PARTIALS` (its specialization of them)."""

ROW_ALIGNMENT = 4
"""Map rows are laid out this many positions apart (rounded up): whole vectors."""

OPENMP = bool(SKCONV_OPENMP)
"""Whether this build runs the plane loops' ``n_threads`` (OpenMP): built
without it, they run on the calling thread whatever ``n_threads`` says."""

cdef bint _threads_ran = False, _threads_lost = False


def _after_fork_in_child():
    # GNU OpenMP's threads do not survive a fork: a child forked after they
    # ran would wait for them forever in its first parallel loop.
    global _threads_lost
    _threads_lost = _threads_lost or _threads_ran


import os as _os

_os.register_at_fork(after_in_child=_after_fork_in_child)

from .cache import BUFFERS as _BUFFERS


def loop_threads(Py_ssize_t n_threads):
    """The threads the plane loops run for ``n_threads``: at most the OpenMP
    runtime's limit (``OMP_NUM_THREADS``, or threadpoolctl's
    ``threadpool_limits(..., user_api="openmp")``, as scikit-learn's OpenMP
    loops respect it), 1 where :func:`openmp_threads` is False."""
    if not OPENMP or _threads_lost:
        return 1
    return max(1, min(n_threads, skconv_openmp_max_threads()))


def openmp_threads():
    """Whether the plane loops run threads in this process: built with OpenMP
    (:data:`OPENMP`), and not in a process forked after they ran threads (GNU
    OpenMP's threads do not survive a fork; there the loops take one thread
    and the callers' own workers share the work)."""
    return OPENMP and not _threads_lost

FINITE_THREAD_BYTES = 1 << 20
""":func:`all_finite` gives a thread at least this many bytes: a second
thread halves the check of a few megabytes (measured 25 GB/s on one thread
and 60 on two), below that waking it costs more than it saves."""


def touch_pages(unsigned char[::1] buffer, Py_ssize_t n_threads=1):
    """Write a zero into every huge page (2 MiB, aligned) that ``buffer``
    overlaps, so that the kernel maps them now, up to ``n_threads`` threads
    each over its own run of huge pages.

    Threads that write one fresh huge page at once fault it in together,
    and the kernel clears a 2 MiB page for each of them (then keeps one):
    on this project's machine the maps of 7 float64 images of 72x128 with
    128 3x3 kernels (66 MB) took 48 ms with two threads writing them fresh,
    12 ms with their pages mapped first. Memory the kernel backs with
    ordinary pages gets one of them mapped per huge page, the rest as the
    loops write it, as before; memory already mapped is left as it is.

    Parameters
    ----------
    buffer : ndarray of shape (n,), uint8, contiguous
    n_threads : int, default=1
    """
    # (a transparent huge page of x86-64 Linux)
    cdef Py_ssize_t n = buffer.shape[0], part, parts, begin, end, at, huge = 2 << 20
    if n_threads < 1:
        raise ValueError(f"touch_pages: n_threads must be a positive integer, got {n_threads}")
    if n == 0:
        return
    cdef unsigned char *start = &buffer[0]
    # (parts begin on huge-page boundaries of the address space)
    cdef Py_ssize_t offset = <Py_ssize_t>(<size_t>start % huge)
    cdef Py_ssize_t huge_pages = (offset + n + huge - 1) // huge
    parts = loop_threads(min(n_threads, huge_pages))
    if parts > 1:
        global _threads_ran
        _threads_ran = True
    with nogil:
        for part in prange(parts, num_threads=parts, schedule="static", chunksize=1):
            begin = max(0, huge_pages * part // parts * huge - offset)
            end = min(n, huge_pages * (part + 1) // parts * huge - offset)
            at = begin
            while at < end:
                start[at] = 0
                # (the start of the next huge page)
                at = (at + offset) // huge * huge + huge - offset


def all_finite(const real[::1] values, Py_ssize_t n_threads=1):
    """True when every value is finite (no NaN, no infinity).

    One vectorised pass that stops within 4,096 values of the first bad one
    (the sum of the values times zero, NaN as soon as one is NaN or
    infinite), shared between up to ``n_threads`` threads (one per
    :data:`FINITE_THREAD_BYTES`; see :func:`loop_threads`): the input check
    of :func:`skconv.convolve`, several times faster than numpy's
    reductions on the arrays of a call of a few milliseconds.

    Parameters
    ----------
    values : ndarray of shape (n,), float32 or float64, contiguous
    n_threads : int, default=1

    Returns
    -------
    finite : bool
    """
    cdef Py_ssize_t n = values.shape[0], part, parts, begin, end
    cdef int finite = 1, bad = 0
    if n_threads < 1:
        raise ValueError(f"all_finite: n_threads must be a positive integer, got {n_threads}")
    if n == 0:
        return True
    parts = loop_threads(min(n_threads, max(1, n * sizeof(real) // FINITE_THREAD_BYTES)))
    if parts == 1:
        with nogil:
            if real is float:
                finite = skconv_all_finite_float(&values[0], n)
            else:
                finite = skconv_all_finite_double(&values[0], n)
        return bool(finite)
    global _threads_ran
    _threads_ran = True
    with nogil:
        for part in prange(parts, num_threads=parts, schedule="static", chunksize=1):
            begin = n * part // parts
            end = n * (part + 1) // parts
            if real is float:
                bad += 1 - skconv_all_finite_float(&values[begin], end - begin)
            else:
                bad += 1 - skconv_all_finite_double(&values[begin], end - begin)
    return bad == 0


COLUMN_LANES = SKCONV_COLUMN_LANES
"""A block's positions are rounded up to a multiple of this many: whole
blocks of vectors of the column loop."""

BLOCK_POSITIONS = 256
"""At most this many positions (whole map rows, at least one) are gathered,
multiplied, encoded and pooled at a time: their columns stay in cache
through every pass."""


cdef check_plan(
    str caller, Py_ssize_t n_raw, Py_ssize_t n_kernels, Py_ssize_t n_whitened, bint normalise,
    Py_ssize_t n_sums, Py_ssize_t n_bias, Py_ssize_t n_centres, int mode
):
    """The checks of a learned plan's arrays that :func:`encode_patches` and
    :func:`pool_encoded` share (R columns: K kernels, J whitened, the sums)."""
    if n_kernels < 1 or n_raw != n_kernels + n_whitened + (1 if normalise else 0):
        raise ValueError(
            f"{caller}: the columns and the kernels disagree (R must be K + J + normalise)"
        )
    if n_sums < n_kernels + n_whitened or n_bias < n_kernels + n_whitened:
        raise ValueError(f"{caller}: column_sums and bias must cover the columns")
    if n_centres < n_kernels:
        raise ValueError(f"{caller}: centre_norms must cover the kernels")
    if mode not in (0, 1, 2):
        raise ValueError(f"{caller}: bad mode {mode} (0, 1 or 2)")


cdef check_geometry(
    str caller, Py_ssize_t channels, Py_ssize_t hp, Py_ssize_t wp, Py_ssize_t depth,
    Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sy, Py_ssize_t sx, Py_ssize_t dy, Py_ssize_t dx,
    Py_ssize_t oh, Py_ssize_t ow
):
    """The checks of a geometry against the weights' rows and the padded images."""
    if min(kh, kw, sy, sx, dy, dx, oh, ow) < 1 or depth != kh * kw * channels:
        raise ValueError(f"{caller}: the geometry and the weights' rows disagree")
    if (oh - 1) * sy + (kh - 1) * dy >= hp or (ow - 1) * sx + (kw - 1) * dx >= wp:
        raise ValueError(f"{caller}: the maps reach outside the padded images")


cdef check_states(
    str caller, Py_ssize_t b_images, Py_ssize_t n_kernels, Py_ssize_t oh, Py_ssize_t ow,
    const Py_ssize_t[::1] row_regions, const Py_ssize_t[::1] col_bounds, const int[::1] kinds,
    double[:, :, :, ::1] states
):
    """The checks of the pooling states and regions that the pooled loops share."""
    cdef Py_ssize_t gw = col_bounds.shape[0] - 1, n_regions = states.shape[2]
    cdef Py_ssize_t n_states = kinds.shape[0], i
    if n_states < 1:
        raise ValueError(f"{caller}: no states to keep")
    if states.shape[0] != b_images or states.shape[1] != n_states or states.shape[3] != n_kernels:
        raise ValueError(f"{caller}: states must be (B, S, G, K)")
    if row_regions.shape[0] != oh or gw < 1 or col_bounds[0] != 0 or col_bounds[gw] != ow:
        raise ValueError(f"{caller}: the regions must cover the maps")
    for i in range(gw):
        if col_bounds[i + 1] <= col_bounds[i]:
            raise ValueError(f"{caller}: empty region")
    for i in range(oh):
        if row_regions[i] < 0 or row_regions[i] * gw + gw > n_regions or (
            i and row_regions[i] < row_regions[i - 1]
        ):
            raise ValueError(f"{caller}: region rows out of range or out of order")
    for i in range(n_states):
        if kinds[i] < 0 or kinds[i] > 4:
            raise ValueError(f"{caller}: unknown state kind")


cdef tuple checked_map_rows(str caller, tuple map_rows, Py_ssize_t oh):
    """``(start, stop)`` of the map rows to compute (all ``oh`` for None), checked."""
    if map_rows is None:
        return 0, oh
    start, stop = map_rows
    if not 0 <= start < stop <= oh:
        raise ValueError(f"{caller}: map_rows must satisfy 0 <= start < stop <= {oh}")
    return start, stop


def encode_patches(
    const real[:, ::1] raw,
    const real[:, ::1] patches,
    real[:, ::1] out,
    Py_ssize_t n_kernels,
    Py_ssize_t n_whitened,
    bint normalise,
    double norm_reg,
    const real[::1] column_sums,
    const real[::1] bias,
    const real[::1] centre_norms,
    int mode,
    double threshold,
):
    """Responses (and an encoder) of every patch into ``out``.

    Parameters
    ----------
    raw : ndarray of shape (N, R), float32 or float64, C-contiguous
        The GEMM's columns: ``n_kernels`` responses, ``n_whitened``
        coordinates, then the patch sums when ``normalise`` (exactly these).
    patches : ndarray of shape (N, D), same dtype, C-contiguous
    out : ndarray of shape (N, n_kernels), same dtype, C-contiguous
    n_kernels, n_whitened : int
    normalise : bool
        Contrast normalisation of each patch (``norm_reg`` its regulariser).
    norm_reg : float
    column_sums, bias : ndarray of shape (n_kernels + n_whitened,)
    centre_norms : ndarray of shape (n_kernels,)
    mode : int
        A value of :data:`MODES`.
    threshold : float
        The soft threshold's offset.
    """
    cdef Py_ssize_t n = raw.shape[0], n_raw = raw.shape[1], d = patches.shape[1]
    if patches.shape[0] != n or out.shape[0] != n or out.shape[1] != n_kernels:
        raise ValueError("encode_patches: raw (N, R), patches (N, D) and out (N, K) disagree")
    check_plan(
        "encode_patches", n_raw, n_kernels, n_whitened, normalise, column_sums.shape[0],
        bias.shape[0], centre_norms.shape[0], mode
    )
    if d < 1:
        raise ValueError("encode_patches: empty patches")
    if n == 0:
        return
    import numpy as np
    buffer = np.empty(max(1, n_whitened), dtype=np.float32 if real is float else np.float64)
    cdef real[::1] work = buffer
    if real is float:
        with nogil:
            skconv_encode_float(
                &raw[0, 0], &patches[0, 0], &out[0, 0], &work[0], n, n_raw, n_kernels,
                n_whitened, d, normalise, <float>norm_reg, &column_sums[0], &bias[0],
                &centre_norms[0], mode, <float>threshold
            )
    else:
        with nogil:
            skconv_encode_double(
                &raw[0, 0], &patches[0, 0], &out[0, 0], &work[0], n, n_raw, n_kernels,
                n_whitened, d, normalise, norm_reg, &column_sums[0], &bias[0],
                &centre_norms[0], mode, threshold
            )


def pool_encoded(
    const real[:, :, :, ::1] padded,
    const real[:, ::1] weights,
    tuple kernel_shape,
    tuple strides,
    tuple dilations,
    tuple out_shape,
    Py_ssize_t n_kernels,
    Py_ssize_t n_whitened,
    bint normalise,
    double norm_reg,
    const real[::1] column_sums,
    const real[::1] bias,
    const real[::1] centre_norms,
    int mode,
    double threshold,
    bint rectify,
    const Py_ssize_t[::1] row_regions,
    const Py_ssize_t[::1] col_bounds,
    const int[::1] kinds,
    double[:, :, :, ::1] states,
    tuple map_rows=None,
):
    """Fold the encoded responses of every patch of a batch into pooling states.

    For each image and each block of whole map rows (at most
    :data:`BLOCK_POSITIONS` positions): gather the patches tap by tap,
    contrast-normalise them in place, compute the plan's columns positions
    last with :func:`encode_patches`'s operations applied as each column
    leaves the registers (a register-blocked loop for AVX-512 or AVX2 chosen
    at run time, :func:`columns_level`; else one GEMM through
    ``scipy.linalg.cython_blas``, then the same operations in a pass), and
    fold the values into the states of their regions while they are in
    cache. The maps are never written. The whitened coordinates' columns
    (``||x||^2`` only) are triangular in the taps
    (:func:`skconv.engine.learned.norm_rows`): the register loop runs each
    group of columns over the taps where its weights are not all zero.

    Parameters
    ----------
    padded : ndarray of shape (B, C, Hp, Wp), float32 or float64, C-contiguous
        The padded images.
    weights : ndarray of shape (kh * kw * C, R), same dtype, C-contiguous
        The learned plan's GEMM columns, rows in (ky, kx, c) order.
    kernel_shape, strides, dilations, out_shape : tuple of int
        ``(kh, kw)``, ``(sy, sx)``, ``(dy, dx)`` and the maps' ``(oh, ow)``.
    n_kernels, n_whitened, normalise, norm_reg, column_sums, bias, centre_norms, mode, threshold :
        As :func:`encode_patches` (R must be ``n_kernels + n_whitened + normalise``).
    rectify : bool
        relu on the encoded values before they are pooled.
    row_regions : ndarray of shape (oh,), intp
        The region row of each map row, nondecreasing, ``< gh``.
    col_bounds : ndarray of shape (gw + 1,), intp
        The regions' column bounds, from 0 to ``ow``, increasing.
    kinds : ndarray of shape (S,), int32
        Values of :data:`STATES`, one per state.
    states : ndarray of shape (B, S, gh * gw, K), float64, C-contiguous
        Initialised by the caller (-inf for maxima, 0 for sums); updated in place.
    map_rows : tuple of int, default=None
        ``(start, stop)``: fold only these map rows (a thread's share of an
        image; the caller merges the threads' states). None: all ``oh``.
    """
    cdef Py_ssize_t b_images = padded.shape[0], channels = padded.shape[1]
    cdef Py_ssize_t hp = padded.shape[2], wp = padded.shape[3]
    cdef Py_ssize_t depth = weights.shape[0], n_raw = weights.shape[1]
    cdef Py_ssize_t kh = kernel_shape[0], kw = kernel_shape[1], sy = strides[0], sx = strides[1]
    cdef Py_ssize_t dy = dilations[0], dx = dilations[1], oh = out_shape[0], ow = out_shape[1]
    cdef Py_ssize_t gw = col_bounds.shape[0] - 1, n_regions = states.shape[2]
    cdef Py_ssize_t n_states = kinds.shape[0]
    check_geometry("pool_encoded", channels, hp, wp, depth, kh, kw, sy, sx, dy, dx, oh, ow)
    check_plan(
        "pool_encoded", n_raw, n_kernels, n_whitened, normalise, column_sums.shape[0],
        bias.shape[0], centre_norms.shape[0], mode
    )
    check_states(
        "pool_encoded", b_images, n_kernels, oh, ow, row_regions, col_bounds, kinds, states
    )
    cdef Py_ssize_t row_begin, row_end, i
    row_begin, row_end = checked_map_rows("pool_encoded", map_rows, oh)
    if b_images == 0:
        return
    import numpy as np
    dtype = np.float32 if real is float else np.float64
    # Map rows padded to whole vectors: the loops along a row run no remainder.
    cdef Py_ssize_t stride = -(-ow // ROW_ALIGNMENT) * ROW_ALIGNMENT
    cdef Py_ssize_t block_rows = rows_per_block(oh, stride), n_rows, block, ld
    cdef Py_ssize_t lanes = SKCONV_COLUMN_LANES, group = skconv_column_group()
    cdef Py_ssize_t ld_max = -(-block_rows * stride // lanes) * lanes
    # The columns the loop computes: the whitened coordinates, then the kernels
    # from the next whole group of the register loop (the patches are
    # normalised before, so the sums' column is not needed), padded to whole
    # groups; each group runs over the taps where its weights are not all zero.
    cdef Py_ssize_t first = -(-n_whitened // group) * group
    cdef Py_ssize_t padded_raw = -(-(first + n_kernels) // group) * group
    source = np.asarray(weights)
    wide_weights = np.zeros((depth, padded_raw), dtype=dtype)
    wide_weights[:, :n_whitened] = source[:, n_kernels : n_kernels + n_whitened]
    wide_weights[:, first : first + n_kernels] = source[:, :n_kernels]
    ordered_bias_buffer = np.zeros(padded_raw, dtype=dtype)
    ordered_bias_buffer[:n_whitened] = np.asarray(bias)[n_kernels : n_kernels + n_whitened]
    ordered_bias_buffer[first : first + n_kernels] = np.asarray(bias)[:n_kernels]
    # The triangle's distances as one sum, ||x||^2 + (-2 c_k) . x + offset_k:
    # the kernels' columns scaled by -2, offset_k = ||c_k||^2 + 2 b_k.
    offset_buffer = np.asarray(centre_norms)[:n_kernels].copy()
    if mode == 1:
        wide_weights[:, first : first + n_kernels] *= -2
        offset_buffer += 2 * np.asarray(bias)[:n_kernels]
    used = wide_weights.reshape(depth, -1, group).any(axis=2)  # (D, groups)
    tap_buffer = np.zeros((used.shape[1], 2), dtype=np.intp)
    for i in range(used.shape[1]):
        rows = np.flatnonzero(used[:, i])
        if rows.size:
            tap_buffer[i] = rows.min(), rows.max() + 1
    cdef const Py_ssize_t[:, ::1] taps = tap_buffer
    # Zeros: the lanes past a block's positions are computed and never read.
    patch_buffer = np.zeros(depth * ld_max, dtype=dtype)
    raw_buffer = np.empty(padded_raw * ld_max, dtype=dtype)
    value_buffer = np.empty(n_kernels * ld_max, dtype=dtype)
    scalar_buffer = np.zeros(4 * ld_max, dtype=dtype)
    row_buffer = np.empty(n_states * n_kernels * stride, dtype=np.float64)
    maxima_buffer = np.empty(n_states * n_kernels * stride, dtype=dtype)
    cdef real[::1] patches = patch_buffer, raw = raw_buffer
    cdef real[::1] values = value_buffer, scalars = scalar_buffer
    cdef real[:, ::1] columns = wide_weights
    cdef const real[::1] ordered_bias = ordered_bias_buffer, offsets = offset_buffer
    cdef double[::1] row = row_buffer
    cdef real[::1] maxima = maxima_buffer
    cdef real *norms = &scalars[0]
    cdef real *average = &scalars[ld_max]
    cdef real *mean = &scalars[2 * ld_max]
    cdef real *scale = &scalars[3 * ld_max]
    cdef Py_ssize_t image, row0
    cdef int computed, triangle = mode == 1
    cdef int box_norms = triangle and n_whitened == 0
    cdef char no = b"N", yes = b"T"
    cdef real one = 1, zero = 0
    cdef int gemm_m, gemm_n = <int>padded_raw, gemm_k = <int>depth, gemm_ld
    with nogil:
        for image in range(b_images):
            row0 = row_begin
            while row0 < row_end:
                n_rows = min(block_rows, row_end - row0)
                block = n_rows * stride
                ld = -(-block // lanes) * lanes
                gemm_m, gemm_ld = <int>block, <int>ld
                if real is float:
                    skconv_gather_float(&padded[image, 0, 0, 0], hp, wp, channels, kh, kw, sy, sx,
                                        dy, dx, ow, stride, row0, n_rows, ld, &patches[0])
                    skconv_normalise_float(&patches[0], ld, block, depth, normalise,
                                           <float>norm_reg, box_norms, norms, mean, scale)
                    computed = skconv_columns_float(
                        &patches[0], ld, ld, depth, &columns[0, 0], padded_raw, &taps[0, 0],
                        n_whitened, first, n_kernels, &ordered_bias[0], &offsets[0], triangle,
                        norms, &values[0], average
                    )
                    if not computed:
                        # raw (R, n) = weights^T (R, D) @ patches (D, n), row-major; in BLAS's
                        # column-major terms raw^T (n, R) = patches^T (n, D) @ weights.
                        sgemm(&no, &yes, &gemm_m, &gemm_n, &gemm_k, &one, &patches[0], &gemm_ld,
                              &columns[0, 0], &gemm_n, &zero, &raw[0], &gemm_ld)
                        skconv_encode_raw_float(&raw[0], ld, block, n_whitened, first, n_kernels,
                                                &ordered_bias[0], &offsets[0], triangle,
                                                norms, &values[0], average)
                    skconv_pool_float(
                        &values[0], average, &maxima[0], &row[0], ld, block, n_kernels, mode,
                        <float>threshold, rectify, row_begin, row_end, stride, row0, &row_regions[0],
                        &col_bounds[0], gw, n_regions, &kinds[0], <int>n_states,
                        &states[image, 0, 0, 0]
                    )
                else:
                    skconv_gather_double(&padded[image, 0, 0, 0], hp, wp, channels, kh, kw, sy, sx,
                                         dy, dx, ow, stride, row0, n_rows, ld, &patches[0])
                    skconv_normalise_double(&patches[0], ld, block, depth, normalise, norm_reg,
                                            box_norms, norms, mean, scale)
                    computed = skconv_columns_double(
                        &patches[0], ld, ld, depth, &columns[0, 0], padded_raw, &taps[0, 0],
                        n_whitened, first, n_kernels, &ordered_bias[0], &offsets[0], triangle,
                        norms, &values[0], average
                    )
                    if not computed:
                        dgemm(&no, &yes, &gemm_m, &gemm_n, &gemm_k, &one, &patches[0], &gemm_ld,
                              &columns[0, 0], &gemm_n, &zero, &raw[0], &gemm_ld)
                        skconv_encode_raw_double(&raw[0], ld, block, n_whitened, first, n_kernels,
                                                 &ordered_bias[0], &offsets[0], triangle,
                                                 norms, &values[0], average)
                    skconv_pool_double(
                        &values[0], average, &maxima[0], &row[0], ld, block, n_kernels, mode,
                        threshold, rectify, row_begin, row_end, stride, row0, &row_regions[0],
                        &col_bounds[0],
                        gw, n_regions, &kinds[0], <int>n_states, &states[image, 0, 0, 0]
                    )
                row0 += n_rows


def _limit_columns_level(level):
    """Cap the register loop :func:`pool_encoded` runs (2 AVX-512, 1 AVX2, 0
    BLAS's GEMM then the encoder; -1 no cap) and return the previous cap:
    the tests run every route on one machine."""
    global skconv_columns_limit
    previous = skconv_columns_limit
    skconv_columns_limit = level
    return previous


def columns_level():
    """The register loop :func:`pool_encoded` runs on this CPU (after any cap):
    2 AVX-512, 1 AVX2 and FMA, 0 none (BLAS's GEMM, then the encoder)."""
    return skconv_columns_level()


def rows_per_block(Py_ssize_t oh, Py_ssize_t ow):
    """Map rows per block of :func:`pool_encoded`: the fewest whose positions,
    rounded up to the column loop's lanes, waste the least (at most
    :data:`BLOCK_POSITIONS` positions, or one row)."""
    cdef Py_ssize_t lanes = SKCONV_COLUMN_LANES, best = 1, r
    cdef double waste, best_waste = 1e300
    for r in range(1, oh + 1):
        if r > 1 and r * ow > BLOCK_POSITIONS:
            break
        waste = (-(-r * ow // lanes) * lanes) / <double>(r * ow)
        if waste < best_waste - 1e-9:
            best, best_waste = r, waste
    return best



def plane_rows_per_block(Py_ssize_t oh, Py_ssize_t ow, Py_ssize_t lanes):
    """Map rows per block of :func:`correlate_planes`: the most (at most
    :data:`BLOCK_POSITIONS` positions, or one row) whose vectors of ``lanes``
    positions fill the register loop's tiles of vectors with the least waste."""
    cdef Py_ssize_t per_row = -(-ow // lanes), tile = SKCONV_PLANE_VECTORS, best = 1, r
    cdef double waste, best_waste = 1e300
    for r in range(1, oh + 1):
        if r > 1 and r * ow > BLOCK_POSITIONS:
            break
        waste = (-(-r * per_row // tile) * tile) / <double>(r * per_row)
        if waste <= best_waste + 1e-9:
            best, best_waste = r, waste
    return best


RUNS_PER_THREAD = 2
"""Runs of items per thread of the plane loops: the threads take the runs one
after another, so that a thread held up (by another process, on a shared
machine) leaves the others its runs but the one it holds; each run splits
the rows it reads again (the kernel's rows at its edges twice). Fewer than
:data:`FEW_ITEMS_PER_THREAD` items per thread run one item a run instead.
Side by side on ``bench_geometries.py``'s geometries (2 threads, in turns in
one process), 2 runs per thread took 0.87-0.97x the time of 4 on the
stride-2 cells of 10 to 60 items, median 0.98x; on 6 items (21x21 kernels)
1.2-1.3x, which one item a run keeps."""

FEW_ITEMS_PER_THREAD = 4
"""See :data:`RUNS_PER_THREAD`."""

KERNEL_POSITIONS = 12
"""Positions the kernel-lane loop of :func:`correlate_planes` keeps in registers
(AVX2: 6; both round a block's positions up to a whole number of them)."""

NARROW_KERNEL_POSITIONS = SKCONV_NARROW_KERNEL_POSITIONS
"""Positions the kernel-lane loop keeps in registers when it takes one
vector of kernels at a time (the ``"narrow kernels"`` layout)."""

NARROW_KERNEL_LANE_EFFICIENCY = 0.8
"""The ``"narrow kernels"`` loop's rate over the ``"kernels"`` loop's on
wanted lanes: a load of weights per tap and vector feeds 12 multiply-adds
instead of 24, and the loads bind before the multiply-adds do. Fitted on
``bench_geometries.py``'s geometries of seeds 0 to 3 (163) with each layout
forced (2 threads), the layouts weighed on the taps they run
(:func:`tap_reach`): 0.75 to 0.8 lose least against the fastest layout (a
mean 1.2%; 0.85 1.3%, 0.9 1.4%; 0.85 took the layout for 8 geometries, 0.8
for 6, among them not ``1x8x200x200 K16 21x21 d2``, which it ran 1.13x
slower than vectors of positions)."""

SIDE_SKIP_EFFICIENCY = 0.55
"""The share of the multiply-adds over the side padding that the kernel-lane
loops save in time when they skip them: a clipped tap still costs its weight
load and the loop's steps, whatever positions it runs for. Measured on 68
images of 64x24 and 16 kernels of 21x21 (padding 10, one thread, the
``"narrow kernels"`` layout): the skip removes 22% of the multiply-adds the
loop ran and 12% of its time."""

PLANE_LAYOUTS = ("positions", "wrapped", "kernels", "narrow kernels")
"""The register layouts of :func:`correlate_planes` (see :func:`plane_layout`)."""

_plane_layout = None  # one of PLANE_LAYOUTS: forced (the tests run each)


def _force_plane_layout(layout):
    """Force the plane loops' layout (one of :data:`PLANE_LAYOUTS`), or let
    them choose (None). For tests and benchmarks (``"wrapped"`` falls back to
    ``"positions"`` where the phases' rows are narrower than the maps')."""
    global _plane_layout
    if layout is not None and layout not in PLANE_LAYOUTS:
        raise ValueError(f"unknown plane layout {layout!r}")
    _plane_layout = layout


DIRECT_STORE_KERNELS = 32
DIRECT_STORE_BYTES = 3 << 19
""":func:`correlate_planes` stores the responses straight into ``out``,
except for maps written around the caches (``stream``) of more than this
many kernels and more than this many bytes per image and call: those go
through a block of values, copied out kernel by kernel around the caches
(measured with 64-128 kernels: the stores 1.14-1.63x the streamed copies'
time from 12 MB of maps, where the maps' rows are not whole vectors, which
the loop would store around the caches itself). Maps not streamed are
stored straight in at any size (0.86-0.90x the copies' time on 1.6-7.3 MB
of maps of 64-128 kernels, where rows of 20-150 positions were copied
row by row)."""

_copies_forced = False


def _force_copies(forced):
    """Send every response through the block of values and its copies (True),
    or let the loop store them straight into the maps where it does (False).
    For tests: the copies are otherwise taken for large streamed maps only."""
    global _copies_forced
    _copies_forced = bool(forced)

KERNEL_LANE_OUTPUT_MACS = 10
"""What writing one response costs the kernel-lane loop beyond the other
layouts' stores, in float32 multiply-adds (in float64 half as many): its
sums leave gathered into vectors of positions, one masked store per kernel
and group of positions. Fitted on ``bench_geometries.py``'s 43 geometries
with each layout forced (2 threads): 6 to 10 pick the fastest layout or
one within 7% of it everywhere but one geometry (9 taps of float64, where
the kernel lanes are faster still); the former 50 picked another layout
than the kernel lanes on 7 of them, up to 7% slower."""


def plane_layout(
    Py_ssize_t oh,
    Py_ssize_t ow,
    Py_ssize_t n_kernels,
    Py_ssize_t taps,
    Py_ssize_t itemsize,
    Py_ssize_t wq=0,
    reach=None,
):
    """How :func:`correlate_planes` lays its registers out for these maps.

    ``"positions"``: vectors of positions along a map row, times
    :func:`plane_group` kernels (a row's last vector runs past its end);
    ``"wrapped"``: the same vectors along a block's map rows seen as one run
    of rows ``wq`` apart in the image's phases (a vector runs on into the
    next row: the ``wq - ow`` positions between rows are computed and
    dropped instead of a partial vector per row), for maps a few vectors
    wide or less; ``"kernels"``: two vectors of kernels, times
    :data:`KERNEL_POSITIONS` positions taken across rows; ``"narrow
    kernels"``: one vector of kernels, times :data:`NARROW_KERNEL_POSITIONS`
    positions (for banks that would leave most of a second vector empty).
    The one with less work per response wins: the multiply-adds of ``taps``
    taps over the share of its lanes that are wanted
    (:func:`plane_lane_use`), plus, for the kernel lanes,
    :data:`KERNEL_LANE_OUTPUT_MACS` (and for ``"narrow kernels"`` divided
    by :data:`NARROW_KERNEL_LANE_EFFICIENCY`); with ``reach``, of the taps
    that each layout runs (:func:`tap_reach`: the kernel-lane loops also skip
    the side padding).

    Parameters
    ----------
    oh, ow : int
        The maps' shape.
    n_kernels, taps, itemsize : int
    wq : int, default=0
        Positions per row of the image's column phases (``ceil(padded width
        / column stride)``); 0 leaves ``"wrapped"`` out.
    reach : tuple of int, default=None
        ``(kh, kw, sy, sx, dy, dx, top, left, h, w)`` (see :func:`tap_reach`);
        None counts every tap.

    Returns
    -------
    layout : str
    block_rows : int
        Map rows per block.
    work : float
        Multiply-adds (float32 units) per response.
    """
    cdef Py_ssize_t lanes = skconv_plane_lanes(itemsize)
    by_positions, by_kernels, by_wrapped, by_narrow = plane_lane_use(
        oh, ow, n_kernels, itemsize, wq
    )
    # (as many kernel-lane blocks as of the most rows, of rows shared evenly
    # between them: the threads' items of equal size)
    cdef Py_ssize_t most = max(1, min(oh, BLOCK_POSITIONS // ow))
    cdef Py_ssize_t kernel_rows = -(-oh // -(-oh // most))
    by_rows = by_kernel_sides = by_narrow_sides = 1.0
    if reach is not None:
        by_rows = tap_reach(oh, ow, reach)
        group = KERNEL_POSITIONS if skconv_plane_group() == 8 else 6
        by_kernel_sides = tap_reach(oh, ow, reach, group, kernel_rows)
        by_narrow_sides = tap_reach(oh, ow, reach, SKCONV_NARROW_KERNEL_POSITIONS, kernel_rows)
    positions = taps * by_rows / by_positions
    kernels = taps * by_kernel_sides / by_kernels + KERNEL_LANE_OUTPUT_MACS * 4 / itemsize
    narrow = (
        taps * by_narrow_sides / (by_narrow * NARROW_KERNEL_LANE_EFFICIENCY)
        + KERNEL_LANE_OUTPUT_MACS * 4 / itemsize
    )
    wrapped = taps * by_rows / by_wrapped if by_wrapped > 0 else float("inf")
    layout = _plane_layout
    if layout == "wrapped" and wq < ow:
        layout = "positions"
    if layout is None:
        layout = min(
            (positions, "positions"), (wrapped, "wrapped"), (kernels, "kernels"),
            (narrow, "narrow kernels"),
            key=lambda pair: pair[0],
        )[1]
    if layout == "positions" or lanes == 0:
        return "positions", plane_rows_per_block(oh, ow, max(lanes, 1)), positions
    if layout == "wrapped":
        return "wrapped", wrapped_rows_per_block(oh, ow, wq, lanes), wrapped
    return layout, kernel_rows, kernels if layout == "kernels" else narrow


def wrapped_rows_per_block(Py_ssize_t oh, Py_ssize_t ow, Py_ssize_t wq, Py_ssize_t lanes):
    """Map rows per block of the ``"wrapped"`` layout: the most (at most
    :data:`BLOCK_POSITIONS` positions of the run, or one row) whose run of
    rows ``wq`` apart fills the register loop's tiles of vectors with the
    least waste."""
    cdef Py_ssize_t tile = SKCONV_PLANE_VECTORS, best = 1, r, vectors
    cdef double waste, best_waste = 1e300
    for r in range(1, oh + 1):
        if r > 1 and (r - 1) * wq + ow > BLOCK_POSITIONS:
            break
        vectors = -(-((r - 1) * wq + ow) // lanes)
        waste = (-(-vectors // tile) * tile * lanes) / <double>(r * ow)
        if waste <= best_waste + 1e-9:
            best, best_waste = r, waste
    return best


def plane_lane_use(
    Py_ssize_t oh, Py_ssize_t ow, Py_ssize_t n_kernels, Py_ssize_t itemsize, Py_ssize_t wq=0
):
    """The share of the plane loop's multiply-adds that are wanted, by layout.

    Returns
    -------
    by_positions, by_kernels, by_wrapped, by_narrow_kernels : float
        Positions over the vectors' lanes (times kernels over whole groups of
        :func:`plane_group`), kernels over whole pairs of vectors (times
        positions over whole groups of :data:`KERNEL_POSITIONS`), for
        ``"wrapped"`` as for ``"positions"`` (0 without ``wq``), and kernels
        over whole vectors (times positions over whole groups of
        :data:`NARROW_KERNEL_POSITIONS`), for the blocks :func:`plane_layout`
        makes. 1.0 when the CPU has no plane loop.
    """
    cdef Py_ssize_t lanes = skconv_plane_lanes(itemsize)
    if lanes == 0:
        return 1.0, 1.0, 0.0, 1.0
    cdef Py_ssize_t group = skconv_plane_group(), width = lanes * SKCONV_PLANE_KERNEL_VECTORS
    cdef Py_ssize_t tile = SKCONV_PLANE_VECTORS, rows = plane_rows_per_block(oh, ow, lanes)
    cdef Py_ssize_t per_row = -(-ow // lanes), np_ = KERNEL_POSITIONS if group == 8 else 6
    cdef Py_ssize_t kernel_rows = max(1, min(oh, BLOCK_POSITIONS // ow)), positions, vectors
    kernel_share = n_kernels / <double>(-(-n_kernels // group) * group)
    by_positions = rows * ow / <double>(-(-rows * per_row // tile) * tile * lanes) * kernel_share
    by_wrapped = 0.0
    if wq >= ow:
        rows = wrapped_rows_per_block(oh, ow, wq, lanes)
        vectors = -(-((rows - 1) * wq + ow) // lanes)
        by_wrapped = rows * ow / <double>(-(-vectors // tile) * tile * lanes) * kernel_share
    positions = kernel_rows * ow
    by_kernels = positions / <double>(-(-positions // np_) * np_)
    by_kernels *= n_kernels / <double>(-(-n_kernels // width) * width)
    np_ = SKCONV_NARROW_KERNEL_POSITIONS
    by_narrow = positions / <double>(-(-positions // np_) * np_)
    by_narrow *= n_kernels / <double>(-(-n_kernels // lanes) * lanes)
    return by_positions, by_kernels, by_wrapped, by_narrow


def plane_group():
    """Kernels per block of :func:`correlate_planes`'s register loop on this CPU
    (8 with AVX-512, 4 with AVX2; after any cap of :func:`_limit_columns_level`)."""
    return skconv_plane_group()


def plane_lanes(dtype):
    """Positions per vector of :func:`correlate_planes`'s loop on this CPU for
    ``dtype`` (after any cap of :func:`_limit_columns_level`); 0 when the CPU
    has neither AVX-512 nor AVX2 (the function then refuses to run)."""
    import numpy as np
    return skconv_plane_lanes(np.dtype(dtype).itemsize)


@lru_cache(maxsize=64)
def _tap_columns(kw, sx, dx, left, w, ow):
    """For each of ``kw`` kernel columns, the map columns ``(first, end)`` whose
    tap reaches image columns (of ``w`` after ``left`` columns of padding),
    not the padding; None when every column's taps do."""
    import numpy as np
    x = np.arange(kw, dtype=np.intp) * dx
    first = -((x - left) // sx)
    end = -((x - left - w) // sx)
    if not ((first > 0).any() or (end < ow).any()):
        return None
    bounds = np.stack([first, end], axis=1)
    bounds.setflags(write=False)
    return bounds


@lru_cache(maxsize=256)
def tap_reach(oh, ow, reach, group=0, block_rows=1):
    """The share of a map's taps that :func:`correlate_planes` runs: those of
    the kernel rows that reach image rows (not the padding above or below)
    and, for groups of ``group`` positions inside one map row (the
    kernel-lane loops, whose blocks have ``block_rows`` map rows), of the
    kernel columns that reach image columns, counted at
    :data:`SIDE_SKIP_EFFICIENCY`.

    Parameters
    ----------
    oh, ow : int
        The maps' shape.
    reach : tuple of int
        ``(kh, kw, sy, sx, dy, dx, top, left, h, w)``: the kernel's shape,
        stride, dilation, padding before the image and the image's shape.
    group : int, default=0
        Positions per group of the kernel-lane loop; 0: the side padding is
        not skipped.
    block_rows : int, default=1

    Returns
    -------
    share : float
        In (0, 1]; 1.0 when no tap reads the padding only.
    """
    import numpy as np
    kh, kw, sy, sx, dy, dx, top, left, h, w = reach
    y = np.arange(oh, dtype=np.intp) * sy
    rows = np.clip(-((y - top - h) // dy), 0, kh) - np.clip(-((y - top) // dy), 0, kh)
    rows = np.maximum(rows, 0)
    if not group:
        return float(rows.sum()) / (oh * kh)
    x = np.arange(kw, dtype=np.intp) * dx
    first = np.clip(-((x - left) // sx), 0, ow)
    end = np.clip(-((x - left - w) // sx), 0, ow)
    kept = first < end
    steps = np.bincount(first[kept], minlength=ow + 1) - np.bincount(end[kept], minlength=ow + 1)
    columns = np.cumsum(steps)[:ow]
    # the groups of each block's positions that lie inside one map row
    p = np.arange(block_rows * ow, dtype=np.intp)
    start = p // group * group
    inside = start // ow == (start + group - 1) // ow
    saved = np.where(inside, kw - columns[p % ow], 0).reshape(block_rows, ow).sum(axis=1)
    per_row = ow * kw - SIDE_SKIP_EFFICIENCY * saved
    return float((rows * per_row[np.arange(oh) % block_rows]).sum()) / (oh * ow * kh * kw)


@lru_cache(maxsize=64)
def _tap_rows(n_rows, kh, sy, dy, top, h, row_begin, row_end):
    """For each of ``n_rows`` map rows, the rows ``(first, end)`` of kernel taps
    that reach image rows (of ``h`` rows after ``top`` rows of padding), not
    the padding; None when every tap of rows ``row_begin .. row_end - 1`` does
    (nothing to skip)."""
    import numpy as np
    y = np.arange(n_rows, dtype=np.intp) * sy
    first = np.clip(-((y - top) // dy), 0, kh)
    end = np.clip(-((y - top - h) // dy), 0, kh)
    if not (first[row_begin:row_end].any() or (end[row_begin:row_end] < kh).any()):
        return None
    bounds = np.stack([first, end], axis=1)
    bounds.setflags(write=False)
    return bounds


@lru_cache(maxsize=64)
def _plane_tables(channels, hq, wq, kh, kw, sy, sx, dy, dx, ow, lanes, block_rows, wrapped):
    """:func:`correlate_planes`'s offsets: each tap's in the phases (sx, C, sy,
    hq, wq), in the weights' (ky, kx, c) order; each vector's (``lanes``
    positions along a map row of a block of ``block_rows`` rows; with
    ``wrapped``, along the block's rows seen as one run, ``wq`` apart) in the
    phases, from the block's first row, in the block's values, and its lanes
    inside its row; each position's in the phases; each vector's offset in
    the maps and its lanes there (as ``counts``, or ``-mask`` for the wanted
    lanes of a wrapped vector); the taps' offsets in (c, ky, kx) order (the
    kernel-lane loop's, see :func:`channel_major`); the first and last map
    rows of each vector's positions, and of each position (``(n, 2)``)."""
    import numpy as np
    ky, kx, c = np.meshgrid(np.arange(kh), np.arange(kw), np.arange(channels), indexing="ij")
    phase, shift = (kx * dx) % sx, (kx * dx) // sx
    row_phase, row_shift = (ky * dy) % sy, (ky * dy) // sy
    taps = (
        ((((phase * channels + c) * sy + row_phase) * hq + row_shift) * wq + shift)
        .ravel()
        .astype(np.intp)
    )
    if wrapped:
        run = (block_rows - 1) * wq + ow
        starts = np.arange(0, run, lanes, dtype=np.intp)
        targets, counts = starts, np.full(len(starts), lanes, dtype=np.intp)
        # Into the maps: each vector's wanted lanes (in the run, not between
        # two rows), packed at the map offset of the first (wanted positions
        # follow each other in the maps as in the run).
        flat = starts[:, None] + np.arange(lanes)
        wanted = (flat < run) & (flat % wq < ow)
        map_counts = -(wanted * (1 << np.arange(lanes))).sum(axis=1).astype(np.intp)
        map_targets = (starts // wq * ow + np.minimum(starts % wq, ow)).astype(np.intp)
        vector_rows = np.stack([starts // wq, np.minimum(starts + lanes - 1, run - 1) // wq], axis=1)
    else:
        rows, x0 = np.meshgrid(np.arange(block_rows), np.arange(0, ow, lanes), indexing="ij")
        starts = (rows * wq + x0).ravel().astype(np.intp)
        targets = (rows * ow + x0).ravel().astype(np.intp)
        counts = np.minimum(lanes, ow - x0).ravel().astype(np.intp)
        map_targets, map_counts = targets, counts
        vector_rows = np.stack([starts // wq, starts // wq], axis=1)
    rows, x = np.meshgrid(np.arange(block_rows), np.arange(ow), indexing="ij")
    positions = (rows * wq + x).ravel().astype(np.intp)
    by_channel = taps[channel_major(kh * kw, channels)]
    position_rows = np.stack([positions // wq, positions // wq], axis=1)
    tables = (
        taps, starts, targets, counts, positions, map_targets, map_counts, by_channel,
        np.ascontiguousarray(vector_rows, dtype=np.intp),
        np.ascontiguousarray(position_rows, dtype=np.intp),
    )
    for table in tables:
        table.setflags(write=False)
    return tables


cdef Py_ssize_t check_planes(
    str caller, dtype, Py_ssize_t item_step, Py_ssize_t groups, Py_ssize_t width,
    Py_ssize_t n_kernels
) except -1:
    """The plane loop's lanes for ``dtype``, after the checks the plane loops share."""
    import numpy as np
    cdef Py_ssize_t lanes = skconv_plane_lanes(np.dtype(dtype).itemsize)
    if lanes == 0:
        raise RuntimeError(f"{caller}: this CPU has neither AVX-512 nor AVX2")
    if n_kernels < 1 or width != skconv_plane_group() or groups * width < n_kernels:
        raise ValueError(f"{caller}: weights must be packed by plane_weights for bias's kernels")
    if item_step != np.dtype(dtype).itemsize:
        raise ValueError(f"{caller}: the rows of padded and out must be contiguous")
    return lanes


@lru_cache(maxsize=16)
def channel_major(Py_ssize_t n_offsets, Py_ssize_t channels):
    """The order that takes taps from (ky, kx, c) to (c, ky, kx): indices into
    the ``n_offsets * channels`` taps, read-only.

    The kernel-lane loop runs its taps in this order: consecutive taps then
    read the same rows of one channel's phases (a row's lines stay in L1 for
    a row of the kernel) rather than one line of each channel in turn
    (the loop alone, in C: 0.89x the time with 16 channels, 0.98x with 2;
    ``convolve`` on 8-16 channels side by side: 0.95-1.0x).
    """
    import numpy as np
    order = np.arange(n_offsets * channels, dtype=np.intp).reshape(n_offsets, channels).T.ravel()
    order.setflags(write=False)
    return order


_KERNEL_LANE_WEIGHTS = {}


def _kernel_lane_weights(weights, Py_ssize_t width, Py_ssize_t channels):
    """:func:`plane_weights`' packing regrouped by ``width`` kernels (the
    kernel-lane loop's vectors), its taps in :func:`channel_major` order,
    once per packed matrix."""
    import numpy as np
    entry = _KERNEL_LANE_WEIGHTS.get(id(weights))
    if entry is not None and entry[0] is weights and entry[1].shape[2] == width and (
        entry[2] == channels
    ):
        return entry[1]
    groups, depth, group = weights.shape
    packed = _regrouped(
        np.asarray(weights), groups * group, width, channel_major(depth // channels, channels)
    )
    _KERNEL_LANE_WEIGHTS.clear()  # the last matrix only: a transform's parts run in turn
    _KERNEL_LANE_WEIGHTS[id(weights)] = (weights, packed, channels)
    return packed


def plane_weights(weights):
    """The kernels ``(kh * kw * C, K)`` as :func:`correlate_planes` reads them:
    ``(groups, kh * kw * C, width)``, groups of as many kernels as its
    register loop computes at once (zeros past the last kernel), each
    group's taps contiguous."""
    import numpy as np
    weights = np.asarray(weights)
    if weights.ndim != 2 or weights.dtype not in (np.float32, np.float64):
        raise ValueError("plane_weights: weights must be a 2-D float32 or float64 array")
    return _regrouped(weights[None], weights.shape[1], skconv_plane_group())


def _regrouped(columns, Py_ssize_t n_kernels, Py_ssize_t width, order=None):
    """Kernels held in groups ``columns`` ``(groups, depth, group)`` (kernel
    ``j`` in group ``j // group``, lane ``j % group``) regrouped by ``width``:
    ``(ceil(n_kernels / width), depth, width)``, zeros past the last kernel;
    with ``order`` (a permutation of the taps), tap ``t`` of the result is
    tap ``order[t]`` of ``columns``. One pass over the rows of taps (numpy's
    strided copy of runs of 8 measured 4-5x slower)."""
    import numpy as np
    columns = np.ascontiguousarray(columns)
    depth = columns.shape[1]
    if order is None:
        order = np.arange(depth, dtype=np.intp)
    cdef const Py_ssize_t[::1] taps = order
    if taps.shape[0] != depth:
        raise ValueError("_regrouped: order must be a permutation of the taps")
    out = np.zeros((-(-n_kernels // width), depth, width), dtype=columns.dtype)
    if columns.dtype == np.float32:
        _regroup[float](columns, out, n_kernels, taps)
    else:
        _regroup[double](columns, out, n_kernels, taps)
    return out


cdef void _regroup(const real[:, :, ::1] columns, real[:, :, ::1] out, Py_ssize_t n_kernels,
                   const Py_ssize_t[::1] order):
    cdef Py_ssize_t group = columns.shape[2], width = out.shape[2], depth = columns.shape[1]
    cdef Py_ssize_t tap, kernel, lane, run, source_lane, target_lane
    cdef const real *source
    cdef real *target
    with nogil:
        for tap in range(depth):
            source = &columns[0, order[tap], 0]
            target = &out[0, tap, 0]
            kernel = source_lane = target_lane = 0
            while kernel < n_kernels:  # runs within one group of each side
                run = min(n_kernels - kernel, group - source_lane, width - target_lane)
                for lane in range(run):
                    target[target_lane + lane] = source[source_lane + lane]
                kernel += run
                source_lane += run
                target_lane += run
                if source_lane == group:
                    source, source_lane = source + depth * group, 0
                if target_lane == width:
                    target, target_lane = target + depth * width, 0


def correlate_planes(
    padded,
    weights,
    bias,
    tuple kernel_shape,
    tuple strides,
    tuple dilations,
    out,
    bint rectify=False,
    tuple map_rows=None,
    tuple pads=None,
    bint stream=False,
    Py_ssize_t n_threads=1,
):
    """The maps of every image of a batch, without a patch matrix.

    Each padded image is split into its column phases (one copy of the image:
    phase ``q`` holds the columns ``q, q + sx, ...``), so that under a run of
    positions along a map row every tap's values are contiguous, whatever
    the stride. A register-blocked loop (AVX-512 or AVX2, chosen at run time)
    then keeps 3 vectors of positions x 8 (AVX2: 4) kernels in registers
    over all the taps, loading the positions' values straight from the
    phases: one load per tap and vector, one broadcast per tap and kernel, no
    gather; for maps narrower than a few vectors, 2 vectors of kernels x 12
    (AVX2: 6) positions across rows instead (:func:`plane_layout`). The
    image's phases stay in cache (L2) for all its kernels.

    Parameters
    ----------
    padded : ndarray of shape (B, C, Hp, Wp), float32 or float64
        The padded images (rows contiguous; any other strides, e.g. a
        channels-first window seen batch first).
    weights : ndarray of shape (groups, kh * kw * C, width), same dtype
        The kernels (rows in (ky, kx, c) order) packed by :func:`plane_weights`.
    bias : ndarray of shape (K,), same dtype
        Subtracted from each kernel's responses.
    kernel_shape, strides, dilations : tuple of int
        ``(kh, kw)``, ``(sy, sx)`` and ``(dy, dx)``.
    out : ndarray of shape (B, K, oh, ow), same dtype
        The maps, rows contiguous (only ``map_rows`` of them are written).
    rectify : bool, default=False
        relu on the responses.
    map_rows : tuple of int, default=None
        ``(start, stop)``: compute only these map rows (a thread's share).
        None: all ``oh``.
    pads : tuple of int, default=None
        ``(top, bottom, left, right)``: ``padded`` is the unpadded image, and
        these zeros around it are added while it is split into its phases
        (one pass over the image instead of a padded copy, then the split).
    stream : bool, default=False
        Nothing reads ``out`` back soon (a large output): where the responses
        go through a block of values (many kernels' large maps), they are
        copied out with non-temporal stores, around the caches (no read of
        the lines they overwrite first). Measured 0.76-0.92x the time of
        plain copies on 15-56 MB of maps.
    n_threads : int, default=1
        Threads (OpenMP, when built with it: :data:`OPENMP`) that share the
        items, one image's block of map rows each. Workers that wait spin
        briefly instead of sleeping (the OpenMP runtime's default), so that
        consecutive calls find them awake.
    """
    import numpy as np
    out_shape = tuple(np.shape(out)[2:]) if np.ndim(out) == 4 else ()
    if len(out_shape) != 2 or np.shape(out)[:2] != (np.shape(padded)[0], np.shape(bias)[0]):
        raise ValueError("correlate_planes: out must be (B, K, oh, ow) and bias (K,)")
    _planes_loop(
        padded, weights, bias, kernel_shape, strides, dilations, out_shape, rectify, map_rows,
        pads, "correlate_planes", out, None, None, None, None, stream, n_threads
    )


def pool_planes(
    padded,
    weights,
    bias,
    tuple kernel_shape,
    tuple strides,
    tuple dilations,
    tuple out_shape,
    bint rectify,
    row_regions,
    col_bounds,
    kinds,
    states,
    tuple map_rows=None,
    tuple pads=None,
    Py_ssize_t n_threads=1,
):
    """Fold the responses of plain kernels into pooling states, the maps never written.

    :func:`correlate_planes`'s loop (column phases, no patch matrix), each
    block of map rows' responses folded into the states of their regions
    while in cache, as :func:`pool_encoded` folds a learned bank's.

    Parameters
    ----------
    padded, weights, bias, kernel_shape, strides, dilations, pads :
        As :func:`correlate_planes`.
    out_shape : tuple of int
        The maps' ``(oh, ow)``.
    rectify : bool
        relu on the responses before they are pooled.
    row_regions, col_bounds, kinds, states, map_rows :
        As :func:`pool_encoded` (``states`` of shape (B, S, G, K)).
    n_threads : int, default=1
        As :func:`correlate_planes`; each thread folds whole images (the
        states are the images'), so at most one per image.
    """
    _planes_loop(
        padded, weights, bias, kernel_shape, strides, dilations, out_shape, rectify, map_rows,
        pads, "pool_planes", None, row_regions, col_bounds, kinds, states, False, n_threads
    )


cdef struct PlaneJob:
    # The image and how to reach its items (one image x one block of map rows).
    const void *padded
    Py_ssize_t image_step, channel_step, row_step, channels, h, w, top, left, hp, wp
    Py_ssize_t sx, sy, hq, wq, lanes, n_blocks, block_rows, row_begin, row_end, ow
    # Padded rows under one map row: (kh - 1) * dy + 1.
    Py_ssize_t span
    # Values' rows apart in a block (ow; wq when vectors wrap from row to row).
    Py_ssize_t pitch
    # The register loop's tables and weights.
    const Py_ssize_t *taps
    const Py_ssize_t *starts
    const Py_ssize_t *targets
    const Py_ssize_t *counts
    const Py_ssize_t *positions
    # Where the vectors' responses go in the maps (into_maps).
    const Py_ssize_t *map_targets
    const Py_ssize_t *map_counts
    # Each vector's (kernel lanes: position's) first and last map rows in
    # its block, and for each map row the rows of kernel taps that reach
    # image rows, not the padding (``(first, end)``; NULL: every row).
    const Py_ssize_t *item_rows
    const Py_ssize_t *row_bounds
    Py_ssize_t kw
    # Each kernel column's first and end map columns over image columns (not
    # the padding at the sides), for the kernel-lane loops (NULL: all).
    const Py_ssize_t *tap_cols
    Py_ssize_t depth, width, n_kernels, per_row, ld
    const void *weights
    const void *lane_weights
    const void *bias
    bint rectify, kernel_lanes, one_vector, wrapped, pooled, into_maps, streamed, contiguous_rows
    # The maps' whole vectors stored around the caches (into_maps).
    bint around
    # Each thread's buffers: rows of ``*_step`` items, the thread's at ``thread * step``.
    void *planes
    void *rows
    void *values
    void *partial
    void *maxima
    double *state_rows
    Py_ssize_t plane_step, rows_step, value_step, partial_step, maxima_step, state_step
    # Where the results go: the maps, or the states of the regions.
    void *out
    Py_ssize_t out_image_step, kernel_step, out_row_step
    const Py_ssize_t *row_regions
    const Py_ssize_t *col_bounds
    const int *kinds
    Py_ssize_t gw, n_regions, n_states
    double *states
    Py_ssize_t states_step


cdef void _plane_items(const PlaneJob *job, Py_ssize_t thread, Py_ssize_t first,
                       Py_ssize_t stop, real dtype_tag) noexcept nogil:
    """One thread's run of items ``first .. stop - 1`` of :func:`_planes_loop`
    (item ``i``: image ``i // n_blocks``, its block of map rows ``i % n_blocks``),
    each image split into the thread's phases when its first item comes."""
    cdef real *planes = <real *>job.planes + thread * job.plane_step
    cdef real *rows = <real *>job.rows + thread * job.rows_step
    cdef real *values = <real *>job.values + thread * job.value_step
    cdef real *partial = <real *>job.partial + thread * job.partial_step
    cdef real *maxima = <real *>job.maxima + thread * job.maxima_step
    cdef double *row = job.state_rows + thread * job.state_step
    cdef const real *padded = <const real *>job.padded
    cdef real *out = <real *>job.out
    cdef Py_ssize_t item, image, current = -1, row0, n_rows, kernel, y, ow = job.ow
    cdef Py_ssize_t n_vectors, pitch = job.pitch, y_begin, y_end
    cdef const Py_ssize_t *bounds
    cdef real *maps
    cdef real *target
    cdef const real *source
    for item in range(first, stop):
        image = item // job.n_blocks
        if image != current:
            current = image
            source = padded + image * job.image_step
            # The padded rows under this thread's map rows of the image, and
            # those a vector running past the last row's end reads.
            row0 = job.row_begin + max(first - image * job.n_blocks, 0) * job.block_rows
            y = min(job.row_end,
                    job.row_begin + min(stop - image * job.n_blocks, job.n_blocks) * job.block_rows)
            y_begin = row0 * job.sy
            y_end = (y - 1) * job.sy + job.span + job.sy * (1 + job.lanes // job.wq)
            if real is float:
                skconv_split_phases_float(source, job.channels, job.h, job.w, job.channel_step,
                                          job.row_step, job.top, job.left, job.hp, job.wp,
                                          job.sy, job.hq, job.sx, job.wq, y_begin, y_end, rows,
                                          planes)
            else:
                skconv_split_phases_double(source, job.channels, job.h, job.w, job.channel_step,
                                           job.row_step, job.top, job.left, job.hp, job.wp,
                                           job.sy, job.hq, job.sx, job.wq, y_begin, y_end, rows,
                                           planes)
        row0 = job.row_begin + (item % job.n_blocks) * job.block_rows
        n_rows = min(job.block_rows, job.row_end - row0)
        n_vectors = n_rows * job.per_row
        if job.wrapped:  # the block's positions as one run of rows wq apart
            n_vectors = -(-((n_rows - 1) * job.wq + ow) // job.lanes)
        maps = NULL
        # (a wrapped block's vectors store whole blocks' lanes: a short last
        # block goes through the values)
        if job.into_maps and not (job.wrapped and n_rows < job.block_rows):
            maps = out + image * job.out_image_step + row0 * job.out_row_step
        # (the rows of taps that reach the image for the block's map rows)
        bounds = job.row_bounds + 2 * row0 if job.row_bounds != NULL else NULL
        if job.kernel_lanes:
            if real is float:
                skconv_plane_kernels_float(planes + row0 * job.wq, job.taps, job.depth,
                                           <const float *>job.lane_weights, job.n_kernels,
                                           <const float *>job.bias,
                                           job.rectify and not job.pooled, job.positions,
                                           n_rows * ow, partial, maps if maps else values,
                                           job.kernel_step if maps else job.ld, job.one_vector,
                                           job.item_rows, bounds, job.channels, job.kw,
                                           job.tap_cols, job.wq)
            else:
                skconv_plane_kernels_double(planes + row0 * job.wq, job.taps, job.depth,
                                            <const double *>job.lane_weights, job.n_kernels,
                                            <const double *>job.bias,
                                            job.rectify and not job.pooled, job.positions,
                                            n_rows * ow, partial, maps if maps else values,
                                            job.kernel_step if maps else job.ld, job.one_vector,
                                            job.item_rows, bounds, job.channels, job.kw,
                                            job.tap_cols, job.wq)
        elif real is float:
            skconv_plane_columns_float(planes + row0 * job.wq, job.taps, job.depth,
                                       <const float *>job.weights, job.width, job.n_kernels,
                                       <const float *>job.bias, job.rectify and not job.pooled,
                                       job.starts, job.map_targets if maps else job.targets,
                                       n_vectors, values, job.ld, maps, job.kernel_step,
                                       job.map_counts if maps else job.counts,
                                       job.around and maps != NULL, job.item_rows, bounds,
                                       job.kw * job.channels)
        else:
            skconv_plane_columns_double(planes + row0 * job.wq, job.taps, job.depth,
                                        <const double *>job.weights, job.width, job.n_kernels,
                                        <const double *>job.bias, job.rectify and not job.pooled,
                                        job.starts, job.map_targets if maps else job.targets,
                                        n_vectors, values, job.ld, maps, job.kernel_step,
                                        job.map_counts if maps else job.counts,
                                        job.around and maps != NULL, job.item_rows, bounds,
                                        job.kw * job.channels)
        if job.pooled:
            # The relu, when asked, in the fold (once per region for maxima).
            if real is float:
                skconv_pool_float(
                    values, NULL, maxima, row, job.ld, n_rows * pitch, job.n_kernels, 0, 0,
                    job.rectify, job.row_begin, job.row_end, pitch, row0, job.row_regions,
                    job.col_bounds, job.gw, job.n_regions, job.kinds, <int>job.n_states,
                    job.states + image * job.states_step
                )
            else:
                skconv_pool_double(
                    values, NULL, maxima, row, job.ld, n_rows * pitch, job.n_kernels, 0, 0,
                    job.rectify, job.row_begin, job.row_end, pitch, row0, job.row_regions,
                    job.col_bounds, job.gw, job.n_regions, job.kinds, <int>job.n_states,
                    job.states + image * job.states_step
                )
        elif maps == NULL:
            for kernel in range(job.n_kernels):
                target = out + image * job.out_image_step + kernel * job.kernel_step
                if job.streamed:
                    skconv_stream_copy(target + row0 * job.out_row_step, values + kernel * job.ld,
                                       n_rows * ow * sizeof(real))
                elif job.contiguous_rows and pitch == ow:
                    memcpy(target + row0 * job.out_row_step, values + kernel * job.ld,
                           n_rows * ow * sizeof(real))
                elif real is float:
                    skconv_copy_rows_float(target + row0 * job.out_row_step, job.out_row_step,
                                           values + kernel * job.ld, pitch, n_rows, ow)
                else:
                    skconv_copy_rows_double(target + row0 * job.out_row_step, job.out_row_step,
                                            values + kernel * job.ld, pitch, n_rows, ow)
    if job.streamed or job.around:
        skconv_stream_fence()


def _planes_loop(
    const real[:, :, :, :] padded,
    const real[:, :, ::1] weights,
    const real[::1] bias,
    tuple kernel_shape,
    tuple strides,
    tuple dilations,
    tuple out_shape,
    bint rectify,
    tuple map_rows,
    tuple pads,
    str caller,
    real[:, :, :, :] out,
    const Py_ssize_t[::1] row_regions,
    const Py_ssize_t[::1] col_bounds,
    const int[::1] kinds,
    double[:, :, :, ::1] states,
    bint stream,
    Py_ssize_t n_threads,
):
    """:func:`correlate_planes` (``out``) and :func:`pool_planes` (the states):
    the items (one image x one block of map rows) shared between ``n_threads``
    threads (OpenMP; whole images each when pooling, as the states are the
    images'), each block's responses computed by the register loop, then
    copied into ``out`` or folded into the states."""
    import numpy as np
    dtype = np.float32 if real is float else np.float64
    cdef bint pooled = out is None
    cdef Py_ssize_t b_images = padded.shape[0], channels = padded.shape[1]
    cdef Py_ssize_t h = padded.shape[2], w = padded.shape[3], top = 0, left = 0
    if n_threads < 1:
        raise ValueError(f"{caller}: n_threads must be a positive integer, got {n_threads}")
    if pads is not None:
        if len(pads) != 4 or min(pads) < 0:
            raise ValueError(f"{caller}: pads must be 4 non-negative integers, got {pads!r}")
        top, left = pads[0], pads[2]
    cdef Py_ssize_t hp = h + (0 if pads is None else pads[0] + pads[1])
    cdef Py_ssize_t wp = w + (0 if pads is None else pads[2] + pads[3])
    cdef Py_ssize_t depth = weights.shape[1], n_kernels = bias.shape[0]
    cdef Py_ssize_t kh = kernel_shape[0], kw = kernel_shape[1], sy = strides[0], sx = strides[1]
    cdef Py_ssize_t dy = dilations[0], dx = dilations[1], oh = out_shape[0], ow = out_shape[1]
    # (an axis of length 1 has any stride: numpy exports its own for it)
    cdef Py_ssize_t lanes = check_planes(
        caller, dtype, padded.strides[3] if w > 1 else sizeof(real), weights.shape[0],
        weights.shape[2], n_kernels
    )
    check_geometry(caller, channels, hp, wp, depth, kh, kw, sy, sx, dy, dx, oh, ow)
    cdef Py_ssize_t gw = 0, n_regions = 0, n_states = 0
    if pooled:
        check_states(caller, b_images, n_kernels, oh, ow, row_regions, col_bounds, kinds, states)
        gw, n_regions, n_states = col_bounds.shape[0] - 1, states.shape[2], kinds.shape[0]
    elif out.shape[3] > 1 and out.strides[3] != sizeof(real):
        raise ValueError(f"{caller}: the rows of padded and out must be contiguous")
    cdef Py_ssize_t row_begin, row_end
    row_begin, row_end = checked_map_rows(caller, map_rows, oh)
    if b_images == 0 or row_end == row_begin:
        return
    cdef Py_ssize_t wq = -(-wp // sx), hq = -(-hp // sy), block_rows
    layout, block_rows, _ = plane_layout(
        oh, ow, n_kernels, depth, sizeof(real), wq, (kh, kw, sy, sx, dy, dx, top, left, h, w)
    )
    cdef bint one_vector = layout == "narrow kernels", wrapped = layout == "wrapped"
    cdef bint kernel_lanes = layout == "kernels" or one_vector
    cdef Py_ssize_t pitch = wq if wrapped else ow
    cdef Py_ssize_t per_row = -(-ow // lanes), ld = block_rows * pitch + lanes
    tables = _plane_tables(channels, hq, wq, kh, kw, sy, sx, dy, dx, ow, lanes, block_rows, wrapped)
    cdef const Py_ssize_t[::1] taps = tables[0], starts = tables[1], targets = tables[2]
    cdef const Py_ssize_t[::1] counts = tables[3], positions = tables[4]
    cdef const Py_ssize_t[::1] map_targets = tables[5], map_counts = tables[6]
    cdef const Py_ssize_t[::1] lane_taps = tables[7]
    cdef const Py_ssize_t[:, ::1] item_rows = tables[9] if kernel_lanes else tables[8]
    # The rows of taps that reach the image (not the zeros of the padding) for
    # each map row, when some rows' taps reach the padding.
    row_bound_buffer = _tap_rows(oh + block_rows, kh, sy, dy, top, h, row_begin, row_end)
    cdef const Py_ssize_t[:, ::1] row_bounds = row_bound_buffer
    # The map columns whose taps reach the image for each kernel column, when
    # some reach the padding at the sides (the kernel-lane loops skip those).
    tap_col_buffer = _tap_columns(kw, sx, dx, left, w, ow) if kernel_lanes else None
    cdef const Py_ssize_t[:, ::1] tap_cols = tap_col_buffer
    # The items, in runs of consecutive items (whole images when pooling)
    # that the threads take one after another as they finish the last.
    cdef Py_ssize_t n_blocks = -(-(row_end - row_begin) // block_rows)
    cdef Py_ssize_t n_items = b_images * n_blocks, units = b_images if pooled else n_items
    cdef Py_ssize_t threads = loop_threads(min(n_threads, units))
    cdef Py_ssize_t n_runs = (
        1 if threads == 1
        else units if units < FEW_ITEMS_PER_THREAD * threads
        else min(units, RUNS_PER_THREAD * threads)
    )
    bound_buffer = np.array(
        [(b_images * t // n_runs) * n_blocks if pooled else n_items * t // n_runs
         for t in range(n_runs + 1)],
        dtype=np.intp,
    )
    cdef const Py_ssize_t[::1] bounds = bound_buffer
    # The kernel-lane loop's kernels regrouped by vectors of kernels (cached
    # per packed matrix), and its sums between blocks of taps.
    cdef Py_ssize_t lane_width = lanes * (1 if one_vector else SKCONV_PLANE_KERNEL_VECTORS)
    lane_buffer = (
        _kernel_lane_weights(weights.base, lane_width, channels) if kernel_lanes else weights
    )
    cdef const real[:, :, ::1] lane_weights = lane_buffer
    # Each thread's buffers: its image's phases (then slack read by the last
    # vectors' lanes, never kept), a row of zeros and a padded row, a block's
    # values, the kernel-lane sums, the fold's rows of running states.
    cdef Py_ssize_t plane_size = sx * channels * sy * hq * wq
    cdef Py_ssize_t plane_step = plane_size + 2 * lanes, rows_step = 2 * wp
    cdef Py_ssize_t value_step = n_kernels * ld, state_step = max(1, n_states * n_kernels * pitch)
    cdef Py_ssize_t partial_step = (
        block_rows * ow * -(-n_kernels // lane_width) * lane_width if kernel_lanes else 1
    )
    # (all in one buffer from the process's pool of idle buffers, given back
    # at the end, each part 64-byte aligned: fresh memory costs a page fault
    # per 4 KiB written, which took half of a one-image call with two threads)
    cdef Py_ssize_t part_bytes[6]
    part_bytes[0] = threads * plane_step * sizeof(real)
    part_bytes[1] = threads * rows_step * sizeof(real)
    part_bytes[2] = threads * value_step * sizeof(real)
    part_bytes[3] = threads * partial_step * sizeof(real)
    part_bytes[4] = threads * state_step * sizeof(real)
    part_bytes[5] = threads * state_step * sizeof(double)
    cdef Py_ssize_t part, t, total = 64
    for part in range(6):
        part_bytes[part] = (part_bytes[part] + 63) // 64 * 64
        total += part_bytes[part]
    work = _BUFFERS.take((total,), np.uint8)
    cdef unsigned char[::1] work_bytes = work
    cdef unsigned char *start = &work_bytes[0]
    start += -<Py_ssize_t><size_t>start % 64
    cdef real *planes = <real *>start
    cdef real *rows = <real *>(start + part_bytes[0])
    cdef real *values = <real *>(start + part_bytes[0] + part_bytes[1])
    cdef real *partial = <real *>(start + part_bytes[0] + part_bytes[1] + part_bytes[2])
    start += part_bytes[0] + part_bytes[1] + part_bytes[2] + part_bytes[3]
    cdef real *maxima = <real *>start
    cdef double *state_rows = <double *>(start + part_bytes[4])
    for t in range(threads):
        memset(planes + t * plane_step + plane_size, 0, 2 * lanes * sizeof(real))
    if wrapped:
        memset(values, 0, threads * value_step * sizeof(real))
    cdef Py_ssize_t itemsize = sizeof(real)
    cdef bint contiguous_rows = not pooled and out.strides[2] == ow * itemsize
    # Finished responses stored straight into the maps (each row's last vector
    # masked), not through a block of values copied out kernel by kernel;
    # but large maps written around the caches are copied so (see
    # DIRECT_STORE_KERNELS).
    cdef bint into_maps = contiguous_rows and (
        not wrapped or depth <= SKCONV_PLANE_TAP_BLOCK  # (the sums between blocks: at targets)
    ) and not _copies_forced and (
        not stream
        or n_kernels <= DIRECT_STORE_KERNELS
        or n_kernels * oh * ow * itemsize <= DIRECT_STORE_BYTES
    )
    # Maps to be streamed out whose every vector is a whole one at an address
    # aligned to its size (rows of whole vectors, ``out`` aligned): stored
    # into the maps around the caches, with no block of values nor copy
    # (the copies' reads and the values' trips through L2 measured more than
    # the stores around the caches cost).
    cdef Py_ssize_t vector_bytes = lanes * itemsize
    cdef bint around = (
        stream and contiguous_rows and not kernel_lanes and not wrapped and ow % lanes == 0
        and not _copies_forced
        and <size_t>&out[0, 0, 0, 0] % vector_bytes == 0
        and out.strides[0] % vector_bytes == 0 and out.strides[1] % vector_bytes == 0
    )
    into_maps = into_maps or around
    cdef PlaneJob job
    job.padded = &padded[0, 0, 0, 0]
    job.image_step = padded.strides[0] // itemsize
    job.channel_step = padded.strides[1] // itemsize
    job.row_step = padded.strides[2] // itemsize
    job.channels, job.h, job.w, job.top, job.left, job.hp, job.wp = channels, h, w, top, left, hp, wp
    job.sx, job.sy, job.hq, job.wq, job.lanes, job.ow, job.pitch = sx, sy, hq, wq, lanes, ow, pitch
    job.span = (kh - 1) * dy + 1
    job.n_blocks, job.block_rows, job.row_begin, job.row_end = n_blocks, block_rows, row_begin, row_end
    # (the kernel-lane loop's taps, as its weights', in channel-major order)
    job.taps = &lane_taps[0] if kernel_lanes else &taps[0]
    job.starts, job.targets = &starts[0], &targets[0]
    job.counts, job.positions = &counts[0], &positions[0]
    job.map_targets, job.map_counts = &map_targets[0], &map_counts[0]
    job.item_rows = &item_rows[0, 0]
    job.row_bounds = &row_bounds[0, 0] if row_bound_buffer is not None else NULL
    job.tap_cols = &tap_cols[0, 0] if tap_col_buffer is not None else NULL
    job.kw = kw
    job.depth, job.width, job.n_kernels = depth, weights.shape[2], n_kernels
    job.per_row, job.ld = per_row, ld
    job.weights, job.lane_weights, job.bias = &weights[0, 0, 0], &lane_weights[0, 0, 0], &bias[0]
    job.rectify, job.kernel_lanes, job.wrapped, job.pooled = rectify, kernel_lanes, wrapped, pooled
    job.one_vector = one_vector
    job.into_maps, job.contiguous_rows = into_maps, contiguous_rows
    job.streamed = stream and contiguous_rows and not into_maps and not wrapped
    job.around = around
    job.planes, job.plane_step = planes, plane_step
    job.rows, job.rows_step = rows, rows_step
    job.values, job.value_step = values, value_step
    job.partial, job.partial_step = partial, partial_step
    job.maxima, job.maxima_step = maxima, state_step
    job.state_rows, job.state_step = state_rows, state_step
    job.out = NULL
    job.out_image_step = job.kernel_step = job.out_row_step = 0
    job.states, job.states_step = NULL, 0
    job.row_regions = job.col_bounds = NULL
    job.kinds = NULL
    job.gw, job.n_regions, job.n_states = gw, n_regions, n_states
    if pooled:
        job.states, job.states_step = &states[0, 0, 0, 0], states.strides[0] // 8
        job.row_regions, job.col_bounds, job.kinds = &row_regions[0], &col_bounds[0], &kinds[0]
    else:
        job.out = &out[0, 0, 0, 0]
        job.out_image_step = out.strides[0] // itemsize
        job.kernel_step = out.strides[1] // itemsize
        job.out_row_step = out.strides[2] // itemsize
    cdef Py_ssize_t run
    cdef real tag = 0
    global _threads_ran
    if threads > 1:
        _threads_ran = True
    with nogil:
        if threads == 1:
            _plane_items(&job, 0, bounds[0], bounds[1], tag)
        else:
            for run in prange(n_runs, num_threads=threads, schedule="dynamic", chunksize=1):
                _plane_items(&job, threadid(), bounds[run], bounds[run + 1], tag)
    _BUFFERS.give(work)
