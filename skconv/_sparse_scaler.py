"""``SparseScaler``: Hydra's scaling of count features, as a transformer."""

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._compat import DocLinkMixin, Interval, _fit_context, validate_data
from ._dask import is_dask_array


class SparseScaler(DocLinkMixin, OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Square root, then standardise the nonzero values (Hydra's scaler for counts).

    Hydra's features are counts, mostly zero for most series. Each value is
    clipped at zero and square-rooted; each feature is then centred and
    scaled by its training mean and standard deviation, the zeros left at
    zero (``mask=True``). A feature that is zero on a share ``z`` of the
    training samples gets ``z ** exponent`` added to its standard deviation,
    which damps features that are almost always zero.

    Parameters
    ----------
    mask : bool, default=True
        Keep the zeros at zero after centring.
    exponent : int, default=4
        Of the share of zeros added to the standard deviation.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
        Mean of the square-rooted training features.
    scale_ : ndarray of shape (n_features,)
        Their standard deviation (``ddof=1``, as Hydra), plus the damping term
        and ``1e-8``.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names of ``X``, when it is a DataFrame with string column names.

    See Also
    --------
    make_hydra : Hydra's features, followed by this scaler.
    sklearn.preprocessing.StandardScaler : Standardisation of dense features.

    References
    ----------
    A. Dempster, D. F. Schmidt, G. I. Webb. "Hydra: competing convolutional
    kernels for fast and accurate time series classification", Data Mining and
    Knowledge Discovery 37, 2023.

    Examples
    --------
    >>> import numpy as np
    >>> from skconv import SparseScaler
    >>> X = np.array([[0.0, 4.0], [1.0, 9.0], [4.0, 16.0]])
    >>> SparseScaler().fit_transform(X).round(2)
    array([[ 0.  , -1.  ],
           [ 0.  ,  0.  ],
           [ 0.99,  1.  ]])
    """

    _parameter_constraints = {
        "mask": ["boolean"],
        "exponent": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(self, *, mask=True, exponent=4):
        self.mask = mask
        self.exponent = exponent

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn each feature's mean and scale.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numpy, or dask (the statistics computed in one pass over the blocks).
        y : None
            Ignored.

        Returns
        -------
        self : SparseScaler
            The fitted scaler.
        """
        X = self._check(X, reset=True)
        roots = np.sqrt(np.maximum(X, 0))  # lazy for dask arrays
        zeros = (roots == 0).mean(axis=0)
        mean = roots.mean(axis=0)
        spread = roots.std(axis=0, ddof=1) if X.shape[0] > 1 else np.zeros(X.shape[1])
        if is_dask_array(X):  # one pass over the blocks for the three statistics
            import dask

            zeros, mean, spread = dask.compute(zeros, mean, spread)
        self.mean_ = np.asarray(mean, dtype=np.float64)
        self.scale_ = np.asarray(spread, dtype=np.float64) + zeros**self.exponent + 1e-8
        return self

    def _check(self, X, reset):
        """Validated ``X``; a dask array stays lazy (its shape and dtype are checked)."""
        if not is_dask_array(X):
            return validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])
        if X.ndim != 2 or X.dtype.kind not in "biuf":
            raise ValueError(
                f"X must be a 2-D array of real numbers; got a dask array of shape {X.shape} "
                f"and dtype {X.dtype}."
            )
        if reset:
            self.n_features_in_ = X.shape[1]
        elif X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but SparseScaler is expecting "
                f"{self.n_features_in_} features as input."
            )
        return X.astype(np.float32 if X.dtype == np.float32 else np.float64)

    def transform(self, X):
        """Scale ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numpy, or dask (kept lazy).

        Returns
        -------
        X_scaled : ndarray or dask array of shape (n_samples, n_features)
            The scaled features, in the dtype of ``X``.
        """
        check_is_fitted(self)
        X = self._check(X, reset=False)
        roots = np.sqrt(np.maximum(X, 0))
        centred = roots - self.mean_.astype(roots.dtype)
        if self.mask:
            centred = centred * (roots != 0)
        scaled = (centred / self.scale_.astype(roots.dtype)).astype(X.dtype)
        return scaled + 0.0  # masked negative zeros print as zeros; lazy for dask arrays
