# cython: language_level=3, boundscheck=False, wraparound=False
"""Direct correlation of padded windows with a few kernels, float32 (compiled).

The GEMM path builds a patch matrix, ``(kh * kw * C, positions)``, then lets
BLAS multiply it by the kernels. With few channels and kernels (the usual
feature-extraction shapes: 1-3 channels, 16-64 kernels of 3x3 to 7x7) that
matrix is skinny and its copy costs as much as the product. The C loop of
``_direct.h`` reads the window itself: 4 kernels x 16 or 24 positions of a row
are accumulated in registers over every tap and channel (measured 70-90
GFLOP/s on one core where the patch matrix and OpenBLAS reach 25-45). Optional,
like the counts of :mod:`skconv.engine._stat_loops`: without it the GEMM path is used.
"""

from libc.math cimport INFINITY


cdef extern from "_direct.h":
    void skconv_direct_float(
        const float*, const float*, float*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
        Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
        Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t
    ) noexcept nogil
    void skconv_direct_max_float(
        const float*, const float*, float*, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
        Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
        Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t
    ) noexcept nogil

MIN_WIDTH = 16
"""Output positions per row the loop needs (a row is computed in blocks of 16 or 24)."""


def correlate_windows(
    const float[:, :, :, :] windows,
    const float[:, :, :, ::1] weights,
    float[:, :, :, :] out,
    Py_ssize_t n_kernels,
    Py_ssize_t stride_y=1,
    Py_ssize_t dilation_y=1,
    Py_ssize_t dilation_x=1,
):
    """``out[i, k, y, x] = sum(weights[k, a, b, c] * windows[i, c, y * sy + a * dy, x + b * dx])``.

    Parameters
    ----------
    windows : ndarray of shape (m, C, ih, iw), float32
        Padded input windows; the last axis contiguous (any other strides).
    weights : ndarray of shape (K4, kh, kw, C), float32, C-contiguous
        The kernels, tap-major, padded with zero kernels to ``K4 >= n_kernels``,
        a multiple of 4.
    out : ndarray of shape (m, >= n_kernels, th, tw), float32
        Written in place; the last axis contiguous, ``tw >= MIN_WIDTH``.
    n_kernels : int
    stride_y, dilation_y, dilation_x : int
        Stride along rows (1 along columns), dilations.
    """
    cdef Py_ssize_t m = windows.shape[0], channels = windows.shape[1]
    cdef Py_ssize_t kh = weights.shape[1], kw = weights.shape[2]
    cdef Py_ssize_t th = out.shape[2], tw = out.shape[3]
    cdef Py_ssize_t item = sizeof(float)
    if windows.strides[3] != item or out.strides[3] != item:
        raise ValueError("correlate_windows: rows of windows and out must be contiguous")
    if weights.shape[3] != channels or weights.shape[0] % 4 or weights.shape[0] < n_kernels:
        raise ValueError("correlate_windows: weights must be (K4, kh, kw, C), K4 a multiple of 4")
    if out.shape[0] != m or out.shape[1] < n_kernels or tw < MIN_WIDTH:
        raise ValueError("correlate_windows: out must be (m, >= n_kernels, th, >= 16)")
    if min(stride_y, dilation_y, dilation_x) < 1:
        raise ValueError("correlate_windows: stride and dilations must be >= 1")
    if (
        (th - 1) * stride_y + (kh - 1) * dilation_y + 1 > windows.shape[2]
        or tw + (kw - 1) * dilation_x > windows.shape[3]
    ):
        raise ValueError("correlate_windows: the windows are too small for th x tw outputs")
    if m == 0 or n_kernels == 0 or th == 0:
        return
    with nogil:
        skconv_direct_float(
            &windows[0, 0, 0, 0], &weights[0, 0, 0, 0], &out[0, 0, 0, 0],
            m, channels, windows.strides[0] // item, windows.strides[1] // item,
            windows.strides[2] // item, n_kernels, kh, kw, stride_y, dilation_y, dilation_x,
            th, tw, out.strides[0] // item, out.strides[1] // item, out.strides[2] // item,
        )


cdef _check_batch_last(
    padded, weights, Py_ssize_t n_kernels, Py_ssize_t h_out, Py_ssize_t w_out, out,
    Py_ssize_t stride_y, Py_ssize_t stride_x, Py_ssize_t dilation_y, Py_ssize_t dilation_x,
    str name,
):
    """The checks shared by the batch-last functions (``out`` is ``(..., K, B)``)."""
    kh, kw = weights.shape[1], weights.shape[2]
    if weights.shape[3] != padded.shape[2] or weights.shape[0] % 4 or weights.shape[0] < n_kernels:
        raise ValueError(f"{name}: weights must be (K4, kh, kw, C), K4 a multiple of 4")
    if out.shape[3] != padded.shape[3] or out.shape[2] < n_kernels or padded.shape[3] < MIN_WIDTH:
        raise ValueError(f"{name}: the output must be (..., >= n_kernels, B), B >= {MIN_WIDTH}")
    if min(stride_y, stride_x, dilation_y, dilation_x) < 1:
        raise ValueError(f"{name}: strides and dilations must be >= 1")
    if (
        (h_out - 1) * stride_y + (kh - 1) * dilation_y + 1 > padded.shape[0]
        or (w_out - 1) * stride_x + (kw - 1) * dilation_x + 1 > padded.shape[1]
    ):
        raise ValueError(f"{name}: padded is too small for {h_out} x {w_out} positions")


def correlate_batch_last(
    const float[:, :, :, ::1] padded,
    const float[:, :, :, ::1] weights,
    float[:, :, :, ::1] maps,
    Py_ssize_t n_kernels,
    Py_ssize_t stride_y=1,
    Py_ssize_t stride_x=1,
    Py_ssize_t dilation_y=1,
    Py_ssize_t dilation_x=1,
):
    """``maps[y, x, k, b] = sum(weights[k, i, j, c] * padded[y * sy + i * dy, x * sx + j * dx, c, b])``.

    The batch-last layout of small images (see
    :class:`skconv.engine.core._BatchLastWorkspace`): the images of a batch are the
    contiguous axis, so the loop of :func:`correlate_windows` runs along it,
    16 or 24 images at a time, one output position after another, without the
    patch matrix.

    Parameters
    ----------
    padded : ndarray of shape (Hp, Wp, C, B), float32, C-contiguous
        Padded images, ``B >= MIN_WIDTH``.
    weights : ndarray of shape (K4, kh, kw, C), float32, C-contiguous
        As for :func:`correlate_windows`.
    maps : ndarray of shape (h_out, w_out, >= n_kernels, B), float32, C-contiguous
        Written in place (the first ``n_kernels`` of its third axis).
    n_kernels : int
    stride_y, stride_x, dilation_y, dilation_x : int
    """
    cdef Py_ssize_t h_out = maps.shape[0], w_out = maps.shape[1]
    _check_batch_last(
        padded, weights, n_kernels, h_out, w_out, maps, stride_y, stride_x, dilation_y,
        dilation_x, "correlate_batch_last",
    )
    if h_out == 0 or w_out == 0 or n_kernels == 0:
        return
    cdef Py_ssize_t width = padded.shape[3], pixel = padded.shape[2] * padded.shape[3]
    cdef Py_ssize_t k_out = maps.shape[2]
    with nogil:
        # The loop's "images" are the output columns, its "rows" the output
        # rows and its contiguous "positions" the batch: a tap (i, j) moves by
        # i * dy padded rows and j * dx pixels.
        skconv_direct_float(
            &padded[0, 0, 0, 0], &weights[0, 0, 0, 0], &maps[0, 0, 0, 0],
            w_out, padded.shape[2], stride_x * pixel, width, padded.shape[1] * pixel,
            n_kernels, weights.shape[1], weights.shape[2], stride_y, dilation_y,
            dilation_x * pixel, h_out, width, k_out * width, width, w_out * k_out * width,
        )


def max_pool_batch_last(
    const float[:, :, :, ::1] padded,
    const float[:, :, :, ::1] weights,
    float[:, :, :, ::1] pooled,
    Py_ssize_t n_kernels,
    const Py_ssize_t[::1] row_bounds,
    const Py_ssize_t[::1] col_bounds,
    Py_ssize_t stride_y=1,
    Py_ssize_t stride_x=1,
    Py_ssize_t dilation_y=1,
    Py_ssize_t dilation_x=1,
):
    """The maximum of :func:`correlate_batch_last`'s maps over each region of a grid.

    ``pooled[r, q, k, b]`` is the maximum of ``maps[y, x, k, b]`` over rows
    ``row_bounds[r] <= y < row_bounds[r + 1]`` and columns
    ``col_bounds[q] <= x < col_bounds[q + 1]``; the maps themselves are never
    written (each region's maxima stay in cache while its positions run).

    Parameters
    ----------
    padded, weights, n_kernels, stride_y, stride_x, dilation_y, dilation_x
        As for :func:`correlate_batch_last`.
    pooled : ndarray of shape (gh, gw, >= n_kernels, B), float32, C-contiguous
        Overwritten.
    row_bounds : ndarray of shape (gh + 1,), intp
        Nondecreasing output-row bounds of the regions, from 0 to ``h_out``
        (:func:`skconv.pooling.region_bounds`); likewise ``col_bounds``
        (``gw + 1``) for the columns. Empty regions are not allowed.
    """
    cdef Py_ssize_t gh = pooled.shape[0], gw = pooled.shape[1]
    if row_bounds.shape[0] != gh + 1 or col_bounds.shape[0] != gw + 1:
        raise ValueError("max_pool_batch_last: bounds must have one more entry than regions")
    cdef Py_ssize_t r, q
    for r in range(gh):
        if row_bounds[r + 1] <= row_bounds[r] or row_bounds[0] < 0:
            raise ValueError("max_pool_batch_last: row_bounds must increase from >= 0")
    for q in range(gw):
        if col_bounds[q + 1] <= col_bounds[q] or col_bounds[0] < 0:
            raise ValueError("max_pool_batch_last: col_bounds must increase from >= 0")
    _check_batch_last(
        padded, weights, n_kernels, row_bounds[gh], col_bounds[gw], pooled, stride_y, stride_x,
        dilation_y, dilation_x, "max_pool_batch_last",
    )
    if n_kernels == 0:
        return
    cdef Py_ssize_t width = padded.shape[3], pixel = padded.shape[2] * padded.shape[3]
    cdef Py_ssize_t row = padded.shape[1] * pixel, k_out = pooled.shape[2]
    cdef Py_ssize_t b
    cdef float *target
    with nogil:
        for r in range(gh):
            for q in range(gw):
                target = &pooled[r, q, 0, 0]
                for b in range(n_kernels * width):
                    target[b] = -INFINITY
                # The same loop as correlate_batch_last over the region's
                # positions, every position putting its values in the same place.
                skconv_direct_max_float(
                    &padded[row_bounds[r] * stride_y, col_bounds[q] * stride_x, 0, 0],
                    &weights[0, 0, 0, 0], target, col_bounds[q + 1] - col_bounds[q],
                    padded.shape[2], stride_x * pixel, width, row, n_kernels,
                    weights.shape[1], weights.shape[2], stride_y, dilation_y,
                    dilation_x * pixel, row_bounds[r + 1] - row_bounds[r], width, 0, width, 0,
                )
