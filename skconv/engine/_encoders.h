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

#if defined(__has_attribute)
#if __has_attribute(target_clones) && defined(__x86_64__) && defined(__ELF__)
#define SKCONV_ENCODER_CLONES __attribute__((target_clones("avx2", "default")))
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
        ptrdiff_t n_raw, ptrdiff_t k, ptrdiff_t j, ptrdiff_t d, int normalise,             \
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

/* Encode a block of positions (whole rows of the maps) and fold them into the
 * pooling states, positions last: ``raw`` (R, n) the GEMM's columns of n
 * positions and ``patches`` (D, n), rows ``ld`` apart (a block of a larger
 * run), ``values`` (K, n) and ``scalars`` (4, n) scratch; ``rows`` (P, K, ow)
 * holds, from block to block, each state's fold of the rows of the current
 * band of regions, reduced into ``states`` at the band's last row. The operations are those of the row
 * encoder above, value by value, but every loop runs along the positions, so
 * the per-patch scalars (mean, deviation, ||x||^2, mean distance) are vectors
 * and no loop reduces across its lanes. ``states`` (P, G, K) in double, P
 * states of codes ``kinds``, G = gh * gw regions; the run starts at map row
 * ``row0`` and holds ``n / ow`` rows; ``row_regions[y]`` is the region row of
 * map row y, ``col_bounds`` (gw + 1) the regions' column bounds. ``rectify``
 * applies relu to the values first. */
/* A map value at the fold (row R, column X of a block): the triangle's
 * mean distance minus the distance when its last step is fused. */
#define SKCONV_FINAL(R, X)                                                                  \
    (fused_last ? average[(R)*ow + (X)] - v[(R)*ow + (X)] : v[(R)*ow + (X)])

#define SKCONV_DEFINE_POOL(NAME, REAL, SQRT)                                                \
    SKCONV_ENCODER_CLONES static void NAME(                                                 \
        const REAL *restrict raw, const REAL *restrict patches, REAL *restrict values,      \
        REAL *restrict scalars, REAL *restrict row_maxima, double *restrict rows, ptrdiff_t ld, \
        ptrdiff_t n, ptrdiff_t k,                                                          \
        ptrdiff_t j, ptrdiff_t d, int normalise, REAL norm_reg,                             \
        const REAL *restrict column_sums, const REAL *restrict bias,                        \
        const REAL *restrict centre_norms, int mode, REAL threshold, int rectify,           \
        ptrdiff_t oh, ptrdiff_t ow, ptrdiff_t row0, const ptrdiff_t *restrict row_regions,  \
        const ptrdiff_t *restrict col_bounds, ptrdiff_t gw, ptrdiff_t n_regions,            \
        const int *restrict kinds, int n_states, double *restrict states)                   \
    {                                                                                       \
        const ptrdiff_t n_raw = k + j + (normalise ? 1 : 0), n_rows = n / ow;               \
        REAL *restrict mean = scalars, *restrict inv_std = scalars + n;                     \
        REAL *restrict var = scalars + 2 * n, *restrict norms = scalars + 3 * n;            \
        if (normalise) {                                                                    \
            const REAL *restrict sums = raw + (n_raw - 1) * ld;                              \
            for (ptrdiff_t i = 0; i < n; i++) {                                             \
                mean[i] = sums[i] / (REAL)d;                                                \
                var[i] = 0;                                                                 \
            }                                                                               \
            for (ptrdiff_t t = 0; t < d; t++) {                                             \
                const REAL *restrict p = patches + t * ld;                                   \
                for (ptrdiff_t i = 0; i < n; i++) {                                         \
                    const REAL c = p[i] - mean[i];                                          \
                    var[i] += c * c;                                                        \
                }                                                                           \
            }                                                                               \
            for (ptrdiff_t i = 0; i < n; i++) {                                             \
                var[i] /= (REAL)d;                                                          \
                inv_std[i] = (REAL)1 / SQRT(var[i] + norm_reg);                             \
            }                                                                               \
        } else {                                                                            \
            for (ptrdiff_t i = 0; i < n; i++) {                                             \
                mean[i] = 0;                                                                \
                inv_std[i] = 1;                                                             \
            }                                                                               \
        }                                                                                   \
        /* ||x||^2 of every position first (triangle), so that each kernel's                \
         * responses and distances are one pass. */                                         \
        if (mode == SKCONV_TRIANGLE) {                                                      \
            for (ptrdiff_t i = 0; i < n; i++) norms[i] = 0;                                 \
            if (j) {                                                                        \
                for (ptrdiff_t c = 0; c < j; c++) {                                         \
                    const REAL *restrict r = raw + (k + c) * ld;                            \
                    const REAL sum = column_sums[k + c], b = bias[k + c];                   \
                    for (ptrdiff_t i = 0; i < n; i++) {                                     \
                        const REAL w = (r[i] - mean[i] * sum) * inv_std[i] - b;             \
                        norms[i] += w * w;                                                  \
                    }                                                                       \
                }                                                                           \
            } else if (normalise) {                                                         \
                for (ptrdiff_t i = 0; i < n; i++) norms[i] = (REAL)d * var[i] / (var[i] + norm_reg);\
            } else {                                                                        \
                for (ptrdiff_t t = 0; t < d; t++) {                                         \
                    const REAL *restrict p = patches + t * ld;                              \
                    for (ptrdiff_t i = 0; i < n; i++) norms[i] += p[i] * p[i];              \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
        REAL *restrict average = var; /* the variance is no longer needed */                \
        for (ptrdiff_t i = 0; i < n; i++) average[i] = 0;                                   \
        ptrdiff_t c = 0;                                                                    \
        if (mode == SKCONV_TRIANGLE)                                                        \
            /* Four kernels per pass: the per-position values read once, the                \
             * mean distance accumulated in registers. */                                   \
            for (; c + 4 <= k; c += 4) {                                                    \
                const REAL *restrict r0 = raw + c * ld, *restrict r1 = r0 + ld;             \
                const REAL *restrict r2 = r1 + ld, *restrict r3 = r2 + ld;                  \
                REAL *restrict v0 = values + c * n, *restrict v1 = v0 + n;                  \
                REAL *restrict v2 = v1 + n, *restrict v3 = v2 + n;                          \
                const REAL *sums = column_sums + c, *b = bias + c, *centres = centre_norms + c;\
                for (ptrdiff_t i = 0; i < n; i++) {                                         \
                    const REAL m = mean[i], s = inv_std[i], q = norms[i];                   \
                    const REAL z0 = ((r0[i] - m * sums[0]) * s - b[0]) * (REAL)-2 + q + centres[0];\
                    const REAL z1 = ((r1[i] - m * sums[1]) * s - b[1]) * (REAL)-2 + q + centres[1];\
                    const REAL z2 = ((r2[i] - m * sums[2]) * s - b[2]) * (REAL)-2 + q + centres[2];\
                    const REAL z3 = ((r3[i] - m * sums[3]) * s - b[3]) * (REAL)-2 + q + centres[3];\
                    v0[i] = SQRT(z0 > 0 ? z0 : 0);                                          \
                    v1[i] = SQRT(z1 > 0 ? z1 : 0);                                          \
                    v2[i] = SQRT(z2 > 0 ? z2 : 0);                                          \
                    v3[i] = SQRT(z3 > 0 ? z3 : 0);                                          \
                    average[i] += v0[i] + v1[i] + v2[i] + v3[i];                            \
                }                                                                           \
            }                                                                               \
        for (; c < k; c++) {                                                                \
            const REAL *restrict r = raw + c * ld;                                          \
            REAL *restrict v = values + c * n;                                              \
            const REAL sum = column_sums[c], b = bias[c], centre = centre_norms[c];         \
            if (mode == SKCONV_TRIANGLE) {                                                  \
                for (ptrdiff_t i = 0; i < n; i++) {                                         \
                    const REAL response = (r[i] - mean[i] * sum) * inv_std[i] - b;          \
                    const REAL z = response * (REAL)-2 + norms[i] + centre;                 \
                    v[i] = SQRT(z > 0 ? z : 0);                                             \
                    average[i] += v[i];                                                     \
                }                                                                           \
            } else {                                                                        \
                for (ptrdiff_t i = 0; i < n; i++) v[i] = (r[i] - mean[i] * sum) * inv_std[i] - b;\
            }                                                                               \
        }                                                                                   \
        if (mode == SKCONV_TRIANGLE)                                                        \
            for (ptrdiff_t i = 0; i < n; i++) average[i] /= (REAL)k;                        \
        /* The encoder's last step (and the relu), then the fold of each map                \
         * row into every state: maxima in the values' own type, sums in                    \
         * double, over the rows of a band of regions (``row_maxima`` and                   \
         * ``rows``, (P, K, ow)), reduced into ``states`` at the band's last                \
         * row. Rows are ``ow`` apart: the caller may pad them (the padding                 \
         * lanes are computed and folded, never reduced). With the triangle                 \
         * encoder and maxima only, its last step runs inside the fold. */                  \
        int maxima_only = 1;                                                                \
        for (int s = 0; s < n_states; s++) maxima_only &= kinds[s] == SKCONV_STATE_MAX;     \
        const int fused_last = mode == SKCONV_TRIANGLE && maxima_only;                      \
        if (!fused_last)                                                                    \
            for (ptrdiff_t c = 0; c < k; c++) {                                             \
                REAL *restrict v = values + c * n;                                          \
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
            const int first = row0 + y == 0 || row_regions[row0 + y - 1] != band;           \
            const int last = row0 + end == oh || row_regions[row0 + end] != band;           \
            for (int s = 0; s < n_states; s++) {                                            \
                const int kind = kinds[s];                                                  \
                for (ptrdiff_t c = 0; c < k; c++) {                                         \
                    const REAL *restrict v = values + c * n;                                \
                    const ptrdiff_t at = ((ptrdiff_t)s * k + c) * ow;                       \
                    double *restrict row = rows + at;                                       \
                    REAL *restrict maxima = row_maxima + at;                                \
                    ptrdiff_t r = y;                                                        \
                    if (kind == SKCONV_STATE_MAX) {                                         \
                        /* The triangle's last step: max(mean distance - distance, 0),      \
                         * its relu taken once on the region's maximum. */                  \
                        if (first) {                                                        \
                            for (ptrdiff_t x = 0; x < ow; x++) maxima[x] = SKCONV_FINAL(r, x);\
                            r++;                                                            \
                        }                                                                   \
                        for (; r + 4 <= end; r += 4)                                        \
                            for (ptrdiff_t x = 0; x < ow; x++) {                            \
                                REAL z = maxima[x];                                         \
                                const REAL z0 = SKCONV_FINAL(r, x), z1 = SKCONV_FINAL(r + 1, x);\
                                const REAL z2 = SKCONV_FINAL(r + 2, x), z3 = SKCONV_FINAL(r + 3, x);\
                                const REAL za = z0 > z1 ? z0 : z1, zb = z2 > z3 ? z2 : z3;  \
                                const REAL zc = za > zb ? za : zb;                          \
                                maxima[x] = z > zc ? z : zc;                                \
                            }                                                               \
                        for (; r < end; r++)                                                \
                            for (ptrdiff_t x = 0; x < ow; x++) {                            \
                                const REAL z = SKCONV_FINAL(r, x);                          \
                                maxima[x] = maxima[x] > z ? maxima[x] : z;                  \
                            }                                                               \
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
                                    row[x] = (start ? 0.0 : row[x]) + (double)line[x] * line[x];\
                                break;                                                      \
                            case SKCONV_STATE_COUNT:                                        \
                                for (ptrdiff_t x = 0; x < ow; x++)                          \
                                    row[x] = (start ? 0.0 : row[x]) + (line[x] > 0);        \
                                break;                                                      \
                            default: /* SKCONV_STATE_POSSUM */                              \
                                for (ptrdiff_t x = 0; x < ow; x++)                          \
                                    row[x] = (start ? 0.0 : row[x]) + (line[x] > 0 ? line[x] : 0);\
                            }                                                               \
                        }                                                                   \
                    }                                                                       \
                    if (!last) continue;                                                    \
                    /* The band's rows are folded: reduce each region's columns,            \
                     * in eight independent lanes. */                                       \
                    for (ptrdiff_t gx = 0; gx < gw; gx++) {                                 \
                        double *state = states + ((s * n_regions) + band * gw + gx) * k + c;\
                        const ptrdiff_t lo = col_bounds[gx], hi = col_bounds[gx + 1];       \
                        ptrdiff_t x = lo;                                                   \
                        if (kind == SKCONV_STATE_MAX) {                                     \
                            REAL lanes[8];                                                  \
                            for (int l = 0; l < 8; l++) lanes[l] = maxima[lo];              \
                            for (; x + 8 <= hi; x += 8)                                     \
                                for (int l = 0; l < 8; l++)                                 \
                                    lanes[l] = lanes[l] > maxima[x + l] ? lanes[l] : maxima[x + l];\
                            for (; x < hi; x++) lanes[0] = lanes[0] > maxima[x] ? lanes[0] : maxima[x];\
                            double folded = lanes[0];                                       \
                            for (int l = 1; l < 8; l++) folded = folded > lanes[l] ? folded : lanes[l];\
                            if (fused_last) folded = folded > 0 ? folded : 0; /* the relu, once */\
                            *state = *state > folded ? *state : folded;                     \
                        } else {                                                            \
                            double lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};                     \
                            for (; x + 8 <= hi; x += 8)                                     \
                                for (int l = 0; l < 8; l++) lanes[l] += row[x + l];         \
                            for (; x < hi; x++) lanes[0] += row[x];                         \
                            double folded = 0;                                              \
                            for (int l = 0; l < 8; l++) folded += lanes[l];                 \
                            *state += folded;                                               \
                        }                                                                   \
                    }                                                                       \
                }                                                                           \
            }                                                                               \
            y = end;                                                                        \
        }                                                                                   \
    }

/* The patches of map rows [row0, row0 + n_rows) of an image, tap by tap:
 * patches (D, ld), each map row ``row_stride`` >= ow apart (ld >= n_rows *
 * row_stride), tap t = (ky * kw + kx) * C + c, from the padded (C, hp, wp)
 * channels-first image (a tap's values along a map row are a run of one
 * padded row, contiguous at stride 1). */
#define SKCONV_DEFINE_GATHER(NAME, REAL)                                                    \
    static void NAME(const REAL *restrict padded, ptrdiff_t hp, ptrdiff_t wp,               \
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

/* The GEMM columns of a block of positions, positions last: out (R, n), rows
 * ``ldo`` apart, = weights^T (R, D) @ patches (D, n), patches' rows ``ld``
 * apart. n a multiple of SKCONV_COLUMN_LANES and R of skconv_column_group()
 * (the caller pads). Each block of NV
 * vectors of positions x NC columns stays in registers over the D taps (one
 * vector load per tap and vector, one broadcast per tap and column): on
 * AVX-512, 2 x 16 positions x 10 columns in float; on AVX2, 2 x 8 x 6. For the small depths of patches
 * (25 for 5x5) this runs 1.5-2.4x faster than BLAS's GEMM, which packs its
 * operands for depths in the hundreds. */
#define SKCONV_COLUMN_LANES 32

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SKCONV_HAS_COLUMNS 1
typedef float skconv_v16f __attribute__((vector_size(64), aligned(4), may_alias));
typedef double skconv_v8d __attribute__((vector_size(64), aligned(8), may_alias));
typedef float skconv_v8f __attribute__((vector_size(32), aligned(4), may_alias));
typedef double skconv_v4d __attribute__((vector_size(32), aligned(8), may_alias));

#define SKCONV_DEFINE_COLUMNS(NAME, TARGET, REAL, VEC, NV, NC)                              \
    __attribute__((target(TARGET))) static void NAME(                                       \
        const REAL *patches, ptrdiff_t ld, ptrdiff_t n, ptrdiff_t d, const REAL *weights,   \
        ptrdiff_t r, REAL *out, ptrdiff_t ldo)                                              \
    {                                                                                       \
        const ptrdiff_t lanes = (ptrdiff_t)(sizeof(VEC) / sizeof(REAL));                    \
        for (ptrdiff_t i0 = 0; i0 + (NV)*lanes <= n; i0 += (NV)*lanes)                      \
            for (ptrdiff_t c0 = 0; c0 + (NC) <= r; c0 += (NC)) {                            \
                VEC a[NC][NV];                                                              \
                for (int c = 0; c < (NC); c++)                                              \
                    for (int v = 0; v < (NV); v++) a[c][v] = (VEC){0};                      \
                for (ptrdiff_t t = 0; t < d; t++) {                                         \
                    const REAL *source = patches + t * ld + i0;                             \
                    const REAL *w = weights + t * r + c0;                                   \
                    VEC p[NV];                                                              \
                    for (int v = 0; v < (NV); v++) p[v] = *(const VEC *)(source + v * lanes); \
                    for (int c = 0; c < (NC); c++) {                                        \
                        const REAL x = w[c];                                                \
                        for (int v = 0; v < (NV); v++) a[c][v] += x * p[v];                 \
                    }                                                                       \
                }                                                                           \
                for (int c = 0; c < (NC); c++)                                              \
                    for (int v = 0; v < (NV); v++)                                          \
                        *(VEC *)(out + (c0 + c) * ldo + i0 + v * lanes) = a[c][v];          \
            }                                                                               \
    }

SKCONV_DEFINE_COLUMNS(skconv_columns_float_avx512, "avx512f,fma", float, skconv_v16f, 2, 10)
SKCONV_DEFINE_COLUMNS(skconv_columns_double_avx512, "avx512f,fma", double, skconv_v8d, 2, 10)
SKCONV_DEFINE_COLUMNS(skconv_columns_float_avx2, "avx2,fma", float, skconv_v8f, 2, 6)
SKCONV_DEFINE_COLUMNS(skconv_columns_double_avx2, "avx2,fma", double, skconv_v4d, 2, 6)

/* 2: AVX-512, 1: AVX2 and FMA, 0: neither (the caller uses BLAS). */
static int skconv_columns_level(void)
{
    static int level = -1;
    if (level < 0) {
        __builtin_cpu_init();
        level = __builtin_cpu_supports("avx512f")                                ? 2
                : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1
                                                                                   : 0;
    }
    return level;
}
#else
#define SKCONV_HAS_COLUMNS 0
static int skconv_columns_level(void) { return 0; }
#endif

/* The columns each block of the loop the CPU runs computes (1: no loop). */
static int skconv_column_group(void)
{
    const int level = skconv_columns_level();
    return level == 2 ? 10 : level == 1 ? 6 : 1;
}

/* The columns through the fastest loop the CPU runs; 0 when it has none. */
#define SKCONV_DEFINE_COLUMNS_DISPATCH(NAME, REAL, WIDE, NARROW)                            \
    static int NAME(const REAL *patches, ptrdiff_t ld, ptrdiff_t n, ptrdiff_t d,            \
                    const REAL *weights, ptrdiff_t r, REAL *out, ptrdiff_t ldo)             \
    {                                                                                       \
        switch (skconv_columns_level()) {                                                   \
        case 2: WIDE(patches, ld, n, d, weights, r, out, ldo); return 1;                    \
        case 1: NARROW(patches, ld, n, d, weights, r, out, ldo); return 1;                  \
        default: return 0;                                                                  \
        }                                                                                   \
    }

#if SKCONV_HAS_COLUMNS
SKCONV_DEFINE_COLUMNS_DISPATCH(skconv_columns_float, float, skconv_columns_float_avx512,
                               skconv_columns_float_avx2)
SKCONV_DEFINE_COLUMNS_DISPATCH(skconv_columns_double, double, skconv_columns_double_avx512,
                               skconv_columns_double_avx2)
#else
static int skconv_columns_float(const float *p, ptrdiff_t ld, ptrdiff_t n, ptrdiff_t d,
                                const float *w, ptrdiff_t r, float *o, ptrdiff_t ldo)
{
    return 0;
}
static int skconv_columns_double(const double *p, ptrdiff_t ld, ptrdiff_t n, ptrdiff_t d,
                                 const double *w, ptrdiff_t r, double *o, ptrdiff_t ldo)
{
    return 0;
}
#endif

SKCONV_DEFINE_ENCODE_ROW(skconv_encode_row_float, float, sqrtf)
SKCONV_DEFINE_ENCODE_ROW(skconv_encode_row_double, double, sqrt)
SKCONV_DEFINE_ENCODE(skconv_encode_float, skconv_encode_row_float, float)
SKCONV_DEFINE_ENCODE(skconv_encode_double, skconv_encode_row_double, double)
SKCONV_DEFINE_POOL(skconv_pool_float, float, sqrtf)
SKCONV_DEFINE_POOL(skconv_pool_double, double, sqrt)
SKCONV_DEFINE_GATHER(skconv_gather_float, float)
SKCONV_DEFINE_GATHER(skconv_gather_double, double)
