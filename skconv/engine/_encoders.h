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

#define SKCONV_DEFINE_ENCODE(NAME, REAL, SQRT)                                              \
    SKCONV_ENCODER_CLONES static void NAME(                                                 \
        const REAL *raw, const REAL *patches, REAL *out, REAL *scratch, ptrdiff_t n,        \
        ptrdiff_t n_raw, ptrdiff_t k, ptrdiff_t j, ptrdiff_t d, int normalise,             \
        REAL norm_reg, const REAL *column_sums, const REAL *bias, const REAL *centre_norms, \
        int mode, REAL threshold)                                                           \
    {                                                                                       \
        for (ptrdiff_t i = 0; i < n; i++) {                                                 \
            const REAL *row = raw + i * n_raw;                                              \
            const REAL *patch = patches + i * d;                                            \
            REAL *values = out + i * k;                                                     \
            REAL *whitened = scratch; /* j values */                                        \
            REAL mean = 0, var = 0, inv_std = 1;                                            \
            if (normalise) {                                                                \
                mean = row[n_raw - 1] / (REAL)d;                                            \
                var = SKCONV_SUM_SQUARES(REAL, patch, mean, d) / (REAL)d;                   \
                inv_std = (REAL)1 / SQRT(var + norm_reg);                                   \
                for (ptrdiff_t c = 0; c < k; c++)                                           \
                    values[c] = (row[c] - mean * column_sums[c]) * inv_std - bias[c];       \
                for (ptrdiff_t c = 0; c < j; c++)                                           \
                    whitened[c] =                                                           \
                        (row[k + c] - mean * column_sums[k + c]) * inv_std - bias[k + c];   \
            } else {                                                                        \
                for (ptrdiff_t c = 0; c < k; c++) values[c] = row[c] - bias[c];             \
                for (ptrdiff_t c = 0; c < j; c++) whitened[c] = row[k + c] - bias[k + c];   \
            }                                                                               \
            if (mode == SKCONV_SOFT_THRESHOLD) {                                            \
                for (ptrdiff_t c = 0; c < k; c++) {                                         \
                    const REAL v = values[c] - threshold;                                   \
                    values[c] = v > 0 ? v : 0;                                              \
                }                                                                           \
            } else if (mode == SKCONV_TRIANGLE) {                                           \
                REAL norms = 0;                                                             \
                if (j) {                                                                    \
                    norms = SKCONV_SUM_SQUARES(REAL, whitened, (REAL)0, j);                 \
                } else if (normalise) {                                                     \
                    norms = (REAL)d * var / (var + norm_reg);                               \
                } else {                                                                    \
                    norms = SKCONV_SUM_SQUARES(REAL, patch, (REAL)0, d);                    \
                }                                                                           \
                for (ptrdiff_t c = 0; c < k; c++) {                                         \
                    const REAL v = values[c] * (REAL)-2 + norms + centre_norms[c];          \
                    values[c] = SQRT(v > 0 ? v : 0);                                        \
                }                                                                           \
                /* The mean of the distances over eight partial sums (vectorised). */       \
                REAL partial[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                 \
                ptrdiff_t c8 = 0;                                                           \
                for (; c8 + 8 <= k; c8 += 8)                                                \
                    for (int l = 0; l < 8; l++) partial[l] += values[c8 + l];               \
                REAL total = 0;                                                             \
                for (int l = 0; l < 8; l++) total += partial[l];                            \
                for (; c8 < k; c8++) total += values[c8];                                   \
                const REAL average = total / (REAL)k;                                       \
                for (ptrdiff_t c = 0; c < k; c++) {                                         \
                    const REAL v = average - values[c];                                     \
                    values[c] = v > 0 ? v : 0;                                              \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
    }

SKCONV_DEFINE_ENCODE(skconv_encode_float, float, sqrtf)
SKCONV_DEFINE_ENCODE(skconv_encode_double, double, sqrt)
