"""A small thread-safe cache bounded in bytes, for patch indices and spectra."""

import threading
from collections import OrderedDict


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
