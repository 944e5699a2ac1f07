/* Counts of map values above per-kernel thresholds, for skconv.engine._count_above.
 *
 * counts[k, b, s] += #{w : maps[k, s, w] > biases[k, b]}, maps series-major
 * (K, m, W), biases (K, B), counts (K, B, m), all C-contiguous. Four biases
 * are compared per read of a value (a short last group repeats its last bias
 * and discards the copies), with the four counts in registers. On x86-64 ELF
 * platforms the loop is also compiled for AVX2 and the CPU picks the version
 * at load time (target_clones); elsewhere it is compiled for the baseline.
 */
#include <stddef.h>

#if defined(__has_attribute)
#if __has_attribute(target_clones) && defined(__x86_64__) && defined(__ELF__)
#define SKCONV_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef SKCONV_CLONES
#define SKCONV_CLONES
#endif

#define SKCONV_DEFINE_COUNT_ABOVE(NAME, REAL)                                          \
    SKCONV_CLONES static void NAME(const REAL *maps, const REAL *biases, int *counts,   \
                                   ptrdiff_t n_kernels, ptrdiff_t m, ptrdiff_t width,  \
                                   ptrdiff_t n_biases)                                 \
    {                                                                                  \
        for (ptrdiff_t k = 0; k < n_kernels; k++) {                                    \
            const REAL *levels = biases + k * n_biases;                                \
            for (ptrdiff_t s = 0; s < m; s++) {                                        \
                const REAL *row = maps + (k * m + s) * width;                          \
                int *total = counts + k * n_biases * m + s;                            \
                for (ptrdiff_t b = 0; b < n_biases; b += 4) {                          \
                    const ptrdiff_t last = n_biases - 1;                               \
                    const REAL l0 = levels[b];                                         \
                    const REAL l1 = levels[b + 1 < last ? b + 1 : last];               \
                    const REAL l2 = levels[b + 2 < last ? b + 2 : last];               \
                    const REAL l3 = levels[b + 3 < last ? b + 3 : last];               \
                    int t0 = 0, t1 = 0, t2 = 0, t3 = 0;                                \
                    for (ptrdiff_t w = 0; w < width; w++) {                            \
                        const REAL v = row[w];                                         \
                        t0 += v > l0;                                                  \
                        t1 += v > l1;                                                  \
                        t2 += v > l2;                                                  \
                        t3 += v > l3;                                                  \
                    }                                                                  \
                    total[b * m] += t0;                                                \
                    if (b + 1 < n_biases) total[(b + 1) * m] += t1;                    \
                    if (b + 2 < n_biases) total[(b + 2) * m] += t2;                    \
                    if (b + 3 < n_biases) total[(b + 3) * m] += t3;                    \
                }                                                                      \
            }                                                                          \
        }                                                                              \
    }

SKCONV_DEFINE_COUNT_ABOVE(skconv_count_above_float, float)
SKCONV_DEFINE_COUNT_ABOVE(skconv_count_above_double, double)
