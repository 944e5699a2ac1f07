"""Peak resident memory of transforming an image store on disk to a store on disk.

The store is a ``.npy`` file of float32 images (n, 28, 28), by default 60,000
of them (MNIST's training-set size; random pixels, since memory does not depend
on them). ConvFeatures (64 random 5x5 kernels, relu, max pooling on a 4x4 grid:
1,024 features per image) transforms it to a ``.npy`` file of features, in three
ways, each in a fresh process whose peak RSS (``ru_maxrss``) is reported:

* ``numpy, in memory``: load the whole array, transform, save (the baseline);
* ``numpy, batched``: read 2,000 images at a time, transform, write them;
* ``dask``: ``da.from_array`` on the file, ``ConvFeatures.transform``,
  ``da.store`` to the output file (threaded scheduler, 2 threads, BLAS limited
  to one thread each with threadpoolctl).

Files are read and written with plain file I/O (no memory map), so the RSS is
what the process holds, not pages of the files it touched.

Run:  python benchmarks/bench_memory.py              (about a minute)
      python benchmarks/bench_memory.py --sizes 2000 --quick
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

KERNELS, KERNEL_SIZE, GRID = 64, 5, 4
CHUNK = 2_000


class NpyRows:
    """Slices along the first axis of a ``.npy`` file, by file I/O.

    Supports what ``dask.array.from_array`` and ``dask.array.store`` need:
    ``shape``, ``dtype``, ``ndim`` and ``[...]`` get/set with slices whose
    trailing axes are whole. Each call opens its own file handle (thread-safe).
    """

    def __init__(self, path, shape=None, dtype=None):
        self.path = path
        if shape is not None:  # create the file: header, then a sparse body
            array = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
            del array
        with open(path, "rb") as f:
            major, _ = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0
                if major == 1
                else np.lib.format.read_array_header_2_0
            )
            self.shape, _, self.dtype = read_header(f)
            self.offset = f.tell()
        self.ndim = len(self.shape)
        self.row_bytes = int(np.prod(self.shape[1:])) * self.dtype.itemsize

    def _rows(self, key):
        key = key if isinstance(key, tuple) else (key,)
        start, stop, step = key[0].indices(self.shape[0])
        rest = key[1:]
        if step != 1 or any(
            k != slice(None) and k != slice(0, n) for k, n in zip(rest, self.shape[1:])
        ):
            raise IndexError(f"NpyRows supports whole rows only; got {key}")
        return start, stop

    def __getitem__(self, key):
        start, stop = self._rows(key)
        with open(self.path, "rb") as f:
            f.seek(self.offset + start * self.row_bytes)
            data = np.fromfile(
                f, dtype=self.dtype, count=(stop - start) * self.row_bytes // self.dtype.itemsize
            )
        return data.reshape((stop - start,) + tuple(self.shape[1:]))

    def __setitem__(self, key, value):
        start, stop = self._rows(key)
        with open(self.path, "r+b") as f:
            f.seek(self.offset + start * self.row_bytes)
            f.write(np.ascontiguousarray(value, dtype=self.dtype).tobytes())


def make_store(path, n):
    """Write n random float32 28x28 images, CHUNK at a time."""
    store = NpyRows(path, shape=(n, 28, 28), dtype=np.float32)
    rng = np.random.default_rng(0)
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
        store[start:stop] = rng.random((stop - start, 28, 28), dtype=np.float32)


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(mode, source, target):
    """Run one mode in this (fresh) process; print JSON with RSS figures."""
    from skconv import ConvFeatures, RandomBank

    reader = NpyRows(source)
    n = reader.shape[0]
    conv = ConvFeatures(RandomBank(KERNELS, KERNEL_SIZE), pool_grid=GRID, random_state=0, n_jobs=2)
    conv.fit(reader[:2])
    n_out = conv._n_features_out
    if mode == "dask":
        import dask
        import dask.array as da
        from threadpoolctl import threadpool_limits
    baseline = peak_rss_mib()
    start = time.perf_counter()
    if mode == "numpy, in memory":
        images = np.load(source)
        np.save(target, conv.transform(images))
    elif mode == "numpy, batched":
        writer = NpyRows(target, shape=(n, n_out), dtype=np.float32)
        for s in range(0, n, CHUNK):
            writer[s : s + CHUNK] = conv.transform(reader[s : s + CHUNK])
    else:
        writer = NpyRows(target, shape=(n, n_out), dtype=np.float32)
        images = da.from_array(reader, chunks=(CHUNK, 28, 28), meta=np.empty((0, 0, 0), np.float32))
        features = conv.transform(images)
        with threadpool_limits(1), dask.config.set(scheduler="threads", num_workers=2):
            da.store(features, writer, lock=False)
    seconds = time.perf_counter() - start
    check = NpyRows(target)[n - 3 : n]
    expected = conv.set_params(n_jobs=1).transform(reader[n - 3 : n])
    assert np.allclose(check, expected, rtol=1e-5, atol=1e-5), "output differs"
    print(
        json.dumps(
            {"baseline": baseline, "peak": peak_rss_mib(), "seconds": seconds, "n_out": n_out}
        )
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 60_000])
    parser.add_argument("--quick", action="store_true", help="skip the in-memory baseline")
    parser.add_argument(
        "--child", nargs=3, metavar=("MODE", "SOURCE", "TARGET"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child)
        return
    modes = (
        ["numpy, batched", "dask"] if args.quick else ["numpy, in memory", "numpy, batched", "dask"]
    )
    header = (
        f"{'mode':18s} {'n':>6s} {'input MiB':>9s} {'output MiB':>10s} {'RSS before MiB':>14s} "
        f"{'peak RSS MiB':>12s} {'seconds':>8s}"
    )
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            source = os.path.join(tmp, f"images_{n}.npy")
            make_store(source, n)
            for mode in modes:
                target = os.path.join(tmp, "features.npy")
                result = subprocess.run(
                    [sys.executable, __file__, "--child", mode, source, target],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                info = json.loads(result.stdout.strip().splitlines()[-1])
                print(
                    f"{mode:18s} {n:6d} {n * 28 * 28 * 4 / 2**20:9.0f} "
                    f"{n * info['n_out'] * 4 / 2**20:10.0f} {info['baseline']:14.0f} "
                    f"{info['peak']:12.0f} {info['seconds']:8.2f}",
                    flush=True,
                )
                os.remove(target)
            os.remove(source)


if __name__ == "__main__":
    main()
