/* Counts of map values above per-kernel thresholds, for skconv.engine._stat_loops.
 *
 * counts[k, b, s] += #{w : maps[k, s, w] > biases[k, b]}, maps series-major
 * (K, m, W), biases (K, B), counts (K, B, m), all C-contiguous. Four biases
 * are compared per read of a value (a short last group repeats its last bias
 * and discards the copies), with the four counts in registers. On x86-64 ELF
 * platforms the loop is also compiled for AVX2 and the CPU picks the version
 * at load time (target_clones); elsewhere it is compiled for the baseline.
 */
#include <stddef.h>
#include <string.h>

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

/* The partial states of the statistics of positive values, for many biases.
 *
 * For each kernel k, series s and bias b, over a run of W positions of
 * maps[k, s, :] (series-major (K, m, W)), with d = value - biases[k, b]:
 *   count[k, b, s]   += #{w : d > 0}
 *   possum[k, b, s]  += sum of d over those w
 *   offsets[k, b, s] += sum of (base + w) over those w
 *   run[k, b, s]      the positive values ending the run (carried in and out)
 *   best[k, b, s]     the longest run so far (carried in and out)
 * States (K, B, m), C-contiguous. Eight biases per read of a value, as the
 * eight lanes of GCC/Clang vectors (one AVX2 register for float32), every
 * update branch-free: a comparison gives each lane's mask (-1 or 0), and
 * masks select, count and reset the runs. The run is a dependency along w,
 * never across biases. A short last group repeats its last bias and drops
 * the copies. W < 46340 (index sums of a run in int).
 */
#define SKCONV_LANES 8
typedef float skconv_lanes_float __attribute__((vector_size(SKCONV_LANES * sizeof(float))));
typedef int skconv_mask_float __attribute__((vector_size(SKCONV_LANES * sizeof(int))));
typedef double skconv_lanes_double __attribute__((vector_size(SKCONV_LANES * sizeof(double))));
typedef long long skconv_mask_double __attribute__((vector_size(SKCONV_LANES * sizeof(long long))));

/* One group of eight lanes: its states, loaded from and stored to the arrays. */
#define SKCONV_GROUP_LOAD(G, B0)                                                            \
    lanes_t lev##G, sum##G = {0};                                                             \
    mask_t t##G = {0}, idx##G = {0}, r##G, top##G;                                            \
    {                                                                                       \
        real_t lev_[SKCONV_LANES];                                                            \
        int_t r_[SKCONV_LANES], top_[SKCONV_LANES];                                           \
        for (int j = 0; j < SKCONV_LANES; j++) {                                            \
            const ptrdiff_t bj = (B0) + j < last ? (B0) + j : last;                         \
            lev_[j] = levels[bj];                                                           \
            r_[j] = run[first + bj * m];                                                    \
            top_[j] = best[first + bj * m];                                                 \
        }                                                                                   \
        memcpy(&lev##G, lev_, sizeof lev##G);                                               \
        memcpy(&r##G, r_, sizeof r##G);                                                     \
        memcpy(&top##G, top_, sizeof top##G);                                               \
    }
#define SKCONV_GROUP_STEP(G)                                                                \
    {                                                                                       \
        const lanes_t d = v - lev##G;                                                         \
        const mask_t p = d > 0; /* -1 where positive, else 0 */                               \
        t##G -= p;                                                                          \
        sum##G += (lanes_t)((mask_t)d & p);                                                     \
        idx##G += (int_t)w & p;                                                               \
        r##G = (r##G + 1) & p;                                                              \
        const mask_t longer = r##G > top##G;                                                  \
        top##G = (top##G & ~longer) | (r##G & longer);                                      \
    }
#define SKCONV_GROUP_STORE(G, B0)                                                           \
    {                                                                                       \
        real_t sum_[SKCONV_LANES];                                                            \
        int_t t_[SKCONV_LANES], idx_[SKCONV_LANES], r_[SKCONV_LANES], top_[SKCONV_LANES];     \
        memcpy(sum_, &sum##G, sizeof sum_);                                                 \
        memcpy(t_, &t##G, sizeof t_);                                                       \
        memcpy(idx_, &idx##G, sizeof idx_);                                                 \
        memcpy(r_, &r##G, sizeof r_);                                                       \
        memcpy(top_, &top##G, sizeof top_);                                                 \
        for (int j = 0; j < SKCONV_LANES && (B0) + j < n_biases; j++) {                     \
            const ptrdiff_t at = first + ((B0) + j) * m;                                    \
            count[at] += (int)t_[j];                                                        \
            possum[at] += (double)sum_[j];                                                  \
            offsets[at] += (double)base * (double)t_[j] + (double)idx_[j];                  \
            run[at] = (int)r_[j];                                                           \
            best[at] = (int)top_[j];                                                        \
        }                                                                                   \
    }

/* Two groups (sixteen biases) per read of a value: their chains of additions
 * interleave (one group alone waits on the latency of its sums). */
#define SKCONV_DEFINE_POSITIVE_STATS(NAME, REAL, LANES, MASK, INT)                          \
    SKCONV_CLONES static void NAME(const REAL *maps, const REAL *biases, int *count,         \
                                   double *possum, double *offsets, int *run, int *best,     \
                                   ptrdiff_t n_kernels, ptrdiff_t m, ptrdiff_t width,        \
                                   ptrdiff_t n_biases, ptrdiff_t base)                       \
    {                                                                                       \
        typedef REAL real_t;                                                                \
        typedef LANES lanes_t;                                                              \
        typedef MASK mask_t;                                                                \
        typedef INT int_t;                                                                  \
        const ptrdiff_t last = n_biases - 1;                                                \
        for (ptrdiff_t k = 0; k < n_kernels; k++) {                                         \
            const REAL *levels = biases + k * n_biases;                                     \
            for (ptrdiff_t s = 0; s < m; s++) {                                             \
                const REAL *row = maps + (k * m + s) * width;                               \
                const ptrdiff_t first = k * n_biases * m + s;                               \
                ptrdiff_t b = 0;                                                            \
                for (; b + SKCONV_LANES < n_biases; b += 2 * SKCONV_LANES) {                \
                    SKCONV_GROUP_LOAD(0, b)                                                 \
                    SKCONV_GROUP_LOAD(1, b + SKCONV_LANES)                                  \
                    for (ptrdiff_t w = 0; w < width; w++) {                                 \
                        const REAL v = row[w];                                              \
                        SKCONV_GROUP_STEP(0)                                                \
                        SKCONV_GROUP_STEP(1)                                                \
                    }                                                                       \
                    SKCONV_GROUP_STORE(0, b)                                                \
                    SKCONV_GROUP_STORE(1, b + SKCONV_LANES)                                 \
                }                                                                           \
                if (b < n_biases) {                                                         \
                    SKCONV_GROUP_LOAD(0, b)                                                 \
                    for (ptrdiff_t w = 0; w < width; w++) {                                 \
                        const REAL v = row[w];                                              \
                        SKCONV_GROUP_STEP(0)                                                \
                    }                                                                       \
                    SKCONV_GROUP_STORE(0, b)                                                \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
    }

SKCONV_DEFINE_POSITIVE_STATS(skconv_positive_stats_float, float, skconv_lanes_float,
                             skconv_mask_float, int)
SKCONV_DEFINE_POSITIVE_STATS(skconv_positive_stats_double, double, skconv_lanes_double,
                             skconv_mask_double, long long)

/* Hydra's competition: which kernel of each group wins at each position.
 *
 * maps (m, P, K) channels-last (P positions, K kernels, C-contiguous),
 * regions (P,) the region of each position, counts and sums (m, R, K):
 * for each image i, position p and group of `group` consecutive kernels, the
 * kernel with the largest response (largest = 1) or the smallest (largest =
 * 0), the first on ties, adds 1 to counts[i, regions[p], k] and its response
 * to sums[i, regions[p], k].
 */
#define SKCONV_DEFINE_GROUP_WINS(NAME, REAL)                                               \
    static void NAME(const REAL *maps, const ptrdiff_t *regions, double *counts,          \
                     double *sums, ptrdiff_t m, ptrdiff_t n_positions, ptrdiff_t n_kernels, \
                     ptrdiff_t n_regions, ptrdiff_t group, int largest)                   \
    {                                                                                     \
        for (ptrdiff_t i = 0; i < m; i++) {                                               \
            for (ptrdiff_t p = 0; p < n_positions; p++) {                                 \
                const REAL *row = maps + (i * n_positions + p) * n_kernels;               \
                const ptrdiff_t at = (i * n_regions + regions[p]) * n_kernels;            \
                for (ptrdiff_t g = 0; g < n_kernels; g += group) {                        \
                    ptrdiff_t best = g;                                                   \
                    REAL top = row[g];                                                    \
                    if (largest) {                                                        \
                        for (ptrdiff_t k = g + 1; k < g + group; k++)                     \
                            if (row[k] > top) {                                           \
                                top = row[k];                                             \
                                best = k;                                                 \
                            }                                                             \
                    } else {                                                              \
                        for (ptrdiff_t k = g + 1; k < g + group; k++)                     \
                            if (row[k] < top) {                                           \
                                top = row[k];                                             \
                                best = k;                                                 \
                            }                                                             \
                    }                                                                     \
                    counts[at + best] += 1.0;                                             \
                    sums[at + best] += (double)top;                                       \
                }                                                                         \
            }                                                                             \
        }                                                                                 \
    }

SKCONV_DEFINE_GROUP_WINS(skconv_group_wins_float, float)
SKCONV_DEFINE_GROUP_WINS(skconv_group_wins_double, double)
