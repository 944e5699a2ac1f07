"""Time series: skconv's MiniRocket recipe against aeon's MiniRocket, side by side.

Every univariate classification set that ships inside the aeon wheel (loaded
offline from its data folder, official train/test split), both transforms
followed by ``RidgeClassifierCV(alphas=np.logspace(-3, 3, 10))``, several
seeds. For each set and seed the two run one after the other (which goes first
alternates), on the same data, with the same number of threads; the table
reports mean test accuracy and mean fit + transform time (train and test) per
set, their ratio, and the means over the sets.

skconv's recipe is one line, ``skconv.make_minirocket(random_state=seed)``:
MiniRocket's 84 kernels (MiniRocketBank) at ``dilation="exponential"``, with
``n_biases=119`` quantile biases per kernel fitted from the training series and
PPV pooling (about 10,000 features, as MiniRocket), on series padded by
reflection. A third column runs ``make_minirocket(padding="alternate",
padding_mode="constant")``, which reproduces MiniRocket itself (zero padding,
half of the maps pooled over their valid part, the same random draws): its
accuracy matches aeon's up to float32 rounding at ties.

How it is as fast without a JIT compiler: (1) every dilation is one geometry;
a batch of series is padded once (by the largest pads, each dilation reads the
middle) and, for each run of output positions, the patch matrix of all the
batch's series is one strided copy, so the maps of every kernel come out of one
GEMM (84 kernels x 9 taps x positions of the batch); (2) the values above the
biases are counted by a small C loop compiled when skconv is installed
(``skconv/engine/_stat_loops.pyx``, Cython: each map value is read once per four
biases, the counts stay in registers, the GIL is released; about 0.03-0.04 ns
a comparison, where numpy's compare-then-sum takes 0.1-0.2 ns); without a C
compiler at install, numpy does the same counts in two passes (about 1.4x
MiniRocket's time in total, measured before the compiled loop); (3) ``fit``
computes only the 84 maps per dilation the quantiles need, one per kernel on
its drawn series; (4) batches run on ``n_jobs`` threads.

The unequal-length set (PickupGestureWiimoteZ) is zero-padded at the end to its
longest series for both methods (aeon's MiniRocket needs equal lengths).

aeon and numba are benchmark-only dependencies, in their own environment
(aeon pins its numpy); skconv is installed there from this checkout:

    python -m venv /tmp/aeonenv && /tmp/aeonenv/bin/pip install aeon -e .
    /tmp/aeonenv/bin/python benchmarks/bench_series.py            (about 2 minutes)
    /tmp/aeonenv/bin/python benchmarks/bench_series.py --datasets GunPoint --seeds 1
    /tmp/aeonenv/bin/python benchmarks/bench_series.py --variants   (padding variants, 2 min)
    /tmp/aeonenv/bin/python benchmarks/bench_series.py --numpy-counts  (no compiled loop)
    python benchmarks/bench_series.py --counts    (the counting loops alone; no aeon needed)

``--variants`` prints the mean accuracy of make_minirocket's padding variants
(alternate/same x zeros/edge/reflect) per set instead: how the default was chosen.
``--agreement`` checks the exact reproduction: it feeds the dilations and biases
skconv fitted to aeon's own MiniRocket transform and prints, per set, the share
of the training features that are bit-equal and the largest difference in counts.
"""

import argparse
import time
import warnings

import numpy as np
from bench_dask_threads import best_time
from bench_rocket import ALPHAS, UNIVARIATE
from bench_rocket import load as load_float64
from sklearn.linear_model import RidgeClassifierCV

import skconv.engine.series as series_path


def load(name):
    """Train and test arrays ``(n, L)`` float32 (zero-padded to the longest) and labels."""
    _, X_train, y_train, _, X_test, y_test = load_float64(name)
    return X_train.astype(np.float32), y_train, X_test.astype(np.float32), y_test


def run_aeon(X_train, y_train, X_test, y_test, seed, n_jobs):
    from aeon.transformations.collection.convolution_based import MiniRocket

    start = time.perf_counter()
    transform = MiniRocket(n_jobs=n_jobs, random_state=seed).fit(X_train[:, None])
    F_train = transform.transform(X_train[:, None])
    F_test = transform.transform(X_test[:, None])
    seconds = time.perf_counter() - start
    return seconds, score(F_train, y_train, F_test, y_test), F_train.shape[1]


def run_skconv(X_train, y_train, X_test, y_test, seed, n_jobs, **params):
    from skconv import make_minirocket

    start = time.perf_counter()
    transform = make_minirocket(random_state=seed, n_jobs=n_jobs, **params).fit(X_train)
    F_train = transform.transform(X_train)
    F_test = transform.transform(X_test)
    seconds = time.perf_counter() - start
    return seconds, score(F_train, y_train, F_test, y_test), F_train.shape[1]


def score(F_train, y_train, F_test, y_test):
    classifier = RidgeClassifierCV(alphas=ALPHAS).fit(F_train, y_train)
    return classifier.score(F_test, y_test)


def warm_up(n_jobs):
    """Compile aeon's numba functions and build skconv's caches on a tiny set."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((10, 64)).astype(np.float32), np.arange(10) % 2
    run_aeon(X, y, X, y, 0, n_jobs)
    run_skconv(X, y, X, y, 0, n_jobs)


VARIANTS = {
    "alternate+zeros": dict(padding="alternate", padding_mode="constant"),
    "same+zeros": dict(padding="same", padding_mode="constant"),
    "alternate+edge": dict(padding="alternate", padding_mode="edge"),
    "same+edge": dict(padding="same", padding_mode="edge"),
    "same+reflect": dict(padding="same", padding_mode="reflect"),
}


def compare_variants(datasets, seeds, n_jobs):
    """Mean test accuracy of each padding variant of make_minirocket, per set."""
    print(f"make_minirocket padding variants: mean test accuracy over {seeds} seed(s)")
    print(f"{'data set':<22} " + " ".join(f"{name:>16}" for name in VARIANTS))
    means = {name: [] for name in VARIANTS}
    for dataset in datasets:
        X_train, y_train, X_test, y_test = load(dataset)
        row = []
        for name, params in VARIANTS.items():
            accuracy = np.mean(
                [
                    run_skconv(X_train, y_train, X_test, y_test, seed, n_jobs, **params)[1]
                    for seed in range(seeds)
                ]
            )
            means[name].append(accuracy)
            row.append(accuracy)
        print(f"{dataset:<22} " + " ".join(f"{a:>16.4f}" for a in row))
    print(f"{'mean':<22} " + " ".join(f"{np.mean(v):>16.4f}" for v in means.values()))


def batch_layouts(datasets, repeat=3):
    """Transform time of 200 series on one thread, by series per batch and layout.

    Batches under ``_SERIES_MAJOR_BELOW`` series are stored series-major; the
    second column forces batch-last for them (the layout used for all batch
    sizes before), so both are measured side by side. The layout matters for
    numpy's counts only (the compiled loop always takes series-major batches),
    so they are measured with numpy's counts.
    """
    from skconv import make_minirocket

    series_path.compiled_count_above = None

    sizes = (16, 32, 63, 64, 128)
    print("seconds to transform 200 series, 1 thread, best of", repeat)
    print(f"{'data set':<22} {'batch':>5} {'layout':>13} {'s':>7} {'s batch-last':>13}")
    threshold, batch = series_path._SERIES_MAJOR_BELOW, series_path._BATCH_SERIES
    try:
        for name in datasets:
            X_train, _, X_test, _ = load(name)
            X = np.concatenate([X_train, X_test])[:200]
            transform = make_minirocket(random_state=0, n_jobs=1).fit(X_train)
            for size in sizes:
                series_path._BATCH_SERIES = size
                times = {}
                for _ in range(repeat):  # interleaved
                    for forced in (False, True):
                        series_path._SERIES_MAJOR_BELOW = 0 if forced else threshold
                        start = time.perf_counter()
                        transform.transform(X)
                        seconds = time.perf_counter() - start
                        times[forced] = min(times.get(forced, np.inf), seconds)
                    series_path._SERIES_MAJOR_BELOW = threshold
                layout = "series-major" if size < threshold else "batch-last"
                print(
                    f"{name:<22} {size:>5} {layout:>13} {times[False]:>7.3f} {times[True]:>13.3f}"
                )
    finally:
        series_path._SERIES_MAJOR_BELOW, series_path._BATCH_SERIES = threshold, batch


def count_speeds(repeat=20):
    """ns per comparison: the compiled counts against numpy's compare-then-sum."""
    from skconv.engine.series import _sum_positions

    shapes = [(84, 64, 240, 4), (84, 64, 97, 20), (84, 16, 240, 5), (84, 128, 24, 60)]
    print(f"ns per comparison, best of {repeat}; maps (K, m, W) series-major, B biases per kernel")
    print(f"{'K':>3} {'m':>4} {'W':>4} {'B':>3} {'numpy':>7} {'compiled':>9} {'ratio':>6}")
    rng = np.random.default_rng(0)
    for n_kernels, m, width, n_biases in shapes:
        maps = rng.standard_normal((n_kernels, m, width)).astype(np.float32)
        biases = rng.standard_normal((n_kernels, n_biases)).astype(np.float32)
        above = np.empty((n_kernels, n_biases, m * width), bool)
        rows, levels = maps.reshape(n_kernels, 1, -1), biases[:, :, None]

        def numpy_counts():
            np.greater(rows, levels, out=above)
            flags = above.view(np.uint8).reshape(n_kernels, n_biases, m, width)
            return _sum_positions(flags, width, series_major=True)

        counts = np.zeros((n_kernels, n_biases, m), np.int32)

        def compiled_counts():
            counts[...] = 0
            series_path.compiled_count_above(maps, biases, counts)
            return counts

        if not np.array_equal(numpy_counts(), compiled_counts()):
            raise AssertionError("the compiled counts differ from numpy's")
        comparisons = maps.size * n_biases
        times = [best_time(f, repeat) / comparisons * 1e9 for f in (numpy_counts, compiled_counts)]
        print(
            f"{n_kernels:>3} {m:>4} {width:>4} {n_biases:>3} {times[0]:>7.3f} {times[1]:>9.3f} "
            f"{times[0] / times[1]:>6.1f}"
        )


def agreement(datasets):
    """Share of features equal to aeon's transform run with skconv's fitted parameters."""
    from aeon.transformations.collection.convolution_based._minirocket import (
        MiniRocket,
        _static_transform_uni,
    )

    from skconv import make_minirocket

    print(f"{'data set':<22} {'bit-equal':>9} {'max |diff| x length':>20}")
    for dataset in datasets:
        X = load(dataset)[0]
        conv = make_minirocket(random_state=0, padding="alternate", padding_mode="constant")
        features = conv.fit(X).transform(X)
        dilations = np.array([d[0] for d in conv.dilations_], dtype=np.int32)
        counts = np.array([b.shape[1] for b in conv.biases_], dtype=np.int32)
        biases = np.concatenate([b.reshape(-1) for b in conv.biases_]).astype(np.float32)
        n = len(dilations) * 84
        params = (np.ones(n, np.int32), np.zeros(n, np.int32), dilations, counts, biases)
        expected = _static_transform_uni(X, params, MiniRocket._indices)
        diff = np.abs(expected - features)
        print(f"{dataset:<22} {np.mean(diff == 0):>9.3f} {diff.max() * X.shape[1]:>20.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=UNIVARIATE)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--variants", action="store_true", help="padding variants only")
    parser.add_argument("--agreement", action="store_true", help="exact reproduction check")
    parser.add_argument("--batches", action="store_true", help="batch sizes and layouts only")
    parser.add_argument(
        "--counts", action="store_true", help="speed of the compiled counts against numpy's"
    )
    parser.add_argument(
        "--numpy-counts",
        action="store_true",
        help="count with numpy, as skconv installed without a C compiler",
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    if args.counts:
        count_speeds()
        return
    if args.numpy_counts:
        series_path.compiled_count_above = None
    print(f"counts: {'numpy' if series_path.compiled_count_above is None else 'compiled loop'}")
    if args.batches:
        batch_layouts(args.datasets)
        return
    if args.agreement:
        agreement(args.datasets)
        return
    if args.variants:
        compare_variants(args.datasets, args.seeds, args.n_jobs)
        return
    warm_up(args.n_jobs)

    def run_exact(*args):
        return run_skconv(*args, padding="alternate", padding_mode="constant")

    runners = {"aeon": run_aeon, "skconv": run_skconv, "exact": run_exact}
    header = (
        f"{'data set':<22} {'train':>5} {'test':>5} {'length':>6} {'features':>8}  "
        f"{'acc aeon':>8} {'acc skconv':>10} {'diff':>6} {'acc exact':>9}  {'s aeon':>7} "
        f"{'s skconv':>8} {'ratio':>5}"
    )
    print(
        f"{args.seeds} seed(s), {args.n_jobs} thread(s); acc = test accuracy with "
        "RidgeClassifierCV; time = fit + transform of train and test; ratio = skconv / aeon "
        "time; exact = make_minirocket(padding='alternate', padding_mode='constant')"
    )
    print(header)
    print("-" * len(header))
    rows = []
    for name in args.datasets:
        X_train, y_train, X_test, y_test = load(name)
        results = {key: [] for key in runners}
        features = {}
        for seed in range(args.seeds):
            order = list(runners) if seed % 2 == 0 else list(runners)[::-1]
            for key in order:
                seconds, accuracy, n_features = runners[key](
                    X_train, y_train, X_test, y_test, seed, args.n_jobs
                )
                results[key].append((accuracy, seconds))
                features[key] = n_features
        (acc_a, s_a), (acc_s, s_s), (acc_e, _) = (np.mean(results[key], axis=0) for key in runners)
        rows.append((acc_a, acc_s, s_a, s_s, acc_e))
        print(
            f"{name:<22} {len(X_train):>5} {len(X_test):>5} {X_train.shape[1]:>6} "
            f"{features['skconv']:>8}  {acc_a:>8.4f} {acc_s:>10.4f} "
            f"{acc_s - acc_a:>+6.3f} {acc_e:>9.4f}  {s_a:>7.3f} {s_s:>8.3f} {s_s / s_a:>5.2f}"
        )
    acc_a, acc_s, s_a, s_s, acc_e = np.mean(rows, axis=0)
    print("-" * len(header))
    print(
        f"{'mean over ' + str(len(rows)) + ' sets':<22} {'':>5} {'':>5} {'':>6} {'':>8}  "
        f"{acc_a:>8.4f} {acc_s:>10.4f} {acc_s - acc_a:>+6.3f} {acc_e:>9.4f}  {s_a:>7.3f} "
        f"{s_s:>8.3f} {s_s / s_a:>5.2f}"
    )
    worst = min(r[1] - r[0] for r in rows)
    print(
        f"largest accuracy deficit of skconv on a set: {min(worst, 0):+.3f}; "
        f"total time ratio: {sum(r[3] for r in rows) / sum(r[2] for r in rows):.2f}"
    )


if __name__ == "__main__":
    main()
