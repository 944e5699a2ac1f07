"""``SeriesDifference``: the first-order difference of series, as a transformer.

MultiRocket computes its features on each series and on its first difference;
as a transformer it composes in a ``FeatureUnion`` (see
:func:`skconv.make_multirocket`), pickles and grid-searches like any other.
"""

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._compat import DocLinkMixin, Interval, _fit_context, validate_data
from ._dask import is_dask_array
from ._input import check_series_list, is_ragged, is_series_list


class SeriesDifference(DocLinkMixin, TransformerMixin, BaseEstimator):
    """Differences of consecutive values along each series (``numpy.diff``).

    Parameters
    ----------
    order : int, default=1
        How many times the difference is taken: each series loses ``order``
        values.

    Attributes
    ----------
    n_features_in_ : int
        Values per sample seen in ``fit`` (``X.shape[1]``).
    input_shape_ : tuple of int
        ``X.shape[1:]`` seen in ``fit``: ``(L,)`` for rows of univariate series,
        ``(C, L)`` for multivariate series.

    See Also
    --------
    make_multirocket : MultiRocket's features of the series and of this difference.

    Notes
    -----
    A list of series of unequal lengths (aeon's convention: 1-D ``(L_i,)`` or
    ``(C, L_i)`` arrays) gives the list of their differences; a series of
    ``order`` values or fewer gives one zero per channel (its difference is
    empty), so that what follows always has a series to read.

    Examples
    --------
    >>> import numpy as np
    >>> from skconv import SeriesDifference
    >>> SeriesDifference().fit_transform(np.array([[1.0, 4.0, 9.0, 16.0]]))
    array([[3., 5., 7.]])
    """

    _parameter_constraints = {"order": [Interval(Integral, 1, None, closed="left")]}

    def __init__(self, order=1):
        self.order = order

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check ``X``: series of ``(n, L)`` or ``(n, C, L)`` longer than ``order``.

        Parameters
        ----------
        X : array-like of shape (n_samples, L) or (n_samples, C, L), or list of series
            A list of ``(L_i,)`` or ``(C, L_i)`` series of unequal lengths
            sets ``input_shape_`` from the longest.
        y : None
            Ignored.

        Returns
        -------
        self : SeriesDifference
            The fitted transformer.
        """
        if is_ragged(X):
            series, _ = check_series_list(X)
            longest = max(s.shape[1] for s in series)
            self.n_features_in_ = series[0].shape[0] * longest
            self.input_shape_ = (longest,) if np.ndim(X[0]) == 1 else (series[0].shape[0], longest)
            return self
        X = self._check(X, reset=True)
        self.input_shape_ = tuple(X.shape[1:])
        if self.input_shape_[-1] <= self.order:
            raise ValueError(
                f"SeriesDifference(order={self.order}) needs series of more than "
                f"{self.order} values; got {self.input_shape_[-1]} feature(s) per series."
            )
        return self

    def transform(self, X):
        """The differences, ``order`` values shorter along the last axis.

        Parameters
        ----------
        X : array-like of shape (n_samples, L) or (n_samples, C, L), or list of series
            Numpy or dask (kept lazy), or a list of series of any lengths.

        Returns
        -------
        X_new : ndarray of shape (n_samples, L - order) or (n_samples, C, L - order), or list
            A list for a list of series of unequal lengths.
        """
        check_is_fitted(self)
        if is_series_list(X) and (is_ragged(X) or np.shape(X[0]) != self.input_shape_):
            series, one_dimensional = check_series_list(X)
            out = []
            for values in series:
                if values.shape[1] > self.order:
                    values = np.diff(values, n=self.order, axis=-1)
                else:
                    values = np.zeros((values.shape[0], 1), dtype=values.dtype)
                out.append(values[0] if one_dimensional else values)
            return out
        X = self._check(X, reset=False)
        if tuple(X.shape[1:]) != self.input_shape_:
            raise ValueError(
                f"X has samples of shape {tuple(X.shape[1:])}, but SeriesDifference was "
                f"fitted on {self.input_shape_}."
            )
        return np.diff(X, n=self.order, axis=-1)

    def _check(self, X, reset):
        if is_dask_array(X):
            if X.ndim not in (2, 3) or X.dtype.kind not in "biuf":
                raise ValueError(
                    f"X must be real series of shape (n, L) or (n, C, L); got a dask array "
                    f"of shape {X.shape} and dtype {X.dtype}."
                )
            if reset:
                self.n_features_in_ = X.shape[1]
            return X.astype(np.float32 if X.dtype == np.float32 else np.float64)
        X = validate_data(self, X, dtype=[np.float64, np.float32], allow_nd=True, reset=reset)
        if X.ndim not in (2, 3):
            raise ValueError(f"X must be series of shape (n, L) or (n, C, L); got {X.shape}.")
        return X

    def get_feature_names_out(self, input_features=None):
        """Names ``seriesdifference{i}`` of the output values.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Ignored.

        Returns
        -------
        feature_names_out : ndarray of str objects
            One name per output value.
        """
        check_is_fitted(self)
        n_out = int(np.prod(self.input_shape_[:-1], dtype=int)) * (
            self.input_shape_[-1] - self.order
        )
        return np.asarray([f"seriesdifference{i}" for i in range(n_out)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
