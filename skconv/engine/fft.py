"""FFT convolution, one output tile at a time (overlap-save).

Each tile's padded input window is transformed with :func:`scipy.fft.rfftn`
(real transforms, float32 kept float32), multiplied by the conjugate spectra of
the (dilated) kernels, summed over channels and transformed back; the first
rows and columns of the result are the tile's correlation outputs (the FFT is
at least as large as the window, so no output wraps around). Tiles much
smaller than the image keep the spectra small, as
:func:`scipy.signal.oaconvolve` does; the kernel spectra are computed once per
FFT shape and reused for every tile and batch. The large work arrays (kernel
spectra, products, maps) are buffers of the pool of idle buffers, not fresh
memory at every call.
"""

import math
import sys
import threading

import numpy as np

from .cache import BUFFERS
from .tiles import read_window

# numpy >= 2.0's FFT functions take ``out=`` (and keep float32 float32).
_FFT_OUT = int(np.__version__.split(".")[0]) >= 2

# Maps of a tile of at least this many bytes are transformed back into a
# buffer of the pool (with ``_FFT_OUT``, on one thread: numpy's FFT has no
# ``workers``); smaller ones come from memory the heap has mapped already,
# where scipy's transform is as fast or faster.
IN_PLACE_BYTES = 1 << 20

# Above this many channels, the channel sum is one complex GEMM per frequency
# on the spectra laid out (F, C, K) once (KernelSpectra.by_frequency); below,
# C broadcast products summed.
_GEMM_CHANNELS = 8


def dilate(kernels, dilation):
    """Insert ``dilation - 1`` zeros between taps of ``(K, C, kh, kw)`` kernels."""
    dh, dw = dilation
    if (dh, dw) == (1, 1):
        return kernels
    k, c, kh, kw = kernels.shape
    out = np.zeros((k, c, (kh - 1) * dh + 1, (kw - 1) * dw + 1), dtype=kernels.dtype)
    out[:, :, ::dh, ::dw] = kernels
    return out


def fft_shape(window_shape):
    """FFT lengths for a window: fast lengths for real transforms (1 stays 1)."""
    from scipy.fft import next_fast_len

    return tuple(1 if n == 1 else next_fast_len(n, real=True) for n in window_shape)


def fft_axes(shape):
    """Transform axes: the last one only for 1-D data (height 1)."""
    return (-1,) if shape[0] == 1 else (-2, -1)


class KernelSpectra:
    """Conjugate spectra of a kernel bank, computed once per FFT shape and dtype.

    Holds the (dilated) kernels and a cache of their spectra; the cache is
    filled on first use by each tile shape and dropped when pickled. The
    spectra live in buffers of the pool of idle buffers
    (:data:`~skconv.engine.cache.BUFFERS`) and go back to it when the
    spectra are dropped: a bank transformed again, by the next call or
    with other kernels, writes into memory the process has already mapped.

    Parameters
    ----------
    kernels : ndarray of shape (K, C, kh, kw)
    dilation : tuple of int
    """

    max_shapes = 4  # spectra kept at once (one per tile shape in use)
    chunk_bytes = 1 << 20  # spectra transformed at once (the rest of a bank waits)

    def __init__(self, kernels, dilation):
        self.kernels = dilate(kernels, dilation)
        self._spectra = {}
        # (one thread computes, the others of its call wait for the result)
        self._lock = threading.RLock()

    def __getstate__(self):
        return {"kernels": self.kernels}

    def __setstate__(self, state):
        self.kernels = state["kernels"]
        self._spectra = {}
        self._lock = threading.RLock()

    def __del__(self):
        try:
            self.clear()
        except (AttributeError, TypeError):  # (at interpreter exit, globals may be gone)
            pass

    def clear(self):
        """Drop every spectrum held, giving its buffer back to the pool."""
        lock = getattr(self, "_lock", None)
        if lock is None:
            return
        with lock:
            while self._spectra:
                self._drop(next(iter(self._spectra)))

    def _drop(self, key):
        # Back to the pool only when no one else holds a view of the buffer:
        # its references are then this name and getrefcount's argument.
        buffer = _owner(self._spectra.pop(key))
        if sys.getrefcount(buffer) == 2:
            BUFFERS.give(buffer)

    def _keep(self, key, value, max_kept):
        while len(self._spectra) >= max_kept:
            self._drop(next(iter(self._spectra)))
        self._spectra[key] = value
        return value

    def get(self, shape, dtype, workers=1):
        """``conj(rfftn(kernels))`` of shape ``(K, C, *spectrum)`` for FFT ``shape``.

        ``dtype`` is the real computation dtype (float32 gives complex64).
        """
        key = (shape, np.dtype(dtype).str)
        with self._lock:
            if key in self._spectra:
                return self._spectra[key]
            from scipy.fft import rfftn

            axes = fft_axes(shape)
            lengths = shape[-len(axes) :]
            kernels = self.kernels.astype(dtype, copy=False)
            n_kernels, n_channels = kernels.shape[:2]
            untransformed = kernels.shape[2 : kernels.ndim - len(axes)]
            spectrum_shape = (*untransformed, *lengths[:-1], lengths[-1] // 2 + 1)
            complex_dtype = np.result_type(np.dtype(dtype), np.complex64)
            spectra = BUFFERS.take((n_kernels, n_channels, *spectrum_shape), complex_dtype)
            per_kernel = spectra[0].nbytes
            step = max(1, self.chunk_bytes // max(per_kernel, 1))
            for start in range(0, n_kernels, step):
                part = spectra[start : start + step]
                chunk = kernels[start : start + step]
                part[...] = rfftn(chunk, s=lengths, axes=axes, workers=workers)
                np.conjugate(part, out=part)
            return self._keep(key, spectra, self.max_shapes)

    @property
    def nbytes(self):
        """Bytes of the spectra held now (those of every shape and layout)."""
        with self._lock:
            return sum(spectra.nbytes for spectra in self._spectra.values())

    def by_frequency(self, shape, dtype, workers=1):
        """The spectra of :meth:`get` as ``(F, C, K)``, C-contiguous (``F`` frequencies).

        The operand of the channel sum as one complex GEMM per frequency,
        laid out once per FFT shape (not per tile).
        """
        key = ("by_frequency", shape, np.dtype(dtype).str)
        with self._lock:
            if key in self._spectra:
                return self._spectra[key]
            spectra = self.get(shape, dtype, workers)
            k, c = spectra.shape[:2]
            by_frequency = spectra.reshape(k, c, -1).transpose(2, 1, 0)
            bank = BUFFERS.take(by_frequency.shape, spectra.dtype)
            np.copyto(bank, by_frequency)
            return self._keep(key, bank, 2 * self.max_shapes)


def _owner(array):
    """The array that owns the memory ``array`` views."""
    while array.base is not None:
        array = array.base
    return array


def fft_bytes_per_image(n_channels, n_kernels, shape, itemsize):
    """Workspace bytes of one image's tile: window spectrum, products and output."""
    spectrum = shape[0] * (shape[1] // 2 + 1) * 2 * itemsize
    return (n_channels + 2 * n_kernels) * spectrum + n_kernels * shape[0] * shape[1] * itemsize


def spectra_bytes(n_channels, n_kernels, shape, itemsize):
    """Bytes of the kernel spectra for one FFT shape."""
    return n_channels * n_kernels * shape[0] * (shape[1] // 2 + 1) * 2 * itemsize


class FftTiles:
    """Buffers to compute the maps of one tile of ``m`` images by FFT.

    Parameters
    ----------
    geometry : Geometry
        The whole image's geometry.
    tiling : Tiling
        Tiles of a stride-1 ("dense") output; ``geometry.stride`` subsamples it.
    spectra : KernelSpectra
    m : int
        Images per group.
    dtype : dtype
    workers : int, default=1
        ``workers`` of :mod:`scipy.fft`.
    """

    def __init__(self, geometry, tiling, spectra, m, dtype, workers=1):
        self.geometry, self.tiling, self.workers = geometry, tiling, workers
        self.shape = fft_shape(tiling.window_shape)
        self.axes = fft_axes(self.shape)
        self.spectra = spectra.get(self.shape, dtype, workers)
        self.bank = None
        if geometry.n_channels > _GEMM_CHANNELS:
            self.bank = spectra.by_frequency(self.shape, dtype, workers)
        self.window = BUFFERS.take((m, geometry.n_channels, *tiling.window_shape), dtype)
        # (the products of every tile in buffers of the pool, not fresh memory)
        n_kernels, _, *spectrum_shape = self.spectra.shape
        self.product = BUFFERS.take((m, n_kernels, *spectrum_shape), self.spectra.dtype)
        self.term = None
        if 1 < geometry.n_channels <= _GEMM_CHANNELS:
            self.term = BUFFERS.take((m, n_kernels, *spectrum_shape), self.spectra.dtype)
        # (numpy >= 2.0 transforms into a given array: large maps go back to
        # space in a buffer of the pool instead of in scipy's fresh result)
        self.maps = None
        maps_shape = (m, n_kernels, *self.shape)
        maps_bytes = math.prod(maps_shape) * np.dtype(dtype).itemsize
        if _FFT_OUT and workers == 1 and maps_bytes >= IN_PLACE_BYTES:
            self.maps = BUFFERS.take(maps_shape, dtype)

    def close(self):
        """Give the buffers back to the pool."""
        for buffer in (self.window, self.product, self.term, self.maps):
            if buffer is not None:
                BUFFERS.give(buffer)

    def compute(self, images, row_read, col_read):
        """Maps ``(m, K, th, tw)`` (a strided view) of the tile read from these sources."""
        from scipy.fft import irfftn, rfftn

        m = images.shape[0]
        window = self.window[:m]
        read_window(images, row_read, col_read, window, channels_last=False)
        s = self.shape[-len(self.axes) :]
        spectrum = rfftn(window, s=s, axes=self.axes, workers=self.workers)
        spectra = self.spectra
        c = spectrum.shape[1]
        if c == 1:
            product = np.multiply(spectrum[:, :1], spectra[None, :, 0], out=self.product[:m])
        elif c <= _GEMM_CHANNELS:
            product = np.multiply(spectrum[:, None, 0], spectra[None, :, 0], out=self.product[:m])
            term = self.term[:m]
            for ch in range(1, c):
                np.multiply(spectrum[:, None, ch], spectra[None, :, ch], out=term)
                product += term
        else:  # a complex GEMM (images x C) @ (C x K) per frequency, contiguous operands
            freq = np.ascontiguousarray(spectrum.reshape(m, c, -1).transpose(2, 0, 1))
            by_frequency = self.product[:m].reshape(-1).reshape(freq.shape[0], m, -1)
            product = (
                np.matmul(freq, self.bank, out=by_frequency)
                .transpose(1, 2, 0)
                .reshape(m, spectra.shape[0], *spectrum.shape[2:])
            )
        th, tw = self.tiling.tile_shape
        sh, sw = self.geometry.stride
        if self.maps is not None:  # back to space in place, into a buffer of the pool
            maps = self.maps[:m]
            if len(self.axes) == 2:
                np.fft.ifft(product, axis=-2, out=product)
            np.fft.irfft(product, n=self.shape[-1], axis=-1, out=maps)
        else:
            maps = irfftn(product, s=s, axes=self.axes, workers=self.workers, overwrite_x=True)
        return maps[:, :, : (th - 1) * sh + 1 : sh, : (tw - 1) * sw + 1 : sw]
