"""Collections of series of unequal lengths (aeon's convention).

A collection is a list (or tuple) of series, each a 1-D array ``(L_i,)`` or a
2-D array ``(C, L_i)`` of ``C`` channels, the lengths free to differ (read and
checked by :mod:`skconv._input`; here, what is done with it).
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
