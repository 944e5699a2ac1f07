"""The main job, ``python -m skconv``: raw pixels vs ConvFeatures on digits."""

import argparse
import time


def demo_pipelines():
    """The compared pipelines, by name: raw pixels, random bank, Gabor bank."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from . import ConvFeatures, GaborBank, RandomBank

    def classifier():
        return [StandardScaler(), LogisticRegression(max_iter=2000)]

    conv = dict(image_shape=(8, 8), pool_grid=2, random_state=0)
    return {
        "raw pixels": make_pipeline(*classifier()),
        "ConvFeatures, random bank (128 5x5)": make_pipeline(
            ConvFeatures(RandomBank(128, 5), **conv), *classifier()
        ),
        "ConvFeatures, Gabor bank (32 5x5)": make_pipeline(
            ConvFeatures(GaborBank(frequencies=(0.25, 0.4), kernel_size=5), **conv),
            *classifier(),
        ),
    }


def run_demo(n_splits=5, n_jobs=None, file=None):
    """Cross-validate each pipeline on ``load_digits`` and print a table.

    Parameters
    ----------
    n_splits : int, default=5
        Folds of a shuffled, stratified cross-validation.
    n_jobs : int, default=None
        Passed to :func:`~sklearn.model_selection.cross_val_score`.
    file : file-like, default=None
        Where to print (standard output when None).

    Returns
    -------
    results : list of tuple
        ``(name, mean accuracy, std, seconds, n_features)`` per pipeline.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    X, y = load_digits(return_X_y=True)
    cv = StratifiedKFold(n_splits, shuffle=True, random_state=0)
    print(
        f"load_digits: {X.shape[0]} images of 8x8, {n_splits}-fold shuffled stratified CV, "
        "StandardScaler + LogisticRegression",
        file=file,
    )
    header = f"{'features':40s} {'n_features':>10s} {'accuracy':>16s} {'time (s)':>9s}"
    print(header, file=file)
    print("-" * len(header), file=file)
    results = []
    for name, pipe in demo_pipelines().items():
        start = time.perf_counter()
        scores = cross_val_score(pipe, X, y, cv=cv, n_jobs=n_jobs)
        seconds = time.perf_counter() - start
        n_features = pipe[:-2].fit_transform(X[:2]).shape[1] if len(pipe) > 2 else X.shape[1]
        results.append((name, scores.mean(), scores.std(), seconds, n_features))
        print(
            f"{name:40s} {n_features:10d} {scores.mean():9.4f} +/- {scores.std():.3f} "
            f"{seconds:9.2f}",
            file=file,
        )
    return results


def main(argv=None):
    """Entry point of ``python -m skconv``."""
    parser = argparse.ArgumentParser(
        prog="python -m skconv",
        description="Compare raw pixels with ConvFeatures on scikit-learn's digits.",
    )
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds")
    parser.add_argument("--n-jobs", type=int, default=None, help="parallel folds")
    args = parser.parse_args(argv)
    if args.folds < 2:
        parser.error(f"--folds must be >= 2; got {args.folds}")
    run_demo(args.folds, args.n_jobs)
    return 0
