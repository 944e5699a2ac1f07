"""Learned banks against a random bank of the same size: transform time, side by side.

``ConvFeatures(PatchBank(), nonlinearity="triangle")`` (k-means kernels on
normalised, whitened patches, the triangle encoder), the same bank with relu,
and ``ConvFeatures(RandomBank(64, 5))``, each with its defaults otherwise
(max pooling over quadrants, 2 threads), transform the same images: MNIST
digits (``--mnist PATH`` to an ``.npz`` with ``x_train``; without it the
digits of ``load_digits``, upscaled to 28x28) and 3-channel 32x32 patches cut
from the two photographs that ship with scikit-learn (``load_sample_images``),
and one of those photographs whole (one image: the threads share its rows).
The learned banks run three ways, their features checked equal: ``encoded``
(the default: the compiled loop of ``skconv.engine._encoders.pool_encoded``
gathers, multiplies, encodes and pools image by image, the maps never
written), ``batches`` (GEMM on batches of images, then the compiled encoder,
then numpy's pooling: the route before that loop) and ``numpy`` (no compiled
encoder at all). Each time is the best of ``--repeat`` runs, the random bank's
and the encoded routes' taken in turns, round after round (the machine's load
is then the same for both sides of the ratio); the last column gives the
encoded route's time over the random bank's; then the multiply-adds per
map position of each bank's columns (a learned bank's folded kernels, with
the triangle the rows of its whitened norm, and a column of patch sums) and
their ratio to the random bank's: the least the time ratio can be when both
run at the same rate.

Run:  python benchmarks/bench_learned.py --mnist ../shared/data/mnist.npz
      python benchmarks/bench_learned.py                (no download: load_digits)
"""

import argparse
import time
import warnings

import numpy as np
from bench_dask_threads import best_time

import skconv.engine.learned as learned
from skconv import ConvFeatures, PatchBank, RandomBank


def mnist_like(path, n):
    if path is not None:
        data = np.load(path)
        return data["x_train"][:n].reshape(n, -1).astype(np.float32) / 255, (28, 28)
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits

    digits = load_digits().images
    images = np.concatenate([digits] * (n // len(digits) + 1))[:n]
    return zoom(images, (1, 3.5, 3.5), order=1).reshape(n, -1).astype(np.float32) / 16, (28, 28)


def photo_patches(n):
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(0)
    photos = [np.asarray(image, dtype=np.float32) / 255 for image in load_sample_images().images]
    patches = []
    for _ in range(n):
        photo = photos[rng.integers(len(photos))]
        y, x = rng.integers(photo.shape[0] - 32), rng.integers(photo.shape[1] - 32)
        patches.append(np.moveaxis(photo[y : y + 32, x : x + 32], -1, 0))  # (3, 32, 32)
    return np.stack(patches).reshape(n, -1), (3, 32, 32)


def one_photograph():
    from sklearn.datasets import load_sample_images

    photo = np.asarray(load_sample_images().images[0], dtype=np.float32) / 255
    image = np.moveaxis(photo, -1, 0)  # (3, 427, 640)
    return image.reshape(1, -1), image.shape


def multiply_adds(conv):
    """Multiply-adds per map position of a fitted transform's columns.

    The kernels' taps; for a learned bank its folded kernels, the rows whose
    squares give the triangle's ``||x||^2`` (triangular: their zeros are
    skipped) and the column of ones of the patch sums.
    """
    return int(np.count_nonzero(conv._weights))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", help="MNIST .npz (x_train); default: upscaled load_digits")
    parser.add_argument("--n", type=int, default=5000, help="images of each set")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # the numpy column warns that the loop is off
    sets = {
        "MNIST" if args.mnist else "digits 28x28": mnist_like(args.mnist, args.n),
        "photo patches 3x32x32": photo_patches(args.n),
        "one photo 3x427x640": one_photograph(),
    }
    routes = {  # name: (compiled_pool, compiled_encode)
        "encoded": (learned.compiled_pool, learned.compiled_encode),
        "batches": (None, learned.compiled_encode),
        "numpy": (None, None),
    }
    built = learned.compiled_pool is not None and learned.compiled_encode is not None
    print(f"transform of {args.n} images (one photo: 1), 2 threads, best of {args.repeat} (s)")
    print(
        f"{'images':<22} {'bank':<28} {'encoded':>8} {'batches':>8} {'numpy':>7} {'/ random':>9}"
        f" {'madds':>6} {'/ random':>9}"
    )
    for name, (X, shape) in sets.items():
        fit = X[:2000]
        random = ConvFeatures(RandomBank(64, 5), image_shape=shape, random_state=0, n_jobs=2)
        learned_banks = {
            nonlinearity: ConvFeatures(
                PatchBank(random_state=0), image_shape=shape, nonlinearity=nonlinearity, n_jobs=2
            ).fit(fit)
            for nonlinearity in ("triangle", "relu")
        }
        # The random bank and the encoded routes in turns, round after round:
        # the ratios compare times taken under the same load of the machine.
        timed = {"random": random.fit(fit), **learned_banks}
        rounds = {label: [] for label in timed}
        for conv in timed.values():
            conv.transform(X)
        for _ in range(args.repeat):
            for label, conv in timed.items():
                start = time.perf_counter()
                conv.transform(X)
                rounds[label].append(time.perf_counter() - start)
        random_seconds, random_madds = min(rounds["random"]), multiply_adds(random)
        print(
            f"{name:<22} {'RandomBank(64, 5)':<28} {random_seconds:>8.3f} {'-':>8} {'-':>7} "
            f"{1.0:>9.2f} {random_madds:>6} {1.0:>9.2f}"
        )
        for nonlinearity, conv in learned_banks.items():
            times, outputs = {"encoded": min(rounds[nonlinearity])}, {}
            saved = learned.compiled_pool, learned.compiled_encode
            for label, (pool, encode) in routes.items():
                learned.compiled_pool, learned.compiled_encode = pool, encode
                try:
                    outputs[label] = conv.transform(X)
                    if label != "encoded":
                        times[label] = best_time(lambda: conv.transform(X), args.repeat)
                finally:
                    learned.compiled_pool, learned.compiled_encode = saved
            if built:
                for label in ("encoded", "batches"):
                    np.testing.assert_allclose(
                        outputs[label], outputs["numpy"], rtol=2e-3, atol=2e-4
                    )
            bank = f"PatchBank(), {nonlinearity}"
            print(
                f"{name:<22} {bank:<28} {times['encoded']:>8.3f} {times['batches']:>8.3f} "
                f"{times['numpy']:>7.3f} {times['encoded'] / random_seconds:>9.2f} "
                f"{multiply_adds(conv):>6} {multiply_adds(conv) / random_madds:>9.2f}"
            )


if __name__ == "__main__":
    main()
