"""A small thread-safe cache bounded in bytes, for patch indices and spectra."""

import math
import threading
from collections import OrderedDict

import numpy as np


class ByteBoundedCache:
    """Least-recently-used cache of arrays whose total ``nbytes`` stays bounded.

    Parameters
    ----------
    max_bytes : int
        Upper bound on the summed ``nbytes`` of the cached values. A value
        larger than the bound is built and returned but not kept.

    Examples
    --------
    >>> import numpy as np
    >>> cache = ByteBoundedCache(max_bytes=1000)
    >>> cache.get("a", lambda: np.zeros(100)).nbytes
    800
    >>> cache.nbytes
    800
    >>> _ = cache.get("b", lambda: np.zeros(100))  # evicts "a"
    >>> cache.nbytes, list(cache.keys())
    (800, ['b'])
    """

    def __init__(self, max_bytes):
        self.max_bytes = int(max_bytes)
        self._items = OrderedDict()
        self._nbytes = 0
        self._lock = threading.Lock()

    @property
    def nbytes(self):
        """Summed ``nbytes`` of the cached values."""
        return self._nbytes

    def keys(self):
        """The cached keys, least recently used first."""
        with self._lock:
            return list(self._items)

    def get(self, key, build):
        """The value for ``key``, built with ``build()`` on a miss."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = build()
        size = int(value.nbytes)
        if size > self.max_bytes:
            return value
        with self._lock:
            if key not in self._items:
                self._items[key] = value
                self._nbytes += size
            while self._nbytes > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self._nbytes -= int(evicted.nbytes)
            return self._items.get(key, value)

    def clear(self):
        """Drop every cached value."""
        with self._lock:
            self._items.clear()
            self._nbytes = 0


class BufferPool:
    """Idle work buffers kept between calls, bounded in bytes.

    A fresh buffer costs a page fault per 4 KiB the first time it is written,
    which is most of the time of a small transform (measured: 3 of the 9 ms of
    one 256x256 image with 16 7x7 kernels). Workspaces take their buffers from
    here and give them back when done; the pool keeps at most ``max_bytes`` of
    idle buffers (the largest are dropped first).

    Parameters
    ----------
    max_bytes : int

    Examples
    --------
    >>> import numpy as np
    >>> pool = BufferPool(max_bytes=1 << 20)
    >>> a = pool.take((100, 10), np.float32)
    >>> pool.give(a)
    >>> b = pool.take((50, 20), np.float32)   # the same memory, reshaped
    >>> np.shares_memory(a, b)
    True
    """

    def __init__(self, max_bytes):
        self.max_bytes = int(max_bytes)
        self._idle = []  # flat uint8 arrays
        self._lock = threading.Lock()

    @property
    def nbytes(self):
        """Bytes of the idle buffers."""
        with self._lock:
            return sum(buffer.nbytes for buffer in self._idle)

    def clear(self):
        """Drop every idle buffer."""
        with self._lock:
            self._idle.clear()

    def take(self, shape, dtype):
        """An uninitialised array of ``shape`` and ``dtype`` (from an idle buffer if one fits)."""
        dtype = np.dtype(dtype)
        size = math.prod(shape) * dtype.itemsize
        with self._lock:
            fits = [i for i, b in enumerate(self._idle) if b.nbytes >= size]
            buffer = self._idle.pop(fits[0]) if fits else None  # sorted: smallest fit
        if buffer is None:
            buffer = np.empty(max(size, 1), dtype=np.uint8)
        return buffer[:size].view(dtype).reshape(shape)

    def give(self, array):
        """Return an array obtained from :meth:`take`."""
        buffer = array.base if array.base is not None else array
        while buffer.base is not None:
            buffer = buffer.base
        if buffer.dtype != np.uint8 or buffer.ndim != 1 or buffer.nbytes > self.max_bytes:
            return
        with self._lock:
            if any(b is buffer for b in self._idle):
                return
            self._idle.append(buffer)
            self._idle.sort(key=lambda b: b.nbytes)
            while sum(b.nbytes for b in self._idle) > self.max_bytes:
                self._idle.pop()


BUFFERS = BufferPool(max_bytes=128 << 20)
"""The process's pool of idle work buffers (tiles of the GEMM and FFT methods)."""
