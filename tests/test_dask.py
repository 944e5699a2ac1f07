"""Dask arrays in and out, dask-ml wrappers, a distributed LocalCluster."""

import os
import threading
import time

import numpy as np
import pytest
from numpy.testing import assert_allclose

da = pytest.importorskip("dask.array")
from dask.array.utils import assert_eq  # noqa: E402

from skconv import ConvFeatures, GaborBank, RandomBank, make_minirocket  # noqa: E402
from skconv.engine.core import _blas_controller  # noqa: E402

RNG = np.random.default_rng(0)
IMAGES = RNG.standard_normal((60, 3, 10, 9))
ROWS = IMAGES.reshape(60, -1)
LABELS = (IMAGES[:, 0, :5].mean(axis=(1, 2)) > 0).astype(int)


def as_input(array, kind, chunks=25):
    return array if kind == "numpy" else da.from_array(array, chunks=(chunks,) + array.shape[1:])


@pytest.mark.parametrize("kind", ["numpy", "dask"])
@pytest.mark.parametrize(
    "X, params",
    [
        (ROWS, dict(image_shape=(3, 10, 9))),
        (IMAGES, {}),
        (IMAGES[:, 0], dict(pooling=("max", "ppv"), pool_grid=2)),
        (ROWS[:, :40], dict(pooling=None)),  # rows as 1-D signals
        (IMAGES, dict(pooling=("l2", "mean"), pool_grid=3, pool_sigma=0.5)),
    ],
)
def test_numpy_and_dask_give_the_same_features(kind, X, params):
    expected = ConvFeatures(random_state=0, **params).fit(X).transform(X)
    data = as_input(X, kind)
    conv = ConvFeatures(random_state=0, **params).fit(data)
    result = conv.transform(data)
    if kind == "dask":
        assert isinstance(result, da.Array)
        assert result.chunks == ((25, 25, 10), (expected.shape[1],))
    assert_eq(result, expected)  # checks declared shape, chunks and dtype too


def test_fitted_biases_and_several_dilations_work_on_dask():
    series = RNG.standard_normal((40, 120))
    conv = make_minirocket(840, random_state=0).fit(series)
    lazy = make_minirocket(840, random_state=0).fit(as_input(series, "dask", chunks=15))
    for a, b in zip(conv.biases_, lazy.biases_):
        assert_allclose(a, b)
    result = lazy.transform(as_input(series, "dask", chunks=15))
    assert result.shape == (40, 840) and result.chunks[0] == (15, 15, 10)
    assert_allclose(result.compute(), conv.transform(series))


def test_dask_keeps_float32_and_declares_it():
    X = da.from_array(ROWS.astype(np.float32), chunks=(20, 270))
    result = ConvFeatures(image_shape=(3, 10, 9), random_state=0).fit(X).transform(X)
    assert result.dtype == np.float32 and result._meta.dtype == np.float32
    assert result.compute().dtype == np.float32


def test_chunks_that_split_features_are_rechunked_and_empty_chunks_dropped():
    X = da.from_array(ROWS, chunks=(25, 100))
    conv = ConvFeatures(image_shape=(3, 10, 9), random_state=0).fit(ROWS)
    assert_eq(conv.transform(X), conv.transform(ROWS))
    with_empty = da.concatenate([X[:0], X[:30], X[30:30], X[30:]])
    result = conv.transform(with_empty)
    assert 0 not in result.chunks[0]
    assert_eq(result, conv.transform(ROWS))


def test_unknown_chunk_sizes_are_rejected():
    X = da.from_array(ROWS, chunks=(20, 270))
    unknown = X[X[:, 0] > -10]
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        ConvFeatures(image_shape=(3, 10, 9)).fit(unknown)


def test_non_numeric_dask_input_is_rejected():
    X = da.from_array(np.array([["a", "b"], ["c", "d"]]), chunks=1)
    with pytest.raises(ValueError, match="real numbers"):
        ConvFeatures().fit(X)


class BlockCounter:
    """Counts the blocks of an array that dask computes."""

    def __init__(self):
        self.lock, self.blocks = threading.Lock(), 0

    def __call__(self, block):
        if block.size:  # dask also calls it on empty arrays to infer metadata
            with self.lock:
                self.blocks += 1
        return block


def test_fit_and_transform_stay_lazy():
    counter = BlockCounter()
    X = da.from_array(ROWS, chunks=(10, 270)).map_blocks(counter, dtype=ROWS.dtype)
    conv = ConvFeatures(GaborBank(n_orientations=2), image_shape=(3, 10, 9)).fit(X)
    result = conv.transform(X)
    # Only the first block, once in fit and once in transform, for scikit-learn's
    # checks on a small sample.
    assert counter.blocks == 2
    assert isinstance(result, da.Array)
    result.compute()
    assert counter.blocks >= X.numblocks[0]


def test_nan_in_a_block_raises_at_compute():
    data = ROWS.copy()
    data[45, 3] = np.nan
    X = da.from_array(data, chunks=(20, 270))
    conv = ConvFeatures(image_shape=(3, 10, 9)).fit(ROWS)
    result = conv.transform(X)
    with pytest.raises(ValueError, match="NaN"):
        result.compute()


def test_the_fitted_estimator_enters_the_graph_once():
    X = da.from_array(ROWS, chunks=(5, 270))
    conv = ConvFeatures(image_shape=(3, 10, 9), random_state=0).fit(ROWS)
    graph = dict(conv.transform(X).__dask_graph__())
    holders = [
        key for key, task in graph.items() if isinstance(getattr(task, "value", task), ConvFeatures)
    ]
    assert len(holders) == 1
    assert X.numblocks[0] == 12


def test_batch_threads_leave_the_blas_thread_count_as_they_found_it():
    def blas_threads():
        return [i["num_threads"] for i in _blas_controller().info() if i["user_api"] == "blas"]

    before = blas_threads()
    ConvFeatures(image_shape=(3, 10, 9), n_jobs=2, batch_size=5).fit_transform(ROWS)
    assert blas_threads() == before


# --- dask-ml -------------------------------------------------------------------


def test_parallel_post_fit_predicts_block_wise():
    dask_ml = pytest.importorskip("dask_ml.wrappers")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    pipe = make_pipeline(ConvFeatures(image_shape=(3, 10, 9), random_state=0), LogisticRegression())
    wrapped = dask_ml.ParallelPostFit(pipe).fit(ROWS, LABELS)
    X = da.from_array(ROWS, chunks=(20, 270))
    predictions = wrapped.predict(X)
    assert isinstance(predictions, da.Array)
    assert_eq(predictions, pipe.fit(ROWS, LABELS).predict(ROWS))
    # ParallelPostFit(ConvFeatures).transform declares the input's width (dask-ml
    # passes only `meta`); its values are right, and ConvFeatures alone declares
    # the right shape.
    features = dask_ml.ParallelPostFit(ConvFeatures(image_shape=(3, 10, 9), random_state=0))
    computed = features.fit(ROWS).transform(X).compute()
    assert_allclose(
        computed, ConvFeatures(image_shape=(3, 10, 9), random_state=0).fit_transform(ROWS)
    )


def test_pipeline_with_incremental_classifier_trains_block_by_block():
    wrappers = pytest.importorskip("dask_ml.wrappers")
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import make_pipeline

    X = da.from_array(ROWS, chunks=(20, 270))
    y = da.from_array(LABELS, chunks=20)
    incremental = wrappers.Incremental(
        SGDClassifier(random_state=0), scoring="accuracy", shuffle_blocks=False
    )
    pipe = make_pipeline(ConvFeatures(image_shape=(3, 10, 9), random_state=0), incremental)
    pipe.fit(X, y, incremental__classes=[0, 1])
    sgd = pipe[-1].estimator_
    assert sgd.t_ > 1 and sgd.coef_.shape == (1, pipe[0]._n_features_out)
    # Block by block is the same as partial_fit on each block in order.
    manual = SGDClassifier(random_state=0)
    features = pipe[0].transform(ROWS)
    for start in range(0, 60, 20):
        manual.partial_fit(features[start : start + 20], LABELS[start : start + 20], classes=[0, 1])
    assert_allclose(sgd.coef_, manual.coef_)


def test_dask_ml_grid_search_over_convfeatures_parameters():
    model_selection = pytest.importorskip("dask_ml.model_selection")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    conv = ConvFeatures(RandomBank(), image_shape=(3, 10, 9), random_state=0)
    pipe = make_pipeline(conv, LogisticRegression())
    search = model_selection.GridSearchCV(
        pipe, {"convfeatures__stride": [1, 2], "convfeatures__bank__n_kernels": [4, 8]}, cv=2
    )
    search.fit(ROWS, LABELS)
    assert len(search.cv_results_["params"]) == 4
    assert search.best_params_["convfeatures__stride"] in (1, 2)


# --- dask.distributed ------------------------------------------------------------


def slow_identity(block):
    time.sleep(0.05)
    return block


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


@pytest.mark.slow  # a LocalCluster of worker processes
def test_local_cluster_gives_the_numpy_numbers(client):
    X = da.from_array(ROWS.astype(np.float32), chunks=(10, 270))
    conv = ConvFeatures("gabor", image_shape=(3, 10, 9), pooling=("max", "mean")).fit(X)
    result = client.compute(conv.transform(X)).result()
    assert_allclose(result, conv.transform(ROWS.astype(np.float32)), rtol=1e-5, atol=1e-6)


@pytest.mark.slow  # a LocalCluster of worker processes
def test_a_worker_killed_mid_run_does_not_change_the_result(client):
    images = np.random.default_rng(1).standard_normal((400, 28, 28)).astype(np.float32)
    X = da.from_array(images, chunks=(10, 28, 28))
    conv = ConvFeatures(RandomBank(16, 5), pool_grid=2, random_state=0).fit(X)
    expected = conv.transform(images)
    future = client.compute(conv.transform(X).map_blocks(slow_identity, dtype=np.float32))
    time.sleep(0.4)  # 40 blocks of >= 50 ms on 2 workers: about a quarter done
    assert not future.done()
    victim = sorted(client.scheduler_info()["workers"])[0]
    try:
        client.run(os._exit, 1, workers=[victim])
    except Exception:  # the worker dies before answering
        pass
    assert_allclose(future.result(timeout=120), expected, rtol=1e-6)


@pytest.mark.slow  # a LocalCluster of worker processes
def test_sklearn_grid_search_under_joblib_dask_backend(client):
    import joblib
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline

    pipe = make_pipeline(ConvFeatures(image_shape=(3, 10, 9), random_state=0), LogisticRegression())
    search = GridSearchCV(pipe, {"convfeatures__stride": [1, 2]}, cv=2, n_jobs=-1)
    with joblib.parallel_backend("dask"):
        search.fit(ROWS, LABELS)
    assert len(search.cv_results_["mean_test_score"]) == 2


def test_pandas_output_of_dask_input_computes_the_graph_once():
    pytest.importorskip("pandas")
    from dask.callbacks import Callback

    conv = ConvFeatures(image_shape=(3, 10, 9), random_state=0).fit(ROWS)
    conv.set_output(transform="pandas")
    graphs = []

    class Record(Callback):
        def _start(self, dsk):
            graphs.append(len(dsk))

    import dask

    # The local scheduler (a cluster fixture of this module may be the default).
    with dask.config.set(scheduler="threads"), Record():
        frame = conv.transform(as_input(ROWS, "dask", chunks=20))
    assert list(frame.columns) == list(conv.get_feature_names_out())
    # One small graph checks the first rows; the transform's graph runs once.
    assert len(graphs) == 2 and graphs[0] < graphs[1]
    assert_allclose(frame.to_numpy(), conv.set_output(transform="default").transform(ROWS))
