"""
Kernels learned from the digits' own patches
============================================

Kernels learned from digits' own patches (k-means and PCA), plotted and scored.

Fits two PatchBanks on scikit-learn's digits -- k-means on contrast-normalised,
ZCA-whitened 5x5 patches with the triangle encoder (Coates et al. 2011), and
PCA on mean-removed patches (PCANet's first stage) -- saves their kernels as
``kmeans_kernels.png`` and ``pca_kernels.png``, and prints the cross-validated
accuracy each gives with a LogisticRegression, next to raw pixels.
"""

import argparse
from pathlib import Path

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    parser.add_argument("--fast", action="store_true", help="3 folds")
    parser.add_argument("--out", default=".", help="folder for the figures")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skconv import ConvFeatures, PatchBank
    from skconv.plotting import plot_kernels

    X, y = load_digits(return_X_y=True)
    X = X / 16.0  # pixels in 0..1: Coates' variance regulariser 10 / 255**2
    common = dict(image_shape=(8, 8), pool_grid=2, random_state=0)
    models = {
        "k-means 64, triangle, sum": ConvFeatures(
            PatchBank("kmeans", 64, 5, norm_reg=10 / 255**2, n_patches=20_000),
            nonlinearity="triangle",
            pooling="sum",
            **common,
        ),
        "PCA 8, relu, max+mean": ConvFeatures(
            PatchBank("pca", 8, 5, normalize=False, whiten=False), pooling=("max", "mean"), **common
        ),
    }
    cv = StratifiedKFold(3 if args.fast else 5, shuffle=True, random_state=0)

    def score(*steps):
        pipe = make_pipeline(*steps, StandardScaler(), LogisticRegression(max_iter=2000))
        return cross_val_score(pipe, X, y, cv=cv).mean()

    print(f"{'features':28s} {'CV accuracy':>11s}")
    print(f"{'raw pixels':28s} {score():11.4f}")
    out = Path(args.out)
    for (name, conv), file in zip(models.items(), ("kmeans_kernels.png", "pca_kernels.png")):
        print(f"{name:28s} {score(conv):11.4f}")
        conv.fit(X)
        plot_kernels(conv, max_kernels=32).savefig(out / file, dpi=100)
    sizes = models["k-means 64, triangle, sum"].bank_.cluster_sizes_
    pca_kernels = models["PCA 8, relu, max+mean"].kernels_[:, 0]
    print(
        f"k-means cluster sizes: {sizes.min()}..{sizes.max()} patches; "
        "PCA kernels orthonormal: "
        f"{np.allclose(np.einsum('aij,bij->ab', pca_kernels, pca_kernels), np.eye(8))}"
    )
    print(f"figures: {out / 'kmeans_kernels.png'}, {out / 'pca_kernels.png'}")


if __name__ == "__main__":
    main()
