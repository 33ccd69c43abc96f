/* Skinny GEMMs for short inputs on AVX-512 CPUs: out[M, N] = x[M, K] @ w[N, K]^T + bias.
 *
 * A 16-token query multiplies 16 rows by every weight of the text tower once, so its time is
 * the time to stream the weights from DRAM (226 MB in bf16, 453 MB in fp32 for jina-clip-v1)
 * or, at 16 rows, the FMAs they feed: the two are about equal on current CPUs, and a generic
 * GEMM leaves much of one exposed behind the other. These kernels keep all (up to 16) rows'
 * sums in registers, walk the weights once in the order they are stored, prefetch far ahead
 * into L2 and near ahead into L1, and read the inputs transposed (one base pointer, every
 * input a broadcast operand of its FMA), so the loop is loads and FMAs only
 * (docs/performance.md, "Skinny GEMMs for short queries").
 *
 * Weights are packed once per layer, 16 output columns per block:
 *   fp32: [N/16][K][16]          (one 64-byte load = 16 columns of one k)
 *   bf16: [N/16][K/2][16][2]     (one 64-byte load = 16 columns of two k; vdpbf16ps pairs)
 *   int8: [N/16][K/4][16][4]     (one 64-byte load = 16 columns of four k; vpdpbusd quads)
 * N is padded to a multiple of 16 with zero columns; K must be even for bf16, a multiple of
 * four for int8. x is [rows, K] row-major (rows <= 16); only `rows` rows are read or written.
 * Accumulation is fp32; bf16 outputs are rounded to nearest even, as oneDNN does.
 * int8 (AVX512-VNNI) takes fp32 rows, quantises each row to uint8 with its own scale and zero
 * point (asymmetric, full range), multiplies by int8 weights exactly in int32, and returns
 * fp32: scale_x[m] * scale_w[n] * (acc - zero_x[m] * sum_k w[n, k]) + bias[n].
 * Every entry point returns 0, or -1 when it cannot allocate its scratch.
 * Built with the other kernels into one library by jina_clip/model/native.py (baseline
 * -mavx512f -mavx512bw -mavx512vl -mfma), loaded by ctypes. The bf16 and int8 functions name
 * AVX512-BF16 / AVX512-VNNI in their own target attributes, so only they can contain those
 * instructions, and they run only on CPUs that report them.
 */
#include <math.h>
#include <stdlib.h>

#include "simd.h"

#define FAR 256 /* k-steps (64-byte lines) ahead, into L2 */
#define NEAR 32 /* k-steps ahead, into L1 */

/* x [rows, K] of `unit`-byte elements -> [K/group][16][group]: for every group of `group`
 * inputs (1 for fp32, 2 for bf16, 4 for int8), the 16 rows side by side; missing rows 0.
 * Returns NULL when out of memory; the caller frees. */
static void *transpose_rows(const void *x, int rows, int K, int unit, int group) {
    const size_t chunk = (size_t)unit * group, bytes = (size_t)K * 16 * unit;
    unsigned char *t = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!t) return NULL;
    if (rows < 16) memset(t, 0, bytes);
    const unsigned char *src = x;
    for (int m = 0; m < rows; m++)
        for (int g = 0; g < K / group; g++)
            memcpy(t + ((size_t)g * 16 + m) * chunk, src + ((size_t)m * K + (size_t)g * group) * unit,
                   chunk);
    return t;
}

/* One block of 16 columns: MR rows of fp32 sums in acc, inputs xt = [K/G][16][G]. */
#define DEFINE_BLOCK(NAME, MR, T, G, W, FMA, ATTR)                                             \
    ATTR static inline void NAME##_##MR(const T *xt, const W *wb, int K, __m512 *acc_out,          \
                                   __m512i *iacc_out) {                                      \
        __m512 acc[MR];                                                                      \
        __m512i iacc[MR];                                                                    \
        for (int m = 0; m < MR; m++) {                                                       \
            acc[m] = _mm512_setzero_ps();                                                    \
            iacc[m] = _mm512_setzero_si512();                                                \
        }                                                                                    \
        for (int s = 0; s < K / G; s++) {                                                    \
            _mm_prefetch((const char *)(wb + (size_t)(s + FAR) * 16 * G), _MM_HINT_T1);      \
            _mm_prefetch((const char *)(wb + (size_t)(s + NEAR) * 16 * G), _MM_HINT_T0);     \
            const __m512i w = _mm512_loadu_si512((const void *)(wb + (size_t)s * 16 * G));   \
            const T *xs = xt + (size_t)s * 16 * G;                                           \
            _Pragma("GCC unroll 16") for (int m = 0; m < MR; m++) { FMA; }                   \
        }                                                                                    \
        for (int m = 0; m < MR; m++) {                                                       \
            acc_out[m] = acc[m];                                                             \
            iacc_out[m] = iacc[m];                                                           \
        }                                                                                    \
    }

#define FMA_F32 acc[m] = _mm512_fmadd_ps(_mm512_set1_ps(xs[m]), _mm512_castsi512_ps(w), acc[m])
/* bf16 pairs as a broadcast operand of vdpbf16ps itself (GCC emits a separate vpbroadcastd
 * for the intrinsic, which costs ~8 % of the bf16 kernel's time). */
#define FMA_BF16                                                                             \
    __asm__("vdpbf16ps %1%{1to16%}, %2, %0"                                                  \
            : "+v"(acc[m])                                                                   \
            : "m"(*(const int32_t *)(xs + 2 * m)), "v"(w))
#define FMA_S8 iacc[m] = _mm512_dpbusd_epi32(iacc[m], _mm512_set1_epi32(word(xs + 4 * m)), w)

DEFINE_BLOCK(block_f32, 8, float, 1, float, FMA_F32, AVX512)
DEFINE_BLOCK(block_f32, 16, float, 1, float, FMA_F32, AVX512)
DEFINE_BLOCK(block_bf16, 8, uint16_t, 2, uint16_t, FMA_BF16, AVX512_BF16)
DEFINE_BLOCK(block_bf16, 16, uint16_t, 2, uint16_t, FMA_BF16, AVX512_BF16)
DEFINE_BLOCK(block_s8, 8, uint8_t, 4, int8_t, FMA_S8, AVX512_VNNI)
DEFINE_BLOCK(block_s8, 16, uint8_t, 4, int8_t, FMA_S8, AVX512_VNNI)

#define RUN_BLOCK(NAME, xt, wb, K, rows, acc, iacc)                                          \
    do {                                                                                     \
        if ((rows) <= 8)                                                                     \
            NAME##_8(xt, wb, K, acc, iacc);                                                  \
        else                                                                                 \
            NAME##_16(xt, wb, K, acc, iacc);                                                 \
    } while (0)

/* fp32 and bf16: fp32 sums plus the fp32 bias (or NULL), stored by STORE(dst, mask, sums). */
#define DEFINE_FLOAT_GEMM(NAME, T, BLOCK, G, STORE, ATTR)                                    \
    ATTR int NAME(const T *x, const T *packed, const float *bias, T *out, int rows, int N, int K,  \
             int threads) {                                                                  \
        T *xt = transpose_rows(x, rows, K, sizeof(T), G);                                    \
        if (!xt) return -1;                                                                  \
        const int blocks = (N + 15) / 16;                                                    \
        _Pragma("omp parallel for num_threads(threads) schedule(static)")                    \
        for (int nb = 0; nb < blocks; nb++) {                                                \
            __m512 acc[16];                                                                  \
            __m512i iacc[16];                                                                \
            RUN_BLOCK(BLOCK, xt, packed + (size_t)nb * K * 16, K, rows, acc, iacc);          \
            const int n0 = nb * 16;                                                          \
            const __mmask16 mask = lanes(N, n0);                                         \
            const __m512 b =                                                                 \
                bias ? _mm512_maskz_loadu_ps(mask, bias + n0) : _mm512_setzero_ps();         \
            for (int m = 0; m < rows; m++)                                                   \
                STORE(out + (size_t)m * N + n0, mask, _mm512_add_ps(acc[m], b));             \
        }                                                                                    \
        free(xt);                                                                            \
        return 0;                                                                            \
    }

DEFINE_FLOAT_GEMM(skinny_gemm_f32, float, block_f32, 1, store_f32, AVX512)
DEFINE_FLOAT_GEMM(skinny_gemm_bf16, uint16_t, block_bf16, 2, store_bf16, AVX512_BF16)

/* Row of K fp32 -> K uint8 with x ~ scale * (q - zero); zero in [0, 255]. Rounding is to
 * nearest even, as nearbyintf. A row with a NaN or an infinity gets scale NaN: its outputs
 * are NaN, as in fp32. */
AVX512 static void quantize_row(const float *x, int K, uint8_t *xq, float *scale, int32_t *zero) {
    __m512 lo = _mm512_setzero_ps(), hi = _mm512_setzero_ps(); /* the range holds 0 */
    __mmask16 bad = 0;
    for (int k = 0; k < K; k += 16) {
        __mmask16 m = lanes(K, k);
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
        __mmask16 m = lanes(K, k);
        __m512 v = _mm512_maskz_loadu_ps(m, x + k);
        __m512 q = _mm512_roundscale_ps(_mm512_mul_ps(v, inv),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        q = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(q, zf), bottom), top);
        _mm_mask_storeu_epi8(xq + k, m, _mm512_cvtusepi32_epi8(_mm512_cvtps_epi32(q)));
    }
    *scale = s;
    *zero = z;
}

/* x fp32 [rows, K]; w_scale, colsum: [N]; bias fp32 or NULL; out fp32 [rows, N]. */
AVX512_VNNI int skinny_gemm_s8(const float *x, const int8_t *packed, const float *w_scale,
                   const int32_t *colsum, const float *bias, float *out, int rows, int N, int K,
                   int threads) {
    uint8_t *xq = malloc((size_t)rows * K);
    if (!xq) return -1;
    float xs[16];
    int32_t xz[16];
    for (int m = 0; m < rows; m++)
        quantize_row(x + (size_t)m * K, K, xq + (size_t)m * K, &xs[m], &xz[m]);
    uint8_t *xt = transpose_rows(xq, rows, K, 1, 4);
    free(xq);
    if (!xt) return -1;
    const int blocks = (N + 15) / 16;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int nb = 0; nb < blocks; nb++) {
        __m512 acc[16];
        __m512i iacc[16];
        RUN_BLOCK(block_s8, xt, packed + (size_t)nb * K * 16, K, rows, acc, iacc);
        const int n0 = nb * 16;
        const __mmask16 mask = lanes(N, n0);
        const __m512 ws = _mm512_maskz_loadu_ps(mask, w_scale + n0);
        const __m512i cs = _mm512_maskz_loadu_epi32(mask, colsum + n0);
        const __m512 b = bias ? _mm512_maskz_loadu_ps(mask, bias + n0) : _mm512_setzero_ps();
        for (int m = 0; m < rows; m++) {
            const __m512i exact =
                _mm512_sub_epi32(iacc[m], _mm512_mullo_epi32(_mm512_set1_epi32(xz[m]), cs));
            const __m512 y = _mm512_fmadd_ps(_mm512_cvtepi32_ps(exact),
                                             _mm512_mul_ps(_mm512_set1_ps(xs[m]), ws), b);
            _mm512_mask_storeu_ps(out + (size_t)m * N + n0, mask, y);
        }
    }
    free(xt);
    return 0;
}

/* So the loader can check it has the build it expects (native.py's ABI). */
int jina_clip_native_abi(void) { return 8; }
