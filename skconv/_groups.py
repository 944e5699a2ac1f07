"""What ``transform`` runs: one part per (dilation, padding) with the kernels it applies to.

A fitted :class:`~skconv.ConvFeatures` holds one :class:`ConvPart` list per
dilation group. Usually a group is one part (every kernel, one geometry).
With ``padding="alternate"`` (MiniRocket's rule) a group is two parts: half
the kernels pool their whole same-padded maps, the other half only the
positions whose taps all read data (a valid-padded geometry, whose maps are
the interior of the same-padded ones); which half alternates from one
dilation to the next. Parts select kernels by slices, so their features are
written straight into strided views of the output.
"""

from dataclasses import dataclass

import numpy as np

from ._convolve import resolve_method
from .engine.core import make_geometry
from .engine.fft import KernelSpectra

ALTERNATE = "alternate"


@dataclass(frozen=True)
class ConvPart:
    """One geometry and the kernels (a slice of the bank) it runs.

    Attributes
    ----------
    geometry : Geometry
    kernels : slice
        Which kernels of the bank.
    weights : ndarray of shape (patch_size, n)
        Their kernel matrix, contiguous, in the fit dtype (None for learned plans).
    method : {"gemm", "fft"}
    spectra : KernelSpectra or None
        The kernels' spectra (FFT method only).
    """

    geometry: object
    kernels: slice
    weights: object
    method: str
    spectra: object


def kernel_halves(n_kernels, group_index):
    """MiniRocket's split: ``(same, valid)`` kernel slices of a dilation group.

    Kernel ``k`` of group ``g`` pools its same-padded map when ``(g + k)`` is
    even, its valid part otherwise.
    """
    same = slice(group_index % 2, n_kernels, 2)
    valid = slice((group_index + 1) % 2, n_kernels, 2)
    return same, valid


def make_parts(
    input_shape,
    kernel_shape,
    kernels4d,
    weights,
    dilations,
    *,
    stride,
    padding,
    method,
    learned,
):
    """The parts of every dilation group.

    Parameters
    ----------
    input_shape : tuple of int
        ``(C, L)`` or ``(C, H, W)``.
    kernel_shape : tuple of int
        ``(C, k)`` or ``(C, kh, kw)``.
    kernels4d : ndarray of shape (K, C, kh, kw)
    weights : ndarray of shape (patch_size, K)
        The whole bank's kernel matrix (sliced per part; unused when ``learned``).
    dilations : list of tuple of int
    stride, padding :
        The estimator's parameters (``padding`` may be ``"alternate"``).
    method : {"auto", "gemm", "fft"}
    learned : bool
        Learned banks and encoders (the GEMM method on the whole bank only).

    Returns
    -------
    groups : list of list of ConvPart
    """
    n_kernels = kernels4d.shape[0]
    groups = []
    for g, dilation in enumerate(dilations):
        if padding == ALTERNATE:
            same, valid = kernel_halves(n_kernels, g)
            specs = [(same, "same"), (valid, "valid")]
        else:
            specs = [(slice(0, n_kernels), padding)]
        parts = []
        for kernels, part_padding in specs:
            count = len(range(*kernels.indices(n_kernels)))
            if count == 0:
                continue
            geometry = make_geometry(
                input_shape, kernel_shape, stride=stride, padding=part_padding, dilation=dilation
            )
            part_method = resolve_method(
                method, geometry, count, kernels4d.dtype.itemsize, learned=learned
            )
            spectra = None
            if part_method == "fft":
                spectra = KernelSpectra(kernels4d[kernels], geometry.dilation)
            part_weights = None if learned else np.ascontiguousarray(weights[:, kernels])
            parts.append(ConvPart(geometry, kernels, part_weights, part_method, spectra))
        groups.append(parts)
    return groups
