"""GEMM and FFT methods, tiling and method choice against independent references."""

import pickle

import numpy as np
import pytest
import scipy.fft
import sklearn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from reference import reference_correlate
from test_engine import assert_matches_reference, conv_problems, convolve_problem

import skconv.engine.costs as skconv_methods
import skconv.engine.features as skconv_features
import skconv.engine.planner as skconv_planner
import skconv.engine.tiled as skconv_tiled
from skconv import choose_method, convolve
from skconv.engine import gemm as skconv_gemm
from skconv.engine.cache import ByteBoundedCache
from skconv.engine.core import INDEX_CACHE, make_geometry, patch_indices
from skconv.engine.costs import fft_tiling, gemm_tiling
from skconv.engine.fft import KernelSpectra

# working_memory in MiB: a few KiB forces many tiles per image; 1024 is the default.
BUDGETS = st.sampled_from([0.004, 0.05, 1024])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_problems(), st.sampled_from(["gemm", "fft", "auto"]), BUDGETS)
def test_every_method_matches_the_scipy_reference(problem, method, budget):
    with sklearn.config_context(working_memory=budget):
        result = convolve_problem(problem, method=method)
    assert result.dtype == problem["images"].dtype
    assert_matches_reference(problem, result)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_problems(), st.sampled_from([1, 10]), st.booleans(), BUDGETS)
def test_fft_matches_the_reference_however_its_maps_go_back_to_space(
    problem, channel_factor, in_place, budget
):
    # Many channels take the channel sum as one GEMM per frequency; the maps go
    # back to space in scipy's result or, with numpy >= 2.0, in place in a
    # buffer of the pool (every tile's maps, whatever their size, when forced).
    from unittest import mock

    import skconv.engine.fft as skconv_fft

    problem = dict(problem)
    rng = np.random.default_rng(0)
    for name in ("images", "kernels"):
        array = problem[name]
        tiled = np.concatenate([array] * channel_factor, axis=1)
        problem[name] = (tiled + rng.standard_normal(tiled.shape)).astype(array.dtype)
    with (
        mock.patch.object(skconv_fft, "IN_PLACE_BYTES", 0 if in_place else 1 << 60),
        sklearn.config_context(working_memory=budget),
    ):
        result = convolve_problem(problem, method="fft")
    assert_matches_reference(problem, result)


@pytest.mark.parametrize("method", ["gemm", "fft"])
@pytest.mark.parametrize(
    "shape, kshape, kwargs",
    [
        ((2, 3, 45, 38), (4, 3, 7, 5), dict(stride=(2, 3), padding="same")),
        ((1, 1, 64, 70), (3, 1, 9, 9), dict(dilation=2, padding="full", padding_mode="reflect")),
        ((2, 2, 1, 300), (5, 2, 1, 9), dict(dilation=(1, 7), padding_mode="wrap")),
        ((1, 1, 33, 33), (2, 1, 15, 15), dict(padding=3, padding_mode="symmetric")),
        # more than 8 channels: the FFT sums them with one GEMM per frequency
        ((3, 12, 30, 26), (5, 12, 7, 7), dict(stride=2, padding="same")),
    ],
)
def test_large_images_in_many_tiles_match_the_reference(method, shape, kshape, kwargs):
    rng = np.random.default_rng(0)
    images = rng.standard_normal(shape)
    kernels = rng.standard_normal(kshape)
    geometry = make_geometry(
        shape[1:],
        kshape[1:],
        stride=kwargs.get("stride", 1),
        padding=kwargs.get("padding", "same"),
        dilation=kwargs.get("dilation", 1),
    )
    expected = reference_correlate(
        images,
        kernels,
        geometry.stride,
        geometry.pads,
        geometry.dilation,
        kwargs.get("padding_mode", "constant"),
    )
    for threads in (1, 2):
        with sklearn.config_context(working_memory=0.01):
            result = convolve(images, kernels, method=method, n_threads=threads, **kwargs)
        assert_allclose(result, expected, atol=1e-9)


def test_float32_fft_error_is_documented_bound():
    """float32 FFT maps stay within 1e-5 of the largest output value (docs say so)."""
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 1, (2, 1, 300, 300)).astype(np.float32)
    kernels = rng.standard_normal((8, 1, 31, 31)).astype(np.float32)
    exact = convolve(images.astype(np.float64), kernels.astype(np.float64), method="gemm")
    result = convolve(images, kernels, method="fft")
    assert result.dtype == np.float32
    assert np.abs(result - exact).max() / np.abs(exact).max() < 1e-5


@pytest.mark.parametrize(
    "sample, kernels, expected",
    [
        ((1, 28, 28), (64, 1, 5, 5), "gemm"),
        ((3, 32, 32), (256, 3, 5, 5), "gemm"),
        ((1, 1000), (256, 1, 9), "gemm"),
        ((1, 512, 512), (16, 1, 31, 31), "fft"),
        ((1, 1024, 1024), (16, 1, 63, 63), "fft"),
        ((3, 256, 256), (16, 3, 21, 21), "fft"),
    ],
)
def test_auto_picks_gemm_for_small_kernels_and_fft_for_large(sample, kernels, expected):
    assert choose_method(sample, kernels) == expected


def test_a_large_stride_favours_gemm():
    # FFT computes every position then subsamples; GEMM only the strided ones.
    assert choose_method((1, 512, 512), (16, 1, 31, 31)) == "fft"
    assert choose_method((1, 512, 512), (16, 1, 31, 31), stride=8) == "gemm"


def test_convolve_rejects_unknown_methods():
    with pytest.raises(ValueError, match="method must be one of"):
        convolve(np.ones((1, 5, 5)), np.ones((1, 3, 3)), method="fast")


def test_gemm_tiles_fit_the_budget_and_cover_the_output():
    geometry = make_geometry((1, 2048, 2048), (1, 15, 15))
    for budget in (1 << 16, 1 << 20, 1 << 30):
        tiling = gemm_tiling(geometry, 16, 4, budget)
        th, tw = tiling.tile_shape
        assert th * tw * (225 + 16) * 4 <= max(budget, (225 + 16) * 4)
        rows = [b - a for a, b in tiling.row_ranges]
        cols = [b - a for a, b in tiling.col_ranges]
        assert sum(rows) == 2048 and sum(cols) == 2048
        assert max(rows) - min(rows) <= 1 and max(cols) - min(cols) <= 1


def test_fft_tiles_do_not_grow_with_the_image():
    shapes = []
    for size in (1024, 2048, 4096):
        geometry = make_geometry((1, size, size), (1, 15, 15))
        tiling, _ = fft_tiling(geometry, 16, 4, 64 << 20)
        shapes.append(tiling.window_shape)
    assert shapes[0] == shapes[1] == shapes[2]


def test_patch_index_cache_is_bounded_in_bytes_and_int32():
    indices = patch_indices(make_geometry((3, 40, 40), (3, 5, 5)))
    assert indices.dtype == np.int32
    assert not indices.flags.writeable
    assert INDEX_CACHE.nbytes <= INDEX_CACHE.max_bytes
    cache = ByteBoundedCache(max_bytes=3000)
    for key in range(10):
        cache.get(key, lambda: np.zeros(100))
    assert cache.nbytes <= 3000 and cache.keys() == [7, 8, 9]
    assert cache.get("huge", lambda: np.zeros(1000)).shape == (1000,)
    assert "huge" not in cache.keys()


def test_kernel_spectra_pickle_without_their_cache():
    spectra = KernelSpectra(np.ones((2, 1, 3, 3)), (2, 2))
    spectra.get((8, 8), np.float32)
    clone = pickle.loads(pickle.dumps(spectra))
    assert clone.kernels.shape == (2, 1, 5, 5)
    assert_allclose(clone.get((8, 8), np.float32), spectra.get((8, 8), np.float32))


@pytest.mark.parametrize("layout", ["get", "by_frequency"])
def test_kernel_spectra_live_in_the_buffer_pool_and_go_back_to_it(layout):
    # A bank transformed again (the next call, other kernels) writes into
    # memory the process has mapped already, not into fresh pages.
    from skconv.engine.cache import BUFFERS

    BUFFERS.clear()
    rng = np.random.default_rng(0)
    spectra = KernelSpectra(rng.standard_normal((40, 3, 5, 5)), (1, 1))
    expected = np.conj(scipy.fft.rfftn(spectra.kernels, s=(16, 16), axes=(-2, -1)))
    if layout == "by_frequency":
        expected = expected.reshape(40, 3, -1).transpose(2, 1, 0)
    result = getattr(spectra, layout)((16, 16), np.float64)
    assert_allclose(result, expected)
    address = result.__array_interface__["data"][0]
    shape, dtype = result.shape, result.dtype
    del result
    spectra.clear()  # (by_frequency holds two buffers of one size: the spectra laid out twice)
    taken = [BUFFERS.take(shape, dtype) for _ in range(2)]
    assert address in [array.__array_interface__["data"][0] for array in taken]


def test_kernel_spectra_someone_holds_stay_out_of_the_pool():
    from skconv.engine.cache import BUFFERS

    BUFFERS.clear()
    rng = np.random.default_rng(0)
    spectra = KernelSpectra(rng.standard_normal((40, 3, 5, 5)), (1, 1))
    kept = spectra.get((16, 16), np.float64)[:2]
    expected = kept.copy()
    del spectra
    reused = BUFFERS.take((40, 3, 16, 9), np.complex128)
    assert not np.shares_memory(reused, kept)
    reused[...] = 0
    assert_allclose(kept, expected)


def test_kernel_spectra_of_a_large_bank_are_transformed_by_parts():
    rng = np.random.default_rng(0)
    spectra = KernelSpectra(rng.standard_normal((37, 2, 4, 6)), (2, 1))
    spectra.chunk_bytes = 3000  # a few kernels at a time
    expected = np.conj(scipy.fft.rfftn(spectra.kernels, s=(18, 20), axes=(-2, -1)))
    assert_allclose(spectra.get((18, 20), np.float64), expected)
    one_row = KernelSpectra(rng.standard_normal((9, 2, 1, 5)), (1, 3))
    one_row.chunk_bytes = 100
    expected = np.conj(scipy.fft.rfftn(one_row.kernels, s=(30,), axes=(-1,)))
    assert_allclose(one_row.get((1, 30), np.float32), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layout", ["get", "by_frequency"])
def test_kernel_spectra_asked_by_several_threads_at_once_are_computed_once(monkeypatch, layout):
    # The threads of one call all build their FFT workspaces at once: one
    # of them computes the spectra, the others wait for them.
    import threading
    import time

    import scipy.fft

    calls, rfftn = [], scipy.fft.rfftn
    started = threading.Barrier(3)

    def counted(*args, **kwargs):
        calls.append(1)
        time.sleep(0.05)  # (as a large bank's transform takes)
        return rfftn(*args, **kwargs)

    monkeypatch.setattr(scipy.fft, "rfftn", counted)
    rng = np.random.default_rng(0)
    spectra = KernelSpectra(rng.standard_normal((4, 2, 5, 5)), (1, 1))
    results = []

    def ask():
        started.wait()
        results.append(getattr(spectra, layout)((16, 16), np.float64))

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert all(result is results[0] for result in results)
    expected = np.conj(rfftn(spectra.kernels, s=(16, 16), axes=(-2, -1)))
    if layout == "by_frequency":
        expected = expected.reshape(4, 2, -1).transpose(2, 1, 0)
    assert_allclose(results[0], expected)


def test_gemm_tiling_splits_a_lone_image_between_threads():
    large = make_geometry((1, 128, 128), (1, 3, 3))
    assert gemm_tiling(large, 16, 4, 1 << 30).n_tiles == 1
    assert gemm_tiling(large, 16, 4, 1 << 30, min_tiles=2).n_tiles >= 2
    assert gemm_tiling(large, 16, 4, 1 << 30, min_tiles=3).n_tiles >= 3
    small = make_geometry((1, 32, 32), (1, 3, 3))  # below MIN_SPLIT_POSITIONS
    assert gemm_tiling(small, 16, 4, 1 << 30, min_tiles=2).n_tiles == 1


@pytest.mark.parametrize("n", [1, 3, 8])
@pytest.mark.parametrize("threads", [2, 3])
def test_work_shared_between_threads_matches_the_reference(monkeypatch, n, threads):
    # Every thread gets work even for tiny inputs, and groups of several
    # images write their maps straight into the output.
    monkeypatch.setattr(skconv_planner, "MIN_THREAD_SECONDS", 0.0)
    monkeypatch.setattr(skconv_methods, "MIN_SPLIT_POSITIONS", 16)
    monkeypatch.setattr(skconv_tiled, "_DIRECT_MIN_POSITIONS", 16)
    rng = np.random.default_rng(n)
    images = rng.standard_normal((n, 2, 20, 23)).astype(np.float32)
    kernels = rng.standard_normal((5, 2, 3, 3)).astype(np.float32)
    expected = reference_correlate(images, kernels, (1, 1), ((1, 1), (1, 1)), (1, 1), "reflect")
    result = convolve(images, kernels, method="gemm", n_threads=threads, padding_mode="reflect")
    assert_allclose(result, expected, rtol=1e-4, atol=1e-4)


def test_compiled_loops_write_small_tiles_of_many_images_in_place(monkeypatch):
    # 8x8 maps of groups of images: a compiled loop writes them straight into
    # the output (a GEMM per image would not pay; its wide GEMM's maps are
    # copied), with the same result.
    seen = []
    original = skconv_gemm.GemmTiles.compute

    def spy(self, images, row_read, col_read, out=None):
        seen.append((self.method, images.shape[0], out is not None))
        return original(self, images, row_read, col_read, out=out)

    monkeypatch.setattr(skconv_gemm.GemmTiles, "compute", spy)
    rng = np.random.default_rng(0)
    images = rng.standard_normal((600, 1, 16, 16)).astype(np.float32)
    kernels = rng.standard_normal((32, 1, 5, 5)).astype(np.float32)
    result = convolve(images, kernels, stride=2, padding=2, n_threads=2)
    compiled = [(m, out) for method, m, out in seen if method in ("direct", "planes")]
    if not compiled:
        pytest.skip("no compiled loop took these tiles on this machine")
    assert all(out for _, out in compiled) and max(m for m, _ in compiled) > 1
    expected = reference_correlate(images, kernels, (2, 2), ((2, 2), (2, 2)), (1, 1))
    assert_allclose(result, expected, rtol=1e-4, atol=1e-4)


def test_small_work_runs_on_one_thread(monkeypatch):
    # The threads the plan gives the work (the tiled driver's workers, or the
    # "planes" loop's own threads when it is built with OpenMP).
    used = []
    original = skconv_features.plan_conv

    def spy(*args, **kwargs):
        plan = original(*args, **kwargs)
        used.append(plan.n_threads)
        return plan

    monkeypatch.setattr(skconv_features, "plan_conv", spy)
    rng = np.random.default_rng(0)
    kernels = rng.standard_normal((4, 1, 3, 3))
    convolve(rng.standard_normal((1, 1, 16, 16)), kernels, method="gemm", n_threads=2)
    convolve(rng.standard_normal((64, 1, 256, 256)), kernels, method="gemm", n_threads=2)
    assert used == [1, 2]


def test_convolve_counts_the_kernel_spectra_it_computes_for_one_call(monkeypatch):
    # 64 kernels of 16 channels, 21x21, stride 2, on three small images: the
    # FFT's 1024 kernel spectra serve three images only (convolve), so GEMM
    # wins; reused by every transform (ConvFeatures computes them at fit),
    # the FFT does. Without the "planes" loop (CPUs with neither AVX-512 nor
    # AVX2, or skconv built without C), so that every machine decides alike.
    encoders = skconv_gemm._encoders
    previous = encoders._limit_columns_level(0) if encoders is not None else None
    try:
        _check_the_spectra_are_counted(monkeypatch)
    finally:
        if encoders is not None:
            encoders._limit_columns_level(previous)


def _check_the_spectra_are_counted(monkeypatch):
    sample, bank = (16, 72, 24), (64, 16, 21, 21)
    assert choose_method(sample, bank, stride=2, padding=10) == "fft"
    assert choose_method(sample, bank, stride=2, padding=10, n_samples=3) == "gemm"
    assert choose_method(sample, bank, stride=2, padding=10, n_samples=10_000) == "fft"
    with pytest.raises(ValueError, match="n_samples"):
        choose_method(sample, bank, n_samples=0)
    chosen = []
    real_plan = skconv_features.plan_conv
    monkeypatch.setattr(
        skconv_features,
        "plan_conv",
        lambda *args, **kwargs: chosen.append(kwargs["method"]) or real_plan(*args, **kwargs),
    )
    rng = np.random.default_rng(0)
    images = rng.random((3, *sample)).astype(np.float32)
    kernels = rng.random(bank).astype(np.float32)
    convolve(images, kernels, stride=2, padding=10)
    assert chosen == ["gemm"]
