"""The Rocket family: skconv's presets against aeon's classifiers, side by side.

For every univariate classification set bundled with aeon (loaded offline,
official train/test split, **float64 as the loader returns it**), each method
runs as aeon's classifier and as the same pipeline built from skconv's
preset, with the classifier aeon uses:

=================  ===========================================  =========================
method             aeon                                         skconv
=================  ===========================================  =========================
minirocket         MiniRocketClassifier                         make_minirocket()
multirocket        MultiRocketClassifier                        make_multirocket()
hydra              HydraClassifier                              make_hydra()
multirockethydra   MultiRocketHydraClassifier                   make_multirockethydra()
=================  ===========================================  =========================

skconv's features go to the scaler and ``RidgeClassifierCV(alphas=logspace(-3,
3, 10))`` that aeon's classifier uses (``StandardScaler(with_mean=False)`` for
MiniRocket and MultiRocket; Hydra's sparse scaler is part of ``make_hydra``;
MultiRocket-Hydra scales each part as aeon does). Time is fit + predict of the
whole classifier (train and test), both on the same number of threads, which
goes first alternating by seed. The table gives mean test accuracy and time
per set, and for each method the mean accuracy over the sets, the largest
shortfall on one set, and the ratio of the total times.

The unequal-length set (PickupGestureWiimoteZ) is zero-padded at the end to
its longest series for both (aeon's classifiers need equal lengths).

aeon, numba and torch (aeon's Hydra) are benchmark-only dependencies, in their
own environment; skconv is installed there from this checkout:

    python -m venv /tmp/aeonenv && /tmp/aeonenv/bin/pip install aeon torch==2.13.0 -e .
    /tmp/aeonenv/bin/python benchmarks/bench_rocket.py                  (about 10 minutes)
    /tmp/aeonenv/bin/python benchmarks/bench_rocket.py --methods hydra --datasets GunPoint
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.linear_model import RidgeClassifierCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

UNIVARIATE = [
    "ACSF1",
    "ArrowHead",
    "GunPoint",
    "ItalyPowerDemand",
    "OSULeaf",
    "PickupGestureWiimoteZ",
    "UnitTest",
]
METHODS = ("minirocket", "multirocket", "hydra", "multirockethydra")
ALPHAS = np.logspace(-3, 3, 10)


def load(name):
    """Train and test arrays ``(n, 1, L)`` float64 (zero-padded to the longest) and labels."""
    from aeon.datasets import load_classification

    parts = [load_classification(name, split=split) for split in ("train", "test")]
    series = [[np.asarray(x, dtype=np.float64).reshape(-1) for x in X] for X, _ in parts]
    length = max(len(s) for group in series for s in group)
    arrays = []
    for group in series:
        padded = np.zeros((len(group), 1, length))
        for row, s in zip(padded, group):
            row[0, : len(s)] = s
        arrays.append(padded)
    return arrays[0], parts[0][1], arrays[1], parts[1][1]


def aeon_classifier(method, seed, n_jobs):
    from aeon.classification.convolution_based import (
        HydraClassifier,
        MiniRocketClassifier,
        MultiRocketClassifier,
        MultiRocketHydraClassifier,
    )

    classes = {
        "minirocket": MiniRocketClassifier,
        "multirocket": MultiRocketClassifier,
        "hydra": HydraClassifier,
        "multirockethydra": MultiRocketHydraClassifier,
    }
    return classes[method](n_jobs=n_jobs, random_state=seed)


def skconv_classifier(method, seed, n_jobs):
    from skconv import make_hydra, make_minirocket, make_multirocket, make_multirockethydra

    ridge = RidgeClassifierCV(alphas=ALPHAS)
    params = dict(random_state=seed, n_jobs=n_jobs)
    if method == "minirocket":
        return make_pipeline(make_minirocket(**params), StandardScaler(with_mean=False), ridge)
    if method == "multirocket":
        return make_pipeline(make_multirocket(**params), StandardScaler(with_mean=False), ridge)
    if method == "hydra":
        return make_pipeline(make_hydra(**params), ridge)
    return make_pipeline(make_multirockethydra(**params), ridge)


def run(classifier, X_train, y_train, X_test, y_test):
    """``(seconds, accuracy)`` of fit + predict."""
    start = time.perf_counter()
    classifier.fit(X_train, y_train)
    predicted = classifier.predict(X_test)
    return time.perf_counter() - start, float(np.mean(predicted == y_test))


def warm_up(methods, n_jobs):
    """Compile aeon's numba functions and build skconv's caches on a tiny set."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((10, 1, 64)), np.arange(10) % 2
    for method in methods:
        run(aeon_classifier(method, 0, n_jobs), X, y, X, y)
        run(skconv_classifier(method, 0, n_jobs), X[:, 0], y, X[:, 0], y)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=UNIVARIATE)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    import torch

    torch.set_num_threads(args.n_jobs)
    warm_up(args.methods, args.n_jobs)
    print(
        f"{args.seeds} seed(s), {args.n_jobs} thread(s), float64 input; acc = test accuracy; "
        "s = fit + predict seconds; ratio = skconv / aeon time"
    )
    header = (
        f"{'method':<17} {'data set':<22} {'length':>6} {'acc aeon':>8} {'acc skconv':>10} "
        f"{'diff':>6} {'s aeon':>7} {'s skconv':>8} {'ratio':>5}"
    )
    data = {name: load(name) for name in args.datasets}
    summary = []
    for method in args.methods:
        print(header)
        print("-" * len(header))
        rows = []
        for name, (X_train, y_train, X_test, y_test) in data.items():
            results = {"aeon": [], "skconv": []}
            for seed in range(args.seeds):
                order = ["aeon", "skconv"] if seed % 2 == 0 else ["skconv", "aeon"]
                for key in order:
                    if key == "aeon":
                        classifier = aeon_classifier(method, seed, args.n_jobs)
                        outcome = run(classifier, X_train, y_train, X_test, y_test)
                    else:
                        classifier = skconv_classifier(method, seed, args.n_jobs)
                        outcome = run(classifier, X_train[:, 0], y_train, X_test[:, 0], y_test)
                    results[key].append(outcome)
            (s_a, acc_a), (s_s, acc_s) = (np.mean(results[k], axis=0) for k in ("aeon", "skconv"))
            rows.append((acc_a, acc_s, s_a, s_s))
            print(
                f"{method:<17} {name:<22} {X_train.shape[-1]:>6} {acc_a:>8.4f} {acc_s:>10.4f} "
                f"{acc_s - acc_a:>+6.3f} {s_a:>7.2f} {s_s:>8.2f} {s_s / s_a:>5.2f}"
            )
        rows = np.array(rows)
        summary.append(
            (
                method,
                rows[:, 0].mean(),
                rows[:, 1].mean(),
                (rows[:, 1] - rows[:, 0]).min(),
                rows[:, 2].sum(),
                rows[:, 3].sum(),
            )
        )
        print()
    print("summary over the sets")
    print(
        f"{'method':<17} {'acc aeon':>8} {'acc skconv':>10} {'worst diff':>10} {'s aeon':>7} "
        f"{'s skconv':>8} {'ratio':>5}"
    )
    for method, acc_a, acc_s, worst, s_a, s_s in summary:
        print(
            f"{method:<17} {acc_a:>8.4f} {acc_s:>10.4f} {worst:>+10.3f} {s_a:>7.2f} "
            f"{s_s:>8.2f} {s_s / s_a:>5.2f}"
        )


if __name__ == "__main__":
    main()
