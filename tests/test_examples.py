"""Every example and benchmark script runs (in its fast mode)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(script, tmp_path):
    result = subprocess.run(
        [sys.executable, str(script), "--fast"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip()


def test_transform_benchmark_quick_mode():
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_transform.py"), "--quick", "--no-torch"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "W4 1-D" in result.stdout and "Scaling" in result.stdout


def test_memory_benchmark_quick_mode():
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_memory.py"), "--sizes", "3000", "--quick"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "numpy, batched" in result.stdout and "dask" in result.stdout


MNIST = ROOT.parent / "shared" / "data" / "mnist.npz"


@pytest.mark.skipif(not MNIST.exists(), reason="needs ../shared/data/mnist.npz")
def test_mnist_benchmark_runs_on_a_subset():
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_mnist.py"), "--data", str(MNIST),
         "--train", "1000", "--only", "raw,gabor"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "raw pixels" in result.stdout and "Gabor bank" in result.stdout
