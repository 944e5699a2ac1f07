"""MNIST (standard 60k/10k split): ConvFeatures + a scikit-learn classifier.

Prints one row per configuration: test accuracy, the time to fit ConvFeatures
and transform train + test, the classifier's fit time, and the peak memory that
numpy allocated during the whole row (tracemalloc). Configurations:

* raw pixels, StandardScaler + LogisticRegression;
* ConvFeatures, random bank; Gabor bank; k-means bank (the Coates et al. 2011
  recipe: contrast normalisation, ZCA, triangle encoder, sum pooling) -- each
  + StandardScaler + LogisticRegression;
* the best configuration found: two stacked ConvFeatures with learned banks
  (PCANet-style), + StandardScaler + LogisticRegression.

The data are not in this repository: pass the path of ``mnist.npz`` (arrays
``x_train``, ``y_train``, ``x_test``, ``y_test``, uint8).

Run:  python benchmarks/bench_mnist.py --data ../shared/data/mnist.npz
      python benchmarks/bench_mnist.py --data ... --train 5000 --only raw,learned  (quick)
"""

import argparse
import time
import tracemalloc

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skconv import ConvFeatures, GaborBank, PatchBank, RandomBank

# Coates et al. regularise the variance with 10 for pixels in 0..255; pixels here
# are in 0..1, so 10 / 255**2.
NORM_REG = 10 / 255**2


def configurations(n_jobs):
    """name -> (label, ConvFeatures steps (empty for raw pixels), LogisticRegression C).

    The C values were picked in exploratory runs (a few values each).
    """
    common = dict(image_shape=(28, 28), random_state=0, n_jobs=n_jobs)
    return {
        "raw": ("raw pixels", [], 1.0),
        "random": (
            "random bank, 256 5x5, relu, 3x3 max",
            [ConvFeatures(RandomBank(256, 5), pooling="max", pool_grid=3, **common)],
            0.1,
        ),
        "gabor": (
            "Gabor bank, 32 7x7, relu, 3x3 max+mean",
            [ConvFeatures(GaborBank(8, (0.1, 0.25), kernel_size=7), pooling=("max", "mean"),
                          pool_grid=3, **common)],
            1.0,
        ),
        "learned": (
            "k-means 400 5x5 (Coates), triangle, 4x4 sum",
            [ConvFeatures(PatchBank(n_kernels=400, kernel_size=5, n_patches=50_000, norm_reg=NORM_REG),
                          padding="valid", nonlinearity="triangle", pooling="sum", pool_grid=4, **common)],
            0.1,
        ),
        "best": (
            "2 stages: k-means 64 5x5 | k-means 512 3x3",
            [
                ConvFeatures(PatchBank(n_kernels=64, kernel_size=5, n_patches=20_000, norm_reg=NORM_REG),
                             nonlinearity="relu", pooling="max", pool_grid=14, **common),
                ConvFeatures(PatchBank(n_kernels=512, kernel_size=3, n_patches=30_000, norm_reg=1e-3,
                                       whiten=False),
                             pooling=("max", "mean"), pool_grid=4,
                             **{**common, "image_shape": (64, 14, 14)}),
            ],
            0.01,
        ),
    }


def run(name, steps, classifier, data):
    X_train, y_train, X_test, y_test = data
    tracemalloc.start()
    start = time.perf_counter()
    features = make_pipeline(*steps) if steps else None
    F_train = features.fit_transform(X_train) if steps else X_train
    F_test = features.transform(X_test) if steps else X_test
    t_features = time.perf_counter() - start
    start = time.perf_counter()
    model = make_pipeline(StandardScaler(), classifier).fit(F_train, y_train)
    accuracy = model.score(F_test, y_test)
    t_classifier = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(
        f"{name:54s} {F_train.shape[1]:9d} {accuracy:9.4f} {t_features:11.1f} {t_classifier:9.1f} "
        f"{peak / 2**20:9.0f}",
        flush=True,
    )
    return accuracy


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="path to mnist.npz")
    parser.add_argument("--train", type=int, default=60_000, help="training images used")
    parser.add_argument("--only", default="raw,random,gabor,learned,best", help="configurations")
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args(argv)
    with np.load(args.data, allow_pickle=False) as data:
        X_train = data["x_train"][: args.train].reshape(-1, 784).astype(np.float32) / 255
        y_train = data["y_train"][: args.train]
        X_test = data["x_test"].reshape(-1, 784).astype(np.float32) / 255
        y_test = data["y_test"]
    data = (X_train, y_train, X_test, y_test)
    print(f"MNIST: {len(X_train)} training, {len(X_test)} test images; float32; "
          f"StandardScaler + LogisticRegression(C, max_iter=300)")
    header = (f"{'configuration':54s} {'features':>9s} {'accuracy':>9s} {'features s':>11s} "
              f"{'classif s':>9s} {'peak MiB':>9s}")
    print(header)
    print("-" * len(header))
    total = time.perf_counter()
    configs = configurations(args.n_jobs)
    for key in args.only.split(","):
        name, steps, C = configs[key]
        run(f"{name} (C={C:g})", steps, LogisticRegression(C=C, max_iter=300), data)
    print(f"total: {time.perf_counter() - total:.0f} s")


if __name__ == "__main__":
    main()
