/* Direct 2-D correlation of a padded window with a few kernels, float32.
 *
 * out[img, k, y, x] = sum over (i, j, c) of weights[k, i, j, c] *
 *                     window[img, c, y * sy + i * dy, x + j * dx]
 * for y < th and x < tw (stride 1 along x; the window holds at least
 * (th - 1) * sy + (kh - 1) * dy + 1 rows and tw + (kw - 1) * dx columns).
 *
 * Register blocking: 4 kernels x NV vectors of 8 positions along a row stay
 * in registers for the whole sum over (i, j, c); each input vector is loaded
 * once per 4 kernels and each weight broadcast once per NV vectors. A row's
 * last block is shifted left to end at tw (it overlaps the previous one and
 * recomputes the same values), so tw >= 8 * NV is required. The weights are
 * padded to a multiple of 4 kernels (zeros); only the first n_kernels are
 * written. GCC/Clang vector extensions: the same code compiles to SSE on the
 * x86-64 baseline and, in a clone with AVX2 and FMA picked at run time, to
 * 8-lane fused multiply-adds.
 *
 * skconv_direct_max_float is the same loop but keeps, in out, the maximum of
 * what it would have written and what out holds: with zero output strides
 * for rows and images (o_y = o_m = 0) a call reduces a whole region of
 * positions to its maximum without writing the maps (the max pooling of
 * small images, fused; recomputed overlapping blocks do not change a max).
 */
#include <stddef.h>
#include <string.h>

typedef float skconv_v8f __attribute__((vector_size(32)));

#define SKCONV_LOAD(dst, p) memcpy(&(dst), (p), sizeof(skconv_v8f))
#define SKCONV_STORE(p, v) memcpy((p), &(v), sizeof(skconv_v8f))
#define SKCONV_KEEP(x) x
#define SKCONV_DROP(x)

typedef int skconv_v8i __attribute__((vector_size(32)));

static inline skconv_v8f skconv_vmax(skconv_v8f a, skconv_v8f b)
{
    const skconv_v8i a_wins = a > b;
    return (skconv_v8f)((a_wins & (skconv_v8i)a) | (~a_wins & (skconv_v8i)b));
}

/* How the loop puts a block of results in out: a store, or a running max. */
#define SKCONV_PUT_STORE(p, v) SKCONV_STORE(p, v)
#define SKCONV_PUT_MAX(p, v)                                                                 \
    {                                                                                        \
        skconv_v8f held_;                                                                    \
        SKCONV_LOAD(held_, p);                                                               \
        held_ = skconv_vmax(held_, v);                                                       \
        SKCONV_STORE(p, held_);                                                              \
    }

#define SKCONV_DIRECT_ARGS                                                                   \
    const float *window, const float *weights, float *out, ptrdiff_t m, ptrdiff_t C,         \
        ptrdiff_t s_m, ptrdiff_t s_c, ptrdiff_t s_y, ptrdiff_t n_kernels, ptrdiff_t kh,      \
        ptrdiff_t kw, ptrdiff_t sy, ptrdiff_t dy, ptrdiff_t dx, ptrdiff_t th, ptrdiff_t tw,  \
        ptrdiff_t o_m, ptrdiff_t o_k, ptrdiff_t o_y

#define SKCONV_DIRECT_CALL                                                                   \
    window, weights, out, m, C, s_m, s_c, s_y, n_kernels, kh, kw, sy, dy, dx, th, tw, o_m,   \
        o_k, o_y

/* THIRD is SKCONV_KEEP for blocks of 3 vectors (24 positions), SKCONV_DROP for 2;
 * CH is the number of channels (the constant 1 lets the compiler drop the
 * channel loop: 1.2-1.3x faster on single-channel images); PUT is
 * SKCONV_PUT_STORE or SKCONV_PUT_MAX. */
#define SKCONV_DIRECT_LOOPS(THIRD, CH, PUT)                                                       \
    {                                                                                        \
        const ptrdiff_t block = 8 * (2 THIRD(+1));                                           \
        const ptrdiff_t taps = kh * kw * (CH);                                                  \
        for (ptrdiff_t img = 0; img < m; img++) {                                            \
            const float *base = window + img * s_m;                                          \
            for (ptrdiff_t k0 = 0; k0 < n_kernels; k0 += 4) {                                \
                const ptrdiff_t kn = n_kernels - k0 < 4 ? n_kernels - k0 : 4;                \
                const float *w0 = weights + k0 * taps;                                       \
                for (ptrdiff_t y = 0; y < th; y++) {                                         \
                    for (ptrdiff_t xs = 0; xs < tw; xs += block) {                           \
                        const ptrdiff_t x0 = xs + block <= tw ? xs : tw - block;             \
                        skconv_v8f c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0};               \
                        skconv_v8f c20 = {0}, c21 = {0}, c30 = {0}, c31 = {0};               \
                        THIRD(skconv_v8f c02 = {0}; skconv_v8f c12 = {0};)                   \
                        THIRD(skconv_v8f c22 = {0}; skconv_v8f c32 = {0};)                   \
                        ptrdiff_t t = 0;                                                     \
                        for (ptrdiff_t i = 0; i < kh; i++) {                                 \
                            for (ptrdiff_t j = 0; j < kw; j++) {                             \
                                const float *src = base + (y * sy + i * dy) * s_y + x0 + j * dx; \
                                for (ptrdiff_t c = 0; c < (CH); c++, t++) {                     \
                                    const float *p = src + c * s_c;                          \
                                    skconv_v8f a0, a1;                                       \
                                    SKCONV_LOAD(a0, p);                                      \
                                    SKCONV_LOAD(a1, p + 8);                                  \
                                    THIRD(skconv_v8f a2; SKCONV_LOAD(a2, p + 16);)           \
                                    const float w_0 = w0[t], w_1 = w0[taps + t];             \
                                    const float w_2 = w0[2 * taps + t];                      \
                                    const float w_3 = w0[3 * taps + t];                      \
                                    c00 += w_0 * a0; c01 += w_0 * a1;                        \
                                    c10 += w_1 * a0; c11 += w_1 * a1;                        \
                                    c20 += w_2 * a0; c21 += w_2 * a1;                        \
                                    c30 += w_3 * a0; c31 += w_3 * a1;                        \
                                    THIRD(c02 += w_0 * a2; c12 += w_1 * a2;)                 \
                                    THIRD(c22 += w_2 * a2; c32 += w_3 * a2;)                 \
                                }                                                            \
                            }                                                                \
                        }                                                                    \
                        float *dst = out + img * o_m + k0 * o_k + y * o_y + x0;              \
                        PUT(dst, c00); PUT(dst + 8, c01);                  \
                        THIRD(PUT(dst + 16, c02);)                                  \
                        if (kn > 1) {                                                        \
                            dst += o_k;                                                      \
                            PUT(dst, c10); PUT(dst + 8, c11);              \
                            THIRD(PUT(dst + 16, c12);)                              \
                        }                                                                    \
                        if (kn > 2) {                                                        \
                            dst += o_k;                                                      \
                            PUT(dst, c20); PUT(dst + 8, c21);              \
                            THIRD(PUT(dst + 16, c22);)                              \
                        }                                                                    \
                        if (kn > 3) {                                                        \
                            dst += o_k;                                                      \
                            PUT(dst, c30); PUT(dst + 8, c31);              \
                            THIRD(PUT(dst + 16, c32);)                              \
                        }                                                                    \
                    }                                                                        \
                }                                                                            \
            }                                                                                \
        }                                                                                    \
    }

#define SKCONV_DIRECT_BODY(THIRD, PUT)                                                       \
    {                                                                                        \
        if (C == 1)                                                                          \
            SKCONV_DIRECT_LOOPS(THIRD, 1, PUT)                                               \
        else                                                                                 \
            SKCONV_DIRECT_LOOPS(THIRD, C, PUT)                                               \
    }

static void skconv_direct2_base(SKCONV_DIRECT_ARGS) SKCONV_DIRECT_BODY(SKCONV_DROP, SKCONV_PUT_STORE)
static void skconv_direct3_base(SKCONV_DIRECT_ARGS) SKCONV_DIRECT_BODY(SKCONV_KEEP, SKCONV_PUT_STORE)
static void skconv_max2_base(SKCONV_DIRECT_ARGS) SKCONV_DIRECT_BODY(SKCONV_DROP, SKCONV_PUT_MAX)
static void skconv_max3_base(SKCONV_DIRECT_ARGS) SKCONV_DIRECT_BODY(SKCONV_KEEP, SKCONV_PUT_MAX)

#if defined(__x86_64__) || defined(__i386__)
#define SKCONV_HAVE_AVX2_CLONE 1
#define SKCONV_AVX2 __attribute__((target("avx2,fma"))) static void
SKCONV_AVX2 skconv_direct2_avx2(SKCONV_DIRECT_ARGS) SKCONV_DIRECT_BODY(SKCONV_DROP, SKCONV_PUT_STORE)
SKCONV_AVX2 skconv_direct3_avx2(SKCONV_DIRECT_ARGS) SKCONV_DIRECT_BODY(SKCONV_KEEP, SKCONV_PUT_STORE)
SKCONV_AVX2 skconv_max2_avx2(SKCONV_DIRECT_ARGS) SKCONV_DIRECT_BODY(SKCONV_DROP, SKCONV_PUT_MAX)
SKCONV_AVX2 skconv_max3_avx2(SKCONV_DIRECT_ARGS) SKCONV_DIRECT_BODY(SKCONV_KEEP, SKCONV_PUT_MAX)
#endif

/* Positions per block (16 or 24) computing the fewest values for rows of tw. */
static ptrdiff_t skconv_direct_block(ptrdiff_t tw)
{
    const ptrdiff_t with16 = (tw + 15) / 16 * 16, with24 = (tw + 23) / 24 * 24;
    return tw >= 24 && with24 <= with16 ? 24 : 16;
}

/* The entry points: the clone for this CPU and the block size for tw. */
#ifdef SKCONV_HAVE_AVX2_CLONE
#define SKCONV_DISPATCH(NAME)                                                                \
    {                                                                                        \
        const int three = skconv_direct_block(tw) == 24;                                     \
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {               \
            if (three)                                                                       \
                skconv_##NAME##3_avx2(SKCONV_DIRECT_CALL);                                   \
            else                                                                             \
                skconv_##NAME##2_avx2(SKCONV_DIRECT_CALL);                                   \
            return;                                                                          \
        }                                                                                    \
        if (three)                                                                           \
            skconv_##NAME##3_base(SKCONV_DIRECT_CALL);                                       \
        else                                                                                 \
            skconv_##NAME##2_base(SKCONV_DIRECT_CALL);                                       \
    }
#else
#define SKCONV_DISPATCH(NAME)                                                                \
    {                                                                                        \
        if (skconv_direct_block(tw) == 24)                                                   \
            skconv_##NAME##3_base(SKCONV_DIRECT_CALL);                                       \
        else                                                                                 \
            skconv_##NAME##2_base(SKCONV_DIRECT_CALL);                                       \
    }
#endif

static void skconv_direct_float(SKCONV_DIRECT_ARGS) SKCONV_DISPATCH(direct)
static void skconv_direct_max_float(SKCONV_DIRECT_ARGS) SKCONV_DISPATCH(max)
