"""
Grid-search the stride and the kernel bank on digits
====================================================

Grid-search ConvFeatures' stride and kernel bank on scikit-learn's digits.

A Pipeline of ConvFeatures, StandardScaler and LogisticRegression; GridSearchCV
searches the stride, the bank (random or Gabor) and the bank's kernel size,
prints the table and saves the stride x kernel-size heat map as
``digits_grid_search.png``. Runs in well under a minute; ``--fast`` uses 2 folds.
"""

import argparse
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skconv import ConvFeatures, GaborBank, RandomBank


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    parser.add_argument("--fast", action="store_true", help="2 folds")
    parser.add_argument("--out", default=".", help="folder for the figure")
    args = parser.parse_args(argv)

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    pipe = make_pipeline(
        ConvFeatures(image_shape=(8, 8), pool_grid=2, random_state=0),
        StandardScaler(),
        LogisticRegression(max_iter=2000),
    )
    grid = {
        "convfeatures__stride": [1, 2],
        "convfeatures__bank": [RandomBank(128), GaborBank(frequencies=(0.25, 0.4))],
        "convfeatures__bank__kernel_size": [3, 5],
    }
    folds = 2 if args.fast else 5
    search = GridSearchCV(
        pipe, grid, cv=StratifiedKFold(folds, shuffle=True, random_state=0), n_jobs=2
    )
    search.fit(X_train, y_train)

    results = search.cv_results_
    print(f"{'bank':12s} {'kernel':>6s} {'stride':>6s} {'CV accuracy':>12s}")
    for params, score in zip(results["params"], results["mean_test_score"]):
        bank = type(params["convfeatures__bank"]).__name__
        print(
            f"{bank:12s} {params['convfeatures__bank__kernel_size']:6d} "
            f"{params['convfeatures__stride']:6d} {score:12.4f}"
        )
    best = search.best_params_
    print(
        f"best: {type(best['convfeatures__bank']).__name__}, kernel_size="
        f"{best['convfeatures__bank__kernel_size']}, stride={best['convfeatures__stride']}"
    )
    print(f"held-out accuracy of the best pipeline: {search.score(X_test, y_test):.4f}")

    import matplotlib

    matplotlib.use("Agg")
    from skconv.plotting import plot_search_heatmap

    fig = plot_search_heatmap(search, "convfeatures__stride", "convfeatures__bank__kernel_size")
    path = Path(args.out) / "digits_grid_search.png"
    fig.savefig(path, dpi=100)
    print(f"heat map: {path}")
    return search


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
