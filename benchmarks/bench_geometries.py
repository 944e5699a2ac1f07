"""``convolve`` on the geometries users bring, against torch, OpenCV and scipy's FFT.

``bench_scale.py``'s grid is square images, stride 1, 1 or 3 channels and
float32. This benchmark draws geometries at random from wider ranges (seeded,
so every run draws the same ones): non-square images of 16 to 480 pixels a
side, 1 to 16 channels, 8 to 128 kernels of 3x3 to 21x21, strides 1 and 2,
dilations 1 and 2, float32 and float64, and adds the three geometries that
motivated it. Each is run as a user would with each library, on 2 threads:

* skconv ``convolve(images, kernels, stride=s, padding=p, dilation=d)`` with
  ``p = d * (k - 1) // 2`` (``method="auto"``);
* ``torch.nn.functional.conv2d`` with the same stride, padding and dilation;
* the batched ``scipy.fft`` recipe (rfft2 of the images and of the flipped,
  zero-dilated kernels, channel sum in the frequency domain, irfft2), cropped
  and subsampled by the stride;
* OpenCV ``cv2.filter2D`` per (image, kernel, channel) with the zero-dilated
  kernel, subsampled by the stride (skipped above 2e9 filtered pixel-taps).

Every output is checked equal to torch's (relative error below 1e-3 of the
largest value). The table gives each time (best of interleaved rounds, as in
``bench_scale.py``), the ratio of skconv to the fastest anchor, and the path
and method skconv's planner chose.

torch and OpenCV are benchmark-only dependencies:

    pip install torch==2.13.0 opencv-python-headless
    python benchmarks/bench_geometries.py               (about a minute)
    python benchmarks/bench_geometries.py --cells 10 --seed 1
"""

import argparse
import time

import numpy as np
from bench_scale import THREADS, check_equal, interleaved_best, torch_conv

SIDES = (16, 24, 40, 64, 72, 128, 200, 480)
CHANNELS = (1, 2, 3, 4, 8, 16)
N_KERNELS = (8, 16, 32, 64, 128)
KERNEL_SIZES = (3, 5, 7, 11, 21)
# (n, C, H, W, K, k, stride, dilation, dtype): the geometries that motivated it.
MOTIVATING = [
    (128, 4, 40, 128, 8, 5, 2, 1, "float32"),
    (14, 16, 72, 200, 24, 5, 1, 1, "float32"),
    (2, 2, 480, 56, 128, 21, 2, 1, "float32"),
]


def draw_geometries(count, seed):
    """``count`` geometries from the ranges, with about 2**16 to 2**18 input pixels each."""
    rng = np.random.default_rng(seed)
    cells = []
    while len(cells) < count:
        h, w = (int(v) for v in rng.choice(SIDES, 2))
        k = int(rng.choice(KERNEL_SIZES))
        dilation = int(rng.choice([1, 2]))
        if dilation * (k - 1) + 1 > min(h, w):
            continue
        c, n_kernels = int(rng.choice(CHANNELS)), int(rng.choice(N_KERNELS))
        n = max(1, int(2 ** rng.uniform(16, 18)) // (h * w * c))
        stride = int(rng.choice([1, 2]))
        dtype = str(rng.choice(["float32", "float64"]))
        cells.append((n, c, h, w, n_kernels, k, stride, dilation, dtype))
    return cells


def dilated(kernels, dilation):
    """Kernels with ``dilation - 1`` zeros between taps."""
    if dilation == 1:
        return kernels
    k = kernels.shape[-1]
    span = dilation * (k - 1) + 1
    out = np.zeros((*kernels.shape[:-2], span, span), dtype=kernels.dtype)
    out[..., ::dilation, ::dilation] = kernels
    return out


def scipy_recipe(images, kernels, stride, dilation):
    from scipy import fft

    taps = dilated(kernels, dilation)
    span = taps.shape[-1]
    h, w = images.shape[-2:]
    shape = (fft.next_fast_len(h + span - 1, True), fft.next_fast_len(w + span - 1, True))
    image_spectra = fft.rfft2(images, s=shape, workers=THREADS)
    kernel_spectra = fft.rfft2(taps[..., ::-1, ::-1], s=shape, workers=THREADS)
    product = np.einsum("ncyx,kcyx->nkyx", image_spectra, kernel_spectra)
    full = fft.irfft2(product, s=shape, workers=THREADS)
    half = span // 2
    return full[..., half : half + h : stride, half : half + w : stride]


def cv2_filter(images, kernels, stride, dilation):
    import cv2

    taps = dilated(kernels, dilation)
    n, c = images.shape[:2]
    out = np.zeros((n, len(kernels), *images.shape[2:]), dtype=images.dtype)
    for i in range(n):
        for k in range(len(kernels)):
            for ch in range(c):
                out[i, k] += cv2.filter2D(
                    images[i, ch], -1, taps[k, ch], borderType=cv2.BORDER_CONSTANT
                )
    return out[..., ::stride, ::stride]


def run_cell(cell, repeat):
    from skconv import choose_method, convolve
    from skconv.engine.core import make_geometry
    from skconv.engine.features import PoolingSpec
    from skconv.engine.planner import plan_conv

    n, c, h, w, n_kernels, k, stride, dilation, dtype = cell
    rng = np.random.default_rng(0)
    images = rng.standard_normal((n, c, h, w)).astype(dtype)
    kernels = rng.standard_normal((n_kernels, c, k, k)).astype(dtype)
    padding = dilation * (k - 1) // 2
    funcs = {
        "skconv": lambda: convolve(
            images, kernels, stride=stride, padding=padding, dilation=dilation, n_threads=THREADS
        ),
        "torch": lambda: torch_conv(images, kernels, dilation, stride, padding),
        "scipy": lambda: scipy_recipe(images, kernels, stride, dilation),
    }
    if n * n_kernels * c * h * w * (dilation * (k - 1) + 1) ** 2 <= 2e9:
        funcs["cv2"] = lambda: cv2_filter(images, kernels, stride, dilation)
    warm, reference = {}, None
    for name, func in funcs.items():
        start = time.perf_counter()
        result = func()
        warm[name] = time.perf_counter() - start
        if name == "skconv":
            ours = result
        elif name == "torch":
            reference = result
            check_equal("skconv", ours, reference, against="torch")
        else:
            check_equal(name, result, reference, against="torch")
    best = interleaved_best(funcs, warm, repeat)
    geometry = make_geometry(
        (c, h, w), (c, k, k), stride=stride, padding=padding, dilation=dilation
    )
    method = choose_method(
        (c, h, w),
        kernels.shape,
        stride=stride,
        padding=padding,
        dilation=dilation,
        dtype=dtype,
        n_samples=n,  # as convolve decides: its kernel spectra serve these n images
    )
    plan = plan_conv(
        n, geometry, n_kernels, np.dtype(dtype), PoolingSpec(), method=method, n_threads=THREADS
    )
    return best, f"{plan.path}/{plan.method}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=40, help="random geometries")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(THREADS)
    cells = MOTIVATING + draw_geometries(args.cells, args.seed)
    print(
        f"{len(cells)} geometries, {THREADS} threads, best of interleaved rounds (ms); "
        "ratio = skconv / fastest anchor"
    )
    header = (
        f"{'n':>4} {'C':>3} {'H':>4} {'W':>4} {'K':>4} {'k':>3} {'s':>2} {'d':>2} {'dtype':>7} "
        f"{'skconv':>9} {'torch':>9} {'scipy':>9} {'cv2':>9} {'ratio':>6}  plan"
    )
    print(header)
    ratios = []
    for cell in cells:
        best, plan = run_cell(cell, args.repeat)
        anchors = min(v for name, v in best.items() if name != "skconv")
        ratio = best["skconv"] / anchors
        ratios.append(ratio)
        times = " ".join(
            f"{best[name] * 1e3:>9.2f}" if name in best else f"{'-':>9}"
            for name in ("skconv", "torch", "scipy", "cv2")
        )
        n, c, h, w, n_kernels, k, stride, dilation, dtype = cell
        print(
            f"{n:>4} {c:>3} {h:>4} {w:>4} {n_kernels:>4} {k:>3} {stride:>2} {dilation:>2} "
            f"{dtype:>7} {times} {ratio:>6.2f}  {plan}",
            flush=True,
        )
    ratios = np.array(ratios)
    print(
        f"median ratio {np.median(ratios):.2f}, worst {ratios.max():.2f}, "
        f"{np.mean(ratios <= 1.5):.0%} of cells within 1.5x, {np.mean(ratios <= 1.0):.0%} "
        "at or below 1.0x"
    )


if __name__ == "__main__":
    main()
