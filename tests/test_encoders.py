"""The compiled encoder of learned banks and its pooled loop: equal to numpy's passes."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis_settings import pooled_geometries, with_fixtures
from numpy.testing import assert_allclose

import skconv.engine.learned as learned
from skconv import ConvFeatures, PatchBank
from skconv._patches import PatchTransform
from skconv.engine.learned import encode_numpy, make_response_plan

pytestmark = pytest.mark.skipif(
    learned.compiled_encode is None, reason="skconv.engine._encoders was not built"
)

# The pooled loop's routes this CPU runs: 2 AVX-512, 1 AVX2, 0 BLAS then the encoder.
LEVELS = list(range(learned._encoders.columns_level() + 1)) if learned.compiled_pool else [0]


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
    # In float32 the compiled encoder takes the patch mean out of the columns
    # (raw - mean x column sums): on patches around 100 with unit contrast
    # that difference cancels about two of float32's seven digits (seen:
    # 3.7e-3 on one single-pixel patch, whitened, triangle).
    tolerance = 1e-9 if dtype == np.float64 else (2e-3 if offset == 0 else 2e-2)
    scale = max(1.0, np.abs(expected).max())
    assert_allclose(got, expected, rtol=tolerance, atol=tolerance * scale)


def test_compiled_encoder_on_a_single_pixel_patch_around_100():
    # The example hypothesis found beyond float32's 2e-3 (see above).
    test_compiled_encoder_equals_numpys_passes.hypothesis.inner_test(
        n=3,
        n_kernels=8,
        channels=1,
        size=1,
        normalise=True,
        whiten=True,
        nonlinearity="triangle",
        dtype=np.float32,
        offset=100.0,
        seed=4,
    )


def test_encoder_rejects_disagreeing_shapes():
    raw, patches = np.zeros((4, 3)), np.zeros((5, 2))
    vectors = np.zeros(3), np.zeros(3), np.zeros(3)
    with pytest.raises(ValueError, match="disagree"):
        learned.compiled_encode(raw, patches, np.zeros((4, 3)), 3, 0, False, 0.0, *vectors, 0, 0)
    with pytest.raises(ValueError, match="mode"):
        learned.compiled_encode(
            raw, np.zeros((4, 2)), np.zeros((4, 3)), 3, 0, False, 0.0, *vectors, 5, 0
        )


# The encoded path: gather, columns, encoder and pooling states in one loop.

FUSABLE_POOLINGS = ["max", "mean", "sum", "ppv", "l2", "mpv"]


def _routes(conv, X, monkeypatch):
    """Features by the encoded path and by the batches path (its reference), and the plan."""
    plan = conv.explain(X)
    encoded = conv.transform(X)
    with monkeypatch.context() as patch:
        patch.setattr(learned, "compiled_pool", None)
        reference = conv.transform(X)
    return plan, encoded, reference


@pytest.mark.skipif(learned.compiled_pool is None, reason="the pooled loop was not built")
@with_fixtures(60)
@given(
    geometry=pooled_geometries(max_side=20, max_channels=3, max_kernel=4),
    poolings=st.lists(st.sampled_from(FUSABLE_POOLINGS), min_size=1, max_size=3, unique=True),
    nonlinearity=st.sampled_from(["triangle", "soft_threshold", "relu", None]),
    normalize=st.booleans(),
    whiten=st.booleans(),
    dtype=st.sampled_from(["float32", "float64"]),
    level=st.sampled_from(LEVELS),
    n_images=st.sampled_from([1, 2, 7]),
    n_jobs=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_the_encoded_path_equals_the_batches_path(
    monkeypatch,
    geometry,
    poolings,
    nonlinearity,
    normalize,
    whiten,
    dtype,
    level,
    n_images,
    n_jobs,
    seed,
):
    # One value per patch normalises to zeros (PatchBank refuses it): every
    # feature is then rounding noise around 0, whose sign "ppv" counts.
    assume(not (normalize and geometry.kernel_size == 1 and geometry.channels == 1))
    # With fewer images than threads, the threads share each image's map rows.
    rng = np.random.default_rng(seed)
    fitted = rng.random((7, geometry.channels, geometry.height, geometry.width)) * 3 + 1
    X = fitted[:n_images]
    conv = ConvFeatures(
        PatchBank(
            n_kernels=int(rng.integers(1, 9)),
            kernel_size=geometry.kernel_size,
            n_patches=100,
            normalize=normalize,
            whiten=whiten,
            random_state=0,
        ),
        nonlinearity=nonlinearity,
        pooling=tuple(poolings),
        dtype=dtype,
        n_jobs=n_jobs,
        **geometry.options,
    ).fit(fitted)
    previous = learned._encoders._limit_columns_level(level)
    try:
        plan, encoded, reference = _routes(conv, X, monkeypatch)
    finally:
        learned._encoders._limit_columns_level(previous)
    assert [part.path for _, _, part in plan.parts] == ["encoded"]
    assert encoded.dtype == reference.dtype == dtype
    # (whitening the covariance of a few patches of small images amplifies
    # the two routes' different roundings: 2.3e-9 of the largest feature
    # measured in float64, 7e-5 in float32)
    tolerance = 2e-3 if dtype == "float32" else 1e-7
    scale = max(1.0, np.abs(reference).max())
    assert_allclose(encoded, reference, rtol=tolerance, atol=tolerance * scale)


@pytest.mark.skipif(learned.compiled_pool is None, reason="the pooled loop was not built")
@pytest.mark.parametrize(
    "options",
    [
        {"pooling": "lspv"},  # a run state: not one the loop keeps
        {"pooling": ("max", "mipv")},  # position offsets: idem
        {"pooling": "mean", "pool_sigma": 1.0},  # Gaussian windows
        {"nonlinearity": "tanh"},  # not a relu: the loop does not apply it
    ],
)
def test_what_the_loop_cannot_pool_takes_the_batches_path(options, monkeypatch):
    X = np.random.default_rng(0).random((6, 12, 12))
    conv = ConvFeatures(
        PatchBank(n_kernels=4, kernel_size=3, n_patches=100, random_state=0), **options
    )
    conv.fit(X)
    plan = conv.explain(X)
    assert all(part.path != "encoded" for _, _, part in plan.parts)
    np.testing.assert_array_equal(conv.transform(X), _routes(conv, X, monkeypatch)[2])


@pytest.mark.skipif(learned.compiled_pool is None, reason="the pooled loop was not built")
def test_the_pooled_loop_rejects_inconsistent_arguments():
    rng = np.random.default_rng(0)
    padded = rng.random((2, 1, 8, 8))
    weights = rng.random((9, 5))  # 3x3 taps, 4 kernels and the patch sums
    vectors = np.zeros(4), np.zeros(4), np.zeros(4)
    regions, bounds = np.zeros(6, dtype=np.intp), np.array([0, 6], dtype=np.intp)
    kinds = np.array([0], dtype=np.int32)

    def call(**changes):
        arguments = dict(
            padded=padded,
            weights=weights,
            kernel_shape=(3, 3),
            strides=(1, 1),
            dilations=(1, 1),
            out_shape=(6, 6),
            n_kernels=4,
            n_whitened=0,
            normalise=True,
            norm_reg=0.1,
            column_sums=vectors[0],
            bias=vectors[1],
            centre_norms=vectors[2],
            mode=1,
            threshold=0.0,
            rectify=False,
            row_regions=regions,
            col_bounds=bounds,
            kinds=kinds,
            states=np.full((2, 1, 1, 4), -np.inf),
            map_rows=None,
        )
        arguments.update(changes)
        learned.compiled_pool(*arguments.values())
        return arguments["states"]

    assert np.isfinite(call()).all()
    for changes, match in [
        ({"kernel_shape": (2, 2)}, "rows disagree"),
        ({"out_shape": (7, 6)}, "outside the padded"),
        ({"n_kernels": 3}, "columns and the kernels"),
        ({"states": np.zeros((2, 1, 1, 3))}, r"\(B, S, G, K\)"),
        ({"col_bounds": np.array([0, 5], dtype=np.intp)}, "cover the maps"),
        ({"row_regions": np.array([0, 1, 0, 0, 0, 0], dtype=np.intp)}, "out of order"),
        ({"kinds": np.array([7], dtype=np.int32)}, "unknown state"),
        ({"mode": 4}, "mode"),
        ({"map_rows": (3, 3)}, "map_rows"),
        ({"map_rows": (0, 7)}, "map_rows"),
    ]:
        with pytest.raises(ValueError, match=match):
            call(**changes)
    # Rows folded in two shares and merged: the whole maps' maxima.
    whole = call()
    top, bottom = call(map_rows=(0, 4)), call(map_rows=(4, 6))
    assert_allclose(np.maximum(top, bottom), whole)


@pytest.mark.skipif(learned.compiled_pool is None, reason="the pooled loop was not built")
def test_blocks_hold_whole_rows_with_the_least_waste():
    from skconv.engine._encoders import BLOCK_POSITIONS, COLUMN_LANES, rows_per_block

    assert COLUMN_LANES == 48
    assert rows_per_block(28, 28) == 5  # 140 positions: three blocks of 48 lanes, 4 wasted
    assert rows_per_block(24, 24) == 2  # 48
    assert rows_per_block(10, 300) == 1  # one row, however long
    for oh, ow in [(5, 7), (30, 33), (64, 64), (3, 100)]:
        rows = rows_per_block(oh, ow)
        assert 1 <= rows <= oh and (rows == 1 or rows * ow <= BLOCK_POSITIONS)


@pytest.mark.skipif(learned.compiled_pool is None, reason="the pooled loop was not built")
@pytest.mark.parametrize("grid", [(2, 3), (1, 6)])  # regions of 12-13 columns, of 5-6
@pytest.mark.parametrize("nonlinearity", ["triangle", "relu", None])
@pytest.mark.parametrize("pooling", ["max", ("max", "mean")])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_region_maxima_of_many_kernels_equal_the_batches_path(
    grid, nonlinearity, pooling, dtype, monkeypatch
):
    # The loop reduces the maxima of regions of 8 columns or more eight
    # kernels at a time: 19 kernels are two such groups and three alone.
    rng = np.random.default_rng(1)
    X = rng.random((5, 26, 35)) * 3 + 1
    conv = ConvFeatures(
        PatchBank(n_kernels=19, kernel_size=3, n_patches=300, random_state=0),
        nonlinearity=nonlinearity,
        pooling=pooling,
        pool_grid=grid,
        dtype=dtype,
    ).fit(X)
    plan, encoded, reference = _routes(conv, X, monkeypatch)
    assert [part.path for _, _, part in plan.parts] == ["encoded"]
    tolerance = 1e-4 if dtype == "float32" else 1e-10
    assert_allclose(encoded, reference, rtol=tolerance, atol=tolerance)
