# cython: language_level=3, boundscheck=False, wraparound=False
"""Compiled loops for the partial states of the statistics (specializations).

``count_above`` (MiniRocket's proportion of positive values),
``positive_stats`` (MultiRocket's statistics) and ``group_wins`` (Hydra's
competing kernels) each compute partial states of
:mod:`skconv.pooling.statistics` faster than numpy; the generic definitions
are their reference (tested equal) and their fallback.

The biased-PPV path (:mod:`skconv.engine.series`) needs, for each kernel ``k``, bias
``b`` and series ``s``, how many of a run's map values exceed the bias. numpy
does it in two passes per bias (``np.greater`` writes booleans, an ``einsum``
sums them); the C loop of ``_stat_loops.h`` reads each value once per four
biases and keeps the counts in registers (measured 0.03-0.04 ns a comparison
against 0.1-0.2 for numpy's two passes). Optional: built at install when a C
compiler is present; without it :mod:`skconv.engine.series` uses numpy for the same
counts.

``biased_region`` runs the series path's whole loop over one pooling region
without the GIL: the maps of a run of positions (by the direct loop of
``_stat_loops.h``, or one GEMM through ``scipy.linalg.cython_blas``), then
``count_above`` or ``positive_stats`` on them.
"""

cdef extern from "_stat_loops.h":
    void skconv_count_above_float(
        const float*, const float*, int*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t
    ) noexcept nogil
    void skconv_count_above_double(
        const double*, const double*, int*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t
    ) noexcept nogil
    void skconv_group_wins_float(
        const float*, const Py_ssize_t*, double*, double*,
        Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, int
    ) noexcept nogil
    void skconv_group_wins_double(
        const double*, const Py_ssize_t*, double*, double*,
        Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, int
    ) noexcept nogil
    void skconv_positive_stats_float(
        const float*, const float*, int*, double*, double*, int*, int*,
        Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t
    ) noexcept nogil
    void skconv_positive_stats_double(
        const double*, const double*, int*, double*, double*, int*, int*,
        Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t
    ) noexcept nogil

    void skconv_biased_direct_float(
        const float*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
        Py_ssize_t, Py_ssize_t, Py_ssize_t, const float*, const float*, Py_ssize_t, const float*,
        Py_ssize_t, float*, Py_ssize_t, int*, double*, double*, int*, int*
    ) noexcept nogil
    void skconv_biased_direct_double(
        const double*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
        Py_ssize_t, Py_ssize_t, Py_ssize_t, const double*, const double*, Py_ssize_t,
        const double*, Py_ssize_t, double*, Py_ssize_t, int*, double*, double*, int*, int*
    ) noexcept nogil

ctypedef fused real:
    float
    double

from scipy.linalg.cython_blas cimport dgemm, sgemm


def count_above(const real[:, :, ::1] maps, const real[:, ::1] biases, int[:, :, ::1] counts):
    """Add to ``counts[k, b, s]`` the number of ``w`` with ``maps[k, s, w] > biases[k, b]``.

    Parameters
    ----------
    maps : ndarray of shape (K, m, W), float32 or float64, C-contiguous
        A run of ``W`` positions of each kernel's maps of ``m`` series.
    biases : ndarray of shape (K, B), same dtype, C-contiguous
    counts : ndarray of shape (K, B, m), int32, C-contiguous
        Accumulated in place.
    """
    n_kernels, m, width = maps.shape[0], maps.shape[1], maps.shape[2]
    n_biases = biases.shape[1]
    if (
        biases.shape[0] != n_kernels
        or counts.shape[0] != n_kernels
        or counts.shape[1] != n_biases
        or counts.shape[2] != m
    ):
        raise ValueError("count_above: maps (K, m, W), biases (K, B) and counts (K, B, m) disagree")
    if n_kernels == 0 or m == 0 or width == 0 or n_biases == 0:
        return
    if real is float:
        with nogil:
            skconv_count_above_float(
                &maps[0, 0, 0], &biases[0, 0], &counts[0, 0, 0], n_kernels, m, width, n_biases
            )
    else:
        with nogil:
            skconv_count_above_double(
                &maps[0, 0, 0], &biases[0, 0], &counts[0, 0, 0], n_kernels, m, width, n_biases
            )


def positive_stats(
    const real[:, :, ::1] maps,
    const real[:, ::1] biases,
    Py_ssize_t base,
    int[:, :, ::1] count,
    double[:, :, ::1] possum,
    double[:, :, ::1] offsets,
    int[:, :, ::1] run,
    int[:, :, ::1] best,
):
    """Fold a run of positions into the states of the positive values of ``maps - bias``.

    For each kernel ``k``, bias ``b`` and series ``s``, with
    ``d = maps[k, s, w] - biases[k, b]``: ``count`` adds the ``w`` with
    ``d > 0``, ``possum`` their ``d``, ``offsets`` their ``base + w``; ``run``
    (the positive values ending the stretch so far) and ``best`` (its longest
    run) are carried from one call to the next, so runs of positions read in
    order give the states of the whole stretch.

    Parameters
    ----------
    maps : ndarray of shape (K, m, W), float32 or float64, C-contiguous
    biases : ndarray of shape (K, B), same dtype, C-contiguous
    base : int
        The index of the run's first position (``offsets`` counts from it).
    count, run, best : ndarray of shape (K, B, m), int32, C-contiguous
    possum, offsets : ndarray of shape (K, B, m), float64, C-contiguous
        Updated in place.
    """
    n_kernels, m, width = maps.shape[0], maps.shape[1], maps.shape[2]
    n_biases = biases.shape[1]
    cdef Py_ssize_t[5][3] shapes = [
        [count.shape[0], count.shape[1], count.shape[2]],
        [possum.shape[0], possum.shape[1], possum.shape[2]],
        [offsets.shape[0], offsets.shape[1], offsets.shape[2]],
        [run.shape[0], run.shape[1], run.shape[2]],
        [best.shape[0], best.shape[1], best.shape[2]],
    ]
    cdef int i
    for i in range(5):
        if shapes[i][0] != n_kernels or shapes[i][1] != n_biases or shapes[i][2] != m:
            raise ValueError("positive_stats: maps (K, m, W), biases (K, B) and states (K, B, m) disagree")
    if biases.shape[0] != n_kernels:
        raise ValueError("positive_stats: maps (K, m, W) and biases (K, B) disagree")
    if width >= 46340:
        raise ValueError("positive_stats: runs of at most 46339 positions")
    if n_kernels == 0 or m == 0 or width == 0 or n_biases == 0:
        return
    if real is float:
        with nogil:
            skconv_positive_stats_float(
                &maps[0, 0, 0], &biases[0, 0], &count[0, 0, 0], &possum[0, 0, 0],
                &offsets[0, 0, 0], &run[0, 0, 0], &best[0, 0, 0],
                n_kernels, m, width, n_biases, base
            )
    else:
        with nogil:
            skconv_positive_stats_double(
                &maps[0, 0, 0], &biases[0, 0], &count[0, 0, 0], &possum[0, 0, 0],
                &offsets[0, 0, 0], &run[0, 0, 0], &best[0, 0, 0],
                n_kernels, m, width, n_biases, base
            )


def group_wins(
    const real[:, :, ::1] maps,
    const Py_ssize_t[::1] regions,
    Py_ssize_t group,
    bint largest,
    double[:, :, ::1] counts,
    double[:, :, ::1] sums,
):
    """Add each position's winner of each group of kernels to its region's states.

    Parameters
    ----------
    maps : ndarray of shape (m, P, K), float32 or float64, C-contiguous
        Channels-last maps of ``m`` images, ``P`` positions.
    regions : ndarray of shape (P,), intp
        The region of each position, in ``[0, R)``.
    group : int
        Consecutive kernels that compete (divides ``K``).
    largest : bool
        The largest response wins (else the smallest); the first on ties.
    counts, sums : ndarray of shape (m, R, K), float64, C-contiguous
        Each winner adds 1 to ``counts`` and its response to ``sums``, in place.
    """
    cdef Py_ssize_t m = maps.shape[0], n_positions = maps.shape[1], n_kernels = maps.shape[2]
    cdef Py_ssize_t n_regions = counts.shape[1], p
    if regions.shape[0] != n_positions:
        raise ValueError("group_wins: maps (m, P, K) and regions (P,) disagree")
    if (
        counts.shape[0] != m or counts.shape[2] != n_kernels
        or sums.shape[0] != m or sums.shape[1] != n_regions or sums.shape[2] != n_kernels
    ):
        raise ValueError("group_wins: maps (m, P, K) and states (m, R, K) disagree")
    if group < 1 or n_kernels % group:
        raise ValueError("group_wins: group must divide the number of kernels")
    for p in range(n_positions):
        if regions[p] < 0 or regions[p] >= n_regions:
            raise ValueError("group_wins: regions must lie in [0, R)")
    if m == 0 or n_positions == 0 or n_kernels == 0:
        return
    if real is float:
        with nogil:
            skconv_group_wins_float(
                &maps[0, 0, 0], &regions[0], &counts[0, 0, 0], &sums[0, 0, 0],
                m, n_positions, n_kernels, n_regions, group, largest
            )
    else:
        with nogil:
            skconv_group_wins_double(
                &maps[0, 0, 0], &regions[0], &counts[0, 0, 0], &sums[0, 0, 0],
                m, n_positions, n_kernels, n_regions, group, largest
            )


def biased_region(
    const real[:, :, ::1] series,
    Py_ssize_t first,
    Py_ssize_t taps,
    Py_ssize_t dilation,
    Py_ssize_t stride,
    Py_ssize_t start,
    Py_ssize_t stop,
    Py_ssize_t run,
    const real[:, ::1] kernel_rows,
    const real[:, ::1] biases,
    real[::1] patches,
    real[::1] maps,
    int[:, :, ::1] count,
    double[:, :, ::1] possum=None,
    double[:, :, ::1] offsets=None,
    int[:, :, ::1] run_now=None,
    int[:, :, ::1] best=None,
    bint direct=False,
    const real[::1] alphas=None,
):
    """Fold positions ``[start, stop)`` of every kernel's maps into the biased states.

    The whole loop of the series path for one pooling region, without the
    GIL: for each run of at most ``run`` positions, the taps' windows are
    copied into ``patches`` (rows (tap, channel), columns (series, position)),
    one BLAS GEMM (scipy's) writes the run's maps into ``maps``, kernel-major
    ``(K, m, W)``, and :func:`count_above` (or, with the other states given,
    :func:`positive_stats`) folds them in. ``maps`` stays small enough for the
    core's cache, and a call costs one release of the GIL per region instead
    of three numpy calls per run.

    Parameters
    ----------
    series : ndarray of shape (m, C, L'), float32 or float64, C-contiguous
        The padded batch, series-major.
    first : int
        Where the series padded by the kernels' pads starts along ``L'``.
    taps, dilation, stride : int
        The kernels' length, dilation and stride.
    start, stop : int
        The region's output positions.
    run : int
        Positions per GEMM.
    kernel_rows : ndarray of shape (K, taps * C), same dtype, C-contiguous
        Taps in (tap, channel) order.
    biases : ndarray of shape (K, B), same dtype, C-contiguous
    patches : ndarray of at least taps * C * m * run values, same dtype
    maps : ndarray of at least K * m * run values, same dtype
        Work buffers.
    count : ndarray of shape (K, B, m), int32, C-contiguous
    possum, offsets : ndarray of shape (K, B, m), float64, optional
    run_now, best : ndarray of shape (K, B, m), int32, optional
        The states, updated in place; without ``possum`` only ``count``.
    direct : bool, default=False
        Correlate each kernel directly into ``maps`` (at least ``2 * m * run``
        values; ``patches`` unused) instead of a GEMM per run.
    alphas : ndarray of shape (K,), same dtype, optional
        With ``direct``: kernel ``k`` is ``alphas[k]`` on every tap plus
        ``kernel_rows[k]``; the sum of every tap is computed once per series
        and run and shared by all kernels, and only the nonzero weights of
        ``kernel_rows`` are read.
    """
    cdef Py_ssize_t m = series.shape[0], n_channels = series.shape[1], length = series.shape[2]
    cdef Py_ssize_t n_kernels = kernel_rows.shape[0], depth = kernel_rows.shape[1]
    cdef Py_ssize_t n_biases = biases.shape[1]
    cdef bint counts_only = possum is None
    cdef Py_ssize_t p0, width, t, c, s, w, row, n_columns
    cdef int gemm_m, gemm_n, gemm_k
    cdef real one = 1, zero = 0
    cdef const real *source
    cdef real *target
    cdef char transpose = b"N"
    if depth != taps * n_channels or biases.shape[0] != n_kernels:
        raise ValueError("biased_region: kernel_rows (K, taps * C) and biases (K, B) disagree")
    if direct and depth > 4096:  # SKCONV_MAX_DEPTH of _stat_loops.h
        raise ValueError("biased_region: the direct loop takes kernels of at most 4096 taps")
    if run < 1 or run >= 46340 or taps < 1 or dilation < 1 or stride < 1 or start < 0:
        raise ValueError("biased_region: run, taps, dilation and stride must be positive")
    if stop > start and (
        first < 0 or first + (stop - 1) * stride + (taps - 1) * dilation >= length
    ):
        raise ValueError("biased_region: the positions read past the padded series")
    if (direct and maps.shape[0] < 2 * m * run) or (
        not direct and (patches.shape[0] < depth * m * run or maps.shape[0] < n_kernels * m * run)
    ):
        raise ValueError("biased_region: work buffers too small")
    if not counts_only and (offsets is None or run_now is None or best is None):
        raise ValueError("biased_region: possum, offsets, run_now and best go together")
    cdef Py_ssize_t[5][3] shapes = [
        [count.shape[0], count.shape[1], count.shape[2]],
        [n_kernels, n_biases, m], [n_kernels, n_biases, m], [n_kernels, n_biases, m],
        [n_kernels, n_biases, m],
    ]
    if not counts_only:
        shapes[1] = [possum.shape[0], possum.shape[1], possum.shape[2]]
        shapes[2] = [offsets.shape[0], offsets.shape[1], offsets.shape[2]]
        shapes[3] = [run_now.shape[0], run_now.shape[1], run_now.shape[2]]
        shapes[4] = [best.shape[0], best.shape[1], best.shape[2]]
    cdef int i
    for i in range(5):
        if shapes[i][0] != n_kernels or shapes[i][1] != n_biases or shapes[i][2] != m:
            raise ValueError("biased_region: states (K, B, m) disagree")
    if stop <= start or m == 0 or n_kernels == 0 or n_biases == 0:
        return
    cdef const real *alpha_pointer = NULL
    if alphas is not None:
        if alphas.shape[0] != n_kernels:
            raise ValueError("biased_region: alphas (K,) and kernel_rows (K, taps * C) disagree")
        alpha_pointer = &alphas[0]
    cdef int *state_pointers[3]
    cdef double *sum_pointers[2]
    if direct:
        state_pointers[0] = &count[0, 0, 0]
        state_pointers[1] = NULL if counts_only else &run_now[0, 0, 0]
        state_pointers[2] = NULL if counts_only else &best[0, 0, 0]
        sum_pointers[0] = NULL if counts_only else &possum[0, 0, 0]
        sum_pointers[1] = NULL if counts_only else &offsets[0, 0, 0]
        with nogil:
            if real is float:
                skconv_biased_direct_float(
                    &series[0, 0, 0], m, n_channels, length, first, taps, dilation, stride,
                    start, stop, &kernel_rows[0, 0], alpha_pointer, n_kernels, &biases[0, 0], n_biases,
                    &maps[0], run, state_pointers[0], sum_pointers[0], sum_pointers[1],
                    state_pointers[1], state_pointers[2]
                )
            else:
                skconv_biased_direct_double(
                    &series[0, 0, 0], m, n_channels, length, first, taps, dilation, stride,
                    start, stop, &kernel_rows[0, 0], alpha_pointer, n_kernels, &biases[0, 0], n_biases,
                    &maps[0], run, state_pointers[0], sum_pointers[0], sum_pointers[1],
                    state_pointers[1], state_pointers[2]
                )
        return
    with nogil:
        p0 = start
        while p0 < stop:
            width = min(run, stop - p0)
            n_columns = m * width
            for t in range(taps):
                for c in range(n_channels):
                    row = t * n_channels + c
                    for s in range(m):
                        source = &series[s, c, first + p0 * stride + t * dilation]
                        target = &patches[(row * m + s) * width]
                        if stride == 1:
                            for w in range(width):
                                target[w] = source[w]
                        else:
                            for w in range(width):
                                target[w] = source[w * stride]
            # maps (K, m * W) = kernel_rows @ patches, asked of column-major BLAS
            # as maps^T = patches^T @ kernel_rows^T.
            gemm_m, gemm_n, gemm_k = <int>n_columns, <int>n_kernels, <int>depth
            if real is float:
                sgemm(&transpose, &transpose, &gemm_m, &gemm_n, &gemm_k, &one, &patches[0],
                      &gemm_m, <real *>&kernel_rows[0, 0], &gemm_k, &zero, &maps[0], &gemm_m)
            else:
                dgemm(&transpose, &transpose, &gemm_m, &gemm_n, &gemm_k, &one, &patches[0],
                      &gemm_m, <real *>&kernel_rows[0, 0], &gemm_k, &zero, &maps[0], &gemm_m)
            if counts_only:
                if real is float:
                    skconv_count_above_float(
                        &maps[0], &biases[0, 0], &count[0, 0, 0], n_kernels, m, width, n_biases
                    )
                else:
                    skconv_count_above_double(
                        &maps[0], &biases[0, 0], &count[0, 0, 0], n_kernels, m, width, n_biases
                    )
            else:
                if real is float:
                    skconv_positive_stats_float(
                        &maps[0], &biases[0, 0], &count[0, 0, 0], &possum[0, 0, 0],
                        &offsets[0, 0, 0], &run_now[0, 0, 0], &best[0, 0, 0],
                        n_kernels, m, width, n_biases, p0 - start
                    )
                else:
                    skconv_positive_stats_double(
                        &maps[0], &biases[0, 0], &count[0, 0, 0], &possum[0, 0, 0],
                        &offsets[0, 0, 0], &run_now[0, 0, 0], &best[0, 0, 0],
                        n_kernels, m, width, n_biases, p0 - start
                    )
            p0 += width
