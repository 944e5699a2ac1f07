"""Kernel banks: small hyper-parameter objects whose builders are pure functions.

A bank is a scikit-learn style object (``get_params``/``set_params``/``clone``),
like the kernels of :class:`~sklearn.gaussian_process.GaussianProcessRegressor`,
so that ``GridSearchCV`` can search over ``convfeatures__bank`` (a list of banks)
and ``convfeatures__bank__<param>``. ``bank.fit(images)`` stores the kernels as
``kernels_`` of shape ``(K, C, *kernel_size)``; :class:`~skconv.ConvFeatures`
fits a clone of its bank, never the object it was given.

One module per family: :mod:`~skconv.banks.random`, :mod:`~skconv.banks.gabor`,
:mod:`~skconv.banks.array`, :mod:`~skconv.banks.patches` (learned from the
data), and for time series :mod:`~skconv.banks.minirocket` and
:mod:`~skconv.banks.hydra`. The kernel mathematics lives in
:mod:`skconv._kernels` (``random_kernels``, ``gabor_kernels``,
``minirocket_kernels``, re-exported here) and patch learning in
:mod:`skconv._patches`.
"""

from .._kernels import gabor_kernels, minirocket_kernels, random_kernels
from .array import ArrayBank
from .gabor import GaborBank
from .hydra import HydraBank, hydra_kernels
from .minirocket import MiniRocketBank
from .patches import PatchBank
from .random import RandomBank

__all__ = [
    "RandomBank",
    "GaborBank",
    "ArrayBank",
    "PatchBank",
    "MiniRocketBank",
    "HydraBank",
    "random_kernels",
    "gabor_kernels",
    "minirocket_kernels",
    "hydra_kernels",
]
