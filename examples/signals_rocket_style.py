"""
Time series: Rocket-style kernels and MiniRocket in one line
============================================================

1-D signals: Rocket-style random kernels, and MiniRocket in one line.

A synthetic time-series problem with three classes of length-300 signals: noise
with a short burst of a sine at a class-specific frequency, placed anywhere.
One ConvFeatures runs 125 random kernels of length 9 at each of the dilations
1, 2, 4 and 8 (``dilation=[1, 2, 4, 8]``), no nonlinearity, PPV + max global
pooling -- the recipe of the Rocket family; ``skconv.make_minirocket()`` adds
MiniRocket's fixed kernels, exponentially spaced dilations and biases fitted
from quantiles. Both feed a RidgeClassifierCV. Prints test accuracy next to
raw samples, and saves a few signals with their feature maps as ``signals.png``.
"""

import argparse
from pathlib import Path

import numpy as np


def make_signals(n, length=300, seed=0):
    """Noise plus a 40-sample sine burst (amplitude 1.5) at 0.08, 0.11 or 0.15 cycles/sample."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(0, 1, (n, length))
    t = np.arange(40)
    for i, label in enumerate(y):
        start = rng.integers(0, length - 40)
        X[i, start : start + 40] += 1.5 * np.sin(2 * np.pi * (0.08, 0.11, 0.15)[label] * t)
    return X, y


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    parser.add_argument("--fast", action="store_true", help="fewer signals and kernels")
    parser.add_argument("--out", default=".", help="folder for the figure")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    from sklearn.linear_model import RidgeClassifierCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skconv import ConvFeatures, RandomBank, make_minirocket
    from skconv.plotting import plot_feature_maps

    n = 600 if args.fast else 2000
    X_train, y_train = make_signals(n, seed=0)
    X_test, y_test = make_signals(n // 2, seed=1)
    per_dilation = 50 if args.fast else 125
    features = ConvFeatures(
        RandomBank(per_dilation, 9, random_state=0),
        dilation=[1, 2, 4, 8],
        nonlinearity=None,
        pooling=("ppv", "max"),
    )
    alphas = np.logspace(-3, 3, 10)
    raw = make_pipeline(StandardScaler(), RidgeClassifierCV(alphas=alphas))
    rocket = make_pipeline(features, StandardScaler(), RidgeClassifierCV(alphas=alphas))
    minirocket = make_pipeline(make_minirocket(random_state=0), RidgeClassifierCV(alphas=alphas))
    print(f"{n} training, {n // 2} test signals of length 300, 3 classes")
    print(f"raw samples + ridge:           {raw.fit(X_train, y_train).score(X_test, y_test):.4f}")
    rocket.fit(X_train, y_train)
    print(
        f"{4 * per_dilation} random kernels, PPV+max: {rocket.score(X_test, y_test):.4f} "
        f"({rocket[0].n_features_out_} features)"
    )
    minirocket.fit(X_train, y_train)
    print(
        f"make_minirocket():             {minirocket.score(X_test, y_test):.4f} "
        f"({minirocket[0].n_features_out_} features)"
    )
    fig = plot_feature_maps(rocket[0], X_test[0], max_maps=7, n_cols=4)  # at dilation 1
    path = Path(args.out) / "signals.png"
    fig.savefig(path, dpi=90)
    print(f"figure: {path}")


if __name__ == "__main__":
    main()
