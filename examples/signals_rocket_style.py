"""1-D signals: Rocket-style random kernels with PPV and max pooling.

A synthetic time-series problem with three classes of length-300 signals: noise
with a short burst of a sine at a class-specific frequency, placed anywhere.
ConvFeatures with 500 random kernels of length 9 at dilations 1, 2, 4 and 8
(one ConvFeatures per dilation in a FeatureUnion), no nonlinearity, and PPV +
max global pooling -- the recipe of the Rocket family -- feeds a
RidgeClassifierCV. Prints test accuracy next to raw samples, and saves a few
signals with their feature maps as ``signals.png``.
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
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fast", action="store_true", help="fewer signals and kernels")
    parser.add_argument("--out", default=".", help="folder for the figure")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    from sklearn.linear_model import RidgeClassifierCV
    from sklearn.pipeline import make_pipeline, make_union
    from sklearn.preprocessing import StandardScaler

    from skconv import ConvFeatures, RandomBank
    from skconv.plotting import plot_feature_maps

    n = 600 if args.fast else 2000
    X_train, y_train = make_signals(n, seed=0)
    X_test, y_test = make_signals(n // 2, seed=1)
    per_dilation = 50 if args.fast else 125
    features = make_union(*[
        ConvFeatures(RandomBank(per_dilation, 9, random_state=d), dilation=d, nonlinearity=None,
                     pooling=("ppv", "max"))
        for d in (1, 2, 4, 8)
    ])
    classifier = RidgeClassifierCV(alphas=np.logspace(-3, 3, 10))
    raw = make_pipeline(StandardScaler(), RidgeClassifierCV(alphas=np.logspace(-3, 3, 10)))
    rocket = make_pipeline(features, StandardScaler(), classifier)
    print(f"{n} training, {n // 2} test signals of length 300, 3 classes")
    print(f"raw samples + ridge:           {raw.fit(X_train, y_train).score(X_test, y_test):.4f}")
    rocket.fit(X_train, y_train)
    print(f"{4 * per_dilation} random kernels, PPV+max: {rocket.score(X_test, y_test):.4f} "
          f"({rocket[0].transform(X_test[:1]).shape[1]} features)")
    first = rocket[0].transformer_list[1][1]  # dilation 2
    fig = plot_feature_maps(first, X_test[0], max_maps=7, n_cols=4)
    path = Path(args.out) / "signals.png"
    fig.savefig(path, dpi=90)
    print(f"figure: {path}")


if __name__ == "__main__":
    main()
