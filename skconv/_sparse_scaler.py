"""``SparseScaler``: Hydra's scaling of count features, as a transformer."""

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._compat import DocLinkMixin, Interval, _fit_context, validate_data


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
        y : None
            Ignored.

        Returns
        -------
        self : SparseScaler
        """
        X = validate_data(self, X, reset=True, dtype=[np.float64, np.float32])
        roots = np.sqrt(np.maximum(X, 0))
        zeros = (roots == 0).mean(axis=0)
        self.mean_ = roots.mean(axis=0)
        spread = roots.std(axis=0, ddof=1) if X.shape[0] > 1 else np.zeros(X.shape[1])
        self.scale_ = spread + zeros**self.exponent + 1e-8
        return self

    def transform(self, X):
        """Scale ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        X_scaled : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        roots = np.sqrt(np.maximum(X, 0))
        centred = roots - self.mean_.astype(roots.dtype)
        if self.mask:
            centred *= roots != 0
        scaled = (centred / self.scale_.astype(roots.dtype)).astype(X.dtype, copy=False)
        scaled += 0.0  # masked negative zeros print as zeros
        return scaled
