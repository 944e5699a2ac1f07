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

/* The series path's whole region, without storing maps: each kernel's values
 * over a run of positions are correlated into a small buffer that stays in
 * the core's first-level cache, and counted (or folded into the positive
 * values' states) from there.
 *
 * series (m, C, L') C-contiguous, read from `first` along L'; kernel_rows
 * (K, taps * C), taps in (tap, channel) order; biases (K, B); states
 * (K, B, m); buffer of m * run values. Positions [start, stop), stride and
 * dilation along L'. possum == NULL: counts only.
 *
 * The correlation runs along positions, four vectors at a time, each weight
 * broadcast once per block (zero weights, the channels a kernel does not
 * read, skipped). On x86-64 a version compiled for AVX2 and FMA is chosen at
 * run time when the CPU has them.
 */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SKCONV_FAST_TARGET __attribute__((target("avx2,fma")))
#define SKCONV_HAS_FAST 1
#else
#define SKCONV_FAST_TARGET
#define SKCONV_HAS_FAST 0
#endif

/* Taps times channels of a kernel (the caller checks). */
#define SKCONV_MAX_DEPTH 4096

/* Vectors read and written at any address (aligned as their elements). */
typedef float skconv_vec_float __attribute__((vector_size(32), aligned(4), may_alias));
typedef double skconv_vec_double __attribute__((vector_size(32), aligned(8), may_alias));

/* A block of 8 vectors: eight independent chains of multiply-adds, enough to
 * cover the latency of each (one chain per vector would wait on it). */
#define SKCONV_CORRELATE_BLOCK(REAL, VEC, N)                                                \
    {                                                                                       \
        VEC a[N];                                                                           \
        for (int i = 0; i < (N); i++) {                                                     \
            a[i] = (VEC){0};                                                                \
            if (sums != NULL) a[i] = alpha * *(const VEC *)(sums + w + i * lanes);          \
        }                                                                                   \
        for (ptrdiff_t j = 0; j < depth; j++) {                                             \
            const REAL wt = weights[j];                                                     \
            const REAL *src = x + reads[j] + w;                                             \
            for (int i = 0; i < (N); i++) a[i] += wt * *(const VEC *)(src + i * lanes);     \
        }                                                                                   \
        for (int i = 0; i < (N); i++) *(VEC *)(row + w + i * lanes) = a[i];                 \
    }

#define SKCONV_DEFINE_CORRELATE(NAME, ATTR, REAL, VEC)                                       \
    ATTR static void NAME(const REAL *x, const ptrdiff_t *reads, ptrdiff_t depth,            \
                          ptrdiff_t stride, const REAL *weights, const REAL *sums, REAL alpha, \
                          ptrdiff_t width, REAL *row)                                         \
    {                                                                                       \
        const ptrdiff_t lanes = (ptrdiff_t)(sizeof(VEC) / sizeof(REAL));                    \
        ptrdiff_t w = 0;                                                                    \
        if (stride == 1) {                                                                  \
            for (; w + 8 * lanes <= width; w += 8 * lanes) SKCONV_CORRELATE_BLOCK(REAL, VEC, 8) \
            for (; w + lanes <= width; w += lanes) SKCONV_CORRELATE_BLOCK(REAL, VEC, 1) \
        }                                                                                   \
        for (; w < width; w++) {                                                            \
            REAL total = sums != NULL ? alpha * sums[w] : 0;                                \
            for (ptrdiff_t j = 0; j < depth; j++) {                                         \
                total += weights[j] * x[reads[j] + w * stride];                             \
            }                                                                               \
            row[w] = total;                                                                 \
        }                                                                                   \
    }

SKCONV_DEFINE_CORRELATE(skconv_correlate_float_base, , float, skconv_vec_float)
SKCONV_DEFINE_CORRELATE(skconv_correlate_double_base, , double, skconv_vec_double)
#if SKCONV_HAS_FAST
SKCONV_DEFINE_CORRELATE(skconv_correlate_float_fast, SKCONV_FAST_TARGET, float, skconv_vec_float)
SKCONV_DEFINE_CORRELATE(skconv_correlate_double_fast, SKCONV_FAST_TARGET, double,
                        skconv_vec_double)
#endif

static int skconv_use_fast(void)
{
#if SKCONV_HAS_FAST
    static int known = -1;
    if (known < 0) {
        __builtin_cpu_init();
        known = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return known;
#else
    return 0;
#endif
}

#define SKCONV_DEFINE_BIASED_DIRECT(NAME, REAL, BASE, FAST, COUNT, STATS)                    \
    static void NAME(const REAL *series, ptrdiff_t m, ptrdiff_t n_channels, ptrdiff_t length, \
                     ptrdiff_t first, ptrdiff_t taps, ptrdiff_t dilation, ptrdiff_t stride,   \
                     ptrdiff_t start, ptrdiff_t stop, const REAL *kernel_rows,                \
                     const REAL *alphas, ptrdiff_t n_kernels, const REAL *biases,             \
                     ptrdiff_t n_biases, REAL *buffer, ptrdiff_t run, int *count,             \
                     double *possum, double *offsets, int *run_now, int *best)                \
    {                                                                                       \
        void (*correlate)(const REAL *, const ptrdiff_t *, ptrdiff_t, ptrdiff_t, const REAL *, \
                          const REAL *, REAL, ptrdiff_t, REAL *) = BASE;                    \
        if (skconv_use_fast()) correlate = FAST;                                            \
        const ptrdiff_t depth = taps * n_channels;                                          \
        ptrdiff_t reads[SKCONV_MAX_DEPTH], tap_reads[SKCONV_MAX_DEPTH];                     \
        REAL ones[SKCONV_MAX_DEPTH], tap_weights[SKCONV_MAX_DEPTH];                         \
        if (depth > SKCONV_MAX_DEPTH) return;                                               \
        for (ptrdiff_t j = 0; j < depth; j++) {                                             \
            reads[j] = (j % n_channels) * length + (j / n_channels) * dilation;             \
            ones[j] = 1;                                                                    \
        }                                                                                   \
        REAL *sums = buffer + m * run; /* each series' sum of every tap, when alphas */      \
        for (ptrdiff_t p0 = start; p0 < stop; p0 += run) {                                  \
            const ptrdiff_t width = stop - p0 < run ? stop - p0 : run;                      \
            const REAL *at_p0 = series + first + p0 * stride;                               \
            if (alphas != NULL)                                                             \
                for (ptrdiff_t s = 0; s < m; s++)                                           \
                    correlate(at_p0 + s * n_channels * length, reads, depth, stride, ones,   \
                              NULL, 0, width, sums + s * width);                            \
            for (ptrdiff_t k = 0; k < n_kernels; k++) {                                     \
                const ptrdiff_t at = k * n_biases * m;                                      \
                /* The kernel's nonzero taps only: no branch in the loop. */                \
                ptrdiff_t used = 0;                                                         \
                for (ptrdiff_t j = 0; j < depth; j++)                                       \
                    if (kernel_rows[k * depth + j] != 0) {                                  \
                        tap_reads[used] = reads[j];                                         \
                        tap_weights[used++] = kernel_rows[k * depth + j];                   \
                    }                                                                       \
                for (ptrdiff_t s = 0; s < m; s++)                                           \
                    correlate(at_p0 + s * n_channels * length, tap_reads, used, stride,      \
                              tap_weights, alphas ? sums + s * width : NULL,                 \
                              alphas ? alphas[k] : 0, width, buffer + s * width);           \
                if (possum == NULL)                                                         \
                    COUNT(buffer, biases + k * n_biases, count + at, 1, m, width, n_biases); \
                else                                                                        \
                    STATS(buffer, biases + k * n_biases, count + at, possum + at, offsets + at, \
                          run_now + at, best + at, 1, m, width, n_biases, p0 - start);       \
            }                                                                               \
        }                                                                                   \
    }

#if SKCONV_HAS_FAST
#define SKCONV_CORRELATE_FAST_FLOAT skconv_correlate_float_fast
#define SKCONV_CORRELATE_FAST_DOUBLE skconv_correlate_double_fast
#else
#define SKCONV_CORRELATE_FAST_FLOAT skconv_correlate_float_base
#define SKCONV_CORRELATE_FAST_DOUBLE skconv_correlate_double_base
#endif
SKCONV_DEFINE_BIASED_DIRECT(skconv_biased_direct_float, float, skconv_correlate_float_base,
                            SKCONV_CORRELATE_FAST_FLOAT, skconv_count_above_float,
                            skconv_positive_stats_float)
SKCONV_DEFINE_BIASED_DIRECT(skconv_biased_direct_double, double, skconv_correlate_double_base,
                            SKCONV_CORRELATE_FAST_DOUBLE, skconv_count_above_double,
                            skconv_positive_stats_double)
