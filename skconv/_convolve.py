"""The public :func:`convolve` function: validation around the batched engine."""

import threading

import numpy as np
from sklearn.utils import check_array

from ._input import reject_complex
from .engine import compiled
from .engine.core import PADDING_MODES, kernel_matrix, make_geometry, normalize_axes_param
from .engine.costs import METHODS
from .engine.costs import choose_method as _choose_method
from .engine.features import conv_features
from .engine.fft import KernelSpectra
from .engine.gemm import plane_loop_threads

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_method(method):
    """Raise a ValueError unless ``method`` is one of :data:`~skconv.engine.costs.METHODS`."""
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}.")
    return method


def choose_method(
    sample_shape,
    kernels_shape,
    *,
    stride=1,
    padding="same",
    dilation=1,
    dtype=np.float32,
    n_samples=None,
):
    """The method ``convolve(..., method="auto")`` uses for a geometry.

    Like :func:`scipy.signal.choose_conv_method`, it compares estimated times of
    the methods with a small cost model (see :mod:`skconv.engine.costs` for its
    terms and the measured constants): GEMM costs ``kh * kw * C * K``
    multiply-adds per output position plus a gather of each patch; FFT costs
    ``C + K`` real FFTs of each tile of the image (tiles are chosen to minimise
    the cost) plus ``C * K`` complex multiply-adds per frequency. Small kernels
    favour GEMM; large kernels on large images favour FFT; a stride favours GEMM
    (FFT computes every position, then subsamples).

    Parameters
    ----------
    sample_shape : tuple of int
        Shape of one sample: ``(C, H, W)`` or ``(C, L)``.
    kernels_shape : tuple of int
        Shape of the kernel bank: ``(K, C, kh, kw)`` or ``(K, C, k)``.
    stride : int or tuple of int, default=1
        As in :func:`convolve`.
    padding : {"valid", "same", "full"}, int or tuple of int, default="same"
        As in :func:`convolve`.
    dilation : int or tuple of int, default=1
        As in :func:`convolve`.
    dtype : dtype, default=np.float32
        Computation dtype.
    n_samples : int, default=None
        Samples convolved in one call: the FFT's ``C * K`` kernel spectra are
        then computed for these samples alone, as :func:`convolve` does (it
        passes its number of samples). None takes them as computed once and
        reused, as :class:`ConvFeatures` does (at fit).

    Returns
    -------
    method : {"gemm", "fft"}
        The method the cost model predicts to be faster.

    Examples
    --------
    >>> from skconv import choose_method
    >>> choose_method((1, 28, 28), (64, 1, 5, 5))
    'gemm'
    >>> choose_method((1, 512, 512), (16, 1, 31, 31))
    'fft'
    """
    geometry = make_geometry(
        tuple(sample_shape),
        tuple(kernels_shape[1:]),
        stride=stride,
        padding=padding,
        dilation=dilation,
    )
    if n_samples is not None:
        n_samples = normalize_axes_param(n_samples, 1, "n_samples")[0]
    return _choose_method(geometry, kernels_shape[0], np.dtype(dtype).itemsize, n_images=n_samples)


def resolve_method(method, geometry, n_kernels, itemsize, learned=False, n_images=None):
    """The method to run: ``method`` itself, or the cost model's choice for ``"auto"``.

    ``n_images``: see :func:`skconv.engine.costs.choose_method` (given by
    :func:`convolve`, whose kernel spectra serve one call). Raises a ValueError
    for ``"fft"`` with learned banks or encoders, which need each output
    position's patch.
    """
    check_method(method)
    if method == "auto":
        return _choose_method(geometry, n_kernels, itemsize, learned=learned, n_images=n_images)
    if method == "fft" and learned:
        raise ValueError(
            "method='fft' cannot compute learned-bank responses or encoders (they "
            "need each position's patch); use method='gemm' or 'auto'."
        )
    return method


FINITE_CHUNK = 8192
"""Values per BLAS dot product of :func:`_check_finite`: below the 10,000 from
which OpenBLAS threads one."""


def _check_finite(array, name, n_threads=1):
    """Raise scikit-learn's ValueError if a float ``array`` holds NaN or infinity.

    A contiguous array is checked by the compiled loop
    :func:`skconv.engine._encoders.all_finite` when it is built (one
    vectorised pass, several times faster than the reductions below on
    arrays of a few hundred kilobytes), on up to ``n_threads`` threads for
    arrays of megabytes (the loop's own, as the convolution's). Otherwise one
    reduction decides in the common case (a finite result means finite
    values): the sum of squares through BLAS's dot products where the array
    is contiguous (faster than numpy's pairwise sum; NaN and infinity make
    it non-finite, and so does an overflow of huge values, which only costs
    the exact checks below), else the sum. The dot products take
    :data:`FINITE_CHUNK` values each, in one stacked matmul: OpenBLAS threads
    a dot product of more than 10,000 values, and the threads it wakes then
    spin for a while on the cores the convolution is about to use (measured
    on 200x200 images: a whole core burnt per call, twice the call's CPU
    time). Only a non-finite result looks for which kind of value is to
    blame.
    """
    if array.flags.c_contiguous and _all_finite() is not None:
        if _all_finite()(array.reshape(-1), n_threads):
            return
        total = np.nan
    else:
        total = _finite_sum(array)
    if np.isfinite(total):
        return
    if np.isnan(array).any():
        raise ValueError(f"Input {name} contains NaN.")
    if not np.isfinite(array).all():
        raise ValueError(
            f"Input {name} contains infinity or a value too large for {array.dtype!r}."
        )


def _all_finite():
    """The compiled check of :func:`_check_finite`, or None (skconv built without C)."""
    global _ALL_FINITE
    if _ALL_FINITE is False:
        loops = compiled.load("_encoders")
        _ALL_FINITE = None if loops is None else loops.all_finite
    return _ALL_FINITE


_ALL_FINITE = False  # not looked up yet


def _finite_sum(array):
    """A reduction of ``array`` that is finite when its values are (numpy's route)."""
    with np.errstate(over="ignore", invalid="ignore"):
        if array.flags.c_contiguous:
            flat = array.reshape(-1)
            whole = flat.size // FINITE_CHUNK * FINITE_CHUNK
            chunks = flat[:whole].reshape(-1, 1, FINITE_CHUNK)
            total = np.matmul(chunks, chunks.transpose(0, 2, 1)).sum()
            total += np.dot(flat[whole:], flat[whole:])
        else:
            total = np.add.reduce(array, axis=None)
    return total


def _checked_floats(array, name, min_samples, n_threads=1):
    """``array`` as a finite float32/float64 ndarray (scikit-learn's checks and messages).

    A non-empty float ndarray only needs the finiteness check; anything else
    (lists, integers, objects, empty arrays) goes through :func:`check_array`,
    which costs ~100 us a call, a sizeable part of convolving small inputs.
    """
    if type(array) is np.ndarray and array.dtype in _FLOAT_DTYPES and array.size:
        _check_finite(array, name, n_threads)
        return array
    reject_complex(array, name)
    return check_array(
        array,
        allow_nd=True,
        dtype=[np.float64, np.float32],
        ensure_min_samples=min_samples,
        input_name=name,
    )


def check_images_and_kernels(images, kernels, spatial_ndim=None, n_threads=1):
    """Validate ``images`` and ``kernels`` and bring them to channel-first form.

    Parameters
    ----------
    images : array-like
        ``(n, L)``, ``(n, C, L)``, ``(n, H, W)`` or ``(n, C, H, W)``.
    kernels : array-like
        ``(K, k)``, ``(K, C, k)``, ``(K, kh, kw)`` or ``(K, C, kh, kw)``.
    spatial_ndim : {1, 2}, default=None
        Number of spatial axes. ``None`` infers it: 2-D images are 1-D signals,
        4-D images are 2-D images, and 3-D images are single-channel 2-D images
        ``(n, H, W)`` (pass ``spatial_ndim=1`` for multi-channel signals
        ``(n, C, L)``).
    n_threads : int, default=1
        Threads that may share the check for NaN and infinity.

    Returns
    -------
    images : ndarray of shape ``(n, C, *spatial)``
        float32 if the input is float32, float64 otherwise.
    kernels : ndarray of shape ``(K, C, *kernel_spatial)``
        In the images' dtype.
    """
    for name, array in (("images", images), ("kernels", kernels)):
        if not 2 <= np.ndim(array) <= 4:
            raise ValueError(
                f"{name} must have 2 to 4 dimensions ((n, L) ... (n, C, H, W)); got "
                f"shape {np.shape(array)}."
            )
    images = _checked_floats(images, "images", min_samples=1, n_threads=n_threads)
    kernels = _checked_floats(kernels, "kernels", min_samples=0)
    if spatial_ndim is None:
        spatial_ndim = {2: 1, 3: 2, 4: 2}.get(images.ndim)
    if spatial_ndim not in (1, 2):
        raise ValueError(f"spatial_ndim must be 1 or 2; got {spatial_ndim!r}.")
    if images.ndim not in (spatial_ndim + 1, spatial_ndim + 2):
        raise ValueError(
            f"images must have {spatial_ndim + 1} or {spatial_ndim + 2} dimensions "
            f"for {spatial_ndim}-D data; got shape {images.shape}."
        )
    if kernels.ndim not in (spatial_ndim + 1, spatial_ndim + 2):
        raise ValueError(
            f"kernels must have {spatial_ndim + 1} or {spatial_ndim + 2} dimensions "
            f"for {spatial_ndim}-D data; got shape {kernels.shape}."
        )
    if images.ndim == spatial_ndim + 1:
        images = images[:, None]
    if kernels.ndim == spatial_ndim + 1:
        kernels = kernels[:, None]
    if kernels.shape[0] == 0:
        raise ValueError("kernels must contain at least one kernel; got 0.")
    return images, kernels.astype(images.dtype, copy=False)


REUSE_MAX_BYTES = 32 << 20
"""``convolve`` keeps what it made of the last kernels (their kernel matrix
with a copy of them; their spectra) for the next call only up to this many
bytes each: a function's call should not leave hundreds of megabytes of
spectra behind it."""

_LAST_KERNELS = None  # (a copy of the kernels, the dtype, their kernel matrix)
_LAST_KERNELS_LOCK = threading.Lock()


def reused_kernel_matrix(kernels, dtype):
    """:func:`~skconv.engine.core.kernel_matrix` of ``kernels``, the last call's
    own (read-only) array when these kernels equal its bit for bit.

    ``convolve`` called in a loop with one bank (batch after batch) then
    hands the engine the same matrix each time, and the engine's packings
    of it, cached per matrix (the compiled loops' groups of kernels), are
    made once instead of per call: three passes over the kernels, 0.9 ms of
    a 4.8 ms call on 64 kernels of 16x21x21. The check costs one comparison
    of the kernels with the copy kept (the kernels can change in place
    between calls: their identity is not enough).
    """
    global _LAST_KERNELS
    dtype = np.dtype(dtype)
    with _LAST_KERNELS_LOCK:
        last = _LAST_KERNELS
    if last is not None:
        previous, previous_dtype, matrix = last
        if (
            previous_dtype == dtype
            and previous.shape == kernels.shape
            and previous.dtype == kernels.dtype
            and _same_bits(previous, kernels)
        ):
            return matrix
    # (from a copy of its own: the matrix may be a view of the kernels it is
    # made from, and the caller's can change)
    kept = np.array(kernels, copy=True)
    matrix = kernel_matrix(kept, dtype)
    matrix.setflags(write=False)
    if kept.nbytes + matrix.nbytes <= REUSE_MAX_BYTES:
        with _LAST_KERNELS_LOCK:
            _LAST_KERNELS = (kept, dtype, matrix)
    return matrix


_LAST_SPECTRA = None  # (a copy of the kernels, the dilation, their KernelSpectra)


def reused_spectra(kernels, dilation):
    """A :class:`~skconv.engine.fft.KernelSpectra` of ``kernels``, the last
    call's own (with the spectra it holds) when these kernels equal its bit
    for bit and the dilation is the same: ``convolve`` by FFT in a loop with
    one bank takes the kernels' transforms once (see
    :func:`reused_kernel_matrix`)."""
    global _LAST_SPECTRA
    with _LAST_KERNELS_LOCK:
        last = _LAST_SPECTRA
    if last is not None:
        previous, previous_dilation, spectra = last
        if (
            previous_dilation == tuple(dilation)
            and previous.shape == kernels.shape
            and previous.dtype == kernels.dtype
            and _same_bits(previous, kernels)
        ):
            return spectra
    kept = np.array(kernels, copy=True)  # (the spectra hold their kernels)
    spectra = KernelSpectra(kept, dilation)
    with _LAST_KERNELS_LOCK:
        _LAST_SPECTRA = (kept, tuple(dilation), spectra)
    return spectra


def forget_large_spectra(spectra):
    """Drop the last kernels' spectra (:func:`reused_spectra`) when they
    hold more than :data:`REUSE_MAX_BYTES` after a call."""
    global _LAST_SPECTRA
    if spectra.nbytes > REUSE_MAX_BYTES:
        with _LAST_KERNELS_LOCK:
            if _LAST_SPECTRA is not None and _LAST_SPECTRA[2] is spectra:
                _LAST_SPECTRA = None


def _same_bits(a, b):
    """Whether two float arrays of one shape and dtype hold the same bits
    (-0.0 and 0.0 differ, as NaNs of one payload do not)."""
    if a.nbytes <= 1 << 16:  # (their bytes compared: cheaper on small arrays)
        return a.tobytes() == b.tobytes()
    unsigned = np.dtype(f"u{a.dtype.itemsize}")
    return bool(np.array_equal(a.view(unsigned), b.view(unsigned)))


def check_padding_mode(padding_mode):
    """Raise a ValueError unless ``padding_mode`` is a supported numpy pad mode."""
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {PADDING_MODES}; got {padding_mode!r}.")
    return padding_mode


def convolve(
    images,
    kernels,
    *,
    stride=1,
    padding="same",
    dilation=1,
    padding_mode="constant",
    flip=False,
    spatial_ndim=None,
    batch_size=None,
    n_threads=1,
    method="auto",
):
    """Correlate every image with every kernel (summing over channels).

    This is the CNN convention (cross-correlation, as in PyTorch's ``conv2d`` and
    :func:`scipy.signal.correlate`): ``out[i, k, y, x] = sum_{c, a, b}
    images[i, c, y * s + a * d, x * s + b * d] * kernels[k, c, a, b]`` on the
    padded images. ``flip=True`` flips the kernels first, which gives the true
    convolution of :func:`scipy.signal.convolve`.

    Parameters
    ----------
    images : array-like of shape (n, C, H, W), (n, H, W), (n, C, L) or (n, L)
        Images (2-D) or signals (1-D). 3-D input is read as ``(n, H, W)`` unless
        ``spatial_ndim=1``.
    kernels : array-like of shape (K, C, kh, kw), (K, kh, kw), (K, C, k) or (K, k)
        Kernel bank; its channels must match the images'.
    stride : int or tuple of int, default=1
        Step between output positions, per spatial axis.
    padding : {"valid", "same", "full"}, int or tuple of int, default="same"
        ``"valid"``: no padding; ``"same"``: ``dilation * (k - 1)`` in total per
        axis (the odd pixel after), so that with ``stride=1`` the output has the
        input's size; ``"full"``: ``dilation * (k - 1)`` on each side; an int or
        one int per axis pads that many pixels on each side.
    dilation : int or tuple of int, default=1
        Spacing between kernel taps, per spatial axis.
    padding_mode : {"constant", "reflect", "edge", "symmetric", "wrap"}, \
            default="constant"
        How the border is filled (:func:`numpy.pad` modes; "constant" is zeros).
    flip : bool, default=False
        Flip the kernels along their spatial axes (true convolution).
    spatial_ndim : {1, 2}, default=None
        Number of spatial axes, inferred from the shapes when None.
    batch_size : int, default=None
        Images per batch; None sizes batches to about 4 MiB of work memory.
    n_threads : int, default=1
        Threads that process batches (or tiles of large images) in parallel
        (BLAS is then limited to one thread each); they also share the check
        of images of megabytes for NaN and infinity.
    method : {"auto", "gemm", "fft"}, default="auto"
        ``"gemm"``: gather patches with a cached index and multiply them by the
        kernel matrix (fastest for small kernels); ``"fft"``: overlap-save FFT
        convolution in tiles (fastest for large kernels on large images);
        ``"auto"``: the faster one for this geometry according to a cost model
        (:func:`skconv.choose_method` tells its choice). Large images are
        processed in tiles whose working memory stays within scikit-learn's
        ``working_memory`` budget (see :func:`sklearn.config_context`).

    Returns
    -------
    maps : ndarray of shape (n, K, h_out, w_out) or (n, K, L_out)
        The maps, float32 for float32 images and float64 otherwise.

    Notes
    -----
    Calling ``convolve`` in a loop with one bank (batch after batch) is
    cheaper than the first call: kernels equal bit for bit to the last
    call's reuse its kernel matrix, the compiled loops' packings of it and,
    by FFT, its spectra (a copy of the last kernels is kept to check; kernels
    changed in place are packed again). What is kept is bounded: kernels
    whose matrix, or spectra, take more than 32 MiB are not kept after the
    call.

    Examples
    --------
    >>> import numpy as np
    >>> from skconv import convolve
    >>> images = np.arange(16.0).reshape(1, 4, 4)
    >>> kernels = np.ones((1, 2, 2))
    >>> convolve(images, kernels, padding="valid")[0, 0]
    array([[10., 14., 18.],
           [26., 30., 34.],
           [42., 46., 50.]])
    """
    n_threads = normalize_axes_param(n_threads, 1, "n_threads")[0]
    images, kernels = check_images_and_kernels(
        images, kernels, spatial_ndim, plane_loop_threads(n_threads)
    )
    check_padding_mode(padding_mode)
    if not isinstance(flip, (bool, np.bool_)):
        raise TypeError(f"flip must be a bool; got {flip!r}.")
    if batch_size is not None:
        batch_size = normalize_axes_param(batch_size, 1, "batch_size")[0]
    geometry = make_geometry(
        images.shape[1:], kernels.shape[1:], stride=stride, padding=padding, dilation=dilation
    )
    if flip:
        kernels = kernels[..., ::-1] if kernels.ndim == 3 else kernels[..., ::-1, ::-1]
    n_kernels = kernels.shape[0]
    n_axes = images.ndim - 2
    images4d = images.reshape(images.shape[0], images.shape[1], *geometry.in_shape)
    kernels4d = kernels.reshape(n_kernels, kernels.shape[1], *geometry.kernel_shape)
    method = resolve_method(
        method, geometry, n_kernels, images.dtype.itemsize, n_images=images.shape[0]
    )
    spectra = reused_spectra(kernels4d, geometry.dilation) if method == "fft" else None
    maps = conv_features(
        images4d,
        geometry,
        reused_kernel_matrix(kernels4d, images.dtype),
        padding_mode=padding_mode,
        batch_size=batch_size,
        n_threads=n_threads,
        method=method,
        spectra=spectra,
    )
    if spectra is not None:
        forget_large_spectra(spectra)
    return maps.reshape(images.shape[0], n_kernels, *geometry.out_shape[2 - n_axes :])
