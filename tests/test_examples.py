"""Every example and benchmark script runs (in its fast mode)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # subprocesses: python examples/... and benchmarks/...

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(script, tmp_path):
    result = subprocess.run(
        [sys.executable, str(script), "--fast"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip()


def run_benchmark(script, *args):
    """Run ``benchmarks/<script>`` with ``args``; its completed process."""
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_transform_benchmark_quick_mode():
    result = run_benchmark("bench_transform.py", "--quick", "--no-torch")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "W4 1-D" in result.stdout and "Scaling" in result.stdout


def test_memory_benchmark_quick_mode():
    result = run_benchmark("bench_memory.py", "--sizes", "3000", "--quick")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "numpy, batched" in result.stdout and "dask" in result.stdout


def test_series_benchmark_counts_mode():
    # Needs no aeon: times the compiled counts against numpy's (and checks them equal).
    pytest.importorskip("skconv.engine._stat_loops")
    result = run_benchmark("bench_series.py", "--counts")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "compiled" in result.stdout and len(result.stdout.splitlines()) == 6


def test_learned_benchmark_runs_on_a_few_images():
    pytest.importorskip("PIL")  # scikit-learn's sample photographs are JPEGs
    result = run_benchmark("bench_learned.py", "--n", "300", "--repeat", "1")
    assert result.returncode == 0, result.stderr
    assert "PatchBank(), triangle" in result.stdout and "photo patches" in result.stdout
    assert "one photo 3x427x640" in result.stdout


# MNIST as an .npz (x_train, y_train, x_test, y_test), from the environment.
MNIST = Path(os.environ.get("SKCONV_MNIST", "mnist.npz"))


@pytest.mark.skipif(not MNIST.is_file(), reason="set SKCONV_MNIST to an MNIST .npz file")
def test_mnist_benchmark_runs_on_a_subset():
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_mnist.py"),
            "--data",
            str(MNIST),
            "--train",
            "1000",
            "--only",
            "raw,gabor,svc,deskew",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "raw pixels" in result.stdout and "Gabor bank" in result.stdout
    assert "deskew | k-means 64 5x5, Gaussian-window L2 4x4 (SVC C=10)" in result.stdout


def _moments(image):
    ys, xs = np.mgrid[: image.shape[0], : image.shape[1]]
    total = image.sum()
    cy, cx = (ys * image).sum() / total, (xs * image).sum() / total
    return cy, cx, ((ys - cy) * (xs - cx) * image).sum() / total


def test_deskew_straightens_a_slanted_bar_and_centres_it():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from bench_mnist import deskew
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    image = np.zeros((28, 28))
    for y in range(4, 24):  # a bar slanted by one column every two rows
        image[y, 6 + y // 2 : 9 + y // 2] = 1.0
    assert abs(_moments(image)[2]) > 5
    out = deskew(image[None])[0]
    cy, cx, cov = _moments(out)
    assert abs(cov) < 0.5 and abs(cy - 13.5) < 0.5 and abs(cx - 13.5) < 0.5
    flat = deskew(np.stack([image, np.zeros((28, 28))]).reshape(2, -1))
    assert flat.shape == (2, 784)
    np.testing.assert_allclose(flat[0], out.ravel())
    assert not flat[1].any()  # an empty image stays empty
