/* The learned banks' responses and encoders, one pass per patch, for
 * skconv.engine._encoders (see skconv/engine/learned.py for the algebra).
 *
 * raw (N, R): the GEMM's columns for N patches (K kernels, J whitened
 * coordinates, then a column of patch sums when normalising); patches (N, D);
 * out (N, K). For each patch: its mean and variance (centred, as numpy does),
 * the normalised and whitened responses c_k . x, and, for the triangle
 * encoder, ||x||^2, the distances z_k = ||x - c_k|| and max(0, mean(z) - z_k);
 * for the soft threshold, max(0, c_k . x - threshold). The same operations in
 * the same order as skconv.engine.learned.encode, without its dozen passes
 * over (N, K) arrays in memory.
 */
#include <math.h>
#include <stddef.h>

/* The helper loops (encoders, phase splits, row copies) are compiled for
 * AVX-512, AVX2 and the baseline, the CPU's chosen at load time. */
#if defined(__has_attribute)
#if __has_attribute(target_clones) && defined(__x86_64__) && defined(__ELF__)
#define SKCONV_ENCODER_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef SKCONV_ENCODER_CLONES
#define SKCONV_ENCODER_CLONES
#endif

/* sum((x[t] - centre)^2) over t < n, in eight partial sums: independent
 * chains of additions (one chain waits on each addition's latency), which
 * the compiler also vectorises. */
#define SKCONV_SUM_SQUARES(REAL, x, centre, n)                                              \
    ({                                                                                      \
        REAL partial_[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                        \
        ptrdiff_t t_ = 0;                                                                   \
        for (; t_ + 8 <= (n); t_ += 8)                                                      \
            for (int l_ = 0; l_ < 8; l_++) {                                                \
                const REAL c_ = (x)[t_ + l_] - (centre);                                    \
                partial_[l_] += c_ * c_;                                                    \
            }                                                                               \
        REAL sum_ = 0;                                                                      \
        for (int l_ = 0; l_ < 8; l_++) sum_ += partial_[l_];                                \
        for (; t_ < (n); t_++) {                                                            \
            const REAL c_ = (x)[t_] - (centre);                                             \
            sum_ += c_ * c_;                                                                \
        }                                                                                   \
        sum_;                                                                               \
    })

#define SKCONV_RESPONSES_ONLY 0
#define SKCONV_TRIANGLE 1
#define SKCONV_SOFT_THRESHOLD 2

/* The responses (and encoder) of one patch: ``row`` its R GEMM columns,
 * ``patch`` its D values, ``values`` its K outputs, ``whitened`` J scratch. */
#define SKCONV_DEFINE_ENCODE_ROW(NAME, REAL, SQRT)                                          \
    static inline __attribute__((always_inline)) void NAME(                                 \
        const REAL *row, const REAL *patch, REAL *values, REAL *whitened, ptrdiff_t n_raw,  \
        ptrdiff_t k, ptrdiff_t j, ptrdiff_t d, int normalise, REAL norm_reg,                \
        const REAL *column_sums, const REAL *bias, const REAL *centre_norms, int mode,      \
        REAL threshold)                                                                     \
    {                                                                                       \
        REAL mean = 0, var = 0, inv_std = 1;                                                \
        if (normalise) {                                                                    \
            mean = row[n_raw - 1] / (REAL)d;                                                \
            var = SKCONV_SUM_SQUARES(REAL, patch, mean, d) / (REAL)d;                       \
            inv_std = (REAL)1 / SQRT(var + norm_reg);                                       \
            for (ptrdiff_t c = 0; c < k; c++)                                               \
                values[c] = (row[c] - mean * column_sums[c]) * inv_std - bias[c];           \
            for (ptrdiff_t c = 0; c < j; c++)                                               \
                whitened[c] = (row[k + c] - mean * column_sums[k + c]) * inv_std - bias[k + c]; \
        } else {                                                                            \
            for (ptrdiff_t c = 0; c < k; c++) values[c] = row[c] - bias[c];                 \
            for (ptrdiff_t c = 0; c < j; c++) whitened[c] = row[k + c] - bias[k + c];       \
        }                                                                                   \
        if (mode == SKCONV_SOFT_THRESHOLD) {                                                \
            for (ptrdiff_t c = 0; c < k; c++) {                                             \
                const REAL v = values[c] - threshold;                                       \
                values[c] = v > 0 ? v : 0;                                                  \
            }                                                                               \
        } else if (mode == SKCONV_TRIANGLE) {                                               \
            REAL norms = 0;                                                                 \
            if (j) {                                                                        \
                norms = SKCONV_SUM_SQUARES(REAL, whitened, (REAL)0, j);                     \
            } else if (normalise) {                                                         \
                norms = (REAL)d * var / (var + norm_reg);                                   \
            } else {                                                                        \
                norms = SKCONV_SUM_SQUARES(REAL, patch, (REAL)0, d);                        \
            }                                                                               \
            for (ptrdiff_t c = 0; c < k; c++) {                                             \
                const REAL v = values[c] * (REAL)-2 + norms + centre_norms[c];              \
                values[c] = SQRT(v > 0 ? v : 0);                                            \
            }                                                                               \
            /* The mean of the distances over eight partial sums (vectorised). */           \
            REAL partial[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                     \
            ptrdiff_t c8 = 0;                                                               \
            for (; c8 + 8 <= k; c8 += 8)                                                    \
                for (int l = 0; l < 8; l++) partial[l] += values[c8 + l];                   \
            REAL total = 0;                                                                 \
            for (int l = 0; l < 8; l++) total += partial[l];                                \
            for (; c8 < k; c8++) total += values[c8];                                       \
            const REAL average = total / (REAL)k;                                           \
            for (ptrdiff_t c = 0; c < k; c++) {                                             \
                const REAL v = average - values[c];                                         \
                values[c] = v > 0 ? v : 0;                                                  \
            }                                                                               \
        }                                                                                   \
    }

/* Every patch of a batch: out (N, K) from raw (N, R) and patches (N, D). */
#define SKCONV_DEFINE_ENCODE(NAME, ROW, REAL)                                               \
    SKCONV_ENCODER_CLONES static void NAME(                                                 \
        const REAL *raw, const REAL *patches, REAL *out, REAL *scratch, ptrdiff_t n,        \
        ptrdiff_t n_raw, ptrdiff_t k, ptrdiff_t j, ptrdiff_t d, int normalise,              \
        REAL norm_reg, const REAL *column_sums, const REAL *bias, const REAL *centre_norms, \
        int mode, REAL threshold)                                                           \
    {                                                                                       \
        for (ptrdiff_t i = 0; i < n; i++)                                                   \
            ROW(raw + i * n_raw, patches + i * d, out + i * k, scratch, n_raw, k, j, d,     \
                normalise, norm_reg, column_sums, bias, centre_norms, mode, threshold);     \
    }

/* The partial states the pooled loop keeps (skconv.pooling.statistics.PARTIALS). */
#define SKCONV_STATE_MAX 0
#define SKCONV_STATE_SUM 1
#define SKCONV_STATE_SUMSQ 2
#define SKCONV_STATE_COUNT 3
#define SKCONV_STATE_POSSUM 4

/* The pooled loop (skconv.engine._encoders.pool_encoded), one block of
 * positions (whole map rows) at a time, every array positions last (rows
 * ``ld`` apart, the positions of a block along them), so that the per-patch
 * scalars (mean, deviation, ||x||^2, mean distance) are vectors and no loop
 * reduces across its lanes. For each block: the patches are gathered
 * (SKCONV_DEFINE_GATHER), contrast-normalised in place
 * (SKCONV_DEFINE_NORMALISE), multiplied by the plan's columns with the
 * encoder applied as each column leaves the registers
 * (SKCONV_DEFINE_ENCODED_COLUMNS; SKCONV_DEFINE_ENCODE_RAW after BLAS's GEMM
 * where the CPU has neither AVX-512 nor AVX2), then folded into the pooling
 * states (SKCONV_DEFINE_POOL). The columns come whitened coordinates first
 * (their squares summed into ||x||^2), then the kernels (the responses, or
 * with the triangle encoder the distances ||x - c_k|| and their sum). */

/* Normalise a block's patches in place: patches (D, n), rows ``ld`` apart,
 * each position centred on its mean and divided by sqrt(variance +
 * norm_reg). The mean and variance in one pass, of the values minus the
 * patch's first (shifted data: no cancellation from an offset shared by the
 * patch, as centring first). ``norms`` (n) receives ||x||^2 of the
 * normalised patches when the triangle needs it without whitened
 * coordinates (``box_norms``), else zeros; ``mean`` and ``scale`` (n) are
 * scratch. */
#define SKCONV_DEFINE_NORMALISE(NAME, REAL, SQRT)                                           \
    SKCONV_ENCODER_CLONES static void NAME(                                                 \
        REAL *restrict patches, ptrdiff_t ld, ptrdiff_t n, ptrdiff_t d, int normalise,      \
        REAL norm_reg, int box_norms, REAL *restrict norms, REAL *restrict mean,            \
        REAL *restrict scale)                                                               \
    {                                                                                       \
        if (normalise) {                                                                    \
            REAL *restrict sums = norms, *restrict squares = scale;                         \
            for (ptrdiff_t i = 0; i < n; i++) {                                             \
                mean[i] = patches[i];                                                       \
                sums[i] = squares[i] = 0;                                                   \
            }                                                                               \
            for (ptrdiff_t t = 1; t < d; t++) {                                             \
                const REAL *restrict p = patches + t * ld;                                  \
                for (ptrdiff_t i = 0; i < n; i++) {                                         \
                    const REAL c = p[i] - mean[i];                                          \
                    sums[i] += c;                                                           \
                    squares[i] += c * c;                                                    \
                }                                                                           \
            }                                                                               \
            for (ptrdiff_t i = 0; i < n; i++) {                                             \
                const REAL shift = sums[i] / (REAL)d, var_ = squares[i] / (REAL)d - shift * shift; \
                const REAL var = var_ > 0 ? var_ : 0;                                       \
                mean[i] += shift;                                                           \
                norms[i] = box_norms ? (REAL)d * var / (var + norm_reg) : 0;                \
                scale[i] = (REAL)1 / SQRT(var + norm_reg);                                  \
            }                                                                               \
            for (ptrdiff_t t = 0; t < d; t++) {                                             \
                REAL *restrict p = patches + t * ld;                                        \
                for (ptrdiff_t i = 0; i < n; i++) p[i] = (p[i] - mean[i]) * scale[i];       \
            }                                                                               \
        } else {                                                                            \
            for (ptrdiff_t i = 0; i < n; i++) norms[i] = 0;                                 \
            if (box_norms)                                                                  \
                for (ptrdiff_t t = 0; t < d; t++) {                                         \
                    const REAL *restrict p = patches + t * ld;                              \
                    for (ptrdiff_t i = 0; i < n; i++) norms[i] += p[i] * p[i];              \
                }                                                                           \
        }                                                                                   \
    }

/* The encoder on a block's columns computed by BLAS: raw (R, n), rows ``ld``
 * apart, the j whitened coordinates, then from row ``first`` the k kernels'
 * columns; ``bias`` (R) by row. Writes ``values`` (k, n), rows ``ld`` apart: the
 * responses c_k . x - b_k; or, with the triangle (``triangle``: the kernels'
 * columns scaled by -2 and ``offsets`` (k) = ||c_k||^2 + 2 b_k), the
 * distances sqrt(max(0, ||x||^2 - 2 (c_k . x - b_k) + ||c_k||^2)), their sum
 * into ``average`` (n) and the whitened coordinates' squares into ``norms``
 * (n, holding the box norms or zeros). The same operations as the register
 * loop below, which does them before its columns leave the registers. */
#define SKCONV_DEFINE_ENCODE_RAW(NAME, REAL, SQRT)                                          \
    SKCONV_ENCODER_CLONES static void NAME(                                                 \
        const REAL *restrict raw, ptrdiff_t ld, ptrdiff_t n, ptrdiff_t j, ptrdiff_t first,  \
        ptrdiff_t k, const REAL *restrict bias, const REAL *restrict offsets, int triangle, \
        REAL *restrict norms, REAL *restrict values, REAL *restrict average)                \
    {                                                                                       \
        for (ptrdiff_t c = 0; c < j; c++) {                                                 \
            const REAL *restrict r = raw + c * ld;                                          \
            const REAL b = bias[c];                                                         \
            for (ptrdiff_t i = 0; i < n; i++) {                                             \
                const REAL w = r[i] - b;                                                    \
                norms[i] += w * w;                                                          \
            }                                                                               \
        }                                                                                   \
        for (ptrdiff_t i = 0; i < n; i++) average[i] = 0;                                   \
        for (ptrdiff_t c = 0; c < k; c++) {                                                 \
            const REAL *restrict r = raw + (first + c) * ld;                                \
            REAL *restrict v = values + c * ld;                                             \
            if (triangle) {                                                                 \
                const REAL offset = offsets[c];                                             \
                for (ptrdiff_t i = 0; i < n; i++) {                                         \
                    const REAL z = r[i] + norms[i] + offset;                                \
                    v[i] = SQRT(z > 0 ? z : 0);                                             \
                    average[i] += v[i];                                                     \
                }                                                                           \
            } else {                                                                        \
                const REAL b = bias[first + c];                                             \
                for (ptrdiff_t i = 0; i < n; i++) v[i] = r[i] - b;                          \
            }                                                                               \
        }                                                                                   \
    }

/* A map value at the fold (row R, column X of a block): with the triangle's
 * last step fused, its mean distance minus the distance. */
#define SKCONV_FINAL_FUSED(R, X) (average[(R)*ow + (X)] - v[(R)*ow + (X)])
#define SKCONV_FINAL_PLAIN(R, X) (v[(R)*ow + (X)])

/* Fold map rows [r, end) of one kernel's values into its row of running
 * maxima (a band's first row starts it), four rows per pass; FINAL(R, X) the
 * map value. Written out once per form of FINAL: a test inside the loop
 * kept the compiler from vectorising it. */
#define SKCONV_FOLD_MAXIMA(REAL, FINAL)                                                     \
    do {                                                                                    \
        if (first) {                                                                        \
            for (ptrdiff_t x = 0; x < ow; x++) maxima[x] = FINAL(r, x);                     \
            r++;                                                                            \
        }                                                                                   \
        for (; r + 4 <= end; r += 4)                                                        \
            for (ptrdiff_t x = 0; x < ow; x++) {                                            \
                REAL z = maxima[x];                                                         \
                const REAL z0 = FINAL(r, x), z1 = FINAL(r + 1, x);                          \
                const REAL z2 = FINAL(r + 2, x), z3 = FINAL(r + 3, x);                      \
                const REAL za = z0 > z1 ? z0 : z1, zb = z2 > z3 ? z2 : z3;                  \
                const REAL zc = za > zb ? za : zb;                                          \
                maxima[x] = z > zc ? z : zc;                                                \
            }                                                                               \
        for (; r < end; r++)                                                                \
            for (ptrdiff_t x = 0; x < ow; x++) {                                            \
                const REAL z = FINAL(r, x);                                                 \
                maxima[x] = maxima[x] > z ? maxima[x] : z;                                  \
            }                                                                               \
    } while (0)

/* acc = max(acc, v) lane by lane, as ``acc > v ? acc : v`` (GCC's vector
 * extension: a comparison gives a mask of integers of the same width). */
#define SKCONV_EIGHT_MAX(acc, v)                                                            \
    do {                                                                                    \
        const __typeof__(acc) v_ = (v);                                                     \
        const __typeof__((acc) > v_) more_ = (acc) > v_;                                    \
        (acc) = (__typeof__(acc))((more_ & (__typeof__(more_))(acc)) |                      \
                                  (~more_ & (__typeof__(more_))v_));                        \
    } while (0)

/* The maxima of ``maxima[lo:hi]`` (hi - lo >= 8) in the eight lanes of ``acc``:
 * vectors of eight columns, four a step (four chains of maxima), the last
 * ending at the region's end (overlapping the one before: a maximum can take
 * a value twice). */
#define SKCONV_REGION_EIGHT(eight_t, acc, maxima, lo, hi)                                   \
    do {                                                                                    \
        ptrdiff_t x_;                                                                       \
        eight_t a1_, a2_, a3_;                                                              \
        (acc) = *(const eight_t *)((maxima) + (lo));                                        \
        a1_ = a2_ = a3_ = (acc);                                                            \
        for (x_ = (lo) + 8; x_ + 32 <= (hi); x_ += 32) {                                    \
            SKCONV_EIGHT_MAX(acc, *(const eight_t *)((maxima) + x_));                       \
            SKCONV_EIGHT_MAX(a1_, *(const eight_t *)((maxima) + x_ + 8));                   \
            SKCONV_EIGHT_MAX(a2_, *(const eight_t *)((maxima) + x_ + 16));                  \
            SKCONV_EIGHT_MAX(a3_, *(const eight_t *)((maxima) + x_ + 24));                  \
        }                                                                                   \
        for (; x_ + 8 <= (hi); x_ += 8) SKCONV_EIGHT_MAX(acc, *(const eight_t *)((maxima) + x_)); \
        SKCONV_EIGHT_MAX(acc, *(const eight_t *)((maxima) + (hi) - 8));                     \
        SKCONV_EIGHT_MAX(acc, a1_);                                                         \
        SKCONV_EIGHT_MAX(a2_, a3_);                                                         \
        SKCONV_EIGHT_MAX(acc, a2_);                                                         \
    } while (0)

/* m = max(a, b) lane by lane after the two shuffles of (a, b) given. */
#define SKCONV_SHUFFLED_MAX(m, a, b, i0, i1, i2, i3, i4, i5, i6, i7, j0, j1, j2, j3, j4, j5, j6, j7) \
    do {                                                                                    \
        (m) = __builtin_shufflevector(a, b, i0, i1, i2, i3, i4, i5, i6, i7);                \
        SKCONV_EIGHT_MAX(m, __builtin_shufflevector(a, b, j0, j1, j2, j3, j4, j5, j6, j7)); \
    } while (0)

/* The band's rows of maxima are folded (state s, every kernel): each region's
 * maximum into the states, eight kernels at a time where the region has at
 * least eight columns: their eight-lane maxima (SKCONV_REGION_EIGHT) reduced
 * together, in three steps of two shuffles and a maximum (eight vectors into
 * one of eight kernels' maxima), instead of a reduction across the lanes per
 * kernel. */
#define SKCONV_REDUCE_MAXIMA(REAL)                                                          \
    do {                                                                                    \
        typedef REAL eight_t                                                                \
            __attribute__((vector_size(8 * sizeof(REAL)), aligned(sizeof(REAL)), may_alias)); \
        const REAL *restrict first_maxima = row_maxima + (ptrdiff_t)s * k * ow;             \
        for (ptrdiff_t gx = 0; gx < gw; gx++) {                                             \
            double *restrict state = states + ((s * n_regions) + band * gw + gx) * k;       \
            const ptrdiff_t lo = col_bounds[gx], hi = col_bounds[gx + 1];                   \
            ptrdiff_t c = 0;                                                                \
            if (hi - lo >= 8)                                                               \
                for (; c + 8 <= k; c += 8) {                                                \
                    eight_t a[8], b[4], d[2], e;                                            \
                    for (int j = 0; j < 8; j++)                                             \
                        SKCONV_REGION_EIGHT(eight_t, a[j], first_maxima + (c + j) * ow, lo, hi); \
                    /* b[i]: lanes 0-3 kernel 2i's, 4-7 kernel 2i+1's */                    \
                    for (int i = 0; i < 4; i++)                                             \
                        SKCONV_SHUFFLED_MAX(b[i], a[2 * i], a[2 * i + 1], 0, 1, 2, 3, 8, 9, 10, 11, \
                                            4, 5, 6, 7, 12, 13, 14, 15);                    \
                    /* d[i]: lanes in pairs, kernels 4i, 4i+2, 4i+1, 4i+3 */                \
                    for (int i = 0; i < 2; i++)                                             \
                        SKCONV_SHUFFLED_MAX(d[i], b[2 * i], b[2 * i + 1], 0, 1, 8, 9, 4, 5, 12, 13, \
                                            2, 3, 10, 11, 6, 7, 14, 15);                    \
                    /* e: kernels 0, 4, 2, 6, 1, 5, 3, 7 */                                 \
                    SKCONV_SHUFFLED_MAX(e, d[0], d[1], 0, 8, 2, 10, 4, 12, 6, 14, 1, 9, 3, 11, 5, 13, \
                                        7, 15);                                             \
                    REAL lanes[8];                                                          \
                    __builtin_memcpy(lanes, &e, sizeof lanes);                              \
                    static const int lane_of[8] = {0, 4, 2, 6, 1, 5, 3, 7};                 \
                    for (int j = 0; j < 8; j++) {                                           \
                        double folded = lanes[lane_of[j]];                                  \
                        if (relu_once) folded = folded > 0 ? folded : 0;                    \
                        state[c + j] = state[c + j] > folded ? state[c + j] : folded;       \
                    }                                                                       \
                }                                                                           \
            for (; c < k; c++) {                                                            \
                const REAL *restrict maxima = first_maxima + c * ow;                        \
                double folded;                                                              \
                if (hi - lo >= 8) {                                                         \
                    eight_t acc;                                                            \
                    SKCONV_REGION_EIGHT(eight_t, acc, maxima, lo, hi);                      \
                    REAL lanes[8];                                                          \
                    __builtin_memcpy(lanes, &acc, sizeof lanes);                            \
                    for (int l = 0; l < 4; l++)                                             \
                        lanes[l] = lanes[l] > lanes[l + 4] ? lanes[l] : lanes[l + 4];       \
                    for (int l = 0; l < 2; l++)                                             \
                        lanes[l] = lanes[l] > lanes[l + 2] ? lanes[l] : lanes[l + 2];       \
                    folded = lanes[0] > lanes[1] ? lanes[0] : lanes[1];                     \
                } else {                                                                    \
                    REAL most = maxima[lo];                                                 \
                    for (ptrdiff_t x = lo; x < hi; x++) most = most > maxima[x] ? most : maxima[x]; \
                    folded = most;                                                          \
                }                                                                           \
                if (relu_once) folded = folded > 0 ? folded : 0;                            \
                state[c] = state[c] > folded ? state[c] : folded;                           \
            }                                                                               \
        }                                                                                   \
    } while (0)

/* Fold a block's encoded values into the pooling states: ``values`` (K, n),
 * rows ``ld`` apart, ``average`` (n) the triangle's sums of distances (mode
 * SKCONV_TRIANGLE). First the encoder's last step (max(0, mean distance -
 * distance), or max(0, response - threshold), or the relu with ``rectify``),
 * then each map row into every state: maxima in the values' own type, sums
 * in double, over the rows of a band of regions (``row_maxima`` and
 * ``rows``, (P, K, ow)), reduced into ``states`` (P, G, K) at the band's
 * last row, P states of codes ``kinds``, G = gh * gw regions. The block
 * starts at map row ``row0`` and holds ``n / ow`` rows of the run of map rows
 * [row_begin, row_end) whose states these are (the maps' rows, or a thread's
 * share of them); ``row_regions[y]`` is the region row of map row y,
 * ``col_bounds`` (gw + 1) the regions' column bounds. Rows are ``ow`` apart:
 * the caller may pad them (the
 * padding lanes are computed and folded, never reduced). With maxima only,
 * the triangle's last step runs inside the fold and the relu on the regions'
 * maxima. */
#define SKCONV_DEFINE_POOL(NAME, REAL)                                                      \
    SKCONV_ENCODER_CLONES static void NAME(                                                 \
        REAL *restrict values, REAL *restrict average, REAL *restrict row_maxima,           \
        double *restrict rows, ptrdiff_t ld, ptrdiff_t n, ptrdiff_t k, int mode, REAL threshold, \
        int rectify, ptrdiff_t row_begin, ptrdiff_t row_end, ptrdiff_t ow, ptrdiff_t row0,  \
        const ptrdiff_t *restrict row_regions, const ptrdiff_t *restrict col_bounds,        \
        ptrdiff_t gw, ptrdiff_t n_regions, const int *restrict kinds, int n_states,         \
        double *restrict states)                                                            \
    {                                                                                       \
        const ptrdiff_t n_rows = n / ow;                                                    \
        if (mode == SKCONV_TRIANGLE)                                                        \
            for (ptrdiff_t i = 0; i < n; i++) average[i] /= (REAL)k;                        \
        int maxima_only = 1;                                                                \
        for (int s = 0; s < n_states; s++) maxima_only &= kinds[s] == SKCONV_STATE_MAX;     \
        const int fused_last = mode == SKCONV_TRIANGLE && maxima_only;                      \
        /* relu(max) = max(relu): with maxima only, the relu (the triangle's                \
         * own, or ``rectify``) is taken once, on each region's maximum. */                 \
        const int relu_once =                                                               \
            fused_last || (maxima_only && mode == SKCONV_RESPONSES_ONLY && rectify);        \
        if (!relu_once)                                                                     \
            for (ptrdiff_t c = 0; c < k; c++) {                                             \
                REAL *restrict v = values + c * ld;                                         \
                if (mode == SKCONV_TRIANGLE) {                                              \
                    for (ptrdiff_t i = 0; i < n; i++) {                                     \
                        const REAL z = average[i] - v[i];                                   \
                        v[i] = z > 0 ? z : 0;                                               \
                    }                                                                       \
                } else if (mode == SKCONV_SOFT_THRESHOLD) {                                 \
                    for (ptrdiff_t i = 0; i < n; i++) {                                     \
                        const REAL z = v[i] - threshold;                                    \
                        v[i] = z > 0 ? z : 0;                                               \
                    }                                                                       \
                } else if (rectify) {                                                       \
                    for (ptrdiff_t i = 0; i < n; i++) v[i] = v[i] > 0 ? v[i] : 0;           \
                }                                                                           \
            }                                                                               \
        /* Runs of rows of one band of regions: each folded in one pass over                \
         * a state's row (four map rows per pass for maxima). */                            \
        for (ptrdiff_t y = 0; y < n_rows;) {                                                \
            const ptrdiff_t band = row_regions[row0 + y];                                   \
            ptrdiff_t end = y + 1;                                                          \
            while (end < n_rows && row_regions[row0 + end] == band) end++;                  \
            const int first = row0 + y == row_begin || row_regions[row0 + y - 1] != band;   \
            const int last = row0 + end == row_end || row_regions[row0 + end] != band;      \
            for (int s = 0; s < n_states; s++) {                                            \
                const int kind = kinds[s];                                                  \
                for (ptrdiff_t c = 0; c < k; c++) {                                         \
                    const REAL *restrict v = values + c * ld;                               \
                    const ptrdiff_t at = ((ptrdiff_t)s * k + c) * ow;                       \
                    double *restrict row = rows + at;                                       \
                    REAL *restrict maxima = row_maxima + at;                                \
                    ptrdiff_t r = y;                                                        \
                    if (kind == SKCONV_STATE_MAX) {                                         \
                        /* The triangle's last step: max(mean distance - distance, 0),      \
                         * its relu taken once on the region's maximum. */                  \
                        if (fused_last)                                                     \
                            SKCONV_FOLD_MAXIMA(REAL, SKCONV_FINAL_FUSED);                   \
                        else                                                                \
                            SKCONV_FOLD_MAXIMA(REAL, SKCONV_FINAL_PLAIN);                   \
                    } else {                                                                \
                        for (; r < end; r++) {                                              \
                            const REAL *restrict line = v + r * ow;                         \
                            const int start = first && r == y;                              \
                            switch (kind) {                                                 \
                            case SKCONV_STATE_SUM:                                          \
                                for (ptrdiff_t x = 0; x < ow; x++)                          \
                                    row[x] = (start ? 0.0 : row[x]) + line[x];              \
                                break;                                                      \
                            case SKCONV_STATE_SUMSQ:                                        \
                                for (ptrdiff_t x = 0; x < ow; x++)                          \
                                    row[x] = (start ? 0.0 : row[x]) + (double)line[x] * line[x]; \
                                break;                                                      \
                            case SKCONV_STATE_COUNT:                                        \
                                for (ptrdiff_t x = 0; x < ow; x++)                          \
                                    row[x] = (start ? 0.0 : row[x]) + (line[x] > 0);        \
                                break;                                                      \
                            default: /* SKCONV_STATE_POSSUM */                              \
                                for (ptrdiff_t x = 0; x < ow; x++)                          \
                                    row[x] = (start ? 0.0 : row[x]) + (line[x] > 0 ? line[x] : 0); \
                            }                                                               \
                        }                                                                   \
                    }                                                                       \
                    if (!last || kind == SKCONV_STATE_MAX) continue;                        \
                    /* The band's rows are folded: reduce each region's columns,            \
                     * in eight independent lanes. */                                       \
                    for (ptrdiff_t gx = 0; gx < gw; gx++) {                                 \
                        double *state = states + ((s * n_regions) + band * gw + gx) * k + c; \
                        const ptrdiff_t lo = col_bounds[gx], hi = col_bounds[gx + 1];       \
                        ptrdiff_t x = lo;                                                   \
                        double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};                         \
                        for (; x + 8 <= hi; x += 8)                                         \
                            for (int l = 0; l < 8; l++) lanes[l] += row[x + l];             \
                        for (; x < hi; x++) lanes[0] += row[x];                             \
                        double folded = 0;                                                  \
                        for (int l = 0; l < 8; l++) folded += lanes[l];                     \
                        *state += folded;                                                   \
                    }                                                                       \
                }                                                                           \
                if (last && kind == SKCONV_STATE_MAX)                                       \
                    SKCONV_REDUCE_MAXIMA(REAL);                                             \
            }                                                                               \
            y = end;                                                                        \
        }                                                                                   \
    }

/* Copy loops as loops: a call to memmove per run of a row costs more than
 * the few vectors of the run. */
#if defined(__GNUC__) && !defined(__clang__)
#define SKCONV_NO_MEMMOVE __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define SKCONV_NO_MEMMOVE
#endif

/* The patches of map rows [row0, row0 + n_rows) of an image, tap by tap:
 * patches (D, ld), each map row ``row_stride`` >= ow apart (ld >= n_rows *
 * row_stride), tap t = (ky * kw + kx) * C + c, from the padded (C, hp, wp)
 * channels-first image (a tap's values along a map row are a run of one
 * padded row, contiguous at stride 1). */
#define SKCONV_DEFINE_GATHER(NAME, REAL)                                                    \
    SKCONV_ENCODER_CLONES SKCONV_NO_MEMMOVE static void NAME(const REAL *restrict padded, ptrdiff_t hp, ptrdiff_t wp, \
                     ptrdiff_t channels, ptrdiff_t kh, ptrdiff_t kw, ptrdiff_t sy,          \
                     ptrdiff_t sx, ptrdiff_t dy, ptrdiff_t dx, ptrdiff_t ow,                \
                     ptrdiff_t row_stride, ptrdiff_t row0, ptrdiff_t n_rows, ptrdiff_t ld,  \
                     REAL *restrict patches)                                                \
    {                                                                                       \
        for (ptrdiff_t ky = 0; ky < kh; ky++)                                               \
            for (ptrdiff_t kx = 0; kx < kw; kx++)                                           \
                for (ptrdiff_t c = 0; c < channels; c++) {                                  \
                    REAL *target = patches + ((ky * kw + kx) * channels + c) * ld;          \
                    for (ptrdiff_t y = 0; y < n_rows; y++) {                                \
                        const REAL *restrict source =                                       \
                            padded + (c * hp + (row0 + y) * sy + ky * dy) * wp + kx * dx;   \
                        REAL *restrict line = target + y * row_stride;                      \
                        if (sx == 1)                                                        \
                            for (ptrdiff_t x = 0; x < ow; x++) line[x] = source[x];         \
                        else                                                                \
                            for (ptrdiff_t x = 0; x < ow; x++) line[x] = source[x * sx];    \
                    }                                                                       \
                }                                                                           \
    }

/* The columns of a block of positions and the encoder on them, positions
 * last: the GEMM weights^T (R, D) @ patches (D, n) (patches' rows ``ld``
 * apart), each block of NV vectors of positions x NC columns in registers
 * over the taps (one vector load per tap and vector, one broadcast per tap
 * and column: on AVX-512, 3 x 16 positions x 8 columns in float, 0.80-0.83x
 * the time of 2 x 16 x 10 on 3-channel 5x5 patches, with fewer loads per
 * multiply-add, and 2 x 8 x 8 in double (3 vectors of 8 measured 1.25x
 * slower there); on AVX2, 2 x 8 x 6; for the small depths of patches, 25 for
 * 5x5, 1.5-2.4x faster than BLAS's GEMM, which packs its operands for depths
 * in the hundreds).
 * Group g of NC columns runs over taps [taps[2g], taps[2g + 1]) only: the
 * rows where its weights are not all zero (the whitened coordinates are
 * triangular, see skconv.engine.learned.make_response_plan). Before they
 * leave the registers, SKCONV_DEFINE_ENCODE_RAW's operations: the j whitened
 * coordinates' squares summed into ||x||^2, then, from column ``first``, the
 * k kernels' responses, or their distances and the sum of those. n a
 * multiple of SKCONV_COLUMN_LANES and R of skconv_column_group() (the caller
 * pads: the other columns are computed and dropped). */
#define SKCONV_COLUMN_LANES 48

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SKCONV_HAS_COLUMNS 1
#include <float.h>
#include <immintrin.h>
typedef float skconv_v16f __attribute__((vector_size(64), aligned(4), may_alias));
typedef double skconv_v8d __attribute__((vector_size(64), aligned(8), may_alias));
typedef float skconv_v8f __attribute__((vector_size(32), aligned(4), may_alias));
typedef double skconv_v4d __attribute__((vector_size(32), aligned(8), may_alias));

/* sqrt(max(z, 0)) of a vector. In float through the reciprocal square root
 * estimate and one Newton step, y (1.5 - y e / 2) with y = z e: within two
 * units in the last place of sqrtf, at several times the throughput of the
 * division unit's square root (z is first raised to FLT_MIN, whose square
 * root, 1e-19, stands for 0). */
#define SKCONV_DEFINE_FLOAT_DISTANCE(NAME, TARGET, VEC, RAW, MAX, BROADCAST, RSQRT)         \
    __attribute__((target(TARGET))) static inline VEC NAME(VEC z)                           \
    {                                                                                       \
        const VEC x = (VEC)MAX((RAW)z, BROADCAST(FLT_MIN));                                 \
        const VEC e = (VEC)RSQRT((RAW)x), y = x * e;                                        \
        return y * (1.5f - 0.5f * (y * e));                                                 \
    }
SKCONV_DEFINE_FLOAT_DISTANCE(skconv_distance_v16f, "avx512f", skconv_v16f, __m512, _mm512_max_ps,
                             _mm512_set1_ps, _mm512_rsqrt14_ps)
SKCONV_DEFINE_FLOAT_DISTANCE(skconv_distance_v8f, "avx2,fma", skconv_v8f, __m256, _mm256_max_ps,
                             _mm256_set1_ps, _mm256_rsqrt_ps)
__attribute__((target("avx512f"))) static inline skconv_v8d skconv_distance_v8d(skconv_v8d z)
{
    return (skconv_v8d)_mm512_sqrt_pd(_mm512_max_pd((__m512d)z, _mm512_setzero_pd()));
}
__attribute__((target("avx2,fma"))) static inline skconv_v4d skconv_distance_v4d(skconv_v4d z)
{
    return (skconv_v4d)_mm256_sqrt_pd(_mm256_max_pd((__m256d)z, _mm256_setzero_pd()));
}

#define SKCONV_DEFINE_ENCODED_COLUMNS(NAME, TARGET, REAL, VEC, NV, NC, DISTANCE)            \
    __attribute__((target(TARGET))) static void NAME(                                       \
        const REAL *patches, ptrdiff_t ld, ptrdiff_t n, ptrdiff_t d, const REAL *weights,   \
        ptrdiff_t r, const ptrdiff_t *taps, ptrdiff_t j, ptrdiff_t first, ptrdiff_t k,      \
        const REAL *bias, const REAL *offsets, int triangle, REAL *norms, REAL *values,     \
        REAL *average)                                                                      \
    {                                                                                       \
        const ptrdiff_t lanes = (ptrdiff_t)(sizeof(VEC) / sizeof(REAL));                    \
        for (ptrdiff_t i0 = 0; i0 + (NV)*lanes <= n; i0 += (NV)*lanes) {                    \
            /* ||x||^2 stays in L1, not registers: the products' loop needs                 \
             * all but a few. */                                                            \
            VEC *q = (VEC *)(norms + i0), total[NV];                                        \
            for (int v = 0; v < (NV); v++) total[v] = (VEC){0};                             \
            for (ptrdiff_t c0 = 0, g = 0; c0 + (NC) <= r; c0 += (NC), g++) {                \
                const ptrdiff_t t_begin = taps[2 * g], t_end = taps[2 * g + 1];             \
                VEC a[NC][NV];                                                              \
                for (int c = 0; c < (NC); c++)                                              \
                    for (int v = 0; v < (NV); v++) a[c][v] = (VEC){0};                      \
                for (ptrdiff_t t = t_begin; t < t_end; t++) {                               \
                    const REAL *source = patches + t * ld + i0;                             \
                    const REAL *w = weights + t * r + c0;                                   \
                    VEC p[NV];                                                              \
                    for (int v = 0; v < (NV); v++) p[v] = *(const VEC *)(source + v * lanes); \
                    for (int c = 0; c < (NC); c++) {                                        \
                        const REAL x = w[c];                                                \
                        for (int v = 0; v < (NV); v++) a[c][v] += x * p[v];                 \
                    }                                                                       \
                }                                                                           \
                for (int c = 0; c < (NC); c++) {                                            \
                    const ptrdiff_t column = c0 + c;                                        \
                    if (column < j) {                                                       \
                        for (int v = 0; v < (NV); v++) {                                    \
                            const VEC w = a[c][v] - bias[column];                           \
                            q[v] += w * w;                                                  \
                        }                                                                   \
                    } else if (column >= first && column < first + k) {                     \
                        REAL *out = values + (column - first) * ld + i0;                    \
                        if (triangle) {                                                     \
                            const REAL offset = offsets[column - first];                    \
                            for (int v = 0; v < (NV); v++) {                                \
                                const VEC z = a[c][v] + q[v] + offset;                      \
                                const VEC distance = DISTANCE(z);                           \
                                *(VEC *)(out + v * lanes) = distance;                       \
                                total[v] += distance;                                       \
                            }                                                               \
                        } else {                                                            \
                            for (int v = 0; v < (NV); v++)                                  \
                                *(VEC *)(out + v * lanes) = a[c][v] - bias[column];         \
                        }                                                                   \
                    }                                                                       \
                }                                                                           \
            }                                                                               \
            for (int v = 0; v < (NV); v++) *(VEC *)(average + i0 + v * lanes) = total[v];   \
        }                                                                                   \
    }

SKCONV_DEFINE_ENCODED_COLUMNS(skconv_columns_float_avx512, "avx512f,fma", float, skconv_v16f, 3, 8,
                              skconv_distance_v16f)
SKCONV_DEFINE_ENCODED_COLUMNS(skconv_columns_double_avx512, "avx512f,fma", double, skconv_v8d, 2,
                              8, skconv_distance_v8d)
SKCONV_DEFINE_ENCODED_COLUMNS(skconv_columns_float_avx2, "avx2,fma", float, skconv_v8f, 2, 6,
                              skconv_distance_v8f)
SKCONV_DEFINE_ENCODED_COLUMNS(skconv_columns_double_avx2, "avx2,fma", double, skconv_v4d, 2, 6,
                              skconv_distance_v4d)

/* Correlation without a patch matrix (implicit GEMM): the responses of a
 * block of positions of one image from its padded channels split into
 * ``sx`` column phases, ``planes`` (sx, C, hp, wq) with phase q holding the
 * columns q, q + sx, ... (then at least 2 vectors of slack), so that every
 * tap's values under a run of positions along a map row are contiguous in
 * one phase (stride 1 or 2 alike). The positions come as vectors
 * (``starts``: the offset from ``planes`` of each vector's first position,
 * ``targets``: its offset along the rows of ``values``), NV vectors x NC
 * kernels in registers over the taps (``tap_offsets``: each tap's offset in
 * the planes), one load per tap and vector and one broadcast per tap and
 * kernel (the loop of SKCONV_DEFINE_ENCODED_COLUMNS without its gather).
 * ``weights`` (groups, D, width), width a multiple of NC: the kernels' columns
 * (then zeros) packed by groups of ``width``, each group's taps contiguous.
 * ``values`` (k, ld): the responses minus ``bias``, and with ``rectify``
 * their relu, whole vectors stored (the caller leaves a vector of slack
 * after the last position: a vector's lanes past its row's end are written
 * and, vectors coming in order, overwritten by the next row's). With
 * ``maps`` (k, maps_ld), the finished responses go there instead, vector v
 * storing its first counts[v] lanes only (the maps themselves, no slack),
 * or with counts[v] = -mask <= 0 the lanes of ``mask``, packed to the front
 * (a vector running from one map row into the next, the positions between
 * the rows dropped); with ``around``, whole vectors go around the caches
 * (the caller aligns every whole vector's target to the vector's size);
 * ``values`` then holds the sums between blocks of taps only. Blocks of
 * 1024 taps keep the values under a group of vectors within 192 KB (in L2 on
 * every CPU with AVX2): blocks of 64, which kept them in L1, measured
 * 1.0-1.18x slower (the sums' trips through memory and the loop's set-up
 * cost more than the L2 reads). */
#define SKCONV_PLANE_TAP_BLOCK 1024
#define SKCONV_DEFINE_PLANE_COLUMNS(NAME, TARGET, REAL, VEC, NV, NC, RELU, STORE_FIRST,     \
                                    STORE_LANES, STORE_AROUND)                              \
    __attribute__((target(TARGET))) static void NAME(                                       \
        const REAL *planes, const ptrdiff_t *tap_offsets, ptrdiff_t d, const REAL *weights, \
        ptrdiff_t width, ptrdiff_t k, const REAL *bias, int rectify, const ptrdiff_t *starts, \
        const ptrdiff_t *targets, ptrdiff_t n_vectors, REAL *values, ptrdiff_t ld,          \
        REAL *maps, ptrdiff_t maps_ld, const ptrdiff_t *counts, int around,                 \
        const ptrdiff_t *item_rows, const ptrdiff_t *row_bounds, ptrdiff_t row_taps)        \
    {                                                                                       \
        const int lanes = (int)(sizeof(VEC) / sizeof(REAL));                                \
        for (ptrdiff_t v0 = 0; v0 < n_vectors; v0 += (NV)) {                                \
            const REAL *source[NV];                                                         \
            for (int v = 0; v < (NV); v++)                                                  \
                source[v] = planes + starts[v0 + v < n_vectors ? v0 + v : v0];              \
            /* The taps over image rows for some of the vectors' positions: the             \
             * others read the zeros of the padding only. */                                \
            ptrdiff_t first_tap = 0, end_tap = d;                                           \
            if (row_bounds) {                                                               \
                first_tap = d, end_tap = 0;                                                 \
                for (int v = 0; v < (NV) && v0 + v < n_vectors; v++) {                      \
                    const ptrdiff_t *rows = item_rows + 2 * (v0 + v);                       \
                    const ptrdiff_t low = row_bounds[2 * rows[1]] * row_taps;               \
                    const ptrdiff_t high = row_bounds[2 * rows[0] + 1] * row_taps;          \
                    first_tap = low < first_tap ? low : first_tap;                          \
                    end_tap = high > end_tap ? high : end_tap;                              \
                }                                                                           \
            }                                                                               \
            /* The taps in blocks whose values under the vectors stay in L2                 \
             * for every group of kernels; sums kept in ``values`` between. */              \
            for (ptrdiff_t t0 = 0; t0 < d; t0 += SKCONV_PLANE_TAP_BLOCK) {                  \
                const ptrdiff_t t1 = t0 + SKCONV_PLANE_TAP_BLOCK < d ? t0 + SKCONV_PLANE_TAP_BLOCK : d; \
                const int last = t1 == d;                                                   \
                for (ptrdiff_t c0 = 0; c0 < k; c0 += (NC)) {                                \
                    VEC a[NC][NV];                                                          \
                    for (int c = 0; c < (NC); c++)                                          \
                        for (int v = 0; v < (NV); v++)                                      \
                            a[c][v] = t0 == 0 || c0 + c >= k || v0 + v >= n_vectors         \
                                          ? (VEC){0}                                        \
                                          : *(const VEC *)(values + (c0 + c) * ld + targets[v0 + v]); \
                    const ptrdiff_t ta = t0 > first_tap ? t0 : first_tap;                   \
                    const ptrdiff_t tb = t1 < end_tap ? t1 : end_tap;                       \
                    for (ptrdiff_t t = ta; t < tb; t++) {                                   \
                        const ptrdiff_t at = tap_offsets[t];                                \
                        const REAL *w = weights + (c0 - c0 % width) * d + t * width + c0 % width; \
                        VEC p[NV];                                                          \
                        for (int v = 0; v < (NV); v++) p[v] = *(const VEC *)(source[v] + at); \
                        for (int c = 0; c < (NC); c++) {                                    \
                            const REAL x = w[c];                                            \
                            for (int v = 0; v < (NV); v++) a[c][v] += x * p[v];             \
                        }                                                                   \
                    }                                                                       \
                    for (int c = 0; c < (NC) && c0 + c < k; c++)                            \
                        for (int v = 0; v < (NV) && v0 + v < n_vectors; v++) {              \
                            VEC z = a[c][v];                                                \
                            if (!last) {                                                    \
                                *(VEC *)(values + (c0 + c) * ld + targets[v0 + v]) = z;     \
                                continue;                                                   \
                            }                                                               \
                            z -= bias[c0 + c];                                              \
                            if (rectify) z = RELU(z);                                       \
                            if (!maps) {                                                    \
                                *(VEC *)(values + (c0 + c) * ld + targets[v0 + v]) = z;     \
                                continue;                                                   \
                            }                                                               \
                            REAL *at = maps + (c0 + c) * maps_ld + targets[v0 + v];         \
                            const ptrdiff_t n = counts[v0 + v];                             \
                            if (n == lanes && around)                                       \
                                STORE_AROUND(at, z);                                        \
                            else if (n == lanes)                                            \
                                *(VEC *)at = z;                                             \
                            else if (n > 0)                                                 \
                                STORE_FIRST(at, z, (int)n);                                 \
                            else                                                            \
                                STORE_LANES(at, z, (unsigned)-n);                           \
                        }                                                                   \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
    }
#define SKCONV_DEFINE_RELU(NAME, TARGET, VEC, RAW, MAX, ZERO)                               \
    __attribute__((target(TARGET))) static inline VEC NAME(VEC z)                           \
    {                                                                                       \
        return (VEC)MAX((RAW)z, ZERO());                                                    \
    }
SKCONV_DEFINE_RELU(skconv_relu_v16f, "avx512f", skconv_v16f, __m512, _mm512_max_ps,
                   _mm512_setzero_ps)
SKCONV_DEFINE_RELU(skconv_relu_v8d, "avx512f", skconv_v8d, __m512d, _mm512_max_pd,
                   _mm512_setzero_pd)
SKCONV_DEFINE_RELU(skconv_relu_v8f, "avx2", skconv_v8f, __m256, _mm256_max_ps, _mm256_setzero_ps)
SKCONV_DEFINE_RELU(skconv_relu_v4d, "avx2", skconv_v4d, __m256d, _mm256_max_pd, _mm256_setzero_pd)
/* The first n lanes of a vector stored. */
__attribute__((target("avx512f"))) static inline void skconv_store_v16f(float *p, skconv_v16f v,
                                                                        int n)
{
    _mm512_mask_storeu_ps(p, (__mmask16)((1u << n) - 1), (__m512)v);
}
__attribute__((target("avx512f"))) static inline void skconv_store_v8d(double *p, skconv_v8d v,
                                                                       int n)
{
    _mm512_mask_storeu_pd(p, (__mmask8)((1u << n) - 1), (__m512d)v);
}
__attribute__((target("avx2"))) static inline __m256i skconv_first_v8(int n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
__attribute__((target("avx2"))) static inline void skconv_store_v8f(float *p, skconv_v8f v, int n)
{
    _mm256_maskstore_ps(p, skconv_first_v8(n), (__m256)v);
}
__attribute__((target("avx2"))) static inline __m256i skconv_first_v4(int n)
{
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
}
__attribute__((target("avx2"))) static inline void skconv_store_v4d(double *p, skconv_v4d v, int n)
{
    _mm256_maskstore_pd(p, skconv_first_v4(n), (__m256d)v);
}
/* The lanes of ``mask`` stored packed to the front (AVX-512: compressed in
 * the register, then a masked store; AVX2 lane by lane). */
__attribute__((target("avx512f"))) static inline void skconv_store_lanes_v16f(float *p,
                                                                             skconv_v16f v,
                                                                             unsigned mask)
{
    const __m512 packed = _mm512_maskz_compress_ps((__mmask16)mask, (__m512)v);
    _mm512_mask_storeu_ps(p, (__mmask16)((1u << __builtin_popcount(mask)) - 1), packed);
}
__attribute__((target("avx512f"))) static inline void skconv_store_lanes_v8d(double *p,
                                                                            skconv_v8d v,
                                                                            unsigned mask)
{
    const __m512d packed = _mm512_maskz_compress_pd((__mmask8)mask, (__m512d)v);
    _mm512_mask_storeu_pd(p, (__mmask8)((1u << __builtin_popcount(mask)) - 1), packed);
}
/* A whole vector stored around the caches (non-temporal), at an address
 * aligned to the vector's size: for maps too large to be read back from
 * cache, each line is written without being read first. */
__attribute__((target("avx512f"))) static inline void skconv_stream_v16f(float *p, skconv_v16f v)
{
    _mm512_stream_ps(p, (__m512)v);
}
__attribute__((target("avx512f"))) static inline void skconv_stream_v8d(double *p, skconv_v8d v)
{
    _mm512_stream_pd(p, (__m512d)v);
}
__attribute__((target("avx2"))) static inline void skconv_stream_v8f(float *p, skconv_v8f v)
{
    _mm256_stream_ps(p, (__m256)v);
}
__attribute__((target("avx2"))) static inline void skconv_stream_v4d(double *p, skconv_v4d v)
{
    _mm256_stream_pd(p, (__m256d)v);
}
#define SKCONV_DEFINE_STORE_LANES(NAME, TARGET, REAL, VEC)                                  \
    __attribute__((target(TARGET))) static inline void NAME(REAL *p, VEC v, unsigned mask)  \
    {                                                                                       \
        int at = 0;                                                                         \
        for (int l = 0; l < (int)(sizeof(VEC) / sizeof(REAL)); l++)                         \
            if (mask >> l & 1u) p[at++] = v[l];                                             \
    }
SKCONV_DEFINE_STORE_LANES(skconv_store_lanes_v8f, "avx2", float, skconv_v8f)
SKCONV_DEFINE_STORE_LANES(skconv_store_lanes_v4d, "avx2", double, skconv_v4d)
/* Lanes ``l`` of a vector read from ``base[index[l]]``. */
__attribute__((target("avx512f"))) static inline skconv_v16f skconv_gather_v16f(const float *base,
                                                                               const int *index)
{
    return (skconv_v16f)_mm512_i32gather_ps(_mm512_loadu_si512(index), base, 4);
}
__attribute__((target("avx512f"))) static inline skconv_v8d skconv_gather_v8d(const double *base,
                                                                              const int *index)
{
    return (skconv_v8d)_mm512_i32gather_pd(_mm256_loadu_si256((const __m256i *)index), base, 8);
}
__attribute__((target("avx2"))) static inline skconv_v8f skconv_gather_v8f(const float *base,
                                                                          const int *index)
{
    return (skconv_v8f)_mm256_i32gather_ps(base, _mm256_loadu_si256((const __m256i *)index), 4);
}
__attribute__((target("avx2"))) static inline skconv_v4d skconv_gather_v4d(const double *base,
                                                                          const int *index)
{
    return (skconv_v4d)_mm256_i32gather_pd(base, _mm_loadu_si128((const __m128i *)index), 8);
}
/* 3 vectors x 8 kernels (AVX2: 3 x 4) measured 10-15% faster than 2 x 10 in
 * L1 (24 of the 32 registers accumulate, 11 loads per 24 multiply-adds), and
 * kernel counts are often multiples of 8. */
#define SKCONV_PLANE_VECTORS 3
SKCONV_DEFINE_PLANE_COLUMNS(skconv_plane_columns_float_avx512, "avx512f,fma", float, skconv_v16f,
                            3, 8, skconv_relu_v16f, skconv_store_v16f, skconv_store_lanes_v16f,
                            skconv_stream_v16f)
SKCONV_DEFINE_PLANE_COLUMNS(skconv_plane_columns_double_avx512, "avx512f,fma", double, skconv_v8d,
                            3, 8, skconv_relu_v8d, skconv_store_v8d, skconv_store_lanes_v8d,
                            skconv_stream_v8d)
SKCONV_DEFINE_PLANE_COLUMNS(skconv_plane_columns_float_avx2, "avx2,fma", float, skconv_v8f, 3, 4,
                            skconv_relu_v8f, skconv_store_v8f, skconv_store_lanes_v8f,
                            skconv_stream_v8f)
SKCONV_DEFINE_PLANE_COLUMNS(skconv_plane_columns_double_avx2, "avx2,fma", double, skconv_v4d, 3,
                            4, skconv_relu_v4d, skconv_store_v4d, skconv_store_lanes_v4d,
                            skconv_stream_v4d)

/* The same responses with the kernels in the lanes, for maps narrower than a
 * few vectors (a vector of positions would run past its row's end): NP
 * positions x NKV vectors of kernels (one group of ``width = NKV x lanes``
 * kernels of ``weights``) in registers over the taps, one broadcast per tap
 * and position, one load per tap and vector of kernels. ``starts``: each
 * position's offset from ``planes``; position p's responses go to
 * ``values[kernel * ld + p]``. Between blocks of taps the sums wait in
 * ``partial`` (n_positions, groups x width), position by position. */
/* The kernel-lane loop's taps for positions whose first SPLIT are one after
 * another from ``source[0]`` and the others from ``second + SPLIT`` (SPLIT
 * a constant: each position's pointer is chosen when compiling). */
#define SKCONV_PLANE_KERNEL_TAPS(REAL, VEC, LANES, NP, NKV, SPLIT)                          \
    for (ptrdiff_t t = ta; t < tb; t++) {                                                   \
        const ptrdiff_t at = tap_offsets[t];                                                \
        const REAL *first_at = source[0] + at, *second_at = second + at;                    \
        const REAL *w = group + t * width;                                                  \
        VEC u[NKV];                                                                         \
        for (int j = 0; j < (NKV); j++) u[j] = *(const VEC *)(w + j * (LANES));             \
        for (int i = 0; i < (NP); i++) {                                                    \
            const REAL x = i < (SPLIT) ? first_at[i] : second_at[i];                        \
            for (int j = 0; j < (NKV); j++) a[i][j] += x * u[j];                            \
        }                                                                                   \
    }
#define SKCONV_PLANE_KERNEL_TAPS_CASE(REAL, VEC, LANES, NP, NKV, SPLIT)                     \
    case SPLIT:                                                                             \
        SKCONV_PLANE_KERNEL_TAPS(REAL, VEC, LANES, NP, NKV, SPLIT)                          \
        break;
/* Every split of up to 12 positions (NP is 12 or 6). */
#define SKCONV_PLANE_KERNEL_TAPS_CASES(REAL, VEC, LANES, NP, NKV)                           \
    SKCONV_PLANE_KERNEL_TAPS_CASE(REAL, VEC, LANES, NP, NKV, 1)                             \
    SKCONV_PLANE_KERNEL_TAPS_CASE(REAL, VEC, LANES, NP, NKV, 2)                             \
    SKCONV_PLANE_KERNEL_TAPS_CASE(REAL, VEC, LANES, NP, NKV, 3)                             \
    SKCONV_PLANE_KERNEL_TAPS_CASE(REAL, VEC, LANES, NP, NKV, 4)                             \
    SKCONV_PLANE_KERNEL_TAPS_CASE(REAL, VEC, LANES, NP, NKV, 5)                             \
    SKCONV_PLANE_KERNEL_TAPS_CASE(REAL, VEC, LANES, NP, NKV, 6)                             \
    SKCONV_PLANE_KERNEL_TAPS_CASE(REAL, VEC, LANES, NP, NKV, 7)                             \
    SKCONV_PLANE_KERNEL_TAPS_CASE(REAL, VEC, LANES, NP, NKV, 8)                             \
    SKCONV_PLANE_KERNEL_TAPS_CASE(REAL, VEC, LANES, NP, NKV, 9)                             \
    SKCONV_PLANE_KERNEL_TAPS_CASE(REAL, VEC, LANES, NP, NKV, 10)                            \
    SKCONV_PLANE_KERNEL_TAPS_CASE(REAL, VEC, LANES, NP, NKV, 11)                            \
    SKCONV_PLANE_KERNEL_TAPS_CASE(REAL, VEC, LANES, NP, NKV, 12)
/* A kernel column's taps ``t``, ``t + kw``, ... below ``tb`` (the column
 * of every kernel row and channel of the range) for positions LO .. HI - 1
 * of a group in one row only: the others read the padding at the left or
 * the right of the image, zeros that add nothing. */
#define SKCONV_KL_RANGE_CASE(REAL, VEC, LANES, NKV, LO, HI)                                 \
    case (LO) * 16 + (HI):                                                                  \
        for (; t < tb; t += kw) {                                                           \
            const REAL *x = source[0] + tap_offsets[t];                                     \
            const REAL *w = group + t * width;                                              \
            VEC u[NKV];                                                                     \
            for (int j = 0; j < (NKV); j++) u[j] = *(const VEC *)(w + j * (LANES));         \
            for (int i = (LO); i < (HI); i++)                                               \
                for (int j = 0; j < (NKV); j++) a[i][j] += x[i] * u[j];                     \
        }                                                                                   \
        break;
/* The clipped ranges of a group of NP positions: from positions 1 to 5 to
 * its end, and from its start to positions 1 to 5 (all of a group of 6;
 * a group of 12 adds those from and to positions 6 to 11). */
#define SKCONV_KL_SUFFIX_CASES_5(REAL, VEC, LANES, NKV, NP)                                 \
    SKCONV_KL_RANGE_CASE(REAL, VEC, LANES, NKV, 1, NP)                                      \
    SKCONV_KL_RANGE_CASE(REAL, VEC, LANES, NKV, 2, NP)                                      \
    SKCONV_KL_RANGE_CASE(REAL, VEC, LANES, NKV, 3, NP)                                      \
    SKCONV_KL_RANGE_CASE(REAL, VEC, LANES, NKV, 4, NP)                                      \
    SKCONV_KL_RANGE_CASE(REAL, VEC, LANES, NKV, 5, NP)
#define SKCONV_KL_PREFIX_CASES_5(REAL, VEC, LANES, NKV)                                     \
    SKCONV_KL_RANGE_CASE(REAL, VEC, LANES, NKV, 0, 1)                                       \
    SKCONV_KL_RANGE_CASE(REAL, VEC, LANES, NKV, 0, 2)                                       \
    SKCONV_KL_RANGE_CASE(REAL, VEC, LANES, NKV, 0, 3)                                       \
    SKCONV_KL_RANGE_CASE(REAL, VEC, LANES, NKV, 0, 4)                                       \
    SKCONV_KL_RANGE_CASE(REAL, VEC, LANES, NKV, 0, 5)
#define SKCONV_KL_RANGE_CASES_6(REAL, VEC, LANES, NKV)                                      \
    SKCONV_KL_SUFFIX_CASES_5(REAL, VEC, LANES, NKV, 6)                                      \
    SKCONV_KL_PREFIX_CASES_5(REAL, VEC, LANES, NKV)
#define SKCONV_KL_RANGE_CASES_12(REAL, VEC, LANES, NKV)                                     \
    SKCONV_KL_SUFFIX_CASES_5(REAL, VEC, LANES, NKV, 12)                                     \
    SKCONV_KL_RANGE_CASE(REAL, VEC, LANES, NKV, 6, 12)                                      \
    SKCONV_KL_RANGE_CASE(REAL, VEC, LANES, NKV, 7, 12)                                      \
    SKCONV_KL_RANGE_CASE(REAL, VEC, LANES, NKV, 8, 12)                                      \
    SKCONV_KL_RANGE_CASE(REAL, VEC, LANES, NKV, 9, 12)                                      \
    SKCONV_KL_RANGE_CASE(REAL, VEC, LANES, NKV, 10, 12)                                     \
    SKCONV_KL_RANGE_CASE(REAL, VEC, LANES, NKV, 11, 12)                                     \
    SKCONV_KL_PREFIX_CASES_5(REAL, VEC, LANES, NKV)                                         \
    SKCONV_KL_RANGE_CASE(REAL, VEC, LANES, NKV, 0, 6)                                       \
    SKCONV_KL_RANGE_CASE(REAL, VEC, LANES, NKV, 0, 7)                                       \
    SKCONV_KL_RANGE_CASE(REAL, VEC, LANES, NKV, 0, 8)                                       \
    SKCONV_KL_RANGE_CASE(REAL, VEC, LANES, NKV, 0, 9)                                       \
    SKCONV_KL_RANGE_CASE(REAL, VEC, LANES, NKV, 0, 10)                                      \
    SKCONV_KL_RANGE_CASE(REAL, VEC, LANES, NKV, 0, 11)
/* The taps ``ta .. tb - 1`` of a group of NP positions in one row from
 * ``source[0]``, its first map column ``j0``, kernel column by kernel
 * column: each column's taps for the positions whose columns reach the
 * image (``tap_cols``: each kernel column's first and end map columns), in
 * a loop whose positions are constants (the sums stay in registers). */
#define SKCONV_PLANE_KERNEL_EDGE_TAPS(REAL, VEC, LANES, NP, NKV)                            \
    for (ptrdiff_t kx = 0, kx0 = ta % kw; kx < kw; kx++) {                                  \
        ptrdiff_t lo = tap_cols[2 * kx] - j0, hi = tap_cols[2 * kx + 1] - j0;               \
        lo = lo > 0 ? lo : 0, hi = hi < (NP) ? hi : (NP);                                   \
        if (lo >= hi) continue;                                                             \
        ptrdiff_t t = ta + (kx >= kx0 ? kx - kx0 : kx - kx0 + kw);                          \
        switch (lo * 16 + hi) {                                                             \
            SKCONV_KL_RANGE_CASES_##NP(REAL, VEC, LANES, NKV)                               \
        default:                                                                            \
            for (; t < tb; t += kw) {                                                       \
                const REAL *x = source[0] + tap_offsets[t];                                 \
                const REAL *w = group + t * width;                                          \
                VEC u[NKV];                                                                 \
                for (int j = 0; j < (NKV); j++) u[j] = *(const VEC *)(w + j * (LANES));     \
                for (int i = 0; i < (NP); i++)                                              \
                    for (int j = 0; j < (NKV); j++) a[i][j] += x[i] * u[j];                 \
            }                                                                               \
        }                                                                                   \
    }
#define SKCONV_DEFINE_PLANE_KERNELS(NAME, TARGET, REAL, VEC, LANES, NP, NKV, GATHER, RELU,  \
                                    STORE_FIRST)                                            \
    __attribute__((target(TARGET))) static void NAME(                                       \
        const REAL *planes, const ptrdiff_t *tap_offsets, ptrdiff_t d, const REAL *weights, \
        ptrdiff_t k, const REAL *bias, int rectify, const ptrdiff_t *starts,                \
        ptrdiff_t n_positions, REAL *partial, REAL *values, ptrdiff_t ld,                   \
        const ptrdiff_t *item_rows, const ptrdiff_t *row_bounds, ptrdiff_t channels,        \
        ptrdiff_t kw, const ptrdiff_t *tap_cols, ptrdiff_t wq)                              \
    {                                                                                       \
        const ptrdiff_t per_channel = d / channels;                                         \
        const ptrdiff_t width = (NKV) * (LANES), kp = (k + width - 1) / width * width;      \
        /* The sums of a group of positions, position by position (rows past                \
         * NP, up to a whole vector of them, zeros the gathers read), and the               \
         * gathers' offsets: one position apart. */                                         \
        enum { ROWS = ((NP) + (LANES)-1) / (LANES) * (LANES) };                             \
        REAL sums[ROWS][(NKV) * (LANES)] __attribute__((aligned(64)));                      \
        int index[LANES];                                                                   \
        for (int i = (NP); i < ROWS; i++)                                                   \
            for (int c = 0; c < (NKV) * (LANES); c++) sums[i][c] = 0;                       \
        for (int l = 0; l < (LANES); l++) index[l] = l * (NKV) * (LANES);                   \
        for (ptrdiff_t c0 = 0; c0 < k; c0 += width) {                                       \
            const REAL *group = weights + c0 * d;                                           \
            for (ptrdiff_t t0 = 0; t0 < d; t0 += SKCONV_PLANE_TAP_BLOCK) {                  \
                const ptrdiff_t t1 = t0 + SKCONV_PLANE_TAP_BLOCK < d ? t0 + SKCONV_PLANE_TAP_BLOCK : d; \
                const int last = t1 == d;                                                   \
                for (ptrdiff_t p0 = 0; p0 < n_positions; p0 += (NP)) {                      \
                    const REAL *source[NP];                                                 \
                    VEC a[NP][NKV];                                                         \
                    for (int i = 0; i < (NP); i++) {                                        \
                        const ptrdiff_t p = p0 + i < n_positions ? p0 + i : p0;             \
                        source[i] = planes + starts[p];                                     \
                        for (int j = 0; j < (NKV); j++)                                     \
                            a[i][j] = t0 == 0 ? (VEC){0}                                    \
                                              : *(const VEC *)(partial + p * kp + c0 + j * (LANES)); \
                    }                                                                       \
                    /* Positions one after another in at most two rows of the               \
                     * phases (the first ``split`` in one, the rest in the next):           \
                     * two pointers for all (each position a constant offset from           \
                     * one), which leaves registers free for the loop's own. */             \
                    int split = 1, runs = 1;                                                \
                    while (split < (NP) && source[split] == source[0] + split) split++;     \
                    for (int i = split + 1; i < (NP); i++)                                  \
                        runs &= source[i] == source[split] + (i - split);                   \
                    const REAL *second = split < (NP) ? source[split] - split : source[0];  \
                    const ptrdiff_t n_here = n_positions - p0 < (NP) ? n_positions - p0 : (NP); \
                    /* Each channel's taps over image rows for some of the positions        \
                     * (the others read the zeros of the padding only). */                  \
                    const ptrdiff_t kh = per_channel / kw;                                  \
                    ptrdiff_t low = 0, high = kh;                                           \
                    if (row_bounds) {                                                       \
                        low = kh, high = 0;                                                 \
                        for (int i = 0; i < n_here; i++) {                                  \
                            const ptrdiff_t *rows = item_rows + 2 * (p0 + i);               \
                            const ptrdiff_t first = row_bounds[2 * rows[1]];                \
                            const ptrdiff_t end = row_bounds[2 * rows[0] + 1];              \
                            low = first < low ? first : low;                                \
                            high = end > high ? end : high;                                 \
                        }                                                                   \
                    }                                                                       \
                    const int by_channel = low > 0 || high < kh;                            \
                    /* A group in one row at the left or right edge of the maps: each       \
                     * tap for the positions whose columns reach the image. */              \
                    ptrdiff_t j0 = 0;                                                       \
                    int edge = 0;                                                           \
                    if (tap_cols && runs && split == (NP) && n_here == (NP)) {              \
                        /* (consecutive in one row of the phases: in one map row) */        \
                        j0 = starts[p0] % wq;                                               \
                        edge = j0 + (NP) <= wq                                              \
                               && (tap_cols[0] > j0 || tap_cols[2 * kw - 1] < j0 + (NP));   \
                    }                                                                       \
                    for (ptrdiff_t ch = 0; ch < (by_channel ? channels : 1); ch++) {        \
                        ptrdiff_t ta = t0, tb = t1;                                         \
                        if (by_channel) {                                                   \
                            const ptrdiff_t first = ch * per_channel + low * kw;            \
                            const ptrdiff_t end = ch * per_channel + high * kw;             \
                            ta = first > t0 ? first : t0, tb = end < t1 ? end : t1;         \
                        }                                                                   \
                        if (ta >= tb) continue;                                             \
                        if (edge) {                                                         \
                            SKCONV_PLANE_KERNEL_EDGE_TAPS(REAL, VEC, LANES, NP, NKV)        \
                        }                                                                   \
                        else if (runs) {                                                    \
                            switch (split) {                                                \
                            SKCONV_PLANE_KERNEL_TAPS_CASES(REAL, VEC, LANES, NP, NKV)       \
                            }                                                               \
                        }                                                                   \
                        else                                                                \
                            for (ptrdiff_t t = ta; t < tb; t++) {                           \
                                const ptrdiff_t at = tap_offsets[t];                        \
                                const REAL *w = group + t * width;                          \
                                VEC u[NKV];                                                 \
                                for (int j = 0; j < (NKV); j++)                             \
                                    u[j] = *(const VEC *)(w + j * (LANES));                 \
                                for (int i = 0; i < (NP); i++) {                            \
                                    const REAL x = source[i][at];                           \
                                    for (int j = 0; j < (NKV); j++) a[i][j] += x * u[j];    \
                                }                                                           \
                            }                                                               \
                    }                                                                       \
                    if (!last) {                                                            \
                        for (int i = 0; i < n_here; i++)                                    \
                            for (int j = 0; j < (NKV); j++)                                 \
                                *(VEC *)(partial + (p0 + i) * kp + c0 + j * (LANES)) = a[i][j]; \
                        continue;                                                           \
                    }                                                                       \
                    /* Each kernel's sums over the positions gathered into vectors:         \
                     * one masked store per kernel and vector of positions. */              \
                    for (int i = 0; i < (NP); i++)                                          \
                        for (int j = 0; j < (NKV); j++) *(VEC *)(sums[i] + j * (LANES)) = a[i][j]; \
                    for (ptrdiff_t c = 0; c < width && c0 + c < k; c++) {                   \
                        REAL *target = values + (c0 + c) * ld + p0;                         \
                        for (int i0 = 0; i0 < n_here; i0 += (LANES)) {                      \
                            VEC z = GATHER(sums[i0] + c, index) - bias[c0 + c];             \
                            if (rectify) z = RELU(z);                                       \
                            STORE_FIRST(target + i0, z,                                     \
                                        n_here - i0 < (LANES) ? (int)(n_here - i0) : (LANES)); \
                        }                                                                   \
                    }                                                                       \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
    }
/* 12 positions x 2 vectors of kernels (AVX2: 6 x 2): 24 (12) accumulators. */
#define SKCONV_PLANE_KERNEL_VECTORS 2
SKCONV_DEFINE_PLANE_KERNELS(skconv_plane_kernels_float_avx512, "avx512f,fma", float, skconv_v16f,
                            16, 12, 2, skconv_gather_v16f, skconv_relu_v16f, skconv_store_v16f)
SKCONV_DEFINE_PLANE_KERNELS(skconv_plane_kernels_double_avx512, "avx512f,fma", double, skconv_v8d,
                            8, 12, 2, skconv_gather_v8d, skconv_relu_v8d, skconv_store_v8d)
SKCONV_DEFINE_PLANE_KERNELS(skconv_plane_kernels_float_avx2, "avx2,fma", float, skconv_v8f, 8, 6,
                            2, skconv_gather_v8f, skconv_relu_v8f, skconv_store_v8f)
SKCONV_DEFINE_PLANE_KERNELS(skconv_plane_kernels_double_avx2, "avx2,fma", double, skconv_v4d, 4,
                            6, 2, skconv_gather_v4d, skconv_relu_v4d, skconv_store_v4d)
/* One vector of kernels (16 float32 with AVX-512) x 12 positions, for banks
 * that would leave half of the second vector empty (16 kernels, 48...): a
 * load per tap and 12 broadcasts feed 12 multiply-adds, so the loop runs
 * near the rate of its loads instead of its multiply-adds
 * (NARROW_KERNEL_LANE_EFFICIENCY in _encoders.pyx). */
#define SKCONV_NARROW_KERNEL_POSITIONS 12
SKCONV_DEFINE_PLANE_KERNELS(skconv_plane_kernel_vector_float_avx512, "avx512f,fma", float,
                            skconv_v16f, 16, 12, 1, skconv_gather_v16f, skconv_relu_v16f,
                            skconv_store_v16f)
SKCONV_DEFINE_PLANE_KERNELS(skconv_plane_kernel_vector_double_avx512, "avx512f,fma", double,
                            skconv_v8d, 8, 12, 1, skconv_gather_v8d, skconv_relu_v8d,
                            skconv_store_v8d)
SKCONV_DEFINE_PLANE_KERNELS(skconv_plane_kernel_vector_float_avx2, "avx2,fma", float, skconv_v8f,
                            8, 12, 1, skconv_gather_v8f, skconv_relu_v8f, skconv_store_v8f)
SKCONV_DEFINE_PLANE_KERNELS(skconv_plane_kernel_vector_double_avx2, "avx2,fma", double,
                            skconv_v4d, 4, 12, 1, skconv_gather_v4d, skconv_relu_v4d,
                            skconv_store_v4d)

/* What the CPU runs: 2 AVX-512, 1 AVX2 and FMA, 0 neither (the caller uses
 * BLAS); skconv_columns_limit, when 0 or 1, caps it (the tests run every
 * route on one machine). */
static int skconv_columns_limit = -1;
static int skconv_columns_level(void)
{
    static int level = -1;
    if (level < 0) {
        __builtin_cpu_init();
        level = __builtin_cpu_supports("avx512f")                                ? 2
                : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1
                                                                                   : 0;
    }
    return skconv_columns_limit >= 0 && skconv_columns_limit < level ? skconv_columns_limit
                                                                     : level;
}
#else
#define SKCONV_HAS_COLUMNS 0
#define SKCONV_PLANE_VECTORS 3
#define SKCONV_PLANE_KERNEL_VECTORS 2
#define SKCONV_NARROW_KERNEL_POSITIONS 12
static int skconv_columns_limit = -1;
static int skconv_columns_level(void) { return 0; }
#endif

/* The columns each block of the loop the CPU runs computes (1: no loop). */
static int skconv_column_group(void)
{
    const int level = skconv_columns_level();
    return level == 2 ? 8 : level == 1 ? 6 : 1;
}

/* The encoded columns through the fastest loop the CPU runs; 0 when it has
 * none (the caller multiplies with BLAS, then SKCONV_DEFINE_ENCODE_RAW). */
#define SKCONV_DEFINE_COLUMNS_DISPATCH(NAME, REAL, WIDE, NARROW)                            \
    static int NAME(const REAL *patches, ptrdiff_t ld, ptrdiff_t n, ptrdiff_t d,            \
                    const REAL *weights, ptrdiff_t r, const ptrdiff_t *taps, ptrdiff_t j,   \
                    ptrdiff_t first, ptrdiff_t k, const REAL *bias, const REAL *offsets,    \
                    int triangle, REAL *norms, REAL *values, REAL *average)                 \
    {                                                                                       \
        switch (skconv_columns_level()) {                                                   \
        case 2:                                                                             \
            WIDE(patches, ld, n, d, weights, r, taps, j, first, k, bias, offsets, triangle, norms, values, \
                 average);                                                                  \
            return 1;                                                                       \
        case 1:                                                                             \
            NARROW(patches, ld, n, d, weights, r, taps, j, first, k, bias, offsets, triangle, norms, values, \
                   average);                                                                \
            return 1;                                                                       \
        default: return 0;                                                                  \
        }                                                                                   \
    }

/* The kernels each block of the plane loop the CPU runs computes. */
static int skconv_plane_group(void)
{
    const int level = skconv_columns_level();
    return level == 2 ? 8 : level == 1 ? 4 : 1;
}

/* Positions per vector of the plane loop the CPU runs for items of
 * ``itemsize`` bytes (0: no loop). */
static int skconv_plane_lanes(int itemsize)
{
    const int level = skconv_columns_level();
    return level == 2 ? 64 / itemsize : level == 1 ? 32 / itemsize : 0;
}

/* The kernels' responses through the plane loop the CPU runs; 0 when it has
 * none. */
#define SKCONV_DEFINE_PLANE_DISPATCH(NAME, REAL, WIDE, NARROW)                              \
    static int NAME(const REAL *planes, const ptrdiff_t *tap_offsets, ptrdiff_t d,          \
                    const REAL *weights, ptrdiff_t width, ptrdiff_t k, const REAL *bias,    \
                    int rectify, const ptrdiff_t *starts, const ptrdiff_t *targets,         \
                    ptrdiff_t n_vectors, REAL *values, ptrdiff_t ld, REAL *maps,            \
                    ptrdiff_t maps_ld, const ptrdiff_t *counts, int around,                 \
                    const ptrdiff_t *item_rows, const ptrdiff_t *row_bounds,                \
                    ptrdiff_t row_taps)                                                     \
    {                                                                                       \
        switch (skconv_columns_level()) {                                                   \
        case 2:                                                                             \
            WIDE(planes, tap_offsets, d, weights, width, k, bias, rectify, starts, targets, \
                 n_vectors, values, ld, maps, maps_ld, counts, around, item_rows,           \
                 row_bounds, row_taps);                                                     \
            return 1;                                                                       \
        case 1:                                                                             \
            NARROW(planes, tap_offsets, d, weights, width, k, bias, rectify, starts, targets, \
                   n_vectors, values, ld, maps, maps_ld, counts, around, item_rows,         \
                 row_bounds, row_taps);                                                     \
            return 1;                                                                       \
        default: return 0;                                                                  \
        }                                                                                   \
    }
/* ... with ``one_vector`` one vector of kernels per block instead of
 * SKCONV_PLANE_KERNEL_VECTORS. */
#define SKCONV_DEFINE_PLANE_KERNELS_DISPATCH(NAME, REAL, WIDE, NARROW, WIDE_ONE, NARROW_ONE) \
    static int NAME(const REAL *planes, const ptrdiff_t *tap_offsets, ptrdiff_t d,          \
                    const REAL *weights, ptrdiff_t k, const REAL *bias, int rectify,        \
                    const ptrdiff_t *starts, ptrdiff_t n_positions, REAL *partial,          \
                    REAL *values, ptrdiff_t ld, int one_vector, const ptrdiff_t *item_rows, \
                    const ptrdiff_t *row_bounds, ptrdiff_t channels, ptrdiff_t kw,          \
                    const ptrdiff_t *tap_cols, ptrdiff_t wq)                                \
    {                                                                                       \
        switch (skconv_columns_level()) {                                                   \
        case 2:                                                                             \
            (one_vector ? WIDE_ONE : WIDE)(planes, tap_offsets, d, weights, k, bias, rectify, \
                                           starts, n_positions, partial, values, ld,        \
                                           item_rows, row_bounds, channels, kw, tap_cols, wq); \
            return 1;                                                                       \
        case 1:                                                                             \
            (one_vector ? NARROW_ONE : NARROW)(planes, tap_offsets, d, weights, k, bias,    \
                                               rectify, starts, n_positions, partial,       \
                                               values, ld, item_rows, row_bounds, channels, kw, tap_cols, wq); \
            return 1;                                                                       \
        default: return 0;                                                                  \
        }                                                                                   \
    }

#if SKCONV_HAS_COLUMNS
SKCONV_DEFINE_COLUMNS_DISPATCH(skconv_columns_float, float, skconv_columns_float_avx512,
                               skconv_columns_float_avx2)
SKCONV_DEFINE_COLUMNS_DISPATCH(skconv_columns_double, double, skconv_columns_double_avx512,
                               skconv_columns_double_avx2)
#else
#define SKCONV_NO_COLUMNS(NAME, REAL)                                                       \
    static int NAME(const REAL *patches, ptrdiff_t ld, ptrdiff_t n, ptrdiff_t d,            \
                    const REAL *weights, ptrdiff_t r, const ptrdiff_t *taps, ptrdiff_t j,   \
                    ptrdiff_t first, ptrdiff_t k, const REAL *bias, const REAL *offsets,    \
                    int triangle, REAL *norms, REAL *values, REAL *average)                 \
    {                                                                                       \
        return 0;                                                                           \
    }
SKCONV_NO_COLUMNS(skconv_columns_float, float)
SKCONV_NO_COLUMNS(skconv_columns_double, double)
#endif
#if SKCONV_HAS_COLUMNS
SKCONV_DEFINE_PLANE_DISPATCH(skconv_plane_columns_float, float, skconv_plane_columns_float_avx512,
                             skconv_plane_columns_float_avx2)
SKCONV_DEFINE_PLANE_DISPATCH(skconv_plane_columns_double, double,
                             skconv_plane_columns_double_avx512, skconv_plane_columns_double_avx2)
SKCONV_DEFINE_PLANE_KERNELS_DISPATCH(skconv_plane_kernels_float, float,
                                     skconv_plane_kernels_float_avx512,
                                     skconv_plane_kernels_float_avx2,
                                     skconv_plane_kernel_vector_float_avx512,
                                     skconv_plane_kernel_vector_float_avx2)
SKCONV_DEFINE_PLANE_KERNELS_DISPATCH(skconv_plane_kernels_double, double,
                                     skconv_plane_kernels_double_avx512,
                                     skconv_plane_kernels_double_avx2,
                                     skconv_plane_kernel_vector_double_avx512,
                                     skconv_plane_kernel_vector_double_avx2)
#else
#define SKCONV_NO_PLANES(NAME, REAL)                                                        \
    static int NAME(const REAL *planes, const ptrdiff_t *tap_offsets, ptrdiff_t d,          \
                    const REAL *weights, ptrdiff_t width, ptrdiff_t k, const REAL *bias,    \
                    int rectify, const ptrdiff_t *starts, const ptrdiff_t *targets,         \
                    ptrdiff_t n_vectors, REAL *values, ptrdiff_t ld, REAL *maps,            \
                    ptrdiff_t maps_ld, const ptrdiff_t *counts, int around,                 \
                    const ptrdiff_t *item_rows, const ptrdiff_t *row_bounds,                \
                    ptrdiff_t row_taps)                                                     \
    {                                                                                       \
        return 0;                                                                           \
    }
#define SKCONV_NO_PLANE_KERNELS(NAME, REAL)                                                 \
    static int NAME(const REAL *planes, const ptrdiff_t *tap_offsets, ptrdiff_t d,          \
                    const REAL *weights, ptrdiff_t k, const REAL *bias, int rectify,        \
                    const ptrdiff_t *starts, ptrdiff_t n_positions, REAL *partial,          \
                    REAL *values, ptrdiff_t ld, int one_vector, const ptrdiff_t *item_rows, \
                    const ptrdiff_t *row_bounds, ptrdiff_t channels, ptrdiff_t kw,          \
                    const ptrdiff_t *tap_cols, ptrdiff_t wq)                                \
    {                                                                                       \
        return 0;                                                                           \
    }
SKCONV_NO_PLANES(skconv_plane_columns_float, float)
SKCONV_NO_PLANES(skconv_plane_columns_double, double)
SKCONV_NO_PLANE_KERNELS(skconv_plane_kernels_float, float)
SKCONV_NO_PLANE_KERNELS(skconv_plane_kernels_double, double)
#endif


/* memcpy that writes around the caches (non-temporal stores, SSE2 on x86-64),
 * for outputs too large to be read again from cache: the stores need no read
 * of the lines they overwrite first, halving the memory traffic. The caller
 * fences (skconv_stream_fence) before the data is read. */
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <emmintrin.h>
static inline void skconv_stream_copy(void *target, const void *source, size_t bytes)
{
    char *t = (char *)target;
    const char *s = (const char *)source;
    size_t head = (size_t)(-(uintptr_t)t & 63);  /* whole lines: partial ones halve the rate */
    if (head > bytes) head = bytes;
    memcpy(t, s, head);
    t += head, s += head, bytes -= head;
    for (; bytes >= 64; bytes -= 64, t += 64, s += 64) {
        const __m128i a = _mm_loadu_si128((const __m128i *)s);
        const __m128i b = _mm_loadu_si128((const __m128i *)(s + 16));
        const __m128i c = _mm_loadu_si128((const __m128i *)(s + 32));
        const __m128i d = _mm_loadu_si128((const __m128i *)(s + 48));
        _mm_stream_si128((__m128i *)t, a);
        _mm_stream_si128((__m128i *)(t + 16), b);
        _mm_stream_si128((__m128i *)(t + 32), c);
        _mm_stream_si128((__m128i *)(t + 48), d);
    }
    memcpy(t, s, bytes);
}
static inline void skconv_stream_fence(void) { _mm_sfence(); }
#else
static inline void skconv_stream_copy(void *target, const void *source, size_t bytes)
{
    memcpy(target, source, bytes);
}
static inline void skconv_stream_fence(void) {}
#endif

/* Copy n_rows rows of n items, ``source_pitch`` and ``target_pitch`` items
 * apart, as loops (memcpy per row costs more than rows of a few vectors). */
#define SKCONV_DEFINE_COPY_ROWS(NAME, REAL)                                                 \
    SKCONV_ENCODER_CLONES SKCONV_NO_MEMMOVE static void NAME(                               \
        REAL *restrict target, ptrdiff_t target_pitch, const REAL *restrict source,         \
        ptrdiff_t source_pitch, ptrdiff_t n_rows, ptrdiff_t n)                              \
    {                                                                                       \
        for (ptrdiff_t y = 0; y < n_rows; y++)                                              \
            for (ptrdiff_t x = 0; x < n; x++)                                               \
                target[y * target_pitch + x] = source[y * source_pitch + x];                \
    }
SKCONV_DEFINE_COPY_ROWS(skconv_copy_rows_float, float)
SKCONV_DEFINE_COPY_ROWS(skconv_copy_rows_double, double)

/* 1 when every one of the n values is finite, else 0: the sum of the values
 * times zero is 0 for finite values and NaN as soon as one is NaN or
 * infinite (x * 0 is not folded to 0 without -ffinite-math-only), in four
 * vectors of 32 bytes (GCC's vector extension: any target), checked every
 * 4096 values so that a bad value ends the scan early. */
typedef float skconv_finite_v8f __attribute__((vector_size(32), aligned(4), may_alias));
typedef double skconv_finite_v4d __attribute__((vector_size(32), aligned(8), may_alias));
#define SKCONV_DEFINE_ALL_FINITE(NAME, REAL, VEC)                                           \
    SKCONV_ENCODER_CLONES static int NAME(const REAL *values, ptrdiff_t n)                  \
    {                                                                                       \
        const ptrdiff_t lanes = (ptrdiff_t)(sizeof(VEC) / sizeof(REAL));                    \
        VEC a = {0}, b = {0}, c = {0}, e = {0};                                             \
        ptrdiff_t i = 0;                                                                    \
        while (i < n) {                                                                     \
            const ptrdiff_t end = n - i > 4096 ? i + 4096 : n;                              \
            for (; i + 4 * lanes <= end; i += 4 * lanes) {                                  \
                a += *(const VEC *)(values + i) * (REAL)0;                                  \
                b += *(const VEC *)(values + i + lanes) * (REAL)0;                          \
                c += *(const VEC *)(values + i + 2 * lanes) * (REAL)0;                      \
                e += *(const VEC *)(values + i + 3 * lanes) * (REAL)0;                      \
            }                                                                               \
            REAL total = 0;                                                                 \
            for (; i < end; i++) total += values[i] * (REAL)0;                              \
            for (ptrdiff_t l = 0; l < lanes; l++) total += (a[l] + b[l]) + (c[l] + e[l]);   \
            if (total != 0) return 0; /* NaN */                                             \
        }                                                                                   \
        return 1;                                                                           \
    }

SKCONV_DEFINE_ALL_FINITE(skconv_all_finite_float, float, skconv_finite_v8f)
SKCONV_DEFINE_ALL_FINITE(skconv_all_finite_double, double, skconv_finite_v4d)

/* Rows [y_begin, y_end) of one channel of an image split into their ``sy``
 * row phases and two column phases, as if behind ``top`` rows and ``left``
 * columns of zeros and with zeros after its h rows of w values (rows
 * ``row_step`` items apart): row y goes to row y / sy of row phase y % sy,
 * ``even[j] = row[2j - left]`` and ``odd[j] = row[2j + 1 - left]`` for
 * j < wq, the row phases hq rows of wq items apart. AVX-512: two masked
 * loads (the lanes outside the row masked, and so never read), two permutes
 * and two masked stores per 16 positions (float; 8 for double), where the
 * compiled loop goes value by value on rows narrower than its vectors, and
 * no division per row. Returns 0 where the CPU has no AVX-512 (the caller's
 * loop then). */
#if SKCONV_HAS_COLUMNS
static inline unsigned skconv_row_lanes(ptrdiff_t x0, ptrdiff_t w, int lanes)
{
    const ptrdiff_t low = x0 < 0 ? -x0 : 0, high = w - x0 < lanes ? w - x0 : lanes;
    if (high <= low) return 0;
    return (unsigned)(((1ull << high) - 1) & ~((1ull << low) - 1));
}
#define SKCONV_DEFINE_SPLIT_ROWS2(NAME, REAL, RAW, LANES, MASK, LOAD, STORE, PERMUTE, PICK_EVEN, \
                                  ADD, SET1, ZERO)                                         \
    __attribute__((target("avx512f"))) static void NAME(                                    \
        const REAL *image, ptrdiff_t h, ptrdiff_t w, ptrdiff_t row_step, ptrdiff_t top,     \
        ptrdiff_t left, ptrdiff_t sy, ptrdiff_t hq, ptrdiff_t wq, ptrdiff_t y_begin,        \
        ptrdiff_t y_end, REAL *even, REAL *odd)                                             \
    {                                                                                       \
        const __m512i pick_even = PICK_EVEN, pick_odd = ADD(pick_even, SET1(1));            \
        ptrdiff_t r = y_begin % sy, q = y_begin / sy;                                       \
        for (ptrdiff_t y = y_begin; y < y_end; y++) {                                       \
            REAL *restrict e = even + (r * hq + q) * wq, *restrict o = odd + (r * hq + q) * wq; \
            const int inside = y >= top && y - top < h;                                     \
            const REAL *row = image + (y - top) * row_step;                                 \
            for (ptrdiff_t j = 0; j < wq; j += (LANES)) {                                   \
                const MASK out = wq - j >= (LANES) ? (MASK)~0u : (MASK)((1u << (wq - j)) - 1); \
                if (!inside) {                                                              \
                    STORE(e + j, out, ZERO());                                              \
                    STORE(o + j, out, ZERO());                                              \
                    continue;                                                               \
                }                                                                           \
                const ptrdiff_t x0 = 2 * j - left;                                          \
                const RAW low = LOAD((MASK)skconv_row_lanes(x0, w, (LANES)), row + x0);     \
                const RAW high = LOAD((MASK)skconv_row_lanes(x0 + (LANES), w, (LANES)), row + x0 + (LANES)); \
                STORE(e + j, out, PERMUTE(low, pick_even, high));                           \
                STORE(o + j, out, PERMUTE(low, pick_odd, high));                            \
            }                                                                               \
            if (++r == sy) r = 0, q++;                                                      \
        }                                                                                   \
    }
SKCONV_DEFINE_SPLIT_ROWS2(skconv_split_rows2_float_avx512, float, __m512, 16, __mmask16,
                          _mm512_maskz_loadu_ps, _mm512_mask_storeu_ps, _mm512_permutex2var_ps,
                          _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26,
                                            28, 30),
                          _mm512_add_epi32, _mm512_set1_epi32, _mm512_setzero_ps)
SKCONV_DEFINE_SPLIT_ROWS2(skconv_split_rows2_double_avx512, double, __m512d, 8, __mmask8,
                          _mm512_maskz_loadu_pd, _mm512_mask_storeu_pd, _mm512_permutex2var_pd,
                          _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14), _mm512_add_epi64,
                          _mm512_set1_epi64, _mm512_setzero_pd)
/* The same for column stride 1: target[j] = row[j - left], one masked load
 * and store per vector (the row's copy between its zeros, and the zeros
 * after it, in one pass). */
#define SKCONV_DEFINE_SPLIT_ROWS1(NAME, REAL, RAW, LANES, MASK, LOAD, STORE)                \
    __attribute__((target("avx512f"))) static void NAME(                                    \
        const REAL *image, ptrdiff_t h, ptrdiff_t w, ptrdiff_t row_step, ptrdiff_t top,     \
        ptrdiff_t left, ptrdiff_t sy, ptrdiff_t hq, ptrdiff_t wq, ptrdiff_t y_begin,        \
        ptrdiff_t y_end, REAL *target)                                                      \
    {                                                                                       \
        ptrdiff_t r = y_begin % sy, q = y_begin / sy;                                       \
        for (ptrdiff_t y = y_begin; y < y_end; y++) {                                       \
            REAL *restrict t = target + (r * hq + q) * wq;                                  \
            const int inside = y >= top && y - top < h;                                     \
            const REAL *row = image + (y - top) * row_step;                                 \
            for (ptrdiff_t j = 0; j < wq; j += (LANES)) {                                   \
                const MASK out = wq - j >= (LANES) ? (MASK)~0u : (MASK)((1u << (wq - j)) - 1);\
                const MASK in = inside ? (MASK)skconv_row_lanes(j - left, w, (LANES)) : 0;  \
                STORE(t + j, out, LOAD(in, row + j - left));                                \
            }                                                                               \
            if (++r == sy) r = 0, q++;                                                      \
        }                                                                                   \
    }
SKCONV_DEFINE_SPLIT_ROWS1(skconv_split_rows1_float_avx512, float, __m512, 16, __mmask16,
                          _mm512_maskz_loadu_ps, _mm512_mask_storeu_ps)
SKCONV_DEFINE_SPLIT_ROWS1(skconv_split_rows1_double_avx512, double, __m512d, 8, __mmask8,
                          _mm512_maskz_loadu_pd, _mm512_mask_storeu_pd)
/* A channel's rows split by the loops above where the CPU has AVX-512 and
 * the column stride is 1 or 2 (``first`` and ``second``: the channel's row 0
 * in column phases 0 and 1); 0 otherwise (the caller's loop then). */
#define SKCONV_SPLIT_ROWS_DISPATCH(NAME, REAL, ONE, TWO)                                    \
    static int NAME(const REAL *image, ptrdiff_t h, ptrdiff_t w, ptrdiff_t row_step,        \
                    ptrdiff_t top, ptrdiff_t left, ptrdiff_t sy, ptrdiff_t hq, ptrdiff_t sx,\
                    ptrdiff_t wq, ptrdiff_t y_begin, ptrdiff_t y_end, REAL *first, REAL *second)\
    {                                                                                       \
        if (skconv_columns_level() != 2 || sx > 2) return 0;                                \
        if (sx == 1)                                                                        \
            ONE(image, h, w, row_step, top, left, sy, hq, wq, y_begin, y_end, first);       \
        else                                                                                \
            TWO(image, h, w, row_step, top, left, sy, hq, wq, y_begin, y_end, first, second);\
        return 1;                                                                           \
    }
SKCONV_SPLIT_ROWS_DISPATCH(skconv_split_rows_float, float, skconv_split_rows1_float_avx512,
                           skconv_split_rows2_float_avx512)
SKCONV_SPLIT_ROWS_DISPATCH(skconv_split_rows_double, double, skconv_split_rows1_double_avx512,
                           skconv_split_rows2_double_avx512)
#else /* (no AVX-512 loop to call: the caller's loop splits every row) */
#define skconv_split_rows_float(...) 0
#define skconv_split_rows_double(...) 0
#endif
/* Split a padded image (C, hp, wp) into its ``sx`` column phases and ``sy``
 * row phases: planes (sx, C, sy, hq, wq), column phase q holding the columns
 * q, q + sx, ... (zeros past the image's last column), row phase r the rows
 * r, r + sy, ... (rows of zeros past its last row), so that the positions of
 * consecutive map rows are consecutive rows of every phase. The padded
 * image is ``image`` (C, h, w), its channels ``channel_step`` and its rows
 * ``row_step`` items apart, behind ``top`` rows and ``left`` columns of zeros
 * (and zeros after it up to hp x wp): the padding is added on the way, the
 * image read once. Only the padded rows [y_begin, y_end) are split (those
 * that a thread's map rows read). ``rows``: a buffer of 2 x wp items, which
 * it zeroes. */
#define SKCONV_DEFINE_SPLIT_PHASES(NAME, REAL, SPLIT_ROWS)                                  \
    SKCONV_ENCODER_CLONES SKCONV_NO_MEMMOVE static void NAME(                               \
        const REAL *restrict image, ptrdiff_t channels, ptrdiff_t h, ptrdiff_t w,           \
        ptrdiff_t channel_step, ptrdiff_t row_step, ptrdiff_t top, ptrdiff_t left,          \
        ptrdiff_t hp, ptrdiff_t wp, ptrdiff_t sy, ptrdiff_t hq, ptrdiff_t sx, ptrdiff_t wq, \
        ptrdiff_t y_begin, ptrdiff_t y_end, REAL *restrict rows, REAL *restrict planes)     \
    {                                                                                       \
        const int padded = top || left || h != hp || w != wp;                               \
        REAL *zeros = rows, *row = rows + wp;                                               \
        if (y_end > hq * sy) y_end = hq * sy;                                               \
        if (padded || hq * sy > hp)                                                         \
            for (ptrdiff_t x = 0; x < 2 * wp; x++) rows[x] = 0;                             \
        for (ptrdiff_t c = 0; c < channels; c++) {                                          \
            const REAL *restrict channel = image + c * channel_step;                        \
            if (SPLIT_ROWS(channel, h, w, row_step, top, left, sy, hq, sx, wq, y_begin, y_end,\
                           planes + c * sy * hq * wq, planes + (channels + c) * sy * hq * wq))\
                continue;                                                                   \
            for (ptrdiff_t y = y_begin; y < y_end; y++) {                                   \
                const int inside = y >= top && y - top < h;                                 \
                const ptrdiff_t at = (c * sy + y % sy) * hq + y / sy; /* row of phase 0 */  \
                if (sx == 2) { /* both phases straight from the image row */                \
                    REAL *restrict even = planes + at * wq;                                 \
                    REAL *restrict odd = planes + (channels * sy * hq + at) * wq;           \
                    if (!inside) {                                                          \
                        for (ptrdiff_t j = 0; j < wq; j++) even[j] = odd[j] = 0;            \
                        continue;                                                           \
                    }                                                                       \
                    const REAL *restrict img = channel + (y - top) * row_step;              \
                    /* positions j0 .. j1 - 1 read the row's values only */                 \
                    ptrdiff_t j0 = (left + 1) / 2, j1 = (w + left) / 2;                     \
                    if (j1 > wq) j1 = wq;                                                   \
                    if (j1 < j0) j1 = j0;                                                   \
                    for (ptrdiff_t j = 0; j < wq; j++) {                                    \
                        if (j == j0) { /* (vectorised) */                                   \
                            const REAL *restrict b = img + (2 * j0 - left);                 \
                            for (ptrdiff_t t = 0; t < j1 - j0; t++) {                       \
                                even[j0 + t] = b[2 * t];                                    \
                                odd[j0 + t] = b[2 * t + 1];                                 \
                            }                                                               \
                            j = j1;                                                         \
                            if (j >= wq) break;                                             \
                        }                                                                   \
                        const ptrdiff_t x = 2 * j - left;                                   \
                        even[j] = x >= 0 && x < w ? img[x] : 0;                             \
                        odd[j] = x + 1 >= 0 && x + 1 < w ? img[x + 1] : 0;                  \
                    }                                                                       \
                    continue;                                                               \
                }                                                                           \
                const REAL *restrict source = zeros;                                        \
                if (inside) {                                                               \
                    source = channel + (y - top) * row_step;                                \
                    if (padded) { /* the row between its zeros */                           \
                        for (ptrdiff_t x = 0; x < w; x++) row[left + x] = source[x];        \
                        source = row;                                                       \
                    }                                                                       \
                }                                                                           \
                for (ptrdiff_t q = 0; q < sx; q++) {                                        \
                    REAL *restrict target = planes + (q * channels * sy * hq + at) * wq;    \
                    const ptrdiff_t n = (wp - q + sx - 1) / sx;                             \
                    ptrdiff_t j = 0;                                                        \
                    if (sx == 1)                                                            \
                        for (; j < n; j++) target[j] = source[j];                           \
                    else                                                                    \
                        for (; j < n; j++) target[j] = source[q + j * sx];                  \
                    for (; j < wq; j++) target[j] = 0;                                      \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
    }
SKCONV_DEFINE_SPLIT_PHASES(skconv_split_phases_float, float, skconv_split_rows_float)
SKCONV_DEFINE_SPLIT_PHASES(skconv_split_phases_double, double, skconv_split_rows_double)

SKCONV_DEFINE_ENCODE_ROW(skconv_encode_row_float, float, sqrtf)
SKCONV_DEFINE_ENCODE_ROW(skconv_encode_row_double, double, sqrt)
SKCONV_DEFINE_ENCODE(skconv_encode_float, skconv_encode_row_float, float)
SKCONV_DEFINE_ENCODE(skconv_encode_double, skconv_encode_row_double, double)
SKCONV_DEFINE_NORMALISE(skconv_normalise_float, float, sqrtf)
SKCONV_DEFINE_NORMALISE(skconv_normalise_double, double, sqrt)
SKCONV_DEFINE_ENCODE_RAW(skconv_encode_raw_float, float, sqrtf)
SKCONV_DEFINE_ENCODE_RAW(skconv_encode_raw_double, double, sqrt)
SKCONV_DEFINE_POOL(skconv_pool_float, float)
SKCONV_DEFINE_POOL(skconv_pool_double, double)
SKCONV_DEFINE_GATHER(skconv_gather_float, float)
SKCONV_DEFINE_GATHER(skconv_gather_double, double)
