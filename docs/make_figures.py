"""Make the README's figures: python docs/make_figures.py (writes docs/*.png)."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from skconv import ConvFeatures, GaborBank, PatchBank  # noqa: E402
from skconv.plotting import plot_feature_maps, plot_kernels  # noqa: E402

HERE = Path(__file__).parent


def main():
    X = load_digits().data / 16.0
    gabor = ConvFeatures(GaborBank(4, (0.15, 0.3), kernel_size=9), image_shape=(8, 8)).fit(X)
    plot_kernels(gabor, n_cols=8).savefig(HERE / "gabor_bank.png", dpi=90)
    kmeans = ConvFeatures(
        PatchBank(n_kernels=32, kernel_size=5, norm_reg=10 / 255**2, random_state=0),
        image_shape=(8, 8),
        nonlinearity="triangle",
        random_state=0,
    ).fit(X)
    plot_kernels(kmeans, n_cols=8).savefig(HERE / "kmeans_kernels.png", dpi=90)
    three = X[np.flatnonzero(load_digits().target == 3)[0]]
    plot_feature_maps(gabor, three, max_maps=15).savefig(HERE / "feature_maps.png", dpi=90)


if __name__ == "__main__":
    main()
