"""Kernel mathematics: pure functions from numbers and a ``RandomState`` to arrays.

Random kernels, Gabor kernels and MiniRocket's kernels, and the normalisation
they share. The bank classes in :mod:`skconv.banks` call these; they can be
tested and reused on their own.
"""

import numpy as np
from sklearn.utils import check_random_state

from ._validation import normalize_axes_param


def resolve_kernel_size(kernel_size, n_axes):
    """Expand an int kernel size to ``n_axes`` axes; check a tuple's length.

    Parameters
    ----------
    kernel_size : int or tuple of int
    n_axes : int

    Returns
    -------
    kernel_size : tuple of int
    """
    return normalize_axes_param(kernel_size, n_axes, "kernel_size")


def normalize_kernels(kernels, *, zero_mean=True, unit_norm=True):
    """Subtract each kernel's mean and/or scale it to unit L2 norm.

    Parameters
    ----------
    kernels : ndarray of shape (K, ...)
    zero_mean : bool, default=True
    unit_norm : bool, default=True

    Returns
    -------
    kernels : ndarray of shape (K, ...)
        A new array; kernels of zero norm are left at zero.
    """
    flat = kernels.reshape(kernels.shape[0], -1).astype(np.float64, copy=True)
    if zero_mean:
        flat -= flat.mean(axis=1, keepdims=True)
    if unit_norm:
        norms = np.linalg.norm(flat, axis=1, keepdims=True)
        flat /= np.where(norms > 0, norms, 1.0)
    return flat.reshape(kernels.shape)


def random_kernels(
    random_state, n_kernels, shape, *, distribution="normal", zero_mean=True, unit_norm=True
):
    """Draw ``n_kernels`` random kernels of ``shape = (C, *kernel_size)``.

    Parameters
    ----------
    random_state : numpy.random.RandomState
    n_kernels : int
    shape : tuple of int
        ``(C, k)`` or ``(C, kh, kw)``: every kernel spans all channels.
    distribution : {"normal", "uniform", "rademacher"}, default="normal"
        Standard normal, uniform on [-1, 1], or random signs.
    zero_mean, unit_norm : bool, default=True
        See :func:`normalize_kernels`.

    Returns
    -------
    kernels : ndarray of shape ``(n_kernels, *shape)``, dtype float64
    """
    size = (n_kernels, *shape)
    if distribution == "normal":
        kernels = random_state.standard_normal(size)
    elif distribution == "uniform":
        kernels = random_state.uniform(-1.0, 1.0, size)
    elif distribution == "rademacher":
        kernels = random_state.choice([-1.0, 1.0], size=size)
    else:
        raise ValueError(f"Unknown distribution {distribution!r}.")
    return normalize_kernels(kernels, zero_mean=zero_mean, unit_norm=unit_norm)


def gabor_sigma(frequency, bandwidth):
    """Gaussian width of a Gabor filter with a half-response ``bandwidth`` (octaves)."""
    return np.sqrt(np.log(2) / 2) / (np.pi * frequency) * (2**bandwidth + 1) / (2**bandwidth - 1)


def gabor_kernel(kernel_size, frequency, theta, phase, sigma, aspect_ratio=1.0):
    """One real Gabor kernel ``exp(-(x'^2 + g^2 y'^2) / 2s^2) cos(2 pi f x' + phase)``.

    Parameters
    ----------
    kernel_size : tuple of int
        ``(k,)`` for a 1-D kernel or ``(kh, kw)``; the grid is centred.
    frequency : float
        Spatial frequency in cycles per pixel.
    theta : float
        Orientation in radians (direction of the wave vector; 2-D only).
    phase : float
        0 for the even (cosine, "real") part, pi/2 for the odd ("imaginary") part.
    sigma : float
        Width of the Gaussian envelope in pixels.
    aspect_ratio : float, default=1.0
        Envelope elongation ``g`` across the wave direction (2-D only).

    Returns
    -------
    kernel : ndarray of shape kernel_size
    """
    axes = [np.arange(k) - (k - 1) / 2 for k in kernel_size]
    if len(kernel_size) == 1:
        x_rot, y_rot = axes[0], 0.0
    else:
        y, x = np.meshgrid(*axes, indexing="ij")
        x_rot = x * np.cos(theta) + y * np.sin(theta)
        y_rot = -x * np.sin(theta) + y * np.cos(theta)
    envelope = np.exp(-(x_rot**2 + (aspect_ratio * y_rot) ** 2) / (2 * sigma**2))
    return envelope * np.cos(2 * np.pi * frequency * x_rot + phase)


def gabor_kernels(
    n_channels,
    kernel_size,
    *,
    frequencies,
    n_orientations,
    bandwidth=1.0,
    aspect_ratio=1.0,
    parts="both",
    channels="sum",
    zero_mean=True,
    unit_norm=True,
):
    """A bank of Gabor kernels and the parameters of each.

    Parameters
    ----------
    n_channels : int
        Number of image channels ``C``.
    kernel_size : tuple of int
        ``(k,)`` or ``(kh, kw)``.
    frequencies : sequence of float
        Frequencies in cycles per pixel, in (0, 0.5].
    n_orientations : int
        Orientations ``pi * i / n_orientations``; 1-D kernels have one.
    bandwidth : float, default=1.0
        Half-response frequency bandwidth in octaves; sets the envelope width.
    aspect_ratio : float, default=1.0
        Envelope elongation across the wave direction.
    parts : {"real", "imag", "both"}, default="both"
        Even (cosine), odd (sine) or both phases.
    channels : {"sum", "separate"}, default="sum"
        ``"sum"``: each kernel is the same filter on every channel (it responds to
        the channel sum, e.g. intensity); ``"separate"``: one kernel per filter and
        channel, zero on the other channels.
    zero_mean, unit_norm : bool, default=True
        Remove each filter's mean, scale it to unit norm (over all channels).

    Returns
    -------
    kernels : ndarray of shape ``(K, C, *kernel_size)``
    params : dict of ndarray of shape (K,)
        ``"orientation"`` (radians), ``"frequency"``, ``"phase"``, ``"sigma"`` and
        ``"channel"`` (-1 when the kernel spans every channel).
    """
    thetas = np.pi * np.arange(n_orientations) / n_orientations
    if len(kernel_size) == 1:
        thetas = thetas[:1]
    phases = {"real": [0.0], "imag": [np.pi / 2], "both": [0.0, np.pi / 2]}[parts]
    channel_list = [-1] if channels == "sum" else list(range(n_channels))
    kernels, rows = [], []
    for frequency in frequencies:
        sigma = gabor_sigma(frequency, bandwidth)
        for theta in thetas:
            for phase in phases:
                base = gabor_kernel(kernel_size, frequency, theta, phase, sigma, aspect_ratio)
                # Normalise the filter itself, so that a channel it does not read
                # stays exactly zero; "sum" spreads the unit norm over C copies.
                base = normalize_kernels(base[None], zero_mean=zero_mean, unit_norm=unit_norm)[0]
                for channel in channel_list:
                    kernel = np.zeros((n_channels, *kernel_size))
                    if channel < 0:
                        kernel[:] = base / (np.sqrt(n_channels) if unit_norm else 1.0)
                    else:
                        kernel[channel] = base
                    kernels.append(kernel)
                    rows.append((theta, frequency, phase, sigma, channel))
    kernels = np.array(kernels)
    names = ("orientation", "frequency", "phase", "sigma", "channel")
    params = {name: np.array(col) for name, col in zip(names, zip(*rows))}
    params["channel"] = params["channel"].astype(int)
    return kernels, params


def minirocket_kernels(n_channels=1, random_state=None, max_channels=9):
    """MiniRocket's 84 kernels of length 9: weight 2 on three taps, -1 on the other six.

    One kernel per choice of the three taps (Dempster et al. 2021); every
    kernel sums to zero, so the responses ignore the signal's offset. With
    several channels each kernel reads a random subset of
    ``floor(2 ** U(0, log2(min(C, max_channels) + 1)))`` channels (as MiniRocket
    does per kernel and dilation), and is zero on the others.

    Parameters
    ----------
    n_channels : int, default=1
    random_state : RandomState, default=None
        Draws the channel subsets (unused for one channel).
    max_channels : int, default=9

    Returns
    -------
    kernels : ndarray of shape (84, n_channels, 9), float64

    Examples
    --------
    >>> k = minirocket_kernels()
    >>> k.shape, k[0, 0].tolist()
    ((84, 1, 9), [2.0, 2.0, 2.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0])
    """
    from itertools import combinations

    taps = np.full((84, 9), -1.0)
    for k, chosen in enumerate(combinations(range(9), 3)):
        taps[k, list(chosen)] = 2.0
    kernels = np.zeros((84, n_channels, 9))
    if n_channels == 1:
        kernels[:, 0] = taps
        return kernels
    rng = check_random_state(random_state)
    top = np.log2(min(n_channels, max_channels) + 1)
    sizes = (2 ** rng.uniform(0, top, 84)).astype(int)
    for k, size in enumerate(sizes):
        kernels[k, rng.choice(n_channels, size, replace=False)] = taps[k]
    return kernels
