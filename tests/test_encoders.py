"""The compiled encoder of learned banks: equal to numpy's passes, every mode and dtype."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

import skconv.engine.learned as learned
from skconv._patches import PatchTransform
from skconv.engine.learned import encode_numpy, make_response_plan

pytestmark = pytest.mark.skipif(
    learned.compiled_encode is None, reason="skconv.engine._encoders was not built"
)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 40),
    n_kernels=st.integers(1, 20),
    channels=st.integers(1, 3),
    size=st.integers(1, 4),
    normalise=st.booleans(),
    whiten=st.booleans(),
    nonlinearity=st.sampled_from([None, "relu", "triangle", "soft_threshold"]),
    dtype=st.sampled_from([np.float32, np.float64]),
    offset=st.sampled_from([0.0, 100.0]),
    seed=st.integers(0, 2**16),
)
def test_compiled_encoder_equals_numpys_passes(
    n, n_kernels, channels, size, normalise, whiten, nonlinearity, dtype, offset, seed
):
    rng = np.random.default_rng(seed)
    d = channels * size * size
    kernels = rng.standard_normal((n_kernels, channels, size, size))
    transform = None
    if normalise or whiten:
        basis = rng.standard_normal((d, d))
        transform = PatchTransform(
            norm_reg=0.1 if normalise else None,
            mean=rng.standard_normal(d) if whiten else None,
            whitening=basis @ basis.T / d if whiten else None,
        )
    plan = make_response_plan(
        kernels, transform, (size, size), dtype, with_norms=nonlinearity == "triangle"
    )
    # Patches with an offset: the variance must be computed centred.
    patches = (offset + rng.standard_normal((n, d))).astype(dtype)
    raw = (patches.astype(np.float64) @ plan.weights.astype(np.float64)).astype(dtype)
    got = learned.encode(raw, patches, plan, nonlinearity, 0.25)
    expected = encode_numpy(raw, patches, plan, nonlinearity, 0.25)
    assert got.dtype == expected.dtype == dtype and got.shape == (n, n_kernels)
    tolerance = 2e-3 if dtype == np.float32 else 1e-9
    scale = max(1.0, np.abs(expected).max())
    assert_allclose(got, expected, rtol=tolerance, atol=tolerance * scale)


def test_encoder_rejects_disagreeing_shapes():
    raw, patches = np.zeros((4, 3)), np.zeros((5, 2))
    vectors = np.zeros(3), np.zeros(3), np.zeros(3)
    with pytest.raises(ValueError, match="disagree"):
        learned.compiled_encode(raw, patches, np.zeros((4, 3)), 3, 0, False, 0.0, *vectors, 0, 0)
    with pytest.raises(ValueError, match="mode"):
        learned.compiled_encode(
            raw, np.zeros((4, 2)), np.zeros((4, 3)), 3, 0, False, 0.0, *vectors, 5, 0
        )
