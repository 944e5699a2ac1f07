"""The engine at every size: skconv's methods against torch, OpenCV and scipy's FFTs.

For each cell of a grid of image sizes x kernel sizes x channels x number of
kernels (float32, padding "same", stride 1, correlation, 2 threads for everyone;
each time is the best of ``--repeat`` warm runs, timed in interleaved rounds
so that bursts of load on this shared machine hit every contender alike) it
prints the time of

* skconv ``convolve(method="auto")``, and of each method ("gemm", "fft");
* ``torch.nn.functional.conv2d`` (CPU, ``torch.set_num_threads(2)``);
* OpenCV ``cv2.filter2D`` per (image, kernel, channel), summed over channels
  (single-channel filter; it switches to a DFT for large kernels);
* ``scipy.signal.fftconvolve`` and ``scipy.signal.oaconvolve`` (flipped kernels,
  broadcast over (kernel, channel), summed over channels), one image at a time;
* a batched ``scipy.fft`` recipe (rfft2 of the images and of the flipped
  kernels, channel sum in the frequency domain, irfft2, crop: about ten
  lines of scipy),

then the ratio of skconv auto to the fastest anchor, the method auto chose, and
skconv auto's working memory (tracemalloc peak beyond its output; pocketfft's
own C++ buffers are not traced, see ``--memory``). Every anchor's output is
checked equal to skconv's (max error relative to the largest output value
< 1e-3); a mismatch aborts the run.

Cells are trimmed where one run would take minutes, shown as "-": GEMM and
torch above ``--max-gflop`` G multiply-adds (torch above 1 G for kernels >= 31
and on 2048x2048 images for kernels >= 11, where its CPU conv2d takes a slow
path that runs for minutes), cv2 above ``--max-cv2-pixels``
(image x kernel x channel) pixels, the scipy anchors above 1 GiB of spectra.
A contender whose warm-up run takes over 0.5 s is timed in two rounds only. The
number of images per cell is ``max(1, 2**16 // (H * W))``.

``--memory`` instead measures, each in a fresh process, the resident memory
(peak RSS minus the RSS before the call, minus the output) of two memory
targets: ``convolve`` of one 2048x2048 image with 16 15x15 kernels, and
``ConvFeatures(bank=GaborBank(kernel_size=31), pool_grid=4)`` on four 1024x1024
images.

Run:  python benchmarks/bench_scale.py                 (the whole grid, ~25 min)
      python benchmarks/bench_scale.py --quick         (a few cells)
      python benchmarks/bench_scale.py --memory
      python benchmarks/bench_scale.py --series        (the 1-D rows only)
"""

import argparse
import json
import platform
import subprocess
import sys
import time
import tracemalloc

import numpy as np

SIZES = (32, 64, 128, 256, 512, 1024, 2048)
KERNEL_SIZES = (3, 5, 7, 11, 15, 31, 63)
CHANNELS = (1, 3)
N_KERNELS = (16, 64)
SERIES_LENGTHS = (1_000, 10_000, 100_000, 1_000_000)
SERIES_DILATIONS = (1, 4, 16, 64)
THREADS = 2


def interleaved_best(funcs, warm, repeat, slow=0.5, min_seconds=1.0, max_rounds=20):
    """Best wall time of each function, timed in interleaved rounds.

    Each round runs every function once, in a shuffled order, so that a burst
    of load from other processes on this shared machine slows all of them
    alike, and no function always follows the same other one; the best over
    the rounds is kept. There are at least ``repeat`` rounds, and more (up to
    ``max_rounds``) until the fast functions have run for ``min_seconds``.
    ``warm`` holds each function's warm-up duration: those slower than
    ``slow`` seconds join two rounds only, and those also more than 5 times
    slower than the fastest keep their warm-up time (they cannot be the
    fastest, and timing them again would take minutes per cell).
    """
    fastest = min(warm.values())
    best = {name: (warm[name] if warm[name] > max(slow, 5 * fastest) else np.inf) for name in funcs}
    funcs = {name: func for name, func in funcs.items() if best[name] == np.inf}
    fast_seconds = sum(warm[name] for name in funcs if warm[name] <= slow)
    rounds = repeat
    if fast_seconds > 0:
        rounds = int(min(max_rounds, max(repeat, min_seconds / fast_seconds)))
    order = np.random.default_rng(0)
    names = list(funcs)
    for round_ in range(rounds):
        # A new order each round: what ran just before (a freed output buffer,
        # threads still spinning) changes a contender's time by up to 2x here.
        for name in order.permutation(names):
            func = funcs[name]
            if warm[name] > slow and round_ >= 2:
                continue
            start = time.perf_counter()
            func()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def timed_call(func):
    """``(result, seconds)`` of one call."""
    start = time.perf_counter()
    result = func()
    return result, time.perf_counter() - start


def traced_peak(func, output_bytes):
    """tracemalloc peak of ``func`` beyond its output, in MiB.

    skconv's pool of idle work buffers is emptied first, so that the figure
    includes the buffers a cold call allocates.
    """
    from skconv.engine.cache import BUFFERS

    BUFFERS.clear()
    tracemalloc.start()
    tracemalloc.reset_peak()
    func()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return max(0, peak - output_bytes) / 2**20


# --- anchors ----------------------------------------------------------------------


def torch_conv(images, kernels, dilation=1, stride=1, padding=None):
    """torch's conv2d (conv1d for signals); ``padding`` None: "same" for odd kernels."""
    import torch

    x, w = torch.from_numpy(images), torch.from_numpy(kernels)
    conv = torch.nn.functional.conv2d if images.ndim == 4 else torch.nn.functional.conv1d
    if padding is None:
        padding = dilation * (kernels.shape[-1] // 2)
    with torch.no_grad():
        return conv(x, w, stride=stride, padding=padding, dilation=dilation).numpy()


def cv2_filter(images, kernels):
    import cv2

    n, c = images.shape[:2]
    out = np.zeros((n, len(kernels), *images.shape[2:]), dtype=np.float32)
    for i in range(n):
        for k in range(len(kernels)):
            for ch in range(c):
                out[i, k] += cv2.filter2D(
                    images[i, ch], -1, kernels[k, ch], borderType=cv2.BORDER_CONSTANT
                )
    return out


def scipy_signal(images, kernels, func):
    flipped = kernels[..., ::-1, ::-1] if images.ndim == 4 else kernels[..., ::-1]
    axes = (-2, -1) if images.ndim == 4 else (-1,)
    # scipy does not broadcast the non-convolved axes of in1 against in2: expand.
    return np.stack(
        [
            func(np.broadcast_to(x, (len(kernels), *x.shape)), flipped, mode="same", axes=axes).sum(
                axis=1
            )
            for x in images
        ]
    ).astype(np.float32)


def scipy_fft_recipe(images, kernels):
    """The batched scipy.fft recipe of the issue (about ten lines)."""
    from scipy import fft

    k = kernels.shape[-1]
    h, w = images.shape[-2:]
    shape = (fft.next_fast_len(h + k - 1, True), fft.next_fast_len(w + k - 1, True))
    image_spectra = fft.rfft2(images, s=shape, workers=THREADS)  # (n, C, ...)
    kernel_spectra = fft.rfft2(kernels[..., ::-1, ::-1], s=shape, workers=THREADS)  # (K, C, ...)
    product = np.einsum("ncyx,kcyx->nkyx", image_spectra, kernel_spectra)
    full = fft.irfft2(product, s=shape, workers=THREADS)
    return full[..., k // 2 : k // 2 + h, k // 2 : k // 2 + w].astype(np.float32)


def check_equal(name, result, reference, against="skconv"):
    """Raise unless ``result`` is within 1e-3 of ``reference``'s largest value."""
    scale = np.abs(reference).max()
    error = np.abs(result - reference).max() / scale
    if not error < 1e-3:
        raise AssertionError(f"{name} differs from {against}: relative error {error:.2e}")


# --- the grid ---------------------------------------------------------------------


def run_cell(n, c, size, n_kernels, k, args):
    from skconv import choose_method, convolve

    rng = np.random.default_rng(0)
    images = rng.standard_normal((n, c, size, size)).astype(np.float32)
    kernels = rng.standard_normal((n_kernels, c, k, k)).astype(np.float32)
    macs = n * c * size * size * n_kernels * k * k
    direct_ok = macs / 1e9 <= args.max_gflop
    fft_work = n * n_kernels * c * size * size * 8 / 2**30  # GiB of per-image spectra
    filters = n * n_kernels * c * size * size  # pixels filtered by cv2, one kernel at a time
    row = {"chose": choose_method(images.shape[1:], kernels.shape)}
    funcs = {
        "auto": lambda: convolve(images, kernels, n_threads=THREADS),
        "gemm": lambda: convolve(images, kernels, method="gemm", n_threads=THREADS),
        "fft": lambda: convolve(images, kernels, method="fft", n_threads=THREADS),
        "torch": lambda: torch_conv(images, kernels),
        "cv2": lambda: cv2_filter(images, kernels),
        "fftconvolve": lambda: scipy_signal(images, kernels, _signal().fftconvolve),
        "oaconvolve": lambda: scipy_signal(images, kernels, _signal().oaconvolve),
        "scipy.fft": lambda: scipy_fft_recipe(images, kernels),
    }
    # torch's CPU conv2d falls back to a slow path for large kernels (18 s for
    # 2 images of 512x512 with 8 kernels of 31x31, 35 s for one 2048x2048 image
    # with 16 kernels of 11x11 here): kernels >= 31 are capped at 1 G
    # multiply-adds, kernels >= 11 at 4 M pixels per cell.
    enabled = {
        "gemm": direct_ok,
        "torch": direct_ok and (k < 31 or macs <= 1e9) and (k < 11 or n * size * size < 2**22),
        "cv2": filters <= args.max_cv2_pixels,
        "fftconvolve": fft_work < 1,
        "oaconvolve": fft_work < 1,
        "scipy.fft": fft_work < 1,
    }
    funcs = {
        name: func
        for name, func in funcs.items()
        if enabled.get(name, True) and name not in args.skip
    }
    auto, warm_auto = timed_call(funcs["auto"])
    warm = {"auto": warm_auto}
    for name, func in funcs.items():
        if name != "auto":
            result, warm[name] = timed_call(func)
            check_equal(name, result, auto)
    times = interleaved_best(funcs, warm, args.repeat)
    row["memory"] = traced_peak(lambda: convolve(images, kernels, n_threads=THREADS), auto.nbytes)
    return times, row


def _signal():
    from scipy import signal

    return signal


ANCHORS = ("torch", "cv2", "fftconvolve", "oaconvolve", "scipy.fft")
COLUMNS = ("auto", "gemm", "fft") + ANCHORS


def print_header():
    head = f"{'size':>5} {'k':>3} {'C':>2} {'K':>3} {'n':>4} " + " ".join(
        f"{c:>11}" for c in COLUMNS
    )
    print(head + f" {'x fastest':>9} {'chose':>5} {'work MiB':>8}")
    print("-" * len(head + " x fastest chose work MiB"))


def print_row(size, k, c, n_kernels, n, times, row):
    cells = " ".join(f"{times[c]:11.4f}" if c in times else f"{'-':>11}" for c in COLUMNS)
    anchors = [times[a] for a in ANCHORS if a in times]
    ratio = times["auto"] / min(anchors) if anchors else float("nan")
    print(
        f"{size:>5} {k:>3} {c:>2} {n_kernels:>3} {n:>4} {cells} {ratio:9.2f} "
        f"{row['chose']:>5} {row['memory']:8.1f}",
        flush=True,
    )
    return ratio


def run_grid(args):
    print_header()
    ratios = []
    for size in args.sizes:
        for k in args.kernel_sizes:
            if k > size:
                continue
            for c in args.channels:
                for n_kernels in args.n_kernels:
                    n = max(1, 2**16 // (size * size))
                    times, row = run_cell(n, c, size, n_kernels, k, args)
                    ratios.append(print_row(size, k, c, n_kernels, n, times, row))
    ratios = np.array(ratios)
    timed = ratios[~np.isnan(ratios)]  # cells where at least one anchor ran
    print(
        f"\ncells: {len(ratios)}, {len(timed)} with an anchor; auto / fastest anchor: "
        f"median {np.median(timed):.2f}, worst {timed.max():.2f}; cells <= 1.0: "
        f"{np.sum(timed <= 1.0)}, <= 1.5: {np.sum(timed <= 1.5)}"
    )


# --- 1-D rows ----------------------------------------------------------------------


def run_series(args):
    from skconv import choose_method, convolve

    print(
        f"\n1-D: K=32 kernels of 9, padding 'same', {THREADS} threads\n"
        f"{'length':>8} {'dil':>4} {'n':>5} {'auto':>9} {'gemm':>9} {'fft':>9} "
        f"{'torch':>9} {'oaconv':>9} {'x fastest':>9} {'chose':>5} {'work MiB':>8}"
    )
    rng = np.random.default_rng(0)
    for length in args.lengths:
        for dilation in SERIES_DILATIONS:
            span = 8 * dilation + 1
            if span > length:
                continue
            n = max(1, 2**20 // length)
            signals = rng.standard_normal((n, 1, length)).astype(np.float32)
            kernels = rng.standard_normal((32, 1, 9)).astype(np.float32)
            run = lambda m: convolve(  # noqa: E731
                signals, kernels, dilation=dilation, method=m, n_threads=THREADS, spatial_ndim=1
            )
            auto = run("auto")
            zero_inserted = np.zeros((32, 1, span), dtype=np.float32)
            zero_inserted[..., ::dilation] = kernels
            funcs = {
                "auto": lambda: run("auto"),
                "gemm": lambda: run("gemm"),
                "fft": lambda: run("fft"),
                "torch": lambda: torch_conv(signals, kernels, dilation),
                "oaconv": lambda: scipy_signal(signals, zero_inserted, _signal().oaconvolve),
            }
            warm = {}
            for name, func in funcs.items():
                result, warm[name] = timed_call(func)
                check_equal(name, result, auto)
            times = interleaved_best(funcs, warm, args.repeat)
            memory = traced_peak(lambda: run("auto"), auto.nbytes)
            ratio = times["auto"] / min(times["torch"], times["oaconv"])
            chose = choose_method((1, length), kernels.shape, dilation=dilation)
            print(
                f"{length:>8} {dilation:>4} {n:>5} {times['auto']:9.4f} {times['gemm']:9.4f} "
                f"{times['fft']:9.4f} {times['torch']:9.4f} {times['oaconv']:9.4f} "
                f"{ratio:9.2f} {chose:>5} {memory:8.1f}",
                flush=True,
            )


# --- resident memory ---------------------------------------------------------------

_MEMORY_CASES = {
    "convolve 1x2048x2048, 16 kernels 15x15": (
        "import numpy as np\n"
        "from skconv import convolve\n"
        "x = np.random.default_rng(0).standard_normal((1, 2048, 2048)).astype(np.float32)\n"
        "k = np.random.default_rng(1).standard_normal((16, 15, 15)).astype(np.float32)\n"
        "run = lambda: convolve(x, k, n_threads=2)\n"
    ),
    "ConvFeatures Gabor 31x31, pool_grid=4, 4x1024x1024": (
        "import numpy as np\n"
        "from skconv import ConvFeatures, GaborBank\n"
        "x = np.random.default_rng(0).standard_normal((4, 1024, 1024)).astype(np.float32)\n"
        "conv = ConvFeatures(bank=GaborBank(kernel_size=31), pool_grid=4, n_jobs=2).fit(x[:1])\n"
        "run = lambda: conv.transform(x)\n"
    ),
}

_MEMORY_PROBE = """
import json, resource, psutil
{setup}
before = psutil.Process().memory_info().rss
out = run()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({{"before": before, "peak": peak, "output": out.nbytes,
                   "input": x.nbytes}}))
"""


def run_memory():
    print(f"{'case':<52} {'input MiB':>9} {'output MiB':>10} {'working MiB':>11}")
    for name, setup in _MEMORY_CASES.items():
        code = _MEMORY_PROBE.format(setup=setup)
        result = json.loads(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )
        working = (result["peak"] - result["before"] - result["output"]) / 2**20
        print(
            f"{name:<52} {result['input'] / 2**20:9.1f} {result['output'] / 2**20:10.2f} "
            f"{working:11.1f}"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few cells only")
    parser.add_argument("--memory", action="store_true", help="resident-memory targets only")
    parser.add_argument("--series", action="store_true", help="the 1-D rows only")
    parser.add_argument("--repeat", type=int, default=5, help="interleaved timing rounds")
    parser.add_argument(
        "--max-gflop",
        type=float,
        default=60.0,
        help="skip direct methods above this many G multiply-adds",
    )
    parser.add_argument(
        "--max-cv2-pixels",
        type=float,
        default=2**26,
        help="skip cv2 above this many (image x kernel x channel) pixels",
    )
    parser.add_argument("--skip", nargs="*", default=[], help="anchors to leave out")
    parser.add_argument("--sizes", type=int, nargs="*", default=SIZES)
    parser.add_argument("--kernel-sizes", type=int, nargs="*", default=KERNEL_SIZES)
    parser.add_argument("--channels", type=int, nargs="*", default=CHANNELS)
    parser.add_argument("--n-kernels", type=int, nargs="*", default=N_KERNELS)
    args = parser.parse_args()
    args.lengths = SERIES_LENGTHS
    if args.quick:
        args.sizes, args.kernel_sizes, args.channels, args.n_kernels = (
            (64, 512),
            (3, 15),
            (1,),
            (16,),
        )
        args.lengths = (10_000,)
    import cv2
    import scipy
    import sklearn
    import torch

    import skconv

    torch.set_num_threads(THREADS)
    cv2.setNumThreads(THREADS)
    print(
        f"machine: {platform.machine()}, {THREADS} threads; numpy {np.__version__}, scipy "
        f"{scipy.__version__}, torch {torch.__version__}, opencv {cv2.__version__}, "
        f"scikit-learn {sklearn.__version__}, skconv {skconv.__version__}; times in seconds"
    )
    if args.memory:
        run_memory()
        return
    if not args.series:
        run_grid(args)
    run_series(args)


if __name__ == "__main__":
    main()
