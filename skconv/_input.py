"""Reading what users pass: flattened rows, N-D arrays, lists of series, dask arrays.

:func:`read_samples` is the one entry: whatever ``X`` is, it comes back
validated for the estimator, as a collection of ``(C, L_i)`` series or as
rows ``(n, n_features)`` (numpy, or dask, checked lazily); the rest of this
module are its steps and the shapes of one sample.
"""

from numbers import Integral

import numpy as np

from ._compat import validate_data
from ._dask import check_dask_input, is_dask_array
from ._warnings import warn


def reject_complex(value, name):
    """Raise a ``ValueError`` naming ``name`` if ``value`` holds complex numbers.

    numpy would silently drop the imaginary part (with only a
    ``ComplexWarning``), and scikit-learn's message prints the whole array.
    """
    if hasattr(value, "iloc") or hasattr(value, "tocsr"):
        return
    dtype = getattr(value, "dtype", None)
    if dtype is None:  # lists and tuples
        try:
            dtype = np.asarray(value).dtype
        except (TypeError, ValueError):  # ragged: reported by the shape checks
            return
    if np.issubdtype(dtype, np.complexfloating):
        raise ValueError(
            f"Complex data not supported: {name} holds complex numbers; skconv works on "
            "real values: pass the real "
            "part, the magnitude (np.abs), or both as separate channels."
        )


def as_rows(X):
    """Flatten N-D input to rows; leave 2-D input (arrays, frames, sparse) as is.

    Parameters
    ----------
    X : array-like
        ``(n, n_features)``, ``(n, H, W)`` or ``(n, C, H, W)``.

    Returns
    -------
    rows : array-like
        ``X`` itself, or an ``(n, prod(sample_shape))`` view of it.
    sample_shape : tuple of int or None
        ``X.shape[1:]`` for 3-D and 4-D input, None otherwise.
    """
    if hasattr(X, "iloc") or hasattr(X, "tocsr"):
        return X, None
    reject_complex(X, "X")
    if isinstance(X, (list, tuple)):
        try:
            X = np.asarray(X)
        except ValueError:  # ragged nested lists: let check_array report it
            return X, None
    shape = getattr(X, "shape", ())
    if len(shape) <= 2:
        return X, None
    if len(shape) > 4:
        raise ValueError(
            "X must be 2-D (n_samples, n_features), 3-D (n, H, W) or 4-D "
            f"(n, C, H, W); got shape {shape}."
        )
    X = np.asarray(X)
    return X.reshape(shape[0], -1), tuple(shape[1:])


def canonical_image_shape(image_shape, n_features):
    """``image_shape`` as ``(C, L)`` or ``(C, H, W)``, validated against the data.

    Parameters
    ----------
    image_shape : tuple of int
        ``(L,)``, ``(H, W)`` or ``(C, H, W)``; one entry may be -1, inferred from
        ``n_features`` as in :func:`numpy.reshape`.
    n_features : int
        Values per sample.

    Returns
    -------
    shape : tuple of int
    """
    ok = (
        isinstance(image_shape, (tuple, list))
        and 1 <= len(image_shape) <= 3
        and all(
            isinstance(v, (Integral, np.integer))
            and not isinstance(v, bool)
            and (v >= 1 or v == -1)
            for v in image_shape
        )
        and list(image_shape).count(-1) <= 1
    )
    if not ok:
        raise ValueError(
            "image_shape must be (L,), (H, W) or (C, H, W) with positive ints (one "
            f"may be -1); got {image_shape!r}."
        )
    shape = [int(v) for v in image_shape]
    known = int(np.prod([v for v in shape if v != -1]))
    if -1 in shape and n_features % known == 0:
        shape[shape.index(-1)] = n_features // known
    if int(np.prod(shape)) != n_features:
        raise ValueError(
            f"image_shape={tuple(image_shape)!r} does not fit the {n_features} features "
            "of each sample in X."
        )
    return tuple(shape) if len(shape) == 3 else (1, *shape)


def resolve_input_shape(image_shape, sample_shape, n_features, warn=True, series=False):
    """The shape ``(C, *spatial)`` of one sample, checked against the data.

    Parameters
    ----------
    image_shape : tuple of int or None
        The ``image_shape`` parameter.
    sample_shape : tuple of int or None
        From :func:`as_rows` for N-D input.
    n_features : int
        Values per sample.
    warn : bool, default=True
        Warn when rows without ``image_shape`` look like flattened images.
    series : bool, default=False
        The bank makes kernels for series only: 3-D input ``(n, C, L)`` is then
        ``n`` series of ``C`` channels (aeon's layout), not ``n`` images.

    Returns
    -------
    input_shape : tuple of int
    """
    if sample_shape is not None:
        if series and image_shape is None and len(sample_shape) == 2:
            return (sample_shape[0], 1, sample_shape[1])  # (n, C, L) series as (C, 1, L)
        shape = (1, *sample_shape) if len(sample_shape) == 2 else tuple(sample_shape)
        if image_shape is not None and len(sample_shape) == 2:
            declared = canonical_image_shape(image_shape, n_features)
            if declared == (sample_shape[0], 1, sample_shape[1]):
                return declared  # (n, C, L) series (aeon's layout) as (C, 1, L)
        if image_shape is not None and canonical_image_shape(image_shape, n_features) != shape:
            raise ValueError(
                f"image_shape={tuple(image_shape)!r} does not match the shape of the "
                f"samples in X, {tuple(sample_shape)}."
            )
        return shape
    if image_shape is None:
        if warn:
            warn_if_rows_look_like_images(n_features)
        return (1, n_features)
    return canonical_image_shape(image_shape, n_features)


def warn_if_rows_look_like_images(n_features):
    """Warn that rows are read as signals when their length is a square >= 64.

    Flattened image sets (scikit-learn's ``load_digits``, MNIST from
    ``fetch_openml``) have square row lengths; read as 1-D signals they give
    poor features (digits: 0.50 accuracy against 0.97 for the same pixels
    read as 8x8 images).
    """
    side = int(round(np.sqrt(n_features)))
    if n_features >= 64 and side * side == n_features:
        warn(
            f"Each row of X ({n_features} values) is read as a 1-D signal. If the rows "
            f"are flattened {side}x{side} images, pass image_shape=({side}, {side}); "
            f"to declare signals and silence this warning, pass image_shape=({n_features},).",
        )


def check_sample_shape(input_shape, sample_shape):
    """At transform, N-D samples must have the fitted shape ``input_shape``."""
    if sample_shape is None:
        return
    shape = (1, *sample_shape) if len(sample_shape) == 2 else tuple(sample_shape)
    series = len(sample_shape) == 2 and tuple(input_shape) == (sample_shape[0], 1, sample_shape[1])
    if shape != tuple(input_shape) and not series:
        raise ValueError(
            f"X has samples of shape {tuple(sample_shape)}, but ConvFeatures was "
            f"fitted on samples of shape {tuple(input_shape)}."
        )


def as_samples(rows, input_shape):
    """Rows ``(n, n_features)`` as samples ``(n, *input_shape)``: what banks are fitted on.

    ``(n, C, L)`` for signals, ``(n, C, H, W)`` for images (a view for numpy,
    lazy for dask).
    """
    return rows.reshape(rows.shape[0], *input_shape)


def as_images(rows, input_shape):
    """Rows as the engine's images ``(n, C, H, W)``: signals become images of height 1.

    The one place where flattened rows become the 4-D arrays the engine takes.
    """
    spatial = tuple(input_shape[1:])
    if len(spatial) == 1:
        spatial = (1, *spatial)
    return rows.reshape(rows.shape[0], input_shape[0], *spatial)


def compute_dtype(array):
    """The dtype features are computed in: float32 for float32 data, float64 otherwise."""
    return np.dtype(np.float32 if array.dtype == np.float32 else np.float64)


def check_channel_axis(channel_axis, n_sample_axes):
    """``channel_axis`` as an index into a sample's axes (0 = channels first).

    Parameters
    ----------
    channel_axis : int
        The axis of each sample holding the channels, as in scikit-image
        (``-1``: ``(H, W, C)`` samples).
    n_sample_axes : int
        Axes of one sample: 3 for ``(H, W, C)`` images.

    Returns
    -------
    axis : int
    """
    from ._validation import is_integer

    if n_sample_axes != 3:
        raise ValueError(
            f"channel_axis={channel_axis!r} needs images with a channel axis: X of shape "
            "(n, H, W, C) (or (n, C, H, W)), or flattened rows with a three-entry "
            f"image_shape such as (H, W, C); got samples with {n_sample_axes} axes. "
            "Leave channel_axis=None for grey images and signals."
        )
    if not is_integer(channel_axis) or not -3 <= channel_axis <= 2:
        raise ValueError(
            f"channel_axis must be None or an int in [-3, 2] (an axis of one (H, W, C) "
            f"sample); got {channel_axis!r}."
        )
    return int(channel_axis) % 3


def channels_first(X, channel_axis, sample_shape=None):
    """Samples with their channel axis moved first: what the rest of skconv reads.

    Parameters
    ----------
    X : ndarray or dask array
        ``(n, *sample)`` with 3 sample axes, or rows ``(n, F)`` holding samples
        of ``sample_shape`` flattened in their own axis order.
    channel_axis : int
        From :func:`check_channel_axis`.
    sample_shape : tuple of int, default=None
        For rows: the concrete shape of one sample, in the user's axis order.

    Returns
    -------
    X : ndarray or dask array
        The same samples, channels first, with ``X``'s number of dimensions
        (a copy in ``X``'s dtype unless ``channel_axis`` is 0).
    """
    if channel_axis == 0:
        return X
    if X.ndim == 2:
        samples = X.reshape(X.shape[0], *sample_shape)
        return np.moveaxis(samples, 1 + channel_axis, 1).reshape(X.shape[0], -1)
    return np.moveaxis(X, 1 + channel_axis, 1)


def sample_shape_in_user_order(channels_first_shape, channel_axis):
    """``(C, H, W)`` back in the order of the user's samples (``(H, W, C)`` for axis 2)."""
    c, *spatial = channels_first_shape
    spatial.insert(channel_axis, c)
    return tuple(spatial)


def image_shape_channels_first(image_shape, channel_axis):
    """The user's three-entry ``image_shape`` with the channel entry first."""
    shape = list(image_shape)
    return (shape.pop(channel_axis), *shape)


# Collections of series (aeon's convention: a list of (L_i,) or (C, L_i) arrays).


def is_series_list(X):
    """True when ``X`` is a non-empty list or tuple of array-likes (a collection, if series)."""
    return (
        isinstance(X, (list, tuple))
        and len(X) > 0
        and all(isinstance(series, (np.ndarray, list, tuple)) for series in X)
    )


def is_ragged(X):
    """True when ``X`` is a collection whose series differ in shape."""
    if not is_series_list(X):
        return False
    try:
        return len({np.shape(series) for series in X}) > 1
    except ValueError:
        return True


def as_collection(X, fitted_shapes):
    """``X`` as a validated list of ``(C, L)`` series when it goes the list way, else None.

    A list of series goes the list way unless every series has one of the
    ``fitted_shapes`` (it is then an array of samples like those seen in
    ``fit``); anything that is not a list never does.

    Parameters
    ----------
    X : object
    fitted_shapes : tuple of tuple of int
        The shapes of one sample the array path takes as it is.

    Returns
    -------
    collection : list of ndarray of shape (C, L_i), or None
    """
    if not is_series_list(X):
        return None
    if not is_ragged(X) and np.shape(X[0]) in fitted_shapes:
        return None
    return check_series_list(X)[0]


def check_series_list(X, name="X"):
    """Validate a collection of series.

    Parameters
    ----------
    X : list or tuple of array-like of shape (L_i,) or (C, L_i)
    name : str, default="X"
        Named in the errors.

    Returns
    -------
    series : list of ndarray of shape (C, L_i)
        float64 (float32 kept), C-contiguous.
    one_dimensional : bool
        The series were given as 1-D arrays.

    Raises
    ------
    ValueError
        For an empty collection, an empty series, mixed dimensions or
        channel counts, NaN or infinity, complex values.
    TypeError
        For non-numeric values.
    """
    if not isinstance(X, (list, tuple)) or not X:
        raise ValueError(f"{name} must be a non-empty list of series; got {type(X).__name__}.")
    series, dims = [], set()
    for i, values in enumerate(X):
        try:
            array = np.asarray(values)
        except ValueError as exc:
            raise ValueError(
                f"{name}[{i}] is not an array of numbers (ragged nested lists?): {exc}"
            ) from exc
        if array.dtype.kind == "c":
            raise ValueError(
                f"Complex data not supported: {name}[{i}] holds complex numbers; pass the "
                "real part, the magnitude (np.abs), or both as separate channels."
            )
        if array.dtype.kind not in "biuf":
            raise TypeError(
                f"{name}[{i}] must contain real numbers; got dtype {array.dtype} "
                f"(first values {array.ravel()[:3]!r})."
            )
        if array.ndim not in (1, 2):
            raise ValueError(
                f"{name}[{i}] must be a series of shape (L,) or (C, L); got shape {array.shape}."
            )
        if array.shape[-1] == 0 or array.size == 0:
            raise ValueError(f"{name}[{i}] is an empty series (shape {array.shape}).")
        dtype = np.float32 if array.dtype == np.float32 else np.float64
        array = np.ascontiguousarray(array, dtype=dtype)
        if not np.isfinite(array).all():
            raise ValueError(
                f"{name}[{i}] contains NaN or infinity; fill or drop the missing values "
                "first (e.g. interpolate them)."
            )
        dims.add(array.ndim)
        series.append(array if array.ndim == 2 else array[None, :])
    if len(dims) > 1:
        raise ValueError(
            f"{name} mixes 1-D series (L,) and multichannel series (C, L); give all in one form."
        )
    channels = {s.shape[0] for s in series}
    if len(channels) > 1:
        first = series[0].shape[0]
        odd = next(i for i, s in enumerate(series) if s.shape[0] != first)
        raise ValueError(
            f"The series of {name} must have the same number of channels: {name}[0] has "
            f"{first}, {name}[{odd}] has {series[odd].shape[0]}."
        )
    return series, dims == {1}


# The one entry.


def read_samples(estimator, X, *, reset):
    """``X`` validated for ``estimator``: a collection of series, or rows.

    Parameters
    ----------
    estimator : ConvFeatures
        Its ``channel_axis``, ``image_shape`` and ``dtype``; when not
        ``reset``, its fitted input shape (and whether it was fitted on
        series, which then also take lists of series of other lengths).
    X : array-like, list of series or dask array
    reset : bool
        True in ``fit`` (the estimator's feature count is set), False after.

    Returns
    -------
    samples : list of ndarray of shape (C, L_i), or ndarray or dask array of shape (n, n_features)
        A collection when a fitted series estimator is given a list of
        series not all of the fitted shape; rows otherwise (float32 or
        float64; 8- and 16-bit integers are kept at transform, each batch is
        converted as it is read).
    sample_shape : tuple of int or None
        The shape of one sample of N-D input (checked against the fitted one
        when not ``reset``).
    """
    if not reset and getattr(estimator, "_series_input", False):
        shape = estimator.input_shape_
        user_shape = (shape[0], estimator.n_features_in_ // shape[0])
        fitted = (estimator.n_features_in_,) if len(shape) == 2 else ()
        collection = as_collection(X, (*fitted, user_shape))
        if collection is not None:
            return collection, None
    X = _channels_first_for(estimator, X, reset)
    if not is_dask_array(X):
        rows, sample_shape = as_rows(X)
        # At transform, 8- and 16-bit pixels stay as they are: each batch is
        # converted as it is read (a uint8 stack in float64 would take 8x).
        dtypes = [np.float64, np.float32] + ([] if reset else [np.uint8, np.uint16])
        try:
            rows = validate_data(estimator, rows, dtype=dtypes, reset=reset)
        except TypeError as exc:
            raise TypeError(f"X must contain real numbers: {exc}") from exc
        if estimator.dtype is not None and rows.dtype.kind == "f":
            rows = rows.astype(estimator.dtype, copy=False)
        if not reset:
            check_sample_shape(estimator.input_shape_, sample_shape)
        return rows, sample_shape
    return check_dask_input(estimator, X, reset)


def _channels_first_for(estimator, X, reset):
    """``X`` with each sample's channel axis first (``channel_axis``); else ``X`` itself."""
    if estimator.channel_axis is None:
        return X
    if not hasattr(X, "ndim") or hasattr(X, "iloc") or hasattr(X, "tocsr"):
        X = np.asarray(X)
    if X.ndim != 2:
        return channels_first(X, check_channel_axis(estimator.channel_axis, X.ndim - 1))
    if reset:
        image_shape = estimator.image_shape
        n_axes = 1 if image_shape is None else len(image_shape)
        axis = check_channel_axis(estimator.channel_axis, n_axes)
        if image_shape is not None:
            image_shape = image_shape_channels_first(image_shape, axis)
        shape = canonical_image_shape(image_shape, X.shape[1])
    else:
        shape = estimator.input_shape_
        axis = check_channel_axis(estimator.channel_axis, 3)
        if int(np.prod(shape)) != X.shape[1]:
            return X  # the feature-count check names the mismatch
    return channels_first(X, axis, sample_shape_in_user_order(shape, axis))
