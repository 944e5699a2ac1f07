# cython: language_level=3, boundscheck=False, wraparound=False
"""Direct correlation of padded windows with a few kernels, float32 (compiled).

The GEMM path builds a patch matrix, ``(kh * kw * C, positions)``, then lets
BLAS multiply it by the kernels. With few channels and kernels (the usual
feature-extraction shapes: 1-3 channels, 16-64 kernels of 3x3 to 7x7) that
matrix is skinny and its copy costs as much as the product. The C loop of
``_direct.h`` reads the window itself: 4 kernels x 16 or 24 positions of a row
are accumulated in registers over every tap and channel (measured 70-90
GFLOP/s on one core where the patch matrix and OpenBLAS reach 25-45). Optional,
like the counts of :mod:`skconv._count_above`: without it the GEMM path is used.
"""

cdef extern from "_direct.h":
    void skconv_direct_float(
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
