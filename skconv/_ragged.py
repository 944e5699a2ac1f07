"""Collections of series of unequal lengths (aeon's convention).

A collection is a list (or tuple) of series, each a 1-D array ``(L_i,)`` or a
2-D array ``(C, L_i)`` of ``C`` channels, the lengths free to differ.
:class:`~skconv.ConvFeatures` transforms each series at its own length (the
series of one length go through the engine together), so no series is padded
to the length of another; the kernels, dilations and biases are those fitted.

Two rules give every series defined, finite features:

* a series shorter than the fitted convolution needs (shorter than a
  kernel's dilated span with ``padding="valid"``, or with fewer positions
  than ``pool_grid`` regions) is padded with zeros at its end to the
  shortest length that gives every map a position in every region;
* a series shorter than its widest pad is padded with zeros where
  ``padding_mode`` would reflect or wrap it (numpy would repeat the series),
  and so is every series of a collection fitted with such a series;
* ``fit`` on a collection takes its dilations from its longest series (the
  reference length) and fits each kernel's biases on its drawn series at
  that series' own length.
"""

import numpy as np


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


def collection_dtype(series, dtype=None):
    """The features' dtype: ``dtype``, else float32 when every series is, else float64."""
    if dtype is not None:
        return np.dtype(dtype)
    return np.dtype(np.float32 if all(s.dtype == np.float32 for s in series) else np.float64)


def stack_padded(series, length, dtype):
    """The series as one array ``(n, C, length)``, each zero-padded at its end."""
    out = np.zeros((len(series), series[0].shape[0], length), dtype=dtype)
    for row, values in zip(out, series):
        row[:, : values.shape[1]] = values
    return out


def length_buckets(series):
    """``{length: indices}`` of the series of each length, in increasing length."""
    lengths = np.array([s.shape[1] for s in series])
    return {int(n): np.flatnonzero(lengths == n) for n in np.unique(lengths)}
