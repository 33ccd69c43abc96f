/* A gated activation in one pass, fp32 or bf16: out[r, i] = act(a[r, i]) * b[r, i] (or
 * act(a[r, i]) when b is NULL), act = GELU (erf) or SiLU.
 *
 * jina-clip-v1's GEGLU MLP and the vision towers' SwiGLU ran the activation and the product
 * as two PyTorch ops over a [tokens, 3072] activation: two reads and two writes of it, and in
 * bf16 a rounding of the activation before the product. Here it is one read of each input, one
 * write, fp32 arithmetic and one rounding (docs/performance.md, "Gated activations in one
 * pass").
 *
 * gelu(x) = x / 2 * (1 + erf(x / sqrt(2))) with PyTorch's vectorised erf (Abramowitz & Stegun
 * 7.1.26: 1 - t (p1 + t (p2 + ...)) exp(-x^2), t = 1 / (1 + p x); |error| < 1.5e-7), so the
 * values are those of torch's CPU GELU up to the last bits of exp; silu(x) = x / (1 + exp(-x)),
 * PyTorch's vectorised expression. Rows are `stride` elements
 * apart (a and b may be the two halves of one [rows, 2n] tensor); out is [rows, n].
 * Built with the other kernels into one library by jina_clip/model/native.py.
 */
#include "simd.h"

AVX512 static inline __m512 gelu_ps(__m512 x) {
    const __m512 one = _mm512_set1_ps(1.f);
    const __m512 z = _mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752440f));
    const __m512i sign = _mm512_and_si512(_mm512_castps_si512(z), _mm512_set1_epi32(INT32_MIN));
    const __m512 az = _mm512_abs_ps(z);
    const __m512 t = _mm512_div_ps(one, _mm512_fmadd_ps(_mm512_set1_ps(0.3275911f), az, one));
    __m512 r = _mm512_set1_ps(1.061405429f);
    r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(-1.453152027f));
    r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(1.421413741f));
    r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(-0.284496736f));
    r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(0.254829592f));
    const __m512 e = exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(z, z)));
    /* erf(z) = sign(z) * (1 - r t exp(-z^2)), in PyTorch's order: (-exp * t) * r + 1 */
    const __m512 neg_et = _mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), e), t);
    const __m512 erf = _mm512_castsi512_ps(
        _mm512_xor_si512(sign, _mm512_castps_si512(_mm512_fmadd_ps(neg_et, r, one))));
    return _mm512_mul_ps(_mm512_mul_ps(x, _mm512_set1_ps(0.5f)), _mm512_add_ps(one, erf));
}

AVX512 static inline __m512 silu_ps(__m512 x) {
    const __m512 one = _mm512_set1_ps(1.f);
    return _mm512_div_ps(x, _mm512_add_ps(one, exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), x))));
}

#define DEFINE_GATED(NAME, ACT, T, LOAD, STORE, ATTR)                                        \
    ATTR void NAME(const T *a, const T *b, T *out, int64_t rows, int n, int64_t stride,      \
                   int threads) {                                                            \
        _Pragma("omp parallel for num_threads(threads) schedule(static)")                    \
        for (int64_t r = 0; r < rows; r++) {                                                 \
            const T *ar = a + r * stride, *br = b ? b + r * stride : 0;                       \
            T *o = out + r * (int64_t)n;                                                     \
            for (int i = 0; i < n; i += 16) {                                                \
                const __mmask16 m = lanes(n, i);                                             \
                __m512 y = ACT(LOAD(m, ar + i));                                             \
                if (br) y = _mm512_mul_ps(y, LOAD(m, br + i));                               \
                STORE(o + i, m, y);                                                          \
            }                                                                                \
        }                                                                                    \
    }

DEFINE_GATED(gelu_mul_f32, gelu_ps, float, load_f32, store_f32, AVX512)
DEFINE_GATED(gelu_mul_bf16, gelu_ps, uint16_t, load_bf16, store_bf16, AVX512_BF16)
DEFINE_GATED(silu_mul_f32, silu_ps, float, load_f32, store_f32, AVX512)
DEFINE_GATED(silu_mul_bf16, silu_ps, uint16_t, load_bf16, store_bf16, AVX512_BF16)
