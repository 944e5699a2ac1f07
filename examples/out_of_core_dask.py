"""
Out of core: an image store on disk, dask and an incremental classifier
=======================================================================

Out of core: an image store on disk -> ConvFeatures -> an incremental classifier.

The store is a ``.npy`` file of 8x8 digit images (scikit-learn's digits with
noise added, to make a larger set), opened as a memory map, so nothing
is loaded until a block is needed. A memory budget (``--budget-mib``) sets the
block size, as if the data were larger than RAM. dask-ml's ``Incremental``
trains an ``SGDClassifier`` block by block on ConvFeatures' lazy output (scaled
by dask-ml's ``StandardScaler``, whose statistics take one pass), with dask's
progress bar on the passes that take over a second; the test blocks are scored
the same way.

It writes ``out_of_core_feature_maps.png`` (``--out``): a held-out image read
back from the store and its maps under the fitted pipeline's kernels.

Run:  python examples/out_of_core_dask.py            (about 100,000 images)
      python examples/out_of_core_dask.py --fast     (10,000 images, for CI)
"""

import argparse
import os
import resource
import tempfile
from pathlib import Path

import numpy as np


def make_store(path, n_images, seed=0):
    """Write ``n_images`` augmented digits (and labels) to ``path`` chunk by chunk."""
    from sklearn.datasets import load_digits

    digits, labels = load_digits(return_X_y=True)
    digits = digits.reshape(-1, 8, 8).astype(np.float32) / 16
    rng = np.random.default_rng(seed)
    images = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n_images, 8, 8))
    targets = np.empty(n_images, dtype=np.int64)
    for start in range(0, n_images, 5_000):
        stop = min(start + 5_000, n_images)
        pick = rng.integers(0, len(digits), stop - start)
        noise = rng.normal(0, 0.05, (stop - start, 8, 8)).astype(np.float32)
        images[start:stop] = digits[pick] + noise
        targets[start:stop] = labels[pick]
    images.flush()
    del images
    return targets


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.strip().split("\n")[0])
    parser.add_argument("--fast", action="store_true", help="10,000 images")
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--budget-mib", type=float, default=2, help="memory for one block")
    parser.add_argument("--out", default=".", help="folder for the figure")
    args = parser.parse_args(argv)

    import dask
    import dask.array as da
    from dask.diagnostics import ProgressBar
    from dask_ml.preprocessing import StandardScaler
    from dask_ml.wrappers import Incremental
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import make_pipeline
    from threadpoolctl import threadpool_limits

    from skconv import ConvFeatures, RandomBank

    n_images = 10_000 if args.fast else args.images
    conv = ConvFeatures(RandomBank(64, 3), pool_grid=2, pooling=("max", "mean"), random_state=0)
    # One block holds its images and its features (64 kernels x 2 stats x 4 regions).
    bytes_per_image = (64 + 64 * 2 * 4) * 4
    block = max(100, int(args.budget_mib * 2**20 // bytes_per_image))

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "digits.npy")
        y = make_store(path, n_images)
        images = da.from_array(np.load(path, mmap_mode="r"), chunks=(block, 8, 8))
        n_train = (n_images * 4 // 5) // block * block
        X_train, X_test = images[:n_train], images[n_train:]
        y_train = da.from_array(y[:n_train], chunks=block)
        y_test = da.from_array(y[n_train:], chunks=block)
        print(
            f"{n_images} images of 8x8 on disk ({images.nbytes / 2**20:.0f} MiB), "
            f"blocks of {block} images for a {args.budget_mib:g} MiB budget"
        )

        sgd = Incremental(SGDClassifier(alpha=1e-4, random_state=0), scoring="accuracy")
        pipe = make_pipeline(conv, StandardScaler(), sgd)
        epochs = 3  # passes over the blocks: the lazy concatenation re-reads them
        X_epochs = da.concatenate([X_train] * epochs)
        y_epochs = da.concatenate([y_train] * epochs)
        # dask's threads run one block each; BLAS gets one thread per block.
        with threadpool_limits(1), dask.config.set(scheduler="threads"), ProgressBar(minimum=1):
            pipe.fit(X_epochs, y_epochs, incremental__classes=list(range(10)))
            accuracy = pipe.score(X_test, y_test)
        print(f"test accuracy on {n_images - n_train} held-out images: {accuracy:.4f}")
        import matplotlib

        matplotlib.use("Agg")
        from skconv.plotting import plot_feature_maps

        figure = Path(args.out) / "out_of_core_feature_maps.png"
        sample = np.asarray(X_test[0])  # one block read back from the store
        plot_feature_maps(pipe[0], sample, max_maps=15).savefig(figure, dpi=80)
        print(f"wrote {figure}")
        print(
            "peak resident memory: "
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
        )
    return accuracy


if __name__ == "__main__":
    main()
