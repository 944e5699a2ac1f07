"""The one place that imports private scikit-learn tools.

scikit-learn >= 1.6 provides all of these (``validate_data`` moved to
``sklearn.utils.validation`` in 1.6); ``pyproject.toml`` pins that minimum.
"""

from sklearn.base import _fit_context
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import _check_feature_names_in, validate_data

__all__ = [
    "HasMethods",
    "Interval",
    "StrOptions",
    "_check_feature_names_in",
    "_fit_context",
    "validate_data",
]
