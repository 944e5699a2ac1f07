"""The planner: one decision per part, what ``explain`` shows is what ``transform`` runs."""

import numpy as np
import pytest
import sklearn
from numpy.testing import assert_allclose
from sklearn.exceptions import NotFittedError

import skconv.engine.core as engine_core
import skconv.engine.features as features_module
import skconv.engine.gemm as skconv_gemm
import skconv.engine.learned as learned
from skconv import ArrayBank, ConvFeatures, GaborBank, PatchBank, convolve, make_minirocket
from skconv.engine import planner
from skconv.engine.core import make_geometry
from skconv.engine.planner import PATHS, TransformPlan, plan_part

RNG = np.random.default_rng(0)


def spy_paths(monkeypatch):
    """Record which executor each part of a transform ran on."""
    taken = []
    real_batches, real_tiles = features_module.map_batches, features_module.run_tiles
    real_encoded = features_module.pooled_features

    def batches(*args, **kwargs):
        taken.append(("batches", kwargs["layout"], kwargs["batch_size"], kwargs["direct"]))
        return real_batches(*args, **kwargs)

    def tiles(*args, **kwargs):
        taken.append(("tiles", None, kwargs["group_size"], None))
        return real_tiles(*args, **kwargs)

    def encoded(*args, **kwargs):
        plan = args[5]
        taken.append(("encoded", plan.layout, plan.batch_size, None))
        return real_encoded(*args, **kwargs)

    monkeypatch.setattr(features_module, "map_batches", batches)
    monkeypatch.setattr(features_module, "run_tiles", tiles)
    monkeypatch.setattr(features_module, "pooled_features", encoded)
    return taken


@pytest.mark.parametrize(
    "make, X",
    [
        (lambda: ConvFeatures(random_state=0), RNG.random((64, 12, 12)).astype(np.float32)),
        (lambda: ConvFeatures(pooling="mean"), RNG.random((64, 3, 12, 12))),
        (lambda: ConvFeatures(GaborBank(kernel_size=21)), RNG.random((40, 32, 32))),
        (lambda: ConvFeatures(method="fft", pooling=("l2", "mpv")), RNG.random((8, 40, 40))),
        (lambda: ConvFeatures(dilation=[1, 2], padding="alternate"), RNG.random((20, 16, 16))),
        (
            lambda: ConvFeatures(PatchBank(n_kernels=8), nonlinearity="triangle"),
            RNG.random((30, 14, 14)),
        ),
        (lambda: ConvFeatures(pool_grid=3), RNG.random((2, 96, 96)).astype(np.float32)),
    ],
)
def test_explain_shows_the_path_transform_takes(make, X, monkeypatch):
    conv = make().fit(X)
    plan = conv.explain(X)
    assert isinstance(plan, TransformPlan) and plan.n_samples == len(X)
    expected = conv.transform(X)
    taken = spy_paths(monkeypatch)
    assert_allclose(conv.transform(X), expected)
    assert len(taken) == len(plan.parts)
    for (path, layout, size, direct), (_, _, part) in zip(taken, plan.parts):
        assert part.path in PATHS
        assert path == (part.path if part.path in ("tiles", "encoded") else "batches")
        assert size == part.batch_size
        if path == "batches":
            assert layout == part.layout and direct == (part.method == "direct")
    text = str(plan)
    assert "predicted" in text and all(row["path"] in text for row in plan.rows())
    assert plan.seconds > 0 and plan.memory > 0


def test_signals_with_minirocket_features_take_the_series_path(monkeypatch):
    X = RNG.standard_normal((30, 120))
    conv = make_minirocket(n_features=840, random_state=0).fit(X)
    ((label, n_kernels, part),) = conv.explain(X).parts
    assert part.path == "series" and part.fused == ("ppv",) and n_kernels == 84
    taken = spy_paths(monkeypatch)
    conv.transform(X)
    assert taken == []  # neither batches nor tiles


def test_small_channels_last_batches_give_way_to_tiles():
    # 32x32 images with 21x21 kernels in float64: one image per channels-last
    # batch was 2.7x slower than the tiles.
    geometry = make_geometry((1, 32, 32), (1, 21, 21))
    plan = plan_part(768, geometry, 32, np.float64, pooled=True, by_max=True, n_threads=2)
    assert plan.path == "tiles"
    small = make_geometry((1, 8, 8), (1, 3, 3))
    plan = plan_part(4000, small, 32, np.float32, pooled=True, by_max=True, n_threads=2)
    assert plan.path in ("batches", "fused_max") and plan.layout == "batch_last"


def test_convolve_plans_with_the_same_planner(monkeypatch):
    import skconv.engine.planner as planner

    calls = []
    real = planner.plan_part

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(planner, "plan_part", spy)
    convolve(RNG.random((3, 20, 20)), RNG.random((4, 3, 3)))
    assert len(calls) == 1 and calls[0][1]["pooled"] is False


def test_the_same_work_is_planned_once(monkeypatch):
    calls = []
    real = planner.plan_part

    def spy(*args, **kwargs):
        calls.append(kwargs["n_threads"])
        return real(*args, **kwargs)

    monkeypatch.setattr(planner, "plan_part", spy)
    images, kernels = RNG.random((3, 20, 20)), RNG.random((4, 3, 3))
    first = convolve(images, kernels)
    assert_allclose(convolve(images, kernels), first)
    assert len(calls) == 1
    # Other work, another budget, other threads: planned anew.
    convolve(images[:2], kernels)
    with sklearn.config_context(working_memory=1):
        convolve(images, kernels)
    convolve(images, kernels, n_threads=2)
    assert calls == [1, 1, 1, 2]
    planner.clear_plans()
    convolve(images, kernels)
    assert len(calls) == 5


def test_plans_made_by_many_threads_at_once_stay_bounded_and_right(monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(planner, "_MAX_PLANS", 4)
    geometry = make_geometry((1, 28, 28), (1, 5, 5))
    spec = features_module.PoolingSpec(nonlinearity="relu", poolings=("max",))
    counts = [1 + i % 40 for i in range(400)]

    def plan(n):
        return planner.plan_conv(n, geometry, 16, "float32", spec)

    with ThreadPoolExecutor(4) as pool:
        plans = list(pool.map(plan, counts))
    assert len(planner._PLANS) <= 4
    planner.clear_plans()
    assert plans == [plan(n) for n in counts]


@pytest.mark.filterwarnings("ignore::skconv.SlowPathWarning")
def test_a_withdrawn_compiled_loop_is_planned_without(monkeypatch):
    # The plans depend on which compiled loops are there: one withdrawn (as
    # the tests and benchmarks do) is never asked for by a plan made before.
    geometry = make_geometry((1, 28, 28), (1, 5, 5))
    spec = features_module.PoolingSpec(nonlinearity="relu", poolings=("max",))
    first = planner.plan_conv(64, geometry, 16, np.float32, spec)
    assert planner.plan_conv(64, geometry, 16, np.float32, spec) is first
    for module, name in [
        (engine_core, "correlate_batch_last"),
        (skconv_gemm, "correlate_windows"),
        (skconv_gemm, "correlate_planes"),
        (learned, "compiled_pool"),
    ]:
        monkeypatch.setattr(module, name, None)  # withdrawn one after the other
        plan = planner.plan_conv(64, geometry, 16, np.float32, spec)
        planner.clear_plans()
        assert planner.plan_conv(64, geometry, 16, np.float32, spec) == plan
    assert plan.method == "gemm" and plan.path in ("batches", "tiles")
    monkeypatch.undo()
    assert planner.plan_conv(64, geometry, 16, np.float32, spec) == first


def test_explain_follows_dask_blocks():
    da = pytest.importorskip("dask.array")
    X = RNG.random((50, 64))
    conv = ConvFeatures(image_shape=(8, 8)).fit(X)
    plan = conv.explain(da.from_array(X, chunks=(20, 64)))
    assert plan.per_block and plan.n_samples == 20
    assert "each dask block" in str(plan)


@pytest.mark.parametrize(
    "X, error, match",
    [
        (RNG.random((5, 63)), ValueError, "features"),
        (np.full((5, 64), np.nan), ValueError, "NaN"),
        (RNG.random((5, 64)) * 1j, ValueError, "complex"),
        ([["a"] * 64] * 5, (TypeError, ValueError), "real numbers|could not convert"),
    ],
)
def test_explain_checks_its_input_as_transform_does(X, error, match):
    conv = ConvFeatures(image_shape=(8, 8)).fit(RNG.random((5, 64)))
    with pytest.raises(error, match=match):
        conv.explain(X)


def test_explain_needs_a_fitted_estimator():
    with pytest.raises(NotFittedError):
        ConvFeatures().explain(RNG.random((5, 64)))


def test_array_bank_and_learned_bank_plans_differ_only_where_they_must():
    X = RNG.random((200, 28, 28))
    random = ConvFeatures(ArrayBank(RNG.standard_normal((16, 5, 5)))).fit(X)
    learned = ConvFeatures(PatchBank(n_kernels=16), nonlinearity="triangle").fit(X)
    assert random.explain(X).rows()[0]["kernels"] == learned.explain(X).rows()[0]["kernels"]
    assert learned.explain(X).rows()[0]["method"] == "gemm"  # responses need the patches


@pytest.mark.parametrize(
    "n, largest, n_tiles, n_threads, even",
    [
        (18, 8, 1, 2, True),  # 9 and 9 images, not 8 and 10
        (3, 2, 1, 2, False),  # 2 and 1 at best
        (3, 2, 2, 2, True),
        (100, 7, 3, 2, True),
        (5, 5, 1, 3, False),
        (1, 1, 4, 2, True),
    ],
)
def test_tile_groups_share_the_work_evenly(n, largest, n_tiles, n_threads, even):
    size = planner.balanced_group_size(n, largest, n_tiles, n_threads)
    assert 1 <= size <= largest
    # As run_tiles deals the (group, tile) items: equal runs per thread.
    items = [min(size, n - s) for s in range(0, n, size) for _ in range(n_tiles)]
    bounds = [len(items) * i // n_threads for i in range(n_threads + 1)]
    loads = [sum(items[a:b]) / n_tiles for a, b in zip(bounds[:-1], bounds[1:])]
    if even:
        assert max(loads) <= 1.1 * n / n_threads
    # Never less even than the largest groups.
    first = [min(largest, n - s) for s in range(0, n, largest) for _ in range(n_tiles)]
    bounds = [len(first) * i // n_threads for i in range(n_threads + 1)]
    assert max(loads) <= max(sum(first[a:b]) / n_tiles for a, b in zip(bounds[:-1], bounds[1:]))
