"""Checks of parameter values shared by the estimator, the banks and the engine."""

from numbers import Integral, Real

import numpy as np


def is_integer(value):
    """True for Python and numpy integers, never for bools."""
    if type(value) is int:  # the common case, without the abstract classes' checks
        return True
    return isinstance(value, (Integral, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_real(value):
    """True for Python and numpy real numbers, never for bools or strings."""
    return isinstance(value, (Real, np.floating, np.integer)) and not isinstance(
        value, (bool, np.bool_)
    )


def normalize_axes_param(value, n_axes, name, minimum=1):
    """Turn an int or a per-axis sequence into a tuple of ``n_axes`` ints.

    Parameters
    ----------
    value : int or sequence of int
        The value given by the user.
    n_axes : int
        Number of spatial axes (1 or 2).
    name : str
        Parameter name, quoted in error messages.
    minimum : int, default=1
        Smallest allowed value.

    Returns
    -------
    values : tuple of int
    """
    if is_integer(value):
        values = (int(value),) * n_axes
    elif isinstance(value, (tuple, list, np.ndarray)) and all(is_integer(v) for v in value):
        values = tuple(int(v) for v in value)
        if len(values) != n_axes:
            raise ValueError(
                f"{name} must be an int or a sequence of {n_axes} int (one per "
                f"spatial axis); got {value!r}."
            )
    else:
        raise TypeError(f"{name} must be an int or a sequence of int; got {value!r}.")
    if any(v < minimum for v in values):
        raise ValueError(f"{name} must be >= {minimum}; got {value!r}.")
    return values


def real_sequence(value, name):
    """``value`` (a number or a sequence of numbers) as a 1-D float64 array.

    Strings, bools and other non-numbers are refused with a ``TypeError``
    naming ``name``, rather than converted.
    """
    values = (value,) if is_real(value) else value
    if not isinstance(values, (tuple, list, np.ndarray)) or not all(is_real(v) for v in values):
        raise TypeError(f"{name} must be a number or a sequence of numbers; got {value!r}.")
    return np.asarray(values, dtype=np.float64).reshape(-1)
