/* Attention over short sequences on AVX-512 CPUs, head dim 64, fp32 or bf16:
 *
 *   out[b, i, h, :] = sum_{j < n_b} softmax_j(scale * q_i . k_j - slope_h * |i - j|) v_j
 *
 * (slope_h = 0 without ALiBi; n_b = the real tokens of sequence b, keys past it are padding
 * and get no weight, as with a right-padded key mask). One (sequence, head) per task: its keys
 * are transposed once into a scratch buffer, then 4 queries at a time get their scores (fp32
 * sums, 16 in registers), the bias, a softmax in fp32 and the weighted sum of the values.
 * PyTorch's CPU flash attention spends most of a 128-token batch's attention time in the
 * per-block GEMM calls it makes for such short blocks; here the whole head is one loop nest
 * (docs/performance.md, "Short attention").
 *
 * bf16 follows PyTorch's flash attention: bf16 x bf16 products summed in fp32 (vdpbf16ps),
 * fp32 softmax, the unnormalised weights rounded to bf16 for the sum over values (fp32
 * accumulation), divided by the fp32 row sum at the end, rounded to nearest even once.
 * q, k, v are read through strides (elements) per sequence, head and token, so the fused QKV
 * projection's output is used in place; out is [B, L, H, 64], the layout the output
 * projection reads. Optionally q and k are rotated first (rotary position embedding, tokens
 * from `rope_from` on, with row t - rope_from of the fp32 cos/sin tables [*, 64]; mode 1:
 * adjacent pairs, EVA02's vision towers; mode 2: the two halves, v2's text tower), in fp32 as
 * x * cos + rotate(x) * sin and rounded back to the input dtype, as the towers did in PyTorch.
 * Every entry point returns 0, -1 when it cannot allocate its scratch, or -2 (before any work)
 * when a length is outside 1..L.
 * Built with the other kernels into one library by jina_clip/model/native.py.
 */
#include <stdlib.h>

#include "simd.h"

#define HD 64 /* head dim */
#define QR 4  /* queries per block */

/* Row stride for lp (a multiple of 16) columns: an odd number of 64-byte lines, so the rows
 * of kt never share one L1 set (a stride of a multiple of 4 KB put all 64 rows of a long
 * sequence's keys in one set: the fp32 kernel ran 2.4x slower at 4,096 tokens). */
static inline int row_stride(int lp) { return (lp / 16) % 2 ? lp : lp + 16; }

/* aligned_alloc wants a multiple of the alignment (C11). */
static inline void *scratch(size_t bytes) { return aligned_alloc(64, (bytes + 63) / 64 * 64); }

/* Rotary position embedding of q and k (see the top): NULL when off. */
typedef struct {
    const float *cos, *sin;
    int from, mode;
} Rope;

/* x with the sign of the lanes `which` flipped (exactly: the sign bit). */
AVX512 static inline __m512 negate(__m512 x, __mmask16 which) {
    const __m512i bits = _mm512_castps_si512(x);
    return _mm512_castsi512_ps(_mm512_mask_xor_epi32(bits, which, bits, _mm512_set1_epi32(INT32_MIN)));
}

/* x (64 fp32) rotated for table row c/s into out (may be x). */
AVX512 static inline void rotate_f32(const __m512 *x, const float *c, const float *s, int mode,
                                     __m512 *out) {
    __m512 r[4];
    if (mode == 1) /* (x0, x1, ...) -> (-x1, x0, -x3, x2, ...) */
        for (int i = 0; i < 4; i++) r[i] = negate(_mm512_permute_ps(x[i], 0xB1), 0x5555);
    else { /* (a, b) -> (-b, a) on the halves */
        r[0] = negate(x[2], 0xffff), r[1] = negate(x[3], 0xffff), r[2] = x[0], r[3] = x[1];
    }
    for (int i = 0; i < 4; i++)
        out[i] = _mm512_add_ps(_mm512_mul_ps(x[i], _mm512_loadu_ps(c + 16 * i)),
                               _mm512_mul_ps(r[i], _mm512_loadu_ps(s + 16 * i)));
}

/* Row t of q or k (64 elements at src) into dst, rotated if t >= rope->from. */
AVX512 static void rope_row_f32(const float *src, int t, const Rope *rope, float *dst) {
    if (!rope || t < rope->from) {
        memmove(dst, src, sizeof(float) * HD);
        return;
    }
    const size_t row = (size_t)(t - rope->from) * HD;
    __m512 x[4];
    for (int i = 0; i < 4; i++) x[i] = _mm512_loadu_ps(src + 16 * i);
    rotate_f32(x, rope->cos + row, rope->sin + row, rope->mode, x);
    for (int i = 0; i < 4; i++) _mm512_storeu_ps(dst + 16 * i, x[i]);
}

AVX512_BF16 static void rope_row_bf16(const uint16_t *src, int t, const Rope *rope,
                                      uint16_t *dst) {
    if (!rope || t < rope->from) {
        memmove(dst, src, sizeof(uint16_t) * HD);
        return;
    }
    const size_t row = (size_t)(t - rope->from) * HD;
    __m512 x[4];
    for (int i = 0; i < 4; i++) x[i] = load_bf16(0xffff, src + 16 * i);
    rotate_f32(x, rope->cos + row, rope->sin + row, rope->mode, x);
    for (int i = 0; i < 4; i++) store_bf16(dst + 16 * i, 0xffff, x[i]);
}

/* Rows r < rows of S [QR][ld] (raw q.k sums of lp keys): scale, add the bias of query i0 + r,
 * softmax over the first n keys in place (fp32, unnormalised), zero past n; the row sums go to
 * sum[r]. */
AVX512 static void softmax_rows(float *S, int ld, int lp, int rows, int i0, int n, float scale,
                                float slope, float *sum) {
    const __m512 iota = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512 sc = _mm512_set1_ps(scale), neg = _mm512_set1_ps(-slope);
    for (int r = 0; r < rows; r++) {
        float *s = S + (size_t)r * ld;
        const __m512 qi = _mm512_set1_ps((float)(i0 + r));
        __m512 mx = _mm512_set1_ps(-__builtin_inff());
        for (int j = 0; j < n; j += 16) {
            const __mmask16 m = lanes(n, j);
            const __m512 dist = _mm512_abs_ps(_mm512_sub_ps(
                qi, _mm512_add_ps(iota, _mm512_set1_ps((float)j))));
            /* bias = -slope * |i - j| in fp32, then scale * score + bias */
            const __m512 x = _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(s + j), sc),
                                           _mm512_mul_ps(dist, neg));
            _mm512_storeu_ps(s + j, x);
            mx = _mm512_mask_max_ps(mx, m, x, mx); /* NaN scores reach the sum below */
        }
        const __m512 top = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
        __m512 acc = _mm512_setzero_ps();
        for (int j = 0; j < lp; j += 16) {
            const __mmask16 m = lanes(n, j);
            const __m512 e = _mm512_maskz_mov_ps(m, exp_ps(_mm512_sub_ps(_mm512_loadu_ps(s + j),
                                                                         top)));
            acc = _mm512_add_ps(acc, e);
            _mm512_storeu_ps(s + j, e);
        }
        sum[r] = _mm512_reduce_add_ps(acc);
    }
}

/* ------------------------------------------------------------------------------ fp32 -- */

/* S[r][jb + 16c] = q_r . k_{jb + 16c ..} for C key vectors; kt is [HD][lp] (lp: the row
 * stride of kt and S). */
#define QK_F32(C)                                                                            \
    AVX512 static inline void qk_f32_##C(const float *qb, const float *kt, int lp, int jb,   \
                                         float *S) {                                         \
        __m512 acc[QR][C];                                                                   \
        for (int r = 0; r < QR; r++)                                                         \
            for (int c = 0; c < C; c++) acc[r][c] = _mm512_setzero_ps();                     \
        for (int d = 0; d < HD; d++) {                                                       \
            __m512 w[C];                                                                     \
            for (int c = 0; c < C; c++) w[c] = _mm512_loadu_ps(kt + (size_t)d * lp + jb + 16 * c); \
            for (int r = 0; r < QR; r++) {                                                   \
                const __m512 b = _mm512_set1_ps(qb[r * HD + d]);                             \
                for (int c = 0; c < C; c++) acc[r][c] = _mm512_fmadd_ps(b, w[c], acc[r][c]); \
            }                                                                                \
        }                                                                                    \
        for (int r = 0; r < QR; r++)                                                         \
            for (int c = 0; c < C; c++) _mm512_storeu_ps(S + (size_t)r * lp + jb + 16 * c, acc[r][c]); \
    }
QK_F32(4)
QK_F32(1)

AVX512 static void head_f32(const float *q, const float *k, const float *v, int64_t qs,
                            int64_t ks, int64_t vs, float *out, int64_t os, int L, int n,
                            float slope, float scale, const Rope *rope, float *kt, float *S,
                            float *qb, float *kr) {
    const int lp = (n + 15) / 16 * 16, ld = row_stride(lp);
    if (rope) { /* the rotated keys, then read from there */
        for (int j = 0; j < n; j++) rope_row_f32(k + (size_t)j * ks, j, rope, kr + (size_t)j * HD);
        k = kr, ks = HD;
    }
    for (int d = 0; d < HD; d++) {
        float *row = kt + (size_t)d * ld;
        for (int j = 0; j < n; j++) row[j] = k[(size_t)j * ks + d];
        for (int j = n; j < lp; j++) row[j] = 0.f;
    }
    float sum[QR];
    for (int i0 = 0; i0 < L; i0 += QR) {
        const int rows = L - i0 < QR ? L - i0 : QR;
        memset(qb, 0, sizeof(float) * QR * HD);
        for (int r = 0; r < rows; r++) rope_row_f32(q + (size_t)(i0 + r) * qs, i0 + r, rope, qb + r * HD);
        int jb = 0;
        for (; jb + 64 <= lp; jb += 64) qk_f32_4(qb, kt, ld, jb, S);
        for (; jb < lp; jb += 16) qk_f32_1(qb, kt, ld, jb, S);
        softmax_rows(S, ld, lp, rows, i0, n, scale, slope, sum);
        __m512 acc[QR][HD / 16];
        for (int r = 0; r < QR; r++)
            for (int c = 0; c < HD / 16; c++) acc[r][c] = _mm512_setzero_ps();
        for (int j = 0; j < n; j++) {
            __m512 w[HD / 16];
            for (int c = 0; c < HD / 16; c++) w[c] = _mm512_loadu_ps(v + (size_t)j * vs + 16 * c);
            for (int r = 0; r < QR; r++) {
                const __m512 p = _mm512_set1_ps(S[(size_t)r * ld + j]);
                for (int c = 0; c < HD / 16; c++) acc[r][c] = _mm512_fmadd_ps(p, w[c], acc[r][c]);
            }
        }
        for (int r = 0; r < rows; r++) {
            const __m512 inv = _mm512_set1_ps(1.f / sum[r]);
            for (int c = 0; c < HD / 16; c++)
                _mm512_storeu_ps(out + (size_t)(i0 + r) * os + 16 * c, _mm512_mul_ps(acc[r][c], inv));
        }
    }
}

/* ------------------------------------------------------------------------------ bf16 -- */

/* kt is [HD/2][lp] words: word (p, j) = k_j[2p], k_j[2p + 1]. */
#define QK_BF16(C)                                                                           \
    AVX512_BF16 static inline void qk_bf16_##C(const uint16_t *qb, const int32_t *kt, int lp, \
                                               int jb, float *S) {                           \
        __m512 acc[QR][C];                                                                   \
        for (int r = 0; r < QR; r++)                                                         \
            for (int c = 0; c < C; c++) acc[r][c] = _mm512_setzero_ps();                     \
        for (int p = 0; p < HD / 2; p++) {                                                   \
            __m512i w[C];                                                                    \
            for (int c = 0; c < C; c++)                                                      \
                w[c] = _mm512_loadu_si512((const void *)(kt + (size_t)p * lp + jb + 16 * c)); \
            for (int r = 0; r < QR; r++) {                                                   \
                const __m512i b = _mm512_set1_epi32(word(qb + r * HD + 2 * p));              \
                for (int c = 0; c < C; c++)                                                  \
                    acc[r][c] = _mm512_dpbf16_ps(acc[r][c], (__m512bh)b, (__m512bh)w[c]);    \
            }                                                                                \
        }                                                                                    \
        for (int r = 0; r < QR; r++)                                                         \
            for (int c = 0; c < C; c++) _mm512_storeu_ps(S + (size_t)r * lp + jb + 16 * c, acc[r][c]); \
    }
QK_BF16(4)
QK_BF16(1)

/* vt is [lp/2][HD] words: word (t, d) = v_{2t}[d], v_{2t + 1}[d] (zero rows past n). */
AVX512_BF16 static void pack_values_bf16(const uint16_t *v, int64_t vs, int n, int lp,
                                         int32_t *vt) {
    const __m512i lo = _mm512_setr_epi32(0x200000, 0x210001, 0x220002, 0x230003, 0x240004,
                                         0x250005, 0x260006, 0x270007, 0x280008, 0x290009,
                                         0x2a000a, 0x2b000b, 0x2c000c, 0x2d000d, 0x2e000e,
                                         0x2f000f);
    const __m512i hi = _mm512_add_epi16(lo, _mm512_set1_epi16(16));
    for (int t = 0; t < lp / 2; t++) {
        const int j = 2 * t;
        for (int half = 0; half < HD; half += 32) {
            const __m512i a = j < n ? _mm512_loadu_si512((const void *)(v + (size_t)j * vs + half))
                                    : _mm512_setzero_si512();
            const __m512i b = j + 1 < n
                                  ? _mm512_loadu_si512((const void *)(v + (size_t)(j + 1) * vs + half))
                                  : _mm512_setzero_si512();
            _mm512_storeu_si512((void *)(vt + (size_t)t * HD + half),
                                _mm512_permutex2var_epi16(a, lo, b));
            _mm512_storeu_si512((void *)(vt + (size_t)t * HD + half + 16),
                                _mm512_permutex2var_epi16(a, hi, b));
        }
    }
}

AVX512_BF16 static void head_bf16(const uint16_t *q, const uint16_t *k, const uint16_t *v,
                                  int64_t qs, int64_t ks, int64_t vs, uint16_t *out, int64_t os,
                                  int L, int n, float slope, float scale, const Rope *rope,
                                  int32_t *kt, int32_t *vt, float *S, uint16_t *P, uint16_t *qb,
                                  uint16_t *kr) {
    const int lp = (n + 15) / 16 * 16, ld = row_stride(lp);
    if (rope) { /* the rotated keys, then read from there */
        for (int j = 0; j < n; j++) rope_row_bf16(k + (size_t)j * ks, j, rope, kr + (size_t)j * HD);
        k = kr, ks = HD;
    }
    for (int p = 0; p < HD / 2; p++) {
        int32_t *row = kt + (size_t)p * ld;
        for (int j = 0; j < n; j++) row[j] = word(k + (size_t)j * ks + 2 * p);
        for (int j = n; j < lp; j++) row[j] = 0;
    }
    pack_values_bf16(v, vs, n, lp, vt);
    float sum[QR];
    for (int i0 = 0; i0 < L; i0 += QR) {
        const int rows = L - i0 < QR ? L - i0 : QR;
        memset(qb, 0, sizeof(uint16_t) * QR * HD);
        for (int r = 0; r < rows; r++)
            rope_row_bf16(q + (size_t)(i0 + r) * qs, i0 + r, rope, qb + r * HD);
        int jb = 0;
        for (; jb + 64 <= lp; jb += 64) qk_bf16_4(qb, kt, ld, jb, S);
        for (; jb < lp; jb += 16) qk_bf16_1(qb, kt, ld, jb, S);
        softmax_rows(S, ld, lp, rows, i0, n, scale, slope, sum);
        for (int r = 0; r < QR; r++)
            for (int j = 0; j < lp; j += 16)
                store_bf16(P + (size_t)r * ld + j, 0xffff, _mm512_loadu_ps(S + (size_t)r * ld + j));
        __m512 acc[QR][HD / 16];
        for (int r = 0; r < QR; r++)
            for (int c = 0; c < HD / 16; c++) acc[r][c] = _mm512_setzero_ps();
        for (int t = 0; t < (n + 1) / 2; t++) {
            __m512i w[HD / 16];
            for (int c = 0; c < HD / 16; c++)
                w[c] = _mm512_loadu_si512((const void *)(vt + (size_t)t * HD + 16 * c));
            for (int r = 0; r < QR; r++) {
                const __m512i p = _mm512_set1_epi32(word(P + (size_t)r * ld + 2 * t));
                for (int c = 0; c < HD / 16; c++)
                    acc[r][c] = _mm512_dpbf16_ps(acc[r][c], (__m512bh)p, (__m512bh)w[c]);
            }
        }
        for (int r = 0; r < rows; r++) {
            const __m512 inv = _mm512_set1_ps(1.f / sum[r]);
            for (int c = 0; c < HD / 16; c++)
                store_bf16(out + (size_t)(i0 + r) * os + 16 * c, 0xffff, _mm512_mul_ps(acc[r][c], inv));
        }
    }
}

/* ------------------------------------------------------------------------ entry points -- */

/* strides: q (b, h, token), k (b, h, token), v (b, h, token), in elements; lengths: [B] real
 * tokens (1..L) or NULL for all L; slopes: [H] or NULL for no bias; rope_mode 0 (off), 1 or 2
 * with its cos/sin tables and first rotated token. out: [B, L, H, 64]. */
#define DEFINE_ATTENTION(NAME, T, HEAD, SCRATCH, ...)                                        \
    int NAME(const T *q, const T *k, const T *v, const int64_t *st, T *out, int B, int H,   \
             int L, const int32_t *lengths, const float *slopes, const float *cos,           \
             const float *sin, int rope_from, int rope_mode, float scale, int threads) {     \
        if (lengths)                                                                         \
            for (int b = 0; b < B; b++)                                                      \
                if (lengths[b] < 1 || lengths[b] > L) return -2; /* nothing read past L */   \
        int failed = 0;                                                                      \
        const Rope rp = {cos, sin, rope_from, rope_mode}, *rope = rope_mode ? &rp : NULL;    \
        const int lp = (L + 15) / 16 * 16 + 16; /* >= every row_stride() */                 \
        _Pragma("omp parallel num_threads(threads)") {                                       \
            SCRATCH;                                                                         \
            if (!ok) {                                                                       \
                _Pragma("omp atomic write") failed = 1;                                      \
            }                                                                                \
            _Pragma("omp for schedule(static)") for (int task = 0; task < B * H; task++) {   \
                if (!ok) continue;                                                           \
                const int b = task / H, h = task % H;                                        \
                const int n = lengths ? lengths[b] : L;                                      \
                HEAD(q + b * st[0] + h * st[1], k + b * st[3] + h * st[4],                   \
                     v + b * st[6] + h * st[7], st[2], st[5], st[8],                         \
                     out + ((size_t)b * L * H + h) * HD, (int64_t)H * HD, L, n,              \
                     slopes ? slopes[h] : 0.f, scale, rope, __VA_ARGS__);                    \
            }                                                                                \
            free(mem);                                                                       \
        }                                                                                    \
        return failed ? -1 : 0;                                                              \
    }

#define SCRATCH_F32                                                                          \
    float *mem = scratch(sizeof(float) * (2 * (size_t)HD * lp + (size_t)QR * lp + QR * HD));     \
    const int ok = mem != NULL;                                                              \
    float *kt = mem, *S = mem + (size_t)HD * lp, *qb = S + (size_t)QR * lp, *kr = qb + QR * HD
#define SCRATCH_BF16                                                                         \
    char *mem = scratch(4 * ((size_t)HD / 2 * lp + (size_t)lp / 2 * HD + (size_t)QR * lp) +       \
                        2 * ((size_t)QR * lp + QR * HD + (size_t)lp * HD));                  \
    const int ok = mem != NULL;                                                              \
    int32_t *kt = (int32_t *)mem, *vt = kt + (size_t)HD / 2 * lp;                            \
    float *S = (float *)(vt + (size_t)lp / 2 * HD);                                          \
    uint16_t *P = (uint16_t *)(S + (size_t)QR * lp), *qb = P + (size_t)QR * lp, *kr = qb + QR * HD

DEFINE_ATTENTION(short_attention_f32, float, head_f32, SCRATCH_F32, kt, S, qb, kr)
DEFINE_ATTENTION(short_attention_bf16, uint16_t, head_bf16, SCRATCH_BF16, kt, vt, S, P, qb, kr)
