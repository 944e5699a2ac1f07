"""skconv: convolutional features for scikit-learn.

``ConvFeatures`` turns images (and 1-D signals) into feature rows with a kernel
bank, a nonlinearity and pooling; ``convolve`` is the batched engine underneath.
Importing skconv loads only numpy and scikit-learn: dask and plotting libraries
load when used.
"""

from ._convolve import choose_method, convolve
from ._difference import SeriesDifference
from ._estimator import ConvFeatures
from ._presets import make_hydra, make_minirocket, make_multirocket, make_multirockethydra
from ._show_versions import show_versions
from ._sparse_scaler import SparseScaler
from ._version import __version__
from .banks import ArrayBank, GaborBank, HydraBank, MiniRocketBank, PatchBank, RandomBank
from .engine.compiled import SlowPathWarning

__all__ = [
    "ArrayBank",
    "ConvFeatures",
    "GaborBank",
    "HydraBank",
    "MiniRocketBank",
    "PatchBank",
    "RandomBank",
    "SeriesDifference",
    "SlowPathWarning",
    "SparseScaler",
    "choose_method",
    "convolve",
    "make_hydra",
    "make_minirocket",
    "make_multirocket",
    "make_multirockethydra",
    "show_versions",
    "__version__",
]
