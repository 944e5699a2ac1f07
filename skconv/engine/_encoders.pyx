# cython: language_level=3, boundscheck=False, wraparound=False
"""The learned banks' responses and encoders in one pass per patch (compiled).

:func:`skconv.engine.learned.encode` computes, for every patch of a batch,
the normalised and whitened responses of a learned bank and the triangle or
soft-threshold encoder, in a dozen numpy passes over ``(N, K)`` arrays; this
loop does the same operations, in the same order, reading each patch once.
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

ctypedef fused real:
    float
    double

MODES = {None: 0, "triangle": 1, "soft_threshold": 2}
"""The encoder codes of the loop (None: the responses alone)."""


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
        coordinates, then the patch sums when ``normalise``.
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
    cdef Py_ssize_t columns = n_kernels + n_whitened + (1 if normalise else 0)
    if patches.shape[0] != n or out.shape[0] != n or out.shape[1] != n_kernels:
        raise ValueError("encode_patches: raw (N, R), patches (N, D) and out (N, K) disagree")
    if n_raw < columns or column_sums.shape[0] < n_kernels + n_whitened:
        raise ValueError("encode_patches: too few raw columns for the kernels")
    if bias.shape[0] < n_kernels + n_whitened or centre_norms.shape[0] < n_kernels:
        raise ValueError("encode_patches: bias and centre_norms must cover the columns")
    if mode not in (0, 1, 2) or n_kernels < 1 or d < 1:
        raise ValueError("encode_patches: bad mode, kernels or patch size")
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
