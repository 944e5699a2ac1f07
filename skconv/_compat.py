"""The one place that imports private scikit-learn tools.

scikit-learn >= 1.6 provides all of these (``validate_data`` moved to
``sklearn.utils.validation`` in 1.6); ``pyproject.toml`` pins that minimum.
"""

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils._param_validation import HasMethods, StrOptions, validate_params
from sklearn.utils._param_validation import Interval as _Interval
from sklearn.utils.validation import _check_feature_names_in, validate_data


class Interval(_Interval):
    """scikit-learn's ``Interval`` constraint, except that bools are never numbers.

    ``True`` is an ``Integral`` to Python, so scikit-learn's own constraint
    takes ``n_kernels=True`` as 1; every numeric parameter of skconv rejects it.
    """

    def is_satisfied_by(self, val):
        if isinstance(val, (bool, np.bool_)):
            return False
        return super().is_satisfied_by(val)


class DocLinkMixin:
    """Link the HTML repr of skconv's estimators to their page of the API reference.

    scikit-learn's ``_repr_html_`` reads ``_doc_link_module`` (only classes of
    that package get a link) and ``_doc_link_template``; every public class is
    documented as ``skconv.<name>``.
    """

    _doc_link_module = "skconv"
    _doc_link_template = (
        "https://skconv.readthedocs.io/en/stable/generated/skconv.{estimator_name}.html"
    )


__all__ = [
    "DocLinkMixin",
    "HasMethods",
    "Interval",
    "StrOptions",
    "_check_feature_names_in",
    "_fit_context",
    "validate_data",
    "validate_params",
]
