"""``channel_axis``: channels-last images, as PIL, imageio and scikit-image give them."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from skconv import ConvFeatures, GaborBank, PatchBank

RNG = np.random.default_rng(0)
CHANNELS_FIRST = RNG.integers(0, 256, (12, 3, 10, 9)).astype(np.uint8)
CHANNELS_LAST = np.ascontiguousarray(np.moveaxis(CHANNELS_FIRST, 1, -1))  # (n, H, W, C)


@pytest.mark.parametrize("bank", ["random", GaborBank(n_orientations=2), PatchBank(n_kernels=4)])
def test_channels_last_images_give_the_channels_first_features(bank):
    reference = ConvFeatures(bank, random_state=0).fit(CHANNELS_FIRST)
    expected = reference.transform(CHANNELS_FIRST)
    conv = ConvFeatures(bank, channel_axis=-1, random_state=0).fit(CHANNELS_LAST)
    assert conv.input_shape_ == (3, 10, 9)
    assert_allclose(conv.transform(CHANNELS_LAST), expected)
    assert_allclose(conv.bank_.kernels_, reference.bank_.kernels_)
    # the same images as rows flattened in (H, W, C) order
    rows = CHANNELS_LAST.reshape(12, -1)
    flat = ConvFeatures(bank, image_shape=(10, 9, 3), channel_axis=2, random_state=0)
    assert_allclose(flat.fit(rows).transform(rows), expected)
    inferred = ConvFeatures(bank, image_shape=(10, -1, 3), channel_axis=-1, random_state=0)
    assert_allclose(inferred.fit(rows).transform(rows), expected)


def test_channel_axis_zero_is_channels_first():
    expected = ConvFeatures(random_state=0).fit_transform(CHANNELS_FIRST)
    got = ConvFeatures(channel_axis=0, random_state=0).fit_transform(CHANNELS_FIRST)
    assert_allclose(got, expected)


def test_channels_last_dask_arrays_stay_lazy_and_equal():
    da = pytest.importorskip("dask.array")
    conv = ConvFeatures(channel_axis=-1, random_state=0).fit(CHANNELS_LAST)
    lazy = conv.transform(da.from_array(CHANNELS_LAST, chunks=(5, 10, 9, 3)))
    assert isinstance(lazy, da.Array)
    assert_allclose(lazy.compute(), conv.transform(CHANNELS_LAST))


@pytest.mark.parametrize(
    "params, X, match",
    [
        (dict(channel_axis=-1), CHANNELS_LAST[..., 0], "needs images with a channel axis"),
        (dict(channel_axis=-1), CHANNELS_LAST.reshape(12, -1), "needs images with a channel"),
        (dict(channel_axis=-1, image_shape=(10, 27)), CHANNELS_LAST.reshape(12, -1), "channel"),
        (dict(channel_axis=3), CHANNELS_LAST, "channel_axis"),
        (dict(channel_axis=True), CHANNELS_LAST, "channel_axis"),
        (dict(channel_axis="last"), CHANNELS_LAST, "channel_axis"),
        (dict(channel_axis=-1, image_shape=(10, 9, 4)), CHANNELS_LAST.reshape(12, -1), "fit"),
    ],
)
def test_bad_channel_axis_is_refused_naming_it(params, X, match):
    with pytest.raises(ValueError, match=match):
        ConvFeatures(**params).fit(X)


def test_transform_checks_the_fitted_channels_last_shape():
    conv = ConvFeatures(channel_axis=-1, random_state=0).fit(CHANNELS_LAST)
    with pytest.raises(ValueError, match="shape"):
        conv.transform(CHANNELS_FIRST)
