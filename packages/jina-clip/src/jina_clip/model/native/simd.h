/* What the kernels in native/ share: per-function targets, lane masks, bf16 <-> fp32, exp.
 *
 * The library's baseline is AVX-512F/BW/VL + FMA (AVX512); functions that use AVX512-BF16 or
 * AVX512-VNNI instructions say so in their target (and, by the naming rule a test checks, in
 * their name: *bf16*, *_s8*), so no other function can contain them.
 */
#ifndef JINA_CLIP_NATIVE_SIMD_H
#define JINA_CLIP_NATIVE_SIMD_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,fma")))
#define AVX512_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,fma,avx512bf16")))
#define AVX512_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,fma,avx512vnni")))

/* The lanes of a 16-wide step at i of a row of n: all 16, the tail, or none. */
static inline __mmask16 lanes(int n, int i) {
    return n - i >= 16 ? (__mmask16)0xffff : (n - i <= 0 ? 0 : (__mmask16)((1u << (n - i)) - 1u));
}

/* 4 bytes at p as one int32 (a bf16 pair, four int8), for a broadcast. */
static inline int32_t word(const void *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The lanes m of 16 fp32 at p (the others 0), and back: the fp32 twins of the bf16 pair. */
AVX512 static inline __m512 load_f32(__mmask16 m, const float *p) {
    return _mm512_maskz_loadu_ps(m, p);
}
AVX512 static inline void store_f32(float *p, __mmask16 m, __m512 v) {
    _mm512_mask_storeu_ps(p, m, v);
}

/* The lanes m of 16 bf16 at p as fp32 (exact; the others 0). */
AVX512 static inline __m512 load_bf16(__mmask16 m, const uint16_t *p) {
    return _mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
}

/* The lanes m of v to p as bf16, rounded to nearest even (as oneDNN and PyTorch round). */
AVX512_BF16 static inline void store_bf16(uint16_t *p, __mmask16 m, __m512 v) {
    _mm256_mask_storeu_epi16(p, m, (__m256i)_mm512_cvtneps_pbh(v));
}

/* exp(x) in fp32 to about 1 ulp (Cephes' expf: x = n ln2 + r, |r| <= ln2 / 2, a degree-7
 * polynomial in r, times 2^n), x clamped to [-88, 88]: below, exp(-88) (~6e-39). NaN in, NaN
 * out. */
AVX512 static inline __m512 exp_ps(__m512 x) {
    x = _mm512_max_ps(_mm512_set1_ps(-88.f), x); /* the second operand wins on NaN */
    x = _mm512_min_ps(_mm512_set1_ps(88.f), x);
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.f)));
    return _mm512_scalef_ps(p, n);
}

#endif
