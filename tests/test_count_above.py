"""The compiled counts of values above biases: equal to numpy's comparisons."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

count_above = pytest.importorskip("skconv.engine._count_above").count_above


def reference_counts(maps, biases):
    """``counts[k, b, s]``: values of ``maps[k, s]`` above ``biases[k, b]``, by numpy."""
    return (maps[:, None, :, :] > biases[:, :, None, None]).sum(axis=-1).astype(np.int32)


@settings(max_examples=60, deadline=None)
@given(
    n_kernels=st.integers(1, 5),
    m=st.integers(1, 6),
    width=st.integers(1, 70),
    n_biases=st.integers(1, 11),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_counts_equal_numpy(n_kernels, m, width, n_biases, dtype, seed):
    rng = np.random.default_rng(seed)
    # Few distinct values, so that many values equal a bias (not counted).
    maps = rng.integers(-3, 4, (n_kernels, m, width)).astype(dtype)
    biases = rng.integers(-3, 4, (n_kernels, n_biases)).astype(dtype)
    start = rng.integers(0, 5, (n_kernels, n_biases, m)).astype(np.int32)
    counts = start.copy()
    count_above(maps, biases, counts)
    assert_array_equal(counts, start + reference_counts(maps, biases))


def test_nan_and_inf_compare_as_numpy_does():
    maps = np.array([[[np.nan, np.inf, -np.inf, 0.0, 1.0]]], dtype=np.float32)
    biases = np.array([[0.0, np.nan, -np.inf, np.inf, 0.5]], dtype=np.float32)
    counts = np.zeros((1, 5, 1), np.int32)
    count_above(maps, biases, counts)
    assert_array_equal(counts, reference_counts(maps, biases))


def test_empty_runs_add_nothing():
    counts = np.ones((2, 3, 4), np.int32)
    count_above(np.zeros((2, 4, 0), np.float32), np.zeros((2, 3), np.float32), counts)
    assert_array_equal(counts, 1)


def test_disagreeing_shapes_are_rejected():
    with pytest.raises(ValueError, match="disagree"):
        count_above(np.zeros((2, 4, 5)), np.zeros((2, 3)), np.zeros((2, 3, 5), np.int32))


def test_mixed_dtypes_are_rejected():
    with pytest.raises((TypeError, ValueError), match="dtype|type"):
        count_above(
            np.zeros((2, 4, 5), np.float32), np.zeros((2, 3)), np.zeros((2, 3, 4), np.int32)
        )
