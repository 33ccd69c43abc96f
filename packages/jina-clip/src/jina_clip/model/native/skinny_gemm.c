/* Skinny GEMMs for short inputs on AVX-512 CPUs: out[M, N] = x[M, K] @ w[N, K]^T + bias.
 *
 * A 16-token query multiplies 16 rows by every weight of the text tower once, so its time is
 * the time to stream the weights from DRAM (226 MB in bf16, 453 MB in fp32 for jina-clip-v1),
 * and the work per weight byte is too small for a generic GEMM to hide that stream behind its
 * arithmetic. These kernels keep all (up to 16) rows in registers, walk the weights once in
 * the order they are stored, and prefetch far ahead into L2 and near ahead into L1, so the
 * loads overlap the FMAs (docs/performance.md, "Skinny GEMMs for short queries").
 *
 * Weights are packed once per layer, 16 output columns per block:
 *   fp32: [N/16][K][16]          (one 64-byte load = 16 columns of one k)
 *   bf16: [N/16][K/2][16][2]     (one 64-byte load = 16 columns of two k; vdpbf16ps pairs)
 *   int8: [N/16][K/4][16][4]     (one 64-byte load = 16 columns of four k; vpdpbusd quads)
 * N is padded to a multiple of 16 with zero columns; K must be even for bf16, a multiple of
 * four for int8.
 * x must hold MR (8 or 16) readable rows: rows past `rows` are computed and never stored.
 * Accumulation is fp32; bf16 outputs are rounded to nearest even, as oneDNN does.
 * int8 (AVX512-VNNI) takes fp32 rows, quantises each row to uint8 with its own scale and zero
 * point (asymmetric, full range), multiplies by int8 weights exactly in int32, and returns
 * fp32: scale_x[m] * scale_w[n] * (acc - zero_x[m] * sum_k w[n, k]) + bias[n].
 * Built by jina_clip/model/skinny.py with -mavx512f -mavx512bf16 -mavx512vnni -fopenmp, loaded
 * by ctypes.
 */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FAR 256  /* k-steps (64-byte lines) ahead, into L2 */
#define NEAR 32  /* k-steps ahead, into L1 */

static inline __mmask16 tail_mask(int N, int n0) {
    int cols = N - n0 < 16 ? N - n0 : 16;
    return (__mmask16)((1u << cols) - 1u);
}

#define DEFINE_F32_BLOCK(MR)                                                                  \
    static inline void block_f32_##MR(const float *x, const float *wb, int K,                \
                                      const float *bias, float *out, int N, int n0,          \
                                      int rows) {                                            \
        __m512 acc[MR];                                                                      \
        for (int m = 0; m < MR; m++) acc[m] = _mm512_setzero_ps();                           \
        for (int k = 0; k < K; k++) {                                                        \
            _mm_prefetch((const char *)(wb + (size_t)(k + FAR) * 16), _MM_HINT_T1);          \
            _mm_prefetch((const char *)(wb + (size_t)(k + NEAR) * 16), _MM_HINT_T0);         \
            __m512 w = _mm512_loadu_ps(wb + (size_t)k * 16);                                 \
            _Pragma("GCC unroll 16") for (int m = 0; m < MR; m++)                            \
                acc[m] = _mm512_fmadd_ps(_mm512_set1_ps(x[(size_t)m * K + k]), w, acc[m]);    \
        }                                                                                    \
        __mmask16 mask = tail_mask(N, n0);                                                   \
        __m512 b = bias ? _mm512_maskz_loadu_ps(mask, bias + n0) : _mm512_setzero_ps();      \
        for (int m = 0; m < rows; m++)                                                       \
            _mm512_mask_storeu_ps(out + (size_t)m * N + n0, mask, _mm512_add_ps(acc[m], b)); \
    }

#define DEFINE_BF16_BLOCK(MR)                                                                \
    static inline void block_bf16_##MR(const uint16_t *x, const uint16_t *wb, int K,         \
                                       const float *bias, uint16_t *out, int N, int n0,      \
                                       int rows) {                                           \
        __m512 acc[MR];                                                                      \
        for (int m = 0; m < MR; m++) acc[m] = _mm512_setzero_ps();                           \
        for (int kp = 0; kp < K / 2; kp++) {                                                 \
            _mm_prefetch((const char *)(wb + (size_t)(kp + FAR) * 32), _MM_HINT_T1);         \
            _mm_prefetch((const char *)(wb + (size_t)(kp + NEAR) * 32), _MM_HINT_T0);        \
            __m512bh w = (__m512bh)_mm512_loadu_si512((const void *)(wb + (size_t)kp * 32)); \
            _Pragma("GCC unroll 16") for (int m = 0; m < MR; m++) {                          \
                int32_t pair;                                                                \
                memcpy(&pair, x + (size_t)m * K + 2 * kp, sizeof pair);                      \
                acc[m] = _mm512_dpbf16_ps(acc[m], (__m512bh)_mm512_set1_epi32(pair), w);      \
            }                                                                                \
        }                                                                                    \
        __mmask16 mask = tail_mask(N, n0);                                                   \
        __m512 b = bias ? _mm512_maskz_loadu_ps(mask, bias + n0) : _mm512_setzero_ps();      \
        for (int m = 0; m < rows; m++) {                                                     \
            __m256bh r = _mm512_cvtneps_pbh(_mm512_add_ps(acc[m], b));                       \
            _mm256_mask_storeu_epi16(out + (size_t)m * N + n0, mask, (__m256i)r);            \
        }                                                                                    \
    }

DEFINE_F32_BLOCK(8)
DEFINE_F32_BLOCK(16)
DEFINE_BF16_BLOCK(8)
DEFINE_BF16_BLOCK(16)

/* rows <= 16; x has 8 (rows <= 8) or 16 readable rows; bias is fp32 or NULL. The packed
 * block of 16 columns holds K * 16 elements in both layouts. */
#define DEFINE_GEMM(NAME, T, BLOCK)                                                           \
    void NAME(const T *x, const T *packed, const float *bias, T *out, int rows, int N, int K, \
              int threads) {                                                                 \
        const int blocks = (N + 15) / 16;                                                    \
        _Pragma("omp parallel for num_threads(threads) schedule(static)")                    \
        for (int nb = 0; nb < blocks; nb++) {                                                \
            const T *wb = packed + (size_t)nb * K * 16;                                      \
            if (rows <= 8)                                                                   \
                BLOCK##_8(x, wb, K, bias, out, N, nb * 16, rows);                            \
            else                                                                             \
                BLOCK##_16(x, wb, K, bias, out, N, nb * 16, rows);                           \
        }                                                                                    \
    }

DEFINE_GEMM(skinny_gemm_f32, float, block_f32)
DEFINE_GEMM(skinny_gemm_bf16, uint16_t, block_bf16)

#define DEFINE_S8_BLOCK(MR)                                                                  \
    static inline void block_s8_##MR(const uint8_t *xq, const int8_t *wb, int K,             \
                                     __m512i acc[MR]) {                                      \
        for (int m = 0; m < MR; m++) acc[m] = _mm512_setzero_si512();                        \
        for (int kq = 0; kq < K / 4; kq++) {                                                 \
            _mm_prefetch((const char *)(wb + (size_t)(kq + FAR) * 64), _MM_HINT_T1);         \
            _mm_prefetch((const char *)(wb + (size_t)(kq + NEAR) * 64), _MM_HINT_T0);        \
            __m512i w = _mm512_loadu_si512((const void *)(wb + (size_t)kq * 64));            \
            _Pragma("GCC unroll 16") for (int m = 0; m < MR; m++) {                          \
                int32_t quad;                                                                \
                memcpy(&quad, xq + (size_t)m * K + 4 * kq, sizeof quad);                     \
                acc[m] = _mm512_dpbusd_epi32(acc[m], _mm512_set1_epi32(quad), w);            \
            }                                                                                \
        }                                                                                    \
    }

DEFINE_S8_BLOCK(8)
DEFINE_S8_BLOCK(16)

/* Row m of x [rows, K] fp32 -> xq[m] uint8 with x ~ scale * (xq - zero); zero in [0, 255].
 * Rounding is to nearest even, as nearbyintf. A row with a NaN or an infinity gets scale
 * NaN: its outputs are NaN, as in fp32. */
static void quantize_row(const float *x, int K, uint8_t *xq, float *scale, int32_t *zero) {
    __m512 lo = _mm512_setzero_ps(), hi = _mm512_setzero_ps(); /* the range holds 0 */
    __mmask16 bad = 0;
    for (int k = 0; k < K; k += 16) {
        __mmask16 m = K - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (K - k)) - 1u);
        __m512 v = _mm512_maskz_loadu_ps(m, x + k);
        __m512 d = _mm512_sub_ps(v, v); /* NaN exactly where v is NaN or infinite */
        bad |= _mm512_mask_cmp_ps_mask(m, d, d, _CMP_UNORD_Q);
        lo = _mm512_min_ps(lo, v);
        hi = _mm512_max_ps(hi, v);
    }
    if (bad) {
        memset(xq, 0, (size_t)K);
        *scale = NAN;
        *zero = 0;
        return;
    }
    const float low = _mm512_reduce_min_ps(lo), high = _mm512_reduce_max_ps(hi);
    float s = (high - low) / 255.f;
    if (!(s > 0.f) || !isfinite(s)) s = 1.f; /* all zeros, or a range over FLT_MAX */
    int32_t z = (int32_t)nearbyintf(-low / s);
    z = z < 0 ? 0 : (z > 255 ? 255 : z);
    const __m512 inv = _mm512_set1_ps(1.f / s), zf = _mm512_set1_ps((float)z);
    const __m512 top = _mm512_set1_ps(255.f), bottom = _mm512_setzero_ps();
    for (int k = 0; k < K; k += 16) {
        __mmask16 m = K - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (K - k)) - 1u);
        __m512 v = _mm512_maskz_loadu_ps(m, x + k);
        __m512 q = _mm512_roundscale_ps(_mm512_mul_ps(v, inv),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        q = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(q, zf), bottom), top);
        _mm_mask_storeu_epi8(xq + k, m, _mm512_cvtusepi32_epi8(_mm512_cvtps_epi32(q)));
    }
    *scale = s;
    *zero = z;
}

/* rows <= 16; x fp32 [rows, K] (only `rows` rows are read); w_scale, colsum: [N]; bias fp32
 * or NULL; out fp32 [rows, N]. Returns 0, or -1 when out of memory. */
int skinny_gemm_s8(const float *x, const int8_t *packed, const float *w_scale,
                   const int32_t *colsum, const float *bias, float *out, int rows, int N, int K,
                   int threads) {
    const int MR = rows <= 8 ? 8 : 16;
    uint8_t *xq = (uint8_t *)calloc((size_t)MR * K, 1); /* rows past `rows` stay 0 */
    if (!xq) return -1;
    float xs[16];
    int32_t xz[16];
    for (int m = 0; m < rows; m++) quantize_row(x + (size_t)m * K, K, xq + (size_t)m * K, &xs[m], &xz[m]);
    const int blocks = (N + 15) / 16;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int nb = 0; nb < blocks; nb++) {
        const int8_t *wb = packed + (size_t)nb * K * 16;
        __m512i acc[16];
        if (MR == 8)
            block_s8_8(xq, wb, K, acc);
        else
            block_s8_16(xq, wb, K, acc);
        const int n0 = nb * 16;
        __mmask16 mask = tail_mask(N, n0);
        __m512 ws = _mm512_maskz_loadu_ps(mask, w_scale + n0);
        __m512i cs = _mm512_maskz_loadu_epi32(mask, colsum + n0);
        __m512 b = bias ? _mm512_maskz_loadu_ps(mask, bias + n0) : _mm512_setzero_ps();
        for (int m = 0; m < rows; m++) {
            __m512i exact = _mm512_sub_epi32(acc[m], _mm512_mullo_epi32(_mm512_set1_epi32(xz[m]), cs));
            __m512 y = _mm512_fmadd_ps(_mm512_cvtepi32_ps(exact),
                                       _mm512_mul_ps(_mm512_set1_ps(xs[m]), ws), b);
            _mm512_mask_storeu_ps(out + (size_t)m * N + n0, mask, y);
        }
    }
    free(xq);
    return 0;
}

/* So the loader can check it has the build it expects. */
int skinny_gemm_abi(void) { return 4; }
