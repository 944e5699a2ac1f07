"""The optional compiled loops: built where CI expects them, and a warning where they are not.

``SKCONV_EXPECT_COMPILED=0`` (CI's build without a C compiler) turns the
first test around: there the loops must be missing, not stale copies of an
earlier build.
"""

import os
import warnings

import numpy as np
import pytest

import skconv
import skconv.engine.compiled as compiled
import skconv.engine.core as engine
import skconv.engine.series as series_path
from skconv import ConvFeatures, SlowPathWarning, convolve, make_minirocket

EXPECT_COMPILED = os.environ.get("SKCONV_EXPECT_COMPILED", "1") != "0"


def test_the_compiled_loops_are_built_exactly_when_expected():
    built = compiled.status()
    assert set(built) == {"_direct", "_stat_loops", "_encoders"}
    expected = {name: EXPECT_COMPILED for name in built}
    assert built == expected, (
        "reinstall skconv with a C compiler (pip install -e .)" if EXPECT_COMPILED else built
    )


def test_show_versions_names_each_loop_and_its_state(capsys):
    skconv.show_versions()
    out = capsys.readouterr().out
    for name, built in compiled.status().items():
        line = next(row for row in out.splitlines() if row.strip().startswith(f"{name}:"))
        assert ("NOT BUILT" in line) == (not built)
    assert "numpy:" in out and "scikit-learn:" in out and "num_threads" in out
    openmp = next(row for row in out.splitlines() if row.strip().startswith("OpenMP:"))
    encoders = compiled.load("_encoders")
    assert openmp.strip().startswith("OpenMP: yes") == bool(encoders and encoders.OPENMP)


@pytest.fixture
def without_loops(monkeypatch):
    """skconv as built without a C compiler, with the one-time warnings not yet given."""
    monkeypatch.setattr(compiled, "_warned", set())
    monkeypatch.setattr(engine, "correlate_batch_last", None)
    monkeypatch.setattr(engine, "max_pool_batch_last", None)
    monkeypatch.setattr(series_path, "compiled_count_above", None)
    import skconv.engine.gemm as gemm
    import skconv.engine.learned as learned

    monkeypatch.setattr(learned, "compiled_encode", None)
    monkeypatch.setattr(learned, "compiled_pool", None)
    monkeypatch.setattr(gemm, "correlate_windows", None)


def test_a_path_that_would_use_a_missing_loop_warns_once(without_loops):
    rng = np.random.RandomState(0)
    images = rng.rand(64, 12, 12).astype(np.float32)
    conv = ConvFeatures(image_shape=(12, 12))
    with pytest.warns(SlowPathWarning, match=r"skconv\.engine\._direct .*show_versions") as record:
        first = conv.fit(images.reshape(64, -1)).transform(images.reshape(64, -1))
    assert record[0].filename == __file__  # points at the user's line
    with warnings.catch_warnings():
        warnings.simplefilter("error", SlowPathWarning)
        second = conv.transform(images.reshape(64, -1))  # once per process
    np.testing.assert_array_equal(first, second)


def test_the_series_path_warns_without_its_counts(without_loops):
    X = np.random.RandomState(0).randn(20, 60)
    with pytest.warns(SlowPathWarning, match=r"skconv\.engine\._stat_loops"):
        make_minirocket(n_features=84, random_state=0).fit_transform(X)


def test_learned_banks_warn_without_their_encoder_and_give_the_same_features(without_loops):
    from sklearn.datasets import load_digits

    from skconv import PatchBank

    X = load_digits().data[:60]
    conv = ConvFeatures(
        PatchBank(n_kernels=8, kernel_size=3, n_patches=500, random_state=0),
        image_shape=(8, 8),
        nonlinearity="triangle",
    ).fit(X)
    with pytest.warns(SlowPathWarning, match=r"skconv\.engine\._encoders"):
        slow = conv.transform(X)
    import skconv.engine.learned as learned

    built = getattr(learned._encoders, "encode_patches", None)
    if built is not None:  # the compiled loop gives the same features
        learned.compiled_encode = built
        np.testing.assert_allclose(conv.transform(X), slow, rtol=1e-9, atol=1e-12)


def test_float64_work_that_never_uses_a_loop_does_not_warn(without_loops):
    with warnings.catch_warnings():
        warnings.simplefilter("error", SlowPathWarning)
        convolve(np.random.RandomState(0).rand(2, 16, 16), np.ones((3, 3, 3)))
