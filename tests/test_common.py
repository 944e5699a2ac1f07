"""scikit-learn's estimator checks, with no expected failures."""

import numpy as np
from sklearn.utils.estimator_checks import parametrize_with_checks

from skconv import (
    ConvFeatures,
    GaborBank,
    PatchBank,
    RandomBank,
    SeriesDifference,
    SparseScaler,
)

ESTIMATORS = [
    ConvFeatures(),
    ConvFeatures(bank="gabor", pooling=("max", "ppv", "mean"), nonlinearity="tanh"),
    ConvFeatures(bank=GaborBank(kernel_size=3, channels="separate"), pool_grid=(1,)),
    ConvFeatures(bank=np.array([[1.0, 0.0, -1.0], [1.0, 2.0, 1.0]]), pooling=None),
    # 2-D images via image_shape: (H, 1) images whose height adapts to the
    # checks' toy data, with 3x3 kernels, 2-D padding and a 2-D stride.
    ConvFeatures(bank=RandomBank(8, 3), image_shape=(-1, 1), stride=(2, 1), pool_grid=(1, 1)),
    # A learned bank with the Coates encoder (1-wide patches fit every toy input;
    # one value each, so not normalised).
    ConvFeatures(
        bank=PatchBank(n_kernels=2, kernel_size=1, n_patches=50, normalize=False),
        nonlinearity="triangle",
    ),
    # Several dilations with fitted biases (the MiniRocket recipe's machinery).
    ConvFeatures(
        bank=RandomBank(4, 2),
        dilation="exponential",
        n_biases=5,
        pooling="ppv",
        padding="alternate",
    ),
    # L2 pooling over Gaussian windows (the MNIST recipe's pooling).
    ConvFeatures(bank=RandomBank(4, 3), pooling=("l2", "mean"), pool_sigma=0.5),
    # MultiRocket's statistics, and the difference transformer of make_multirocket.
    ConvFeatures(bank=RandomBank(4, 2), pooling=("ppv", "mpv", "mipv", "lspv"), n_biases=2),
    SeriesDifference(),
    # Hydra's competing statistics (groups of two kernels), and its scaler.
    ConvFeatures(
        bank=RandomBank(4, 2),
        pooling=("max_wins_sum", "min_wins"),
        kernel_groups=2,
        nonlinearity=None,
    ),
    SparseScaler(),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
