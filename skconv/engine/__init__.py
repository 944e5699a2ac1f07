"""The numeric engine: plain functions and small classes on arrays, no estimator state.

* :mod:`~skconv.engine.planner` - how each part of a transform runs, decided
  once (path, method, layout, batch and tile sizes, fused statistics, threads),
  with the cost model of :mod:`~skconv.engine.costs`;
* :mod:`~skconv.engine.core` - geometry, the cached patch index, the batched
  path for small images (gather + GEMM, or the compiled loop), threads;
* :mod:`~skconv.engine.tiles`, :mod:`~skconv.engine.tiled`,
  :mod:`~skconv.engine.gemm`, :mod:`~skconv.engine.fft` - large images, tile by
  tile, by GEMM (or the compiled loop) or FFT;
* :mod:`~skconv.engine.series` - MiniRocket-style features of signals;
* :mod:`~skconv.engine.features` - carries out a part's plan into feature rows;
* :mod:`~skconv.engine.learned` - learned banks' responses and encoders;
* :mod:`~skconv.engine.compiled`, :mod:`~skconv.engine.cache` - the optional
  compiled loops (``_direct``, ``_stat_loops``) and the buffer caches.
"""
