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

``--task multivariate`` runs MiniRocket and MultiRocket on the multivariate
classification sets bundled with aeon (BasicMotions, 6 channels; JapaneseVowels,
12 channels of 7 to 29 samples): skconv takes the series as they are
(``(n, C, L)``, or JapaneseVowels' list of unequal lengths, each series at its
own length), aeon the zero-padded array. ``--task regression`` runs the
regressors (aeon's ``MiniRocketRegressor`` ... against the presets followed by
``StandardScaler(with_mean=False)`` and ``RidgeCV(alphas=logspace(-3, 3, 10))``,
aeon's pipeline) on the bundled regression sets (Covid3Month, CardanoSentiment),
scored by the root mean squared error (lower is better).

aeon, numba and torch (aeon's Hydra) are benchmark-only dependencies, in their
own environment; skconv is installed there from this checkout:

    python -m venv /tmp/aeonenv && /tmp/aeonenv/bin/pip install aeon torch==2.13.0 -e .
    /tmp/aeonenv/bin/python benchmarks/bench_rocket.py                  (about 10 minutes)
    /tmp/aeonenv/bin/python benchmarks/bench_rocket.py --methods hydra --datasets GunPoint
    /tmp/aeonenv/bin/python benchmarks/bench_rocket.py --task multivariate   (about 2 minutes)
    /tmp/aeonenv/bin/python benchmarks/bench_rocket.py --task regression     (about 1 minute)
    /tmp/aeonenv/bin/python benchmarks/bench_rocket.py --synthetic           (about 10 minutes)

``--synthetic`` times the transforms alone (fit + transform, no classifier) on
random walks of 100 to 5000 samples, 50 to 5000 series, as float64 and as
float32, for MiniRocket (``--methods`` for the others).
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.linear_model import RidgeClassifierCV, RidgeCV
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
TASKS = {
    "univariate": (UNIVARIATE, METHODS),
    "multivariate": (["BasicMotions", "JapaneseVowels"], METHODS[:2]),
    "regression": (["Covid3Month", "CardanoSentiment"], METHODS[:2]),
}


def load(name, task="univariate"):
    """Train and test data and targets, float64 as the loader returns them.

    Returns ``(aeon's train, skconv's train, y_train, aeon's test, skconv's
    test, y_test)``: aeon's arrays ``(n, C, L)`` zero-padded at the end to the
    longest series; skconv's are the same array for equal lengths, the
    univariate padded rows ``(n, L)`` for PickupGestureWiimoteZ (as aeon's),
    and the list of ``(C, L_i)`` series for a multivariate set of unequal
    lengths.
    """
    from aeon.datasets import load_classification, load_regression

    loader = load_regression if task == "regression" else load_classification
    parts = [loader(name, split=split) for split in ("train", "test")]
    series = [[np.asarray(x, dtype=np.float64) for x in X] for X, _ in parts]
    length = max(s.shape[-1] for group in series for s in group)
    channels = series[0][0].shape[0]
    out = []
    for group, (_, y) in zip(series, parts):
        padded = np.zeros((len(group), channels, length))
        for row, s in zip(padded, group):
            row[:, : s.shape[-1]] = s
        equal = len({s.shape for s in group}) == 1
        if channels == 1:
            ours = padded[:, 0]
        else:
            ours = padded if equal else group
        out += [padded, ours, np.asarray(y, dtype=float if task == "regression" else object)]
    return out


def aeon_estimator(method, seed, n_jobs, task="univariate"):
    from aeon.classification import convolution_based as classifiers
    from aeon.regression import convolution_based as regressors

    names = {
        "minirocket": "MiniRocket",
        "multirocket": "MultiRocket",
        "hydra": "Hydra",
        "multirockethydra": "MultiRocketHydra",
    }
    if task == "regression":
        return getattr(regressors, names[method] + "Regressor")(n_jobs=n_jobs, random_state=seed)
    return getattr(classifiers, names[method] + "Classifier")(n_jobs=n_jobs, random_state=seed)


def skconv_estimator(method, seed, n_jobs, task="univariate", padding_mode=None):
    from skconv import make_hydra, make_minirocket, make_multirocket, make_multirockethydra

    ridge = RidgeCV(alphas=ALPHAS) if task == "regression" else RidgeClassifierCV(alphas=ALPHAS)
    params = dict(random_state=seed, n_jobs=n_jobs)
    if padding_mode is not None and method in ("minirocket", "multirocket"):
        params["padding_mode"] = padding_mode
    if method == "minirocket":
        return make_pipeline(make_minirocket(**params), StandardScaler(with_mean=False), ridge)
    if method == "multirocket":
        return make_pipeline(make_multirocket(**params), StandardScaler(with_mean=False), ridge)
    if method == "hydra":
        return make_pipeline(make_hydra(**params), ridge)
    return make_pipeline(make_multirockethydra(**params), ridge)


def run(estimator, X_train, y_train, X_test, y_test):
    """``(seconds, score)`` of fit + predict: accuracy, or RMSE for float targets."""
    start = time.perf_counter()
    estimator.fit(X_train, y_train)
    predicted = estimator.predict(X_test)
    seconds = time.perf_counter() - start
    if y_test.dtype.kind == "f":
        return seconds, float(np.sqrt(np.mean((predicted - y_test) ** 2)))
    return seconds, float(np.mean(predicted == y_test))


def warm_up(methods, n_jobs, task):
    """Compile aeon's numba functions and build skconv's caches on a tiny set."""
    rng = np.random.default_rng(0)
    y = rng.standard_normal(10) if task == "regression" else np.arange(10) % 2
    for channels in (1, 2):  # numba compiles the univariate and multivariate loops apart
        X = rng.standard_normal((10, channels, 64))
        ours = X[:, 0] if channels == 1 else X
        for method in methods:
            run(aeon_estimator(method, 0, n_jobs, task), X, y, X, y)
            run(skconv_estimator(method, 0, n_jobs, task), ours, y, ours, y)


SYNTHETIC_LENGTHS = (100, 500, 2000, 5000)
SYNTHETIC_SIZES = (50, 500, 5000, 10_000)


def synthetic(methods, n_jobs, budget=25_000_000):
    """Fit + transform time of each method on random walks, float64 and float32 input.

    ``n`` series of length ``L`` for every pair of the grids up to ``budget``
    values (5000 x 5000); the transform: aeon's transformer against skconv's
    preset (features only, no classifier), one after the other on the same
    array, the better of two runs each.
    """
    from aeon.transformations.collection.convolution_based import (
        HydraTransformer,
        MiniRocket,
        MultiRocket,
    )

    from skconv import make_hydra, make_minirocket, make_multirocket

    theirs = {"minirocket": MiniRocket, "multirocket": MultiRocket, "hydra": HydraTransformer}
    ours = {
        "minirocket": make_minirocket,
        "multirocket": make_multirocket,
        "hydra": lambda **kw: make_hydra(scale=False, **kw),
    }
    rng = np.random.default_rng(0)
    print(f"fit + transform seconds, {n_jobs} thread(s), best of 3; ratio = skconv / aeon")
    print(
        f"{'method':<12} {'series':>6} {'length':>6} {'dtype':>7} {'s aeon':>8} {'s skconv':>8} "
        f"{'ratio':>5}"
    )
    for method in methods:
        for n in SYNTHETIC_SIZES:
            for length in SYNTHETIC_LENGTHS:
                if n * length > budget:
                    continue
                walks = rng.standard_normal((n, 1, length)).cumsum(axis=-1)
                for dtype in (np.float64, np.float32):
                    X = walks.astype(dtype)
                    times = {}
                    for _ in range(3):
                        start = time.perf_counter()
                        theirs[method](n_jobs=n_jobs, random_state=0).fit_transform(X)
                        times["aeon"] = min(times.get("aeon", np.inf), time.perf_counter() - start)
                        start = time.perf_counter()
                        ours[method](n_jobs=n_jobs, random_state=0).fit_transform(X[:, 0])
                        seconds = time.perf_counter() - start
                        times["skconv"] = min(times.get("skconv", np.inf), seconds)
                    print(
                        f"{method:<12} {n:>6} {length:>6} {np.dtype(dtype).name:>7} "
                        f"{times['aeon']:>8.3f} {times['skconv']:>8.3f} "
                        f"{times['skconv'] / times['aeon']:>5.2f}",
                        flush=True,
                    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="univariate", choices=list(TASKS))
    parser.add_argument("--datasets", nargs="+")
    parser.add_argument("--methods", nargs="+", choices=METHODS)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument(
        "--padding-mode", help="padding_mode of make_minirocket / make_multirocket (default theirs)"
    )
    parser.add_argument(
        "--synthetic",
        action="store_true",
        help="time only, on random walks of 100..5000 samples and 50..5000 series",
    )
    args = parser.parse_args()
    if args.synthetic:
        synthetic(args.methods or ["minirocket"], args.n_jobs)
        return
    datasets = args.datasets or TASKS[args.task][0]
    methods = args.methods or TASKS[args.task][1]
    warnings.filterwarnings("ignore")
    import torch

    torch.set_num_threads(args.n_jobs)
    warm_up(methods, args.n_jobs, args.task)
    metric = "rmse" if args.task == "regression" else "acc"
    print(
        f"{args.task}: {args.seeds} seed(s), {args.n_jobs} thread(s), float64 input; "
        f"{'rmse = test root mean squared error' if metric == 'rmse' else 'acc = test accuracy'}"
        "; s = fit + predict seconds; ratio = skconv / aeon time"
    )
    header = (
        f"{'method':<17} {'data set':<22} {'length':>6} {metric + ' aeon':>9} "
        f"{metric + ' skconv':>11} {'diff':>6} {'s aeon':>7} {'s skconv':>8} {'ratio':>5}"
    )
    data = {name: load(name, args.task) for name in datasets}
    summary = []
    for method in methods:
        print(header)
        print("-" * len(header))
        rows = []
        for name, (A_train, X_train, y_train, A_test, X_test, y_test) in data.items():
            results = {"aeon": [], "skconv": []}
            for seed in range(args.seeds):
                order = ["aeon", "skconv"] if seed % 2 == 0 else ["skconv", "aeon"]
                for key in order:
                    if key == "aeon":
                        estimator = aeon_estimator(method, seed, args.n_jobs, args.task)
                        outcome = run(estimator, A_train, y_train, A_test, y_test)
                    else:
                        estimator = skconv_estimator(
                            method, seed, args.n_jobs, args.task, args.padding_mode
                        )
                        outcome = run(estimator, X_train, y_train, X_test, y_test)
                    results[key].append(outcome)
            (s_a, acc_a), (s_s, acc_s) = (np.mean(results[k], axis=0) for k in ("aeon", "skconv"))
            rows.append((acc_a, acc_s, s_a, s_s))
            print(
                f"{method:<17} {name:<22} {A_train.shape[-1]:>6} {acc_a:>9.4f} {acc_s:>11.4f} "
                f"{acc_s - acc_a:>+6.3f} {s_a:>7.2f} {s_s:>8.2f} {s_s / s_a:>5.2f}"
            )
        rows = np.array(rows)
        # The worst set: the largest shortfall (accuracy) or excess (RMSE).
        sign = -1 if metric == "rmse" else 1
        worst = sign * (sign * (rows[:, 1] - rows[:, 0])).min()
        summary.append((method, *rows[:, :2].mean(axis=0), worst, *rows[:, 2:].sum(axis=0)))
        print()
    print("summary over the sets")
    print(
        f"{'method':<17} {metric + ' aeon':>9} {metric + ' skconv':>11} {'worst diff':>10} "
        f"{'s aeon':>7} {'s skconv':>8} {'ratio':>5}"
    )
    for method, acc_a, acc_s, worst, s_a, s_s in summary:
        print(
            f"{method:<17} {acc_a:>9.4f} {acc_s:>11.4f} {worst:>+10.3f} {s_a:>7.2f} "
            f"{s_s:>8.2f} {s_s / s_a:>5.2f}"
        )


if __name__ == "__main__":
    main()
