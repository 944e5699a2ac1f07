"""Warnings that point at the user's line, wherever in skconv they are raised."""

import sys
import warnings
from pathlib import Path

# Frames inside these packages are skipped: the warning names the first line
# outside them (the user's call, not scikit-learn's ``fit`` wrapper).
_SKCONV_ROOT = str(Path(__file__).resolve().parent)


def _library_roots():
    roots = [_SKCONV_ROOT]
    for name in ("sklearn", "dask", "distributed", "dask_ml", "joblib"):
        module = sys.modules.get(name)
        if module is not None and getattr(module, "__file__", None):
            roots.append(str(Path(module.__file__).resolve().parent))
    return tuple(roots)


def user_stacklevel():
    """The ``stacklevel`` of the innermost frame outside skconv and its host libraries.

    Returns
    -------
    stacklevel : int
        For a ``warnings.warn`` call made by the caller of this function (1:
        that caller's own line).
    """
    roots = _library_roots()
    frame, level = sys._getframe(1), 1
    while frame is not None:
        path = str(Path(frame.f_code.co_filename).resolve())
        if not path.startswith(roots):
            return level
        frame, level = frame.f_back, level + 1
    return 1


def warn(message, category=UserWarning):
    """``warnings.warn`` at the user's line (see :func:`user_stacklevel`).

    Parameters
    ----------
    message : str
    category : type of Warning, default=UserWarning
    """
    warnings.warn(message, category, stacklevel=user_stacklevel())
