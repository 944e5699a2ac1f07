"""The convolution engine against scipy.signal, over many geometries."""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from reference import reference_correlate
from scipy import signal

from skconv import convolve
from skconv.engine.core import (
    _BATCH_BYTES,
    default_batch_size,
    kernel_matrix,
    make_geometry,
    map_batches,
    patch_indices,
)

PADDINGS = st.one_of(
    st.sampled_from(["valid", "same", "full"]), st.integers(0, 2), st.tuples(st.integers(0, 2))
)


def _pads_for(padding, kernel, dilation, n_axes):
    """Expected per-axis (before, after) pads, computed independently."""
    out = []
    for axis in range(n_axes):
        span = dilation[axis] * (kernel[axis] - 1)
        if padding == "valid":
            out.append((0, 0))
        elif padding == "same":
            out.append((span // 2, span - span // 2))
        elif padding == "full":
            out.append((span, span))
        else:
            p = padding if isinstance(padding, int) else padding[axis]
            out.append((p, p))
    return out


@st.composite
def conv_problems(draw):
    n_axes = draw(st.sampled_from([1, 2]))
    n = draw(st.integers(1, 3))
    c = draw(st.integers(1, 3))
    k = draw(st.integers(1, 3))
    spatial = tuple(draw(st.integers(1, 9)) for _ in range(n_axes))
    ksize = tuple(draw(st.integers(1, 4)) for _ in range(n_axes))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(n_axes))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(n_axes))
    padding = draw(PADDINGS)
    if isinstance(padding, tuple):
        padding = tuple(draw(st.integers(0, 2)) for _ in range(n_axes))
    mode = draw(st.sampled_from(["constant", "edge", "reflect", "symmetric", "wrap"]))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    pads = _pads_for(padding, ksize, dilation, n_axes)
    for size, kk, d, (a, b) in zip(spatial, ksize, dilation, pads):
        assume(d * (kk - 1) + 1 <= size + a + b)
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    images = rng.standard_normal((n, c, *spatial)).astype(dtype)
    kernels = rng.standard_normal((k, c, *ksize)).astype(dtype)
    return dict(
        images=images,
        kernels=kernels,
        stride=stride,
        padding=padding,
        dilation=dilation,
        mode=mode,
        pads=pads,
        batch_size=draw(st.integers(1, 4)),
        n_threads=draw(st.integers(1, 2)),
        flip=draw(st.booleans()),
    )


def _as_2d(problem):
    """The problem in 2-D form for the reference (1-D gets height 1)."""
    images, kernels = problem["images"], problem["kernels"]
    if images.ndim == 3:
        return (
            images[:, :, None],
            kernels[:, :, None],
            (1, *problem["stride"]),
            [(0, 0), *problem["pads"]],
            (1, *problem["dilation"]),
        )
    return images, kernels, problem["stride"], problem["pads"], problem["dilation"]


def convolve_problem(problem, **options):
    """``convolve`` on a drawn problem, with extra options (batch_size, method...)."""
    return convolve(
        problem["images"],
        problem["kernels"],
        stride=problem["stride"],
        padding=problem["padding"],
        dilation=problem["dilation"],
        padding_mode=problem["mode"],
        flip=problem["flip"],
        spatial_ndim=problem["images"].ndim - 2,
        n_threads=problem["n_threads"],
        **options,
    )


def assert_matches_reference(problem, result, flip=None):
    """``result`` equals scipy's correlation of the problem, to the dtype's precision."""
    images, kernels, stride, pads, dilation = _as_2d(problem)
    if problem["flip"] if flip is None else flip:
        kernels = kernels[..., ::-1, ::-1]
    expected = reference_correlate(images, kernels, stride, pads, dilation, problem["mode"])
    expected = expected.reshape(result.shape)
    tol = 1e-4 if result.dtype == np.float32 else 1e-10
    assert_allclose(result, expected, rtol=tol, atol=tol * (1 + np.abs(expected).max()))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_problems())
def test_convolve_matches_scipy_reference(problem):
    result = convolve_problem(problem, batch_size=problem["batch_size"])
    assert result.dtype == problem["images"].dtype
    assert_matches_reference(problem, result)


@pytest.mark.parametrize(
    "shape, kshape, stride, padding, dilation, expected",
    [
        ((28, 28), (5, 5), 1, "same", 1, (28, 28)),
        ((28, 28), (5, 5), 2, "same", 1, (14, 14)),
        ((28, 28), (5, 5), 1, "valid", 1, (24, 24)),
        ((28, 28), (5, 5), 1, "full", 1, (32, 32)),
        ((28, 28), (3, 3), 1, "valid", 2, (24, 24)),
        ((32, 30), (4, 2), (2, 3), 1, 1, (16, 11)),
        ((7, 7), (4, 4), 1, "same", 1, (7, 7)),
        ((1000,), (9,), 1, "same", 4, (1000,)),
        ((10,), (3,), 3, "valid", 1, (3,)),
    ],
)
def test_output_shapes(shape, kshape, stride, padding, dilation, expected):
    images = np.zeros((2, *shape))  # one channel: (n, L) or (n, H, W)
    kernels = np.zeros((3, *kshape))
    out = convolve(images, kernels, stride=stride, padding=padding, dilation=dilation)
    assert out.shape == (2, 3, *expected)


@pytest.mark.parametrize("stride", [True, 1.0, np.int64(0), (1, 1.0)])
def test_a_cached_geometry_stands_for_no_invalid_argument(stride):
    # make_geometry is cached by its arguments: a valid stride of 1 seen
    # before must not let an equal but invalid one (True, 1.0) through.
    assert make_geometry((1, 8, 8), (1, 3, 3), stride=1).stride == (1, 1)
    assert make_geometry((1, 8, 8), (1, 3, 3), stride=(1, 1)).stride == (1, 1)
    with pytest.raises((TypeError, ValueError), match="stride"):
        make_geometry((1, 8, 8), (1, 3, 3), stride=stride)


def test_convolve_equals_scipy_convolve2d_with_flip():
    rng = np.random.default_rng(0)
    image, kernel = rng.standard_normal((9, 11)), rng.standard_normal((3, 4))
    out = convolve(image[None], kernel[None], padding="full", flip=True)
    assert_allclose(out[0, 0], signal.convolve2d(image, kernel, mode="full"), atol=1e-12)


def test_one_channel_shortcuts_match_explicit_channel_axis():
    rng = np.random.default_rng(1)
    images, kernels = rng.standard_normal((4, 10, 12)), rng.standard_normal((3, 3, 3))
    assert_allclose(convolve(images, kernels), convolve(images[:, None], kernels[:, None]))
    signals, kernels1d = rng.standard_normal((4, 50)), rng.standard_normal((3, 7))
    assert_allclose(
        convolve(signals, kernels1d),
        convolve(signals[:, None], kernels1d[:, None], spatial_ndim=1),
    )
    # Without the hint, 3-D images are read as (n, H, W).
    assert convolve(signals[:, None], kernels1d[:, None]).shape == (4, 3, 1, 50)


def test_patch_index_cache_does_not_grow_with_samples():
    geometry = make_geometry((1, 28, 28), (1, 5, 5))
    index = patch_indices(geometry)
    assert index.shape == (28 * 28, 25)
    assert patch_indices(geometry) is index  # cached, shared by every batch
    assert not index.flags.writeable
    rng = np.random.default_rng(0)
    kernels = rng.standard_normal((2, 1, 5, 5))
    small = convolve(rng.standard_normal((3, 28, 28)), kernels)
    large = convolve(rng.standard_normal((300, 28, 28)), kernels)
    assert small.shape[0] == 3 and large.shape[0] == 300
    assert patch_indices(geometry).shape == (28 * 28, 25)


def test_results_do_not_depend_on_batching_or_threads():
    rng = np.random.default_rng(2)
    images = rng.standard_normal((37, 3, 12, 12))
    kernels = rng.standard_normal((5, 3, 3, 3))
    base = convolve(images, kernels, batch_size=37)
    for batch_size, n_threads in [(1, 1), (4, 2), (10, 2), (None, 2)]:
        out = convolve(images, kernels, batch_size=batch_size, n_threads=n_threads)
        assert_allclose(out, base, rtol=1e-12, atol=1e-12)


def test_map_batches_reads_one_batch_at_a_time():
    """The engine slices its input batch by batch (a memmap is never loaded whole)."""

    class CountingArray:
        def __init__(self, data):
            self.data, self.shape, self.requested = data, data.shape, []

        def __getitem__(self, key):
            self.requested.append(key.stop - key.start)
            return self.data[key]

    rng = np.random.default_rng(3)
    images = CountingArray(rng.standard_normal((50, 1, 8, 8)))
    geometry = make_geometry((1, 8, 8), (1, 3, 3))
    weights = kernel_matrix(rng.standard_normal((4, 1, 3, 3)), np.float64)
    out = np.empty((50, 4 * 64))
    map_batches(images, geometry, weights, lambda m, p: m.reshape(len(m), -1), out, batch_size=8)
    assert max(images.requested) == 8 and sum(images.requested) == 50


def test_default_batch_size_is_bounded():
    geometry = make_geometry((3, 32, 32), (3, 5, 5))
    size = default_batch_size(geometry, 256, 4)
    per_image = 32 * 32 * (256 + 75) * 4
    assert size >= 1 and (size * per_image <= _BATCH_BYTES or size == 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_outputs_start_on_a_cache_line(dtype):
    # numpy's own arrays start 16 bytes into a line; the loops' whole-vector
    # stores (and their stores around the caches) want whole lines.
    rng = np.random.default_rng(0)
    for n_kernels in (1, 3, 8):
        maps = convolve(rng.standard_normal((2, 1, 9, 7)).astype(dtype), np.ones((n_kernels, 3, 3)))
        assert maps.ctypes.data % 64 == 0 and maps.dtype == dtype
        assert maps.flags.c_contiguous and maps.flags.writeable


@pytest.mark.parametrize("n_rows", [1, 511, 512, 1023, 1024, 3000])
def test_outputs_of_2_to_4_mib_start_on_a_huge_page(n_rows):
    # 1024 float32 per row: 2 MiB from 512 rows on, 4 MiB from 1024.
    from skconv.engine.features import HUGE_PAGE_BYTES, allocate_output

    out = allocate_output(n_rows, 1024, np.float32)
    assert out.shape == (n_rows, 1024) and out.dtype == np.float32
    assert out.flags.c_contiguous and out.flags.writeable
    alignment = HUGE_PAGE_BYTES if 512 <= n_rows < 1024 else 64
    assert out.ctypes.data % alignment == 0
    out[...] = 1.0  # the whole output is inside its buffer
    assert out.sum() == out.size


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(1, 9 << 20),
    skip=st.integers(0, 4095),
    n_threads=st.integers(1, 3),
)
def test_touch_pages_writes_one_zero_into_every_huge_page(size, skip, n_threads):
    # The output's huge pages mapped before the loops write them: one byte
    # of each 2 MiB block the buffer overlaps set to zero, nothing else.
    from skconv.engine.compiled import load

    loops = load("_encoders")
    if loops is None:
        pytest.skip("skconv built without its compiled loops")
    buffer = np.ones(size + skip, dtype=np.uint8)[skip:]
    loops.touch_pages(buffer, n_threads)
    zeros = np.flatnonzero(buffer == 0)
    address, huge = buffer.ctypes.data, 2 << 20
    blocks = np.arange(address // huge, (address + size - 1) // huge + 1)
    assert np.array_equal((address + zeros) // huge, blocks)


@pytest.mark.parametrize("compiled", [True, False])
def test_outputs_of_32_mib_or_more_have_their_pages_touched(monkeypatch, compiled):
    # Outputs glibc maps afresh get their huge pages mapped first (by the
    # compiled loop's threads, or one numpy write without it); smaller
    # ones, which may reuse mapped heap memory, are left alone.
    from skconv.engine import features

    loops = features.load("_encoders")
    if compiled and loops is None:
        pytest.skip("skconv built without its compiled loops")
    calls = []

    class Spy:
        def touch_pages(self, buffer, n_threads):
            calls.append((buffer.nbytes, n_threads))
            loops.touch_pages(buffer, n_threads)

    monkeypatch.setattr(features, "load", lambda name: Spy() if compiled else None)
    small = features.allocate_output(1024, 1024, np.float32, n_threads=2)
    assert calls == []
    rows = features.FRESH_MAPPING_BYTES // (1024 * 8) + 1
    out = features.allocate_output(rows, 1024, np.float64, n_threads=2)
    if compiled:
        assert len(calls) == 1 and calls[0][0] >= out.nbytes and calls[0][1] == 2
    assert out.shape == (rows, 1024) and out.flags.c_contiguous
    assert out.ctypes.data % features.OUTPUT_ALIGNMENT == 0
    out[...] = 2.0
    small[...] = 1.0
    assert out.sum() == 2.0 * out.size and small.sum() == small.size


def test_float32_computes_in_float32():
    images = np.ones((2, 8, 8), dtype=np.float32)
    kernels = np.ones((1, 3, 3), dtype=np.float64)
    assert convolve(images, kernels).dtype == np.float32
    assert convolve(images.astype(np.int64), kernels).dtype == np.float64


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(stride=0), ValueError, "stride must be >= 1"),
        (dict(stride=-2), ValueError, "stride must be >= 1"),
        (dict(dilation=0), ValueError, "dilation must be >= 1"),
        (dict(stride=(1, 2, 3)), ValueError, "stride must be an int or a sequence of 2"),
        (dict(stride=1.5), TypeError, "stride must be an int"),
        (dict(padding="sometimes"), ValueError, "padding must be one of"),
        (dict(padding=-1), ValueError, "padding must be >= 0"),
        (dict(padding_mode="mirror"), ValueError, "padding_mode must be one of"),
        (dict(flip="yes"), TypeError, "flip must be a bool"),
        (dict(batch_size=0), ValueError, "batch_size must be >= 1"),
        (dict(n_threads=0), ValueError, "n_threads must be >= 1"),
        (dict(spatial_ndim=3), ValueError, "spatial_ndim must be 1 or 2"),
    ],
)
def test_convolve_rejects_bad_parameters(kwargs, error, match):
    with pytest.raises(error, match=match):
        convolve(np.zeros((2, 8, 8)), np.zeros((1, 3, 3)), **kwargs)


@pytest.mark.parametrize(
    "images, kernels, kwargs, match",
    [
        (np.zeros((2, 4, 4)), np.zeros((1, 5, 5)), dict(padding="valid"), "larger than the padded"),
        (
            np.zeros((2, 4, 4)),
            np.zeros((1, 3, 3)),
            dict(padding="valid", dilation=2),
            "larger than",
        ),
        (
            np.zeros((2, 3, 8, 8)),
            np.zeros((1, 2, 3, 3)),
            {},
            r"2 channel\(s\) but the images have 3",
        ),
        (np.zeros((2, 8, 8)), np.zeros((3, 3)), {}, "kernels must have 3 or 4 dimensions"),
        (np.zeros((2, 8, 8)), np.zeros((0, 3, 3)), {}, "at least one kernel"),
        (np.zeros(8), np.zeros((1, 3)), {}, "images must have 2 to 4 dimensions"),
        (np.zeros((2, 8)), np.zeros(3), {}, "kernels must have 2 to 4 dimensions"),
        (np.full((2, 8, 8), np.nan), np.zeros((1, 3, 3)), {}, "images contains NaN"),
        (np.full((2, 8, 8), np.inf), np.zeros((1, 3, 3)), {}, "images contains infinity"),
        (np.zeros((2, 8, 8)), np.full((1, 3, 3), np.nan), {}, "kernels contains NaN"),
        (np.zeros((2, 8, 8), np.float32), np.full((1, 3, 3), -np.inf), {}, "kernels contains inf"),
        (np.full((2, 8, 8), np.nan, np.float32), np.zeros((1, 3, 3)), {}, "images contains NaN"),
        (np.zeros((0, 8, 8)), np.zeros((1, 3, 3)), {}, "minimum of 1 is required"),
    ],
)
def test_convolve_rejects_bad_arrays(images, kernels, kwargs, match):
    with pytest.raises(ValueError, match=match):
        convolve(images, kernels, **kwargs)


@pytest.fixture(params=["compiled", "numpy"])
def finite_check(request, monkeypatch):
    """Each route of the finiteness check: the compiled loop (when built) and numpy's."""
    import skconv._convolve as convolve_module

    if request.param == "numpy":
        monkeypatch.setattr(convolve_module, "_ALL_FINITE", None)
    elif convolve_module._all_finite() is None:
        pytest.skip("skconv built without its compiled loops")
    return request.param


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["first", "chunk end", "next chunk", "tail"])
def test_one_bad_value_is_found_in_any_chunk(dtype, bad, where, finite_check):
    # numpy's route sums squares in dot products of FINITE_CHUNK values, then
    # the tail; the compiled loop checks its sums every 4,096 values.
    from skconv._convolve import FINITE_CHUNK

    size = 3 * FINITE_CHUNK + 100
    at = {"first": 0, "chunk end": FINITE_CHUNK - 1, "next chunk": FINITE_CHUNK}.get(where, -1)
    images = np.ones(size, dtype)
    images[at] = bad
    with pytest.raises(ValueError, match="images contains"):
        convolve(images.reshape(1, 1, -1), np.ones((1, 1, 3), dtype))


def test_finite_values_whose_sum_overflows_are_accepted(finite_check):
    images = np.full((2, 8, 8), 3e38, np.float32)  # their float32 sum is inf
    maps = convolve(images, np.full((1, 1, 1), 0.5, np.float32))
    assert np.all(maps == np.float32(1.5e38))


@settings(max_examples=80, deadline=None)
@given(
    size=st.integers(0, 9000),
    bad=st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.sampled_from([np.nan, np.inf, -np.inf])),
        max_size=3,
    ),
    dtype=st.sampled_from([np.float32, np.float64]),
    scale=st.sampled_from([1.0, 1e30, 1e300]),
    seed=st.integers(0, 2**16),
)
def test_all_finite_agrees_with_numpy(size, bad, dtype, scale, seed):
    compiled = pytest.importorskip("skconv.engine._encoders")
    # Huge finite values (whose sum overflows) are finite; any NaN or
    # infinity, wherever it falls in the 4,096-value blocks, is not.
    with np.errstate(over="ignore"):
        values = (np.random.default_rng(seed).standard_normal(size) * scale).astype(dtype)
    for where, value in bad:
        if size:
            values[int(where * size)] = value
    assert compiled.all_finite(values) == bool(np.isfinite(values).all())


def test_all_finite_rejects_non_contiguous_values():
    compiled = pytest.importorskip("skconv.engine._encoders")
    with pytest.raises(ValueError):
        compiled.all_finite(np.zeros(10)[::2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("where", [0, "thread boundary", -1])
def test_all_finite_on_threads_finds_a_bad_value_in_any_share(dtype, where):
    # 3 MiB of values: the check shares them between two threads.
    compiled = pytest.importorskip("skconv.engine._encoders")
    values = np.ones((3 << 20) // np.dtype(dtype).itemsize, dtype)
    assert compiled.all_finite(values, 2)
    at = len(values) // 2 if where == "thread boundary" else where
    for bad in (np.nan, -np.inf):
        values[at] = bad
        assert not compiled.all_finite(values, 2)
    with pytest.raises(ValueError, match="n_threads"):
        compiled.all_finite(values, 0)


def test_convolve_on_threads_rejects_a_bad_value_in_large_images():
    images = np.zeros((2, 1, 1024, 512), np.float32)
    images[1, 0, -1, -1] = np.inf
    with pytest.raises(ValueError, match="images contains infinity"):
        convolve(images, np.ones((1, 1, 3, 3), np.float32), n_threads=2)


def test_convolve_rejects_non_numeric_images():
    with pytest.raises(ValueError, match="could not convert|dtype"):
        convolve(np.array([[["a", "b"], ["c", "d"]]]), np.zeros((1, 1, 1)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_problems(), st.sampled_from(["channels_last", "batch_last"]))
def test_both_batch_layouts_match_the_reference(problem, layout):
    from skconv.engine.features import conv_features

    images, kernels, stride, pads, dilation = _as_2d(problem)
    geometry = make_geometry(
        images.shape[1:],
        kernels.shape[1:],
        stride=stride,
        padding=tuple(a for a, _ in pads) if all(a == b for a, b in pads) else "same",
        dilation=dilation,
    )
    assume(geometry.pads == tuple(pads))
    maps = conv_features(
        images,
        geometry,
        kernel_matrix(kernels, images.dtype),
        padding_mode=problem["mode"],
        batch_size=problem["batch_size"],
        n_threads=problem["n_threads"],
        layout=layout,
    )
    n_out = geometry.out_shape[2 - (problem["images"].ndim - 2) :]
    assert_matches_reference(problem, maps.reshape(len(images), len(kernels), *n_out), flip=False)


def test_convolve_reuses_the_kernel_matrix_of_equal_kernels_only():
    from skconv._convolve import reused_kernel_matrix

    rng = np.random.default_rng(0)
    kernels = rng.standard_normal((6, 2, 3, 3))
    first = reused_kernel_matrix(kernels, np.float64)
    assert_allclose(first, kernel_matrix(kernels, np.float64))
    assert not first.flags.writeable
    # Equal kernels (another array): the same matrix, its packings cached with it.
    assert reused_kernel_matrix(kernels.copy(), np.float64) is first
    # Another dtype, or a change in place, or -0.0 for 0.0: a new matrix.
    assert reused_kernel_matrix(kernels, np.float32).dtype == np.float32
    kernels[0, 0, 0, 0] += 1.0
    changed = reused_kernel_matrix(kernels, np.float64)
    assert changed is not first
    assert_allclose(changed, kernel_matrix(kernels, np.float64))
    kernels[1, 0, 0, 0] = 0.0
    zero = reused_kernel_matrix(kernels, np.float64)
    kernels[1, 0, 0, 0] = -0.0
    assert reused_kernel_matrix(kernels, np.float64) is not zero


def test_convolve_sees_kernels_changed_in_place_between_calls():
    rng = np.random.default_rng(1)
    images = rng.standard_normal((2, 3, 20, 24)).astype(np.float32)
    kernels = rng.standard_normal((40, 3, 5, 5)).astype(np.float32)
    convolve(images, kernels, stride=2, n_threads=2)
    kernels *= -2.0
    expected = reference_correlate(images, kernels, (2, 2), ((2, 2), (2, 2)), (1, 1))
    assert_allclose(
        convolve(images, kernels, stride=2, n_threads=2), expected, rtol=1e-4, atol=1e-4
    )


@pytest.mark.parametrize("method", ["gemm", "fft"])
def test_convolve_reuses_nothing_of_kernels_changed_in_place_since(method):
    # A single kernel of one channel: its kernel matrix can be a view of it.
    rng = np.random.default_rng(2)
    images = rng.standard_normal((1, 1, 12, 12))
    kernels = rng.standard_normal((1, 1, 3, 3))
    original = kernels.copy()
    convolve(images, kernels, method=method)
    kernels[...] = rng.standard_normal((1, 1, 3, 3))  # the first call's kernels, changed
    # the original kernels again, in another array, and for FFT another size
    bigger = rng.standard_normal((1, 1, 40, 40))
    for batch in (images, bigger):
        expected = signal.correlate2d(batch[0, 0], original[0, 0], mode="same")
        assert_allclose(convolve(batch, original.copy(), method=method)[0, 0], expected, atol=1e-9)


def test_convolve_keeps_no_large_spectra_or_kernels_after_a_call(monkeypatch):
    import skconv._convolve as convolve_module

    rng = np.random.default_rng(3)
    images = rng.standard_normal((2, 1, 40, 40))
    kernels = rng.standard_normal((4, 1, 9, 9))
    convolve(images, kernels, method="fft")
    small = convolve_module._LAST_SPECTRA[2]
    assert 0 < small.nbytes <= convolve_module.REUSE_MAX_BYTES
    monkeypatch.setattr(convolve_module, "REUSE_MAX_BYTES", small.nbytes - 1)
    other = kernels + 1.0
    expected = convolve(images, other, method="gemm")
    assert_allclose(convolve(images, other, method="fft"), expected, atol=1e-9)
    assert convolve_module._LAST_SPECTRA is None
    # nor a kernel matrix (with its copy of the kernels) larger than the bound
    monkeypatch.setattr(convolve_module, "REUSE_MAX_BYTES", other.nbytes)
    before = convolve_module._LAST_KERNELS
    convolve(images, other * 2.0)
    assert convolve_module._LAST_KERNELS is before
