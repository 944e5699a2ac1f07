"""Several dilations in one estimator: the dilation groups and their weights.

``dilation`` is one value (an int for every axis, or a tuple with one int per
axis), a list of such values, or ``"exponential"``: the rule of MiniRocket
(Dempster et al. 2021), 32 values spaced exponentially from 1 to the largest
dilation whose kernel span fits the input, rounded down and deduplicated. Each
distinct dilation is a *group*: every kernel runs at every group's dilation,
and a group's *weight* (how many of the 32 values rounded to it; 1 for a
list) decides its share of the fitted biases (see :func:`spread_biases`).
"""

from numbers import Integral

import numpy as np

from ._warnings import warn
from .engine.core import normalize_axes_param

EXPONENTIAL = "exponential"
DYADIC = "dyadic"
DILATION_RULES = (EXPONENTIAL, DYADIC)
# MiniRocket's max_dilations_per_kernel: how many exponentially spaced values
# are drawn before rounding (the distinct ones are usually far fewer).
N_EXPONENTIAL_VALUES = 32


def _is_int(value):
    return isinstance(value, (Integral, np.integer)) and not isinstance(value, bool)


def is_multi_dilation(dilation):
    """True when ``dilation`` asks for several dilations (a list or a rule)."""
    return (isinstance(dilation, str) and dilation in DILATION_RULES) or isinstance(dilation, list)


def max_dilations(input_spatial, kernel_spatial):
    """Per axis, the largest dilation whose kernel span fits the input (at least 1)."""
    return tuple(
        max(1, (n - 1) // (k - 1)) if k > 1 else 1 for n, k in zip(input_spatial, kernel_spatial)
    )


def exponential_dilations(input_spatial, kernel_spatial, n_values=N_EXPONENTIAL_VALUES):
    """MiniRocket's dilations for an input: ``(dilations, weights)``.

    Per axis, ``floor(2 ** linspace(0, log2((n - 1) / (k - 1)), n_values))``;
    the axes are paired value by value, then deduplicated. Each distinct
    dilation's weight is how many of the ``n_values`` values it absorbed.

    Parameters
    ----------
    input_spatial, kernel_spatial : tuple of int
        Spatial shape of one sample and of the kernels.
    n_values : int, default=32

    Returns
    -------
    dilations : list of tuple of int
        Increasing, one per-axis tuple each.
    weights : list of int
        Summing to ``n_values``.
    """
    per_axis = []
    for n, k in zip(input_spatial, kernel_spatial):
        top = max(1.0, (n - 1) / (k - 1)) if k > 1 else 1.0
        values = np.floor(np.logspace(0, np.log2(top), n_values, base=2) + 1e-9).astype(int)
        per_axis.append(np.minimum(values, max(1, (n - 1) // (k - 1)) if k > 1 else 1))
    pairs = list(zip(*(axis.tolist() for axis in per_axis)))
    dilations = sorted(set(pairs))
    return dilations, [pairs.count(d) for d in dilations]


def dyadic_dilations(input_spatial, kernel_spatial):
    """Hydra's dilations: ``(dilations, weights)``, powers of two up to the largest that fits.

    Per axis, ``2 ** arange(floor(log2((n - 1) / (k - 1))) + 1)`` (1 alone
    where the kernel is longer than half the input), the axes paired value by
    value (the shorter list repeats its last value), each of weight 1.
    """
    per_axis = []
    for n, k in zip(input_spatial, kernel_spatial):
        top = max(1, (n - 1) // (k - 1)) if k > 1 else 1
        per_axis.append([2**e for e in range(int(np.log2(top)) + 1)])
    count = max(len(axis) for axis in per_axis)
    dilations = [tuple(axis[min(i, len(axis) - 1)] for axis in per_axis) for i in range(count)]
    return dilations, [1] * count


def resolve_dilations(dilation, input_spatial, kernel_spatial):
    """The dilation groups of a ``dilation`` parameter: ``(dilations, weights)``.

    Parameters
    ----------
    dilation : int, tuple of int, list of (int or tuple of int), "exponential" or "dyadic"
        The ``dilation`` parameter.
    input_spatial, kernel_spatial : tuple of int
        Spatial shape of one sample and of the kernels.

    Returns
    -------
    dilations : list of tuple of int
        One per-axis tuple per group.
    weights : list of int
        The groups' weights (1 each unless ``"exponential"``).

    Raises
    ------
    ValueError
        For an empty or repeated list, or a dilation whose kernel span exceeds
        the input along an axis.
    """
    n_axes = len(input_spatial)
    if dilation == EXPONENTIAL:
        return exponential_dilations(input_spatial, kernel_spatial)
    if dilation == DYADIC:
        return dyadic_dilations(input_spatial, kernel_spatial)
    values = dilation if isinstance(dilation, list) else [dilation]
    if not values:
        raise ValueError("dilation must not be an empty list.")
    dilations = [normalize_axes_param(v, n_axes, "dilation") for v in values]
    if len(set(dilations)) != len(dilations):
        raise ValueError(f"dilation lists a dilation twice: {dilation!r}.")
    return dilations, [1] * len(dilations)


def check_dilation_param(dilation, n_axes):
    """Check the type and values of ``dilation`` before any data-dependent step."""
    if isinstance(dilation, str):
        if dilation not in DILATION_RULES:
            raise ValueError(
                f"dilation must be an int, a tuple of {n_axes} int, a list of those, "
                f"{EXPONENTIAL!r} or {DYADIC!r}; got {dilation!r}."
            )
        return
    for value in dilation if isinstance(dilation, list) else [dilation]:
        normalize_axes_param(value, n_axes, "dilation")


def check_dilations_fit(dilations, input_spatial, kernel_spatial, several):
    """Refuse dilated kernels that span more than the input; warn about large kernels.

    Such a kernel reads mostly padding: the features would describe the
    border, not the data. A dilation above 1 (or several dilations, which are
    for time series and multi-scale features) is then an error; undilated
    kernels larger than the input are only warned about, so that any data a
    scikit-learn check throws at the estimator still transforms.

    Parameters
    ----------
    dilations : list of tuple of int
    input_spatial, kernel_spatial : tuple of int
    several : bool
        Whether the ``dilation`` parameter asked for several dilations.
    """
    too_long = any(k > n for k, n in zip(kernel_spatial, input_spatial))
    if too_long and several:
        raise ValueError(
            f"The kernels (kernel_size {tuple(kernel_spatial)}) are longer than the input "
            f"{tuple(input_spatial)} ({int(np.prod(input_spatial))} feature(s) per channel), "
            "so no dilation fits: use smaller kernels (the bank's kernel_size) or a single "
            "dilation=1."
        )
    if too_long:
        warn(
            f"The kernels (kernel_size {tuple(kernel_spatial)}) are larger than the input "
            f"{tuple(input_spatial)}: most taps read padding. Use smaller kernels for "
            "inputs this small.",
        )
        return
    for dilation in dilations:
        spans = tuple(d * (k - 1) + 1 for d, k in zip(dilation, kernel_spatial))
        if any(s > n for s, n in zip(spans, input_spatial)):
            largest = max_dilations(input_spatial, kernel_spatial)
            raise ValueError(
                f"dilation {dilation if len(dilation) > 1 else dilation[0]} with kernels "
                f"of size {tuple(kernel_spatial)} spans {spans} samples, more than the "
                f"input {tuple(input_spatial)}: most taps would read padding. Use "
                f"dilation <= {largest if len(largest) > 1 else largest[0]}, smaller "
                "kernels (kernel_size), or dilation='exponential', which stays within "
                "the input."
            )


def spread_biases(n_biases, weights):
    """Biases per dilation group: ``n_biases`` per kernel, spread by weight.

    As in MiniRocket: each group gets ``floor(weight * n_biases / total)``,
    then the remainder goes one by one to the groups in order (smallest
    dilations first).

    Parameters
    ----------
    n_biases : int
        Biases per kernel over all its dilations.
    weights : list of int

    Returns
    -------
    counts : list of int
        One per group, summing to ``n_biases``; a group may get 0.
    """
    total = sum(weights)
    counts = [int(w * n_biases // total) for w in weights]
    i = 0
    while sum(counts) < n_biases:
        counts[i % len(counts)] += 1
        i += 1
    return counts
