"""Defaults against raw pixels: the table behind skconv's default parameters.

Each row is cross-validated (5-fold, shuffled, stratified) with StandardScaler +
LogisticRegression(max_iter=2000) after the features, on

* scikit-learn's ``load_digits`` (1,797 images of 8x8, pixels 0..16; ships with
  scikit-learn);
* an MNIST subset (``--mnist PATH``: the first 3,000 training images of 28x28,
  scaled to 0..1 and, for the PatchBank rows, also kept in 0..255);
* cylinder-bell-funnel signals (Saito 1994; 600 series of 128 samples, three
  classes, generated here with a fixed seed): the classic synthetic 1-D set.

Rows: raw values; ``ConvFeatures()`` with every default (``image_shape`` given
for images, as flattened rows need it); the old defaults (global max pooling,
21x21 Gabor kernels); and the alternatives considered for each default.

Run:  python benchmarks/bench_defaults.py                          (about 1 minute)
      python benchmarks/bench_defaults.py --mnist ../shared/data/mnist.npz
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skconv import ConvFeatures, GaborBank, PatchBank


def cylinder_bell_funnel(n_per_class=200, length=128, seed=0):
    """Saito's cylinder-bell-funnel series: a plateau, a ramp up, a ramp down."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    X, y = [], []
    for label in range(3):
        for _ in range(n_per_class):
            a = rng.integers(16, 32)
            b = a + rng.integers(32, 96)
            eta, noise = rng.standard_normal(), rng.standard_normal(length)
            inside = (t >= a) & (t <= b)
            shape = np.ones(length)
            if label == 1:
                shape = (t - a) / (b - a)
            elif label == 2:
                shape = (b - t) / (b - a)
            X.append((6 + eta) * shape * inside + noise)
            y.append(label)
    return np.array(X), np.array(y)


def score(X, y, conv):
    steps = [StandardScaler(), LogisticRegression(max_iter=2000)]
    pipe = make_pipeline(*([conv] if conv is not None else []), *steps)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        accuracy = cross_val_score(pipe, X, y, cv=cv).mean()
    return accuracy, time.perf_counter() - start


def rows_for_images(side):
    shape = dict(image_shape=(side, side), random_state=0)
    return [
        ("raw pixels", None),
        ("ConvFeatures() defaults", ConvFeatures(**shape)),
        ("  old default: global max (pool_grid=1)", ConvFeatures(pool_grid=1, **shape)),
        ("  pool_grid=3", ConvFeatures(pool_grid=3, **shape)),
        ("  pooling=('max', 'mean')", ConvFeatures(pooling=("max", "mean"), **shape)),
        ("  bank='gabor' (size follows the image)", ConvFeatures("gabor", **shape)),
        ("  old Gabor default: 21x21 kernels", ConvFeatures(GaborBank(kernel_size=21), **shape)),
        ("  PatchBank() defaults", ConvFeatures(PatchBank(random_state=0), **shape)),
    ]


def print_table(title, X, y, rows):
    print(f"\n{title}")
    print(f"{'features':<44} {'accuracy':>8} {'seconds':>8}")
    print("-" * 62)
    for name, conv in rows:
        accuracy, seconds = score(X, y, conv)
        print(f"{name:<44} {accuracy:8.4f} {seconds:8.1f}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mnist", help="path to mnist.npz for the MNIST-subset table")
    parser.add_argument("--n-mnist", type=int, default=3000)
    args = parser.parse_args()
    X, y = load_digits(return_X_y=True)
    print_table(
        "load_digits (8x8, 0..16), 5-fold CV, StandardScaler + LogisticRegression",
        X,
        y,
        rows_for_images(8),
    )
    if args.mnist:
        with np.load(args.mnist) as data:
            X = data["x_train"][: args.n_mnist].reshape(args.n_mnist, -1).astype(float)
            y = data["y_train"][: args.n_mnist]
        rows = rows_for_images(28)
        rows.append(
            (
                "  PatchBank() defaults, pixels in 0..255",
                ConvFeatures(PatchBank(random_state=0), image_shape=(28, 28), random_state=0),
            )
        )
        scaled = [(name, conv) for name, conv in rows[:-1]]
        print_table(
            f"MNIST, first {args.n_mnist} training images, pixels in 0..1", X / 255, y, scaled
        )
        print_table(
            f"MNIST, first {args.n_mnist} training images, pixels in 0..255", X, y, [rows[-1]]
        )
    X, y = cylinder_bell_funnel()
    signal = dict(image_shape=(X.shape[1],), random_state=0)
    print_table(
        "cylinder-bell-funnel signals (600 x 128), 5-fold CV",
        X,
        y,
        [
            ("raw values", None),
            ("ConvFeatures() defaults (global pooling)", ConvFeatures(**signal)),
            ("  pool_grid=2", ConvFeatures(pool_grid=2, **signal)),
            ("  pooling=('max', 'ppv')", ConvFeatures(pooling=("max", "ppv"), **signal)),
        ],
    )


if __name__ == "__main__":
    main()
