"""Kernel banks: shapes, normalisation, orientation, reproducibility, params."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone

from skconv import ArrayBank, GaborBank, RandomBank
from skconv._kernels import gabor_kernel, gabor_sigma, normalize_kernels, random_kernels

IMAGES_2D = np.zeros((3, 2, 16, 16))
SIGNALS = np.zeros((3, 1, 100))


@pytest.mark.parametrize("distribution", ["normal", "uniform", "rademacher"])
def test_random_kernels_are_zero_mean_unit_norm(distribution):
    kernels = random_kernels(np.random.RandomState(0), 10, (2, 3, 3), distribution=distribution)
    flat = kernels.reshape(10, -1)
    assert_allclose(flat.mean(axis=1), 0, atol=1e-12)
    assert_allclose(np.linalg.norm(flat, axis=1), 1)


def test_random_kernels_without_normalisation_keep_the_distribution():
    kernels = random_kernels(
        np.random.RandomState(0),
        50,
        (1, 4),
        distribution="rademacher",
        zero_mean=False,
        unit_norm=False,
    )
    assert set(np.unique(kernels)) == {-1.0, 1.0}


def test_random_bank_shapes_and_seed_reproducibility():
    bank = RandomBank(n_kernels=7, kernel_size=(3, 5), random_state=0).fit(IMAGES_2D)
    assert bank.kernels_.shape == (7, 2, 3, 5)
    again = RandomBank(n_kernels=7, kernel_size=(3, 5), random_state=0).fit(IMAGES_2D)
    assert_array_equal(bank.kernels_, again.kernels_)
    other = RandomBank(n_kernels=7, kernel_size=(3, 5), random_state=1).fit(IMAGES_2D)
    assert not np.allclose(bank.kernels_, other.kernels_)
    assert RandomBank(kernel_size=9).fit(SIGNALS).kernels_.shape == (64, 1, 9)


def test_bank_is_a_searchable_parameter_object():
    bank = RandomBank(n_kernels=3)
    assert bank.get_params()["n_kernels"] == 3
    assert clone(bank.set_params(n_kernels=5)).n_kernels == 5


def test_gabor_orientation_and_frequency():
    """The energy of an even Gabor kernel peaks at its (frequency, orientation)."""
    kernel = gabor_kernel((33, 33), 0.125, np.pi / 4, 0.0, sigma=6.0)
    spectrum = np.abs(np.fft.fft2(kernel, s=(128, 128)))
    fy, fx = np.unravel_index(np.argmax(spectrum[:64, :64]), (64, 64))
    assert_allclose(np.hypot(fy, fx) / 128, 0.125, atol=0.01)
    assert_allclose(np.arctan2(fy, fx), np.pi / 4, atol=0.05)


def test_gabor_bank_parameters_describe_each_kernel():
    bank = GaborBank(n_orientations=4, frequencies=(0.1, 0.3), kernel_size=11).fit(IMAGES_2D)
    assert bank.kernels_.shape == (16, 2, 11, 11)  # 2 freqs x 4 orientations x 2 phases
    assert_allclose(np.unique(bank.frequencies_), [0.1, 0.3])
    assert_allclose(np.unique(bank.orientations_), np.pi * np.arange(4) / 4)
    assert_allclose(np.unique(bank.phases_), [0, np.pi / 2])
    assert_allclose(bank.sigmas_[bank.frequencies_ == 0.1], gabor_sigma(0.1, 1.0))
    assert_array_equal(bank.channels_, -1)
    flat = bank.kernels_.reshape(16, -1)
    assert_allclose(flat.mean(axis=1), 0, atol=1e-12)
    assert_allclose(np.linalg.norm(flat, axis=1), 1)
    # "sum": the same filter on both channels
    assert_allclose(bank.kernels_[:, 0], bank.kernels_[:, 1])


def test_gabor_separate_channels():
    bank = GaborBank(n_orientations=2, frequencies=(0.25,), kernel_size=5, channels="separate")
    bank.fit(IMAGES_2D)
    assert bank.kernels_.shape == (8, 2, 5, 5)
    assert_array_equal(bank.channels_, [0, 1] * 4)
    for kernel, channel in zip(bank.kernels_, bank.channels_):
        assert np.abs(kernel[1 - channel]).max() == 0 and np.abs(kernel[channel]).max() > 0


def test_gabor_parts_and_1d():
    real = GaborBank(parts="real", n_orientations=3, kernel_size=7).fit(IMAGES_2D)
    assert real.kernels_.shape[0] == 6 and np.all(real.phases_ == 0)
    one_d = GaborBank(frequencies=(0.1, 0.2), kernel_size=15).fit(SIGNALS)
    assert one_d.kernels_.shape == (4, 1, 15)  # orientations collapse to one
    auto = GaborBank(frequencies=(0.1,)).fit(SIGNALS)
    size = auto.kernels_.shape[-1]
    assert size % 2 == 1 and size >= 5 * gabor_sigma(0.1, 1.0)


def test_gabor_rejects_bad_frequencies():
    with pytest.raises(ValueError, match="frequencies"):
        GaborBank(frequencies=(0.2, 0.7)).fit(IMAGES_2D)
    with pytest.raises(ValueError, match="frequencies"):
        GaborBank(frequencies=0.0).fit(IMAGES_2D)


def test_array_bank_adds_the_channel_axis_and_checks_channels():
    kernels = np.ones((2, 3, 3))
    assert ArrayBank(kernels).fit(np.zeros((1, 1, 8, 8))).kernels_.shape == (2, 1, 3, 3)
    with pytest.raises(ValueError, match=r"1 channel\(s\) but the images have 2"):
        ArrayBank(kernels).fit(IMAGES_2D)
    with pytest.raises(ValueError, match="shape"):
        ArrayBank(np.ones((2, 3))).fit(IMAGES_2D)
    with pytest.raises(ValueError, match="NaN"):
        ArrayBank(np.full((1, 2, 3, 3), np.nan)).fit(IMAGES_2D)
    with pytest.raises(TypeError, match="numeric"):
        ArrayBank([["a"]]).fit(SIGNALS)


@pytest.mark.parametrize(
    "bank, match",
    [
        (RandomBank(n_kernels=0), "n_kernels"),
        (RandomBank(kernel_size=0), "kernel_size"),
        (RandomBank(kernel_size=(3, -1)), "kernel_size"),
        (RandomBank(kernel_size=(3, 3, 3)), "kernel_size"),
        (RandomBank(distribution="cauchy"), "distribution"),
        (GaborBank(n_orientations=0), "n_orientations"),
        (GaborBank(bandwidth=0), "bandwidth"),
        (GaborBank(parts="complex"), "parts"),
    ],
)
def test_banks_validate_their_parameters(bank, match):
    with pytest.raises(ValueError, match=match):
        bank.fit(IMAGES_2D)


def test_normalize_kernels_leaves_zero_kernels():
    assert_array_equal(normalize_kernels(np.zeros((2, 1, 3))), 0)
