"""The main job, ``python -m skconv``: raw pixels vs ConvFeatures.

On scikit-learn's digits (no download) by default, with cross-validation; on a
local MNIST file with ``--data PATH`` (standard test set). ``--bank`` picks the
kernel banks compared.
"""

import argparse
import os
import time

BANKS = ("random", "gabor", "learned")


def demo_pipelines(image_shape, banks=BANKS, norm_reg=10.0):
    """The compared pipelines, by name: raw pixels, then one per bank.

    Parameters
    ----------
    image_shape : tuple of int
        ``(H, W)`` of the images.
    banks : sequence of {"random", "gabor", "learned"}, default=all
    norm_reg : float, default=10.0
        Contrast normalisation regulariser of the learned bank, in the data's
        squared pixel units.

    Returns
    -------
    pipelines : dict of str to Pipeline
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from . import ConvFeatures, GaborBank, PatchBank, RandomBank

    def classifier():
        return [StandardScaler(), LogisticRegression(max_iter=2000)]

    small = image_shape[0] <= 16
    size = 5 if small else 7
    conv = dict(image_shape=image_shape, pool_grid=2 if small else 3, random_state=0)
    frequencies = (0.25, 0.4) if small else (0.1, 0.25)
    choices = {
        "random": (
            f"ConvFeatures, random bank (128 {size}x{size})",
            ConvFeatures(RandomBank(128, size), **conv),
        ),
        "gabor": (
            f"ConvFeatures, Gabor bank (32 {size}x{size})",
            ConvFeatures(GaborBank(frequencies=frequencies, kernel_size=size), **conv),
        ),
        "learned": (
            "ConvFeatures, k-means bank (64 5x5)",
            ConvFeatures(
                PatchBank(n_kernels=64, kernel_size=5, norm_reg=norm_reg, n_patches=20_000),
                nonlinearity="triangle",
                pooling="sum",
                **conv,
            ),
        ),
    }
    pipelines = {"raw pixels": make_pipeline(*classifier())}
    for bank in banks:
        name, features = choices[bank]
        pipelines[name] = make_pipeline(features, *classifier())
    return pipelines


def _row(name, n_features, accuracy, spread, seconds, file):
    spread = f"+/- {spread:.3f}" if spread is not None else " " * 9
    print(f"{name:40s} {n_features:10d} {accuracy:7.4f} {spread} {seconds:9.2f}", file=file)


def _header(file):
    header = f"{'features':40s} {'n_features':>10s} {'accuracy':>17s} {'time (s)':>9s}"
    print(header, file=file)
    print("-" * len(header), file=file)


def run_demo(n_splits=5, n_jobs=None, banks=BANKS, file=None):
    """Cross-validate each pipeline on ``load_digits`` and print a table.

    Parameters
    ----------
    n_splits : int, default=5
        Folds of a shuffled, stratified cross-validation.
    n_jobs : int, default=None
        Passed to :func:`~sklearn.model_selection.cross_val_score`.
    banks : sequence of str, default=all
        Banks compared with raw pixels.
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
    _header(file)
    results = []
    # digits pixels are in 0..16: Coates' 10 for 0..255 scales to about 0.04.
    for name, pipe in demo_pipelines((8, 8), banks, norm_reg=0.04).items():
        start = time.perf_counter()
        scores = cross_val_score(pipe, X, y, cv=cv, n_jobs=n_jobs)
        seconds = time.perf_counter() - start
        n_features = pipe[:-2].fit_transform(X[:50]).shape[1] if len(pipe) > 2 else X.shape[1]
        results.append((name, scores.mean(), scores.std(), seconds, n_features))
        _row(name, n_features, scores.mean(), scores.std(), seconds, file)
    return results


def run_mnist(path, n_train=10_000, banks=BANKS, file=None):
    """Train on ``n_train`` MNIST images, test on the 10,000 test images.

    Parameters
    ----------
    path : str
        An ``.npz`` file with ``x_train``, ``y_train``, ``x_test``, ``y_test``.
    n_train : int, default=10000
    banks : sequence of str, default=all
    file : file-like, default=None

    Returns
    -------
    results : list of tuple
        ``(name, test accuracy, None, seconds, n_features)`` per pipeline.
    """
    import numpy as np

    with np.load(path, allow_pickle=False) as data:
        X_train = data["x_train"][:n_train].reshape(-1, 784).astype(np.float32) / 255
        y_train = data["y_train"][:n_train]
        X_test = data["x_test"].reshape(-1, 784).astype(np.float32) / 255
        y_test = data["y_test"]
    print(
        f"MNIST ({path}): {len(X_train)} training and {len(X_test)} test images of 28x28, "
        "StandardScaler + LogisticRegression",
        file=file,
    )
    _header(file)
    results = []
    for name, pipe in demo_pipelines((28, 28), banks, norm_reg=10 / 255**2).items():
        start = time.perf_counter()
        accuracy = pipe.fit(X_train, y_train).score(X_test, y_test)
        seconds = time.perf_counter() - start
        n_features = pipe[:-2].transform(X_test[:1]).shape[1] if len(pipe) > 2 else 784
        results.append((name, accuracy, None, seconds, n_features))
        _row(name, n_features, accuracy, None, seconds, file)
    return results


_MNIST_ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def _check_mnist_file(parser, path):
    """Exit with a message unless ``path`` is an ``.npz`` with MNIST's four arrays."""
    import zipfile

    import numpy as np

    if not os.path.isfile(path):
        parser.error(f"--data {path!r}: no such file (expected an mnist.npz)")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [name for name in _MNIST_ARRAYS if name not in data.files]
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        parser.error(f"--data {path!r} is not a readable .npz file ({exc})")
    if missing:
        parser.error(
            f"--data {path!r} lacks the array(s) {', '.join(missing)}: expected "
            f"{', '.join(_MNIST_ARRAYS)} (28x28 uint8 images and their labels)"
        )


def main(argv=None):
    """Entry point of ``python -m skconv``."""
    parser = argparse.ArgumentParser(
        prog="python -m skconv",
        description="Compare raw pixels with ConvFeatures: scikit-learn's digits by "
        "default, or a local MNIST file.",
    )
    parser.add_argument("--folds", type=int, default=None, help="cross-validation folds (digits)")
    parser.add_argument("--n-jobs", type=int, default=None, help="parallel folds (digits)")
    parser.add_argument("--data", help="path to mnist.npz (x_train, y_train, x_test, y_test)")
    parser.add_argument(
        "--train", type=int, default=None, help="MNIST training images used (with --data)"
    )
    parser.add_argument(
        "--bank", choices=[*BANKS, "all"], default="all", help="kernel bank(s) to compare"
    )
    args = parser.parse_args(argv)
    if args.data is None and args.train is not None:
        parser.error("--train applies to MNIST only: pass --data PATH/mnist.npz too")
    if args.data is not None and (args.folds is not None or args.n_jobs is not None):
        parser.error("--folds and --n-jobs apply to the digits demo, not to --data")
    folds = 5 if args.folds is None else args.folds
    n_train = 10_000 if args.train is None else args.train
    if folds < 2:
        parser.error(f"--folds must be >= 2; got {folds}")
    if args.n_jobs == 0:
        parser.error("--n-jobs must be a positive int or -1; got 0")
    if n_train < 10:
        parser.error(f"--train must be >= 10; got {n_train}")
    banks = BANKS if args.bank == "all" else (args.bank,)
    if args.data is not None:
        _check_mnist_file(parser, args.data)
        run_mnist(args.data, n_train, banks)
    else:
        run_demo(folds, args.n_jobs, banks)
    return 0
