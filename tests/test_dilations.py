"""Dilation groups: the parameter's forms, MiniRocket's rule, the bias split."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from skconv import ArrayBank, ConvFeatures, GaborBank, RandomBank
from skconv._dilations import (
    check_dilation_param,
    exponential_dilations,
    resolve_dilations,
    spread_biases,
)

RNG = np.random.default_rng(0)


def minirocket_dilations(length, n_features_per_kernel=119, n_values=32):
    """aeon's ``_fit_dilations``, transcribed (the reference for the rule)."""
    multiplier = n_features_per_kernel / n_values
    max_exponent = np.log2((length - 1) / (9 - 1))
    dilations, counts = np.unique(
        np.logspace(0, max_exponent, n_values, base=2).astype(np.int32), return_counts=True
    )
    per_dilation = (counts * multiplier).astype(np.int32)
    remainder = n_features_per_kernel - per_dilation.sum()
    i = 0
    while remainder > 0:
        per_dilation[i] += 1
        remainder -= 1
        i = (i + 1) % len(per_dilation)
    return dilations.tolist(), per_dilation.tolist()


@pytest.mark.parametrize("length", [24, 150, 251, 427, 1000, 1460])
def test_exponential_rule_and_bias_split_match_minirocket(length):
    dilations, weights = exponential_dilations((length,), (9,))
    expected, per_dilation = minirocket_dilations(length)
    assert [d[0] for d in dilations] == expected
    assert sum(weights) == 32
    assert spread_biases(119, weights) == per_dilation


def test_exponential_dilations_stay_within_the_input():
    for length in range(9, 300, 7):
        dilations, _ = exponential_dilations((length,), (9,))
        assert dilations[0] == (1,)
        assert all(8 * d[0] + 1 <= length for d in dilations)
    dilations, _ = exponential_dilations((20, 40), (5, 3))
    assert all(4 * dy + 1 <= 20 and 2 * dx + 1 <= 40 for dy, dx in dilations)


def test_the_parameter_forms():
    assert resolve_dilations(2, (50,), (5,)) == ([(2,)], [1])
    assert resolve_dilations((1, 3), (20, 20), (3, 3)) == ([(1, 3)], [1])
    assert resolve_dilations([1, 2, 4], (50,), (5,)) == ([(1,), (2,), (4,)], [1, 1, 1])
    assert resolve_dilations([1, (2, 1)], (20, 20), (3, 3)) == ([(1, 1), (2, 1)], [1, 1])


@pytest.mark.parametrize(
    "dilation, match",
    [
        ([], "empty"),
        ([1, 1], "twice"),
        ("exp", "exponential"),
        ([1, 0], ">= 1"),
        ([1, 2.5], "int"),
        ([(1, 2, 3)], "sequence of 1 int"),
    ],
)
def test_bad_dilations_are_refused(dilation, match):
    with pytest.raises((ValueError, TypeError), match=match):
        check_dilation_param(dilation, 1)
        resolve_dilations(dilation, (50,), (5,))


def test_spread_biases_gives_the_remainder_to_small_dilations():
    assert spread_biases(10, [1, 1, 1]) == [4, 3, 3]
    assert spread_biases(2, [1, 1, 1]) == [1, 1, 0]


@pytest.mark.parametrize("pooling", ["max", ("mean", "ppv")])
@pytest.mark.parametrize("one_d", [True, False])
def test_several_dilations_equal_the_union_of_single_dilation_runs(pooling, one_d):
    if one_d:
        X, shape, kernels = RNG.standard_normal((6, 60)), None, RNG.standard_normal((3, 1, 5))
        dilations = [1, 3, 7]
    else:
        X, shape, kernels = (
            RNG.standard_normal((6, 400)),
            (20, 20),
            RNG.standard_normal((3, 1, 3, 3)),
        )
        dilations = [1, (2, 3), 4]
    params = dict(image_shape=shape, pooling=pooling, pool_grid=2)
    multi = ConvFeatures(ArrayBank(kernels), dilation=dilations, **params).fit(X)
    singles = [ConvFeatures(ArrayBank(kernels), dilation=d, **params).fit(X) for d in dilations]
    assert_allclose(multi.transform(X), np.hstack([s.transform(X) for s in singles]), atol=1e-12)
    names = multi.get_feature_names_out()
    assert len(names) == multi.n_features_out_ == multi.transform(X).shape[1]
    tag = "d3_k2" if one_d else "d2x3_k2"
    assert any(name.startswith(f"convfeatures_{tag}_") for name in names)
    assert multi.dilations_ == [s.dilations_[0] for s in singles]


def test_several_dilations_with_whole_maps_and_the_fft_method():
    X = RNG.standard_normal((3, 900))
    conv = ConvFeatures(
        GaborBank(n_orientations=2, kernel_size=9),
        image_shape=(30, 30),
        dilation=[1, 2],
        pooling=None,
        method="fft",
    ).fit(X)
    single = [
        ConvFeatures(
            GaborBank(n_orientations=2, kernel_size=9),
            image_shape=(30, 30),
            dilation=d,
            pooling=None,
        )
        .fit(X)
        .transform(X)
        for d in (1, 2)
    ]
    assert_allclose(conv.transform(X), np.hstack(single), atol=1e-9)


def test_oversized_dilations_and_kernels_are_errors_naming_the_parameter():
    X = RNG.standard_normal((4, 30))
    with pytest.raises(ValueError, match=r"dilation 5 .* dilation <= 3"):
        ConvFeatures(RandomBank(kernel_size=9), dilation=5).fit(X)
    with pytest.raises(ValueError, match=r"dilation 8 .* dilation <= 3"):
        ConvFeatures(RandomBank(kernel_size=9), dilation=[1, 8]).fit(X)
    with pytest.raises(ValueError, match="kernel_size"):
        ConvFeatures(RandomBank(kernel_size=40), dilation="exponential").fit(X)
    # The rule itself stays within the input.
    conv = ConvFeatures(RandomBank(kernel_size=9), dilation="exponential").fit(X)
    assert max(d[0] for d in conv.dilations_) == 3
