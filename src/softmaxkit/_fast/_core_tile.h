/*
 * One instantiation of the kernels of _core.c (see there for the arithmetic and
 * the edge policy). _core_isa.h includes this file once per precision and
 * instruction set, with:
 *
 *   FLOAT    double or float (the storage type; sums are accumulated in double)
 *   IS_F64   1 for double
 *   SFX      a suffix for the names defined here (f64_avx2, f32_base, ...)
 *   SK_ATTR  the function attribute selecting the instruction set (or nothing)
 *   MA       MA(a, b, c) = a * b + c: a fused multiply-add where the instruction
 *            set has one (written out, so that a vector loop and its scalar
 *            remainder round alike), two roundings where it does not
 *   SK_FMA   1 where MA is fused
 *   VEC      a 4-lane vector of FLOAT (GCC/Clang vector extension), for the
 *            in-register transposes; undefined where the compiler has none
 */

#define NM(name) SK_CAT(name, SFX)
/* A tile is tame when every shifted entry is at least SK_TAME: then every e = exp(d)
   is far from the subnormals, 2^n takes one step, and e / (c + rest) takes the
   quotient's correction steps exactly (see quotient). */
#if IS_F64
#define SK_TAME -600.0
#else
#define SK_TAME -60.0
#endif
#define SK_INLINE static inline __attribute__((always_inline)) SK_ATTR

/* ---------------------------------------------------------------- exponential */

#if SK_TABLE_EXP && IS_F64
/* The table's exponential (float64, AVX-512). d = k ln2 / 16 + r, k = 16 n + j the
   nearest integer to 16 d / ln2 and |r| <= ln2 / 32 (Cody-Waite: k ln2_hi exact for
   |k| < 2^16), so that e^d = 2^n 2^(j/16) e^r = 2^n hi_j (1 + tail_j) e^r with the
   table of _core.c, and e^d = 2^n hi_j (1 + t) where t = tail_j + (e^r - 1) (the
   product tail_j (e^r - 1), below 2^-58, is dropped) and e^r - 1 = r + r^2 P(r),
   Taylor to degree 7 (remainder < 1.3e-18 on |r| <= 0.0217); those and t's two
   roundings (each at most 2^-59) stay below a tenth of an ulp of the result. One
   rounding more, s + s t with s = 2^n hi_j: at most 0.533 ulp from e^d measured
   outside the subnormal range (a test holds it to 0.56; Tang's method, ACM TOMS
   15(2), 1989; glibc's exp takes the same steps with 128 entries). Twelve multiplies
   and multiply-adds where the Taylor polynomial of degree 13 without a table takes
   twenty. Returns t, and z's bits (k in the low bits, offset by the magic constant). */
#define SK_MAGIC 0x1.8p52
#define SK_MAGIC_BITS 0x4338000000000000ULL
#define SK_16_LN2 0x1.71547652b82fep+4
#define SK_LN2_16_HI 0x1.62e42fefa0000p-5
#define SK_LN2_16_LO 0x1.cf79abc9e3b3ap-44
SK_INLINE double NM(exp_t)(double d, uint64_t *zb) {
    double z = MA(d, SK_16_LN2, SK_MAGIC), kd = z - SK_MAGIC;
    double r = MA(-kd, SK_LN2_16_LO, MA(-kd, SK_LN2_16_HI, d));
    memcpy(zb, &z, 8);
    double r2 = r * r, r4 = r2 * r2;
    double p = MA(r4, MA(r, 1.0 / 5040.0, 1.0 / 720.0),
                  MA(r2, MA(r, 1.0 / 120.0, 1.0 / 24.0), MA(r, 1.0 / 6.0, 0.5)));
    return MA(r2, p, r + sk_exp_tail[*zb & 15]);
}

SK_INLINE double NM(bits_to_double)(uint64_t b) {
    double v;
    memcpy(&v, &b, 8);
    return v;
}

/* exp(d) for d <= 0 (or -inf), 0 below the subnormal range: hi_j (1 + t) rounded, then
   2^n in two normal steps so that a subnormal result is rounded once more only. */
SK_INLINE double NM(exp_nonpos)(double d) {
    d = d < -746.0 ? -746.0 : d; /* exp(-746) rounds to 0; so does -inf */
    uint64_t zb;
    double t = NM(exp_t)(d, &zb), s = sk_exp_hi[zb & 15];
    int64_t n = (int64_t)(zb - SK_MAGIC_BITS) >> 4, n1 = n >> 1; /* n in [-1077, 0] */
    double p = MA(s, t, s);
    return (p * NM(bits_to_double)((uint64_t)(n1 + 1023) << 52)) *
           NM(bits_to_double)((uint64_t)(n - n1 + 1023) << 52);
}

/* exp(d) for SK_TAME <= d <= 0: 2^n folded into hi_j's bits (k << 48 adds n to the
   exponent, j << 48 is taken off in adj); the result is normal, so s + s t rounds to
   2^n times exp_nonpos's p: the same bits. */
SK_INLINE double NM(exp_tame)(double d) {
    uint64_t zb;
    double t = NM(exp_t)(d, &zb), s = NM(bits_to_double)(sk_exp_adj[zb & 15] + (zb << 48));
    return MA(s, t, s);
}

/* The same three in vectors of 8 lanes, step for step (the same bits): the table's 16
   entries in two registers, looked up by a permute on z's low bits. */
#define SK_V8(c) _mm512_set1_pd(c)
SK_INLINE __m512d NM(exp_t_v)(__m512d d, __m512i *zb) {
    __m512d z = _mm512_fmadd_pd(d, SK_V8(SK_16_LN2), SK_V8(SK_MAGIC));
    __m512d kd = _mm512_sub_pd(z, SK_V8(SK_MAGIC));
    __m512d r = _mm512_fnmadd_pd(kd, SK_V8(SK_LN2_16_LO),
                                 _mm512_fnmadd_pd(kd, SK_V8(SK_LN2_16_HI), d));
    *zb = _mm512_castpd_si512(z);
    __m512d r2 = _mm512_mul_pd(r, r), r4 = _mm512_mul_pd(r2, r2);
    __m512d p = _mm512_fmadd_pd(
        r4, _mm512_fmadd_pd(r, SK_V8(1.0 / 5040.0), SK_V8(1.0 / 720.0)),
        _mm512_fmadd_pd(r2, _mm512_fmadd_pd(r, SK_V8(1.0 / 120.0), SK_V8(1.0 / 24.0)),
                        _mm512_fmadd_pd(r, SK_V8(1.0 / 6.0), SK_V8(0.5))));
    __m512d tail = _mm512_permutex2var_pd(_mm512_loadu_pd(sk_exp_tail), *zb,
                                          _mm512_loadu_pd(sk_exp_tail + 8));
    return _mm512_fmadd_pd(r2, p, _mm512_add_pd(r, tail));
}

SK_INLINE __m512d NM(exp_nonpos_v)(__m512d d) {
    d = _mm512_max_pd(SK_V8(-746.0), d); /* a NaN d stays (max_pd returns it) */
    __m512i zb;
    __m512d t = NM(exp_t_v)(d, &zb);
    __m512d s = _mm512_permutex2var_pd(_mm512_loadu_pd(sk_exp_hi), zb,
                                       _mm512_loadu_pd(sk_exp_hi + 8));
    __m512i k = _mm512_sub_epi64(zb, _mm512_set1_epi64((long long)SK_MAGIC_BITS));
    __m512i n = _mm512_srai_epi64(k, 4);
    __m512i n1 = _mm512_srai_epi64(n, 1), bias = _mm512_set1_epi64(1023);
    __m512d p = _mm512_fmadd_pd(s, t, s);
    __m512d s1 = _mm512_castsi512_pd(_mm512_slli_epi64(_mm512_add_epi64(n1, bias), 52));
    __m512d s2 = _mm512_castsi512_pd(
        _mm512_slli_epi64(_mm512_add_epi64(_mm512_sub_epi64(n, n1), bias), 52));
    return _mm512_mul_pd(_mm512_mul_pd(p, s1), s2);
}

SK_INLINE __m512d NM(exp_tame_v)(__m512d d) {
    __m512i zb;
    __m512d t = NM(exp_t_v)(d, &zb);
    __m512i adj = _mm512_permutex2var_epi64(_mm512_loadu_si512(sk_exp_adj), zb,
                                            _mm512_loadu_si512(sk_exp_adj + 8));
    __m512d s = _mm512_castsi512_pd(_mm512_add_epi64(adj, _mm512_slli_epi64(zb, 48)));
    return _mm512_fmadd_pd(s, t, s);
}
#undef SK_V8
#undef SK_MAGIC
#undef SK_MAGIC_BITS
#undef SK_16_LN2
#undef SK_LN2_16_HI
#undef SK_LN2_16_LO
#else
/* 2^n for an integer-valued n in [-550, 0], as bits: the magic constant puts n + bias
   in the low bits of t's mantissa, and shifting them to the exponent field drops
   the rest (only shifts and adds of integer lanes: AVX2 has them, not 64-bit
   arithmetic shifts or conversions). */
SK_INLINE FLOAT NM(pow2)(FLOAT n) {
#if IS_F64
    double t = n + (0x1.8p52 + 1023.0);
    uint64_t bits;
    memcpy(&bits, &t, 8);
    bits <<= 52;
#else
    float t = n + (0x1.8p23f + 127.0f);
    uint32_t bits;
    memcpy(&bits, &t, 4);
    bits <<= 23;
#endif
    FLOAT s;
    memcpy(&s, &bits, sizeof s);
    return s;
}

/* e^r and n for d = n ln2 + r, |r| <= ln2 / 2 (Cody-Waite), d in [-746, 0]: a Taylor
   polynomial whose terms from r^3 on are evaluated by Estrin's scheme (a short
   dependency chain: the loops around this are limited by latency, not by
   arithmetic), the first three by Horner's (where the rounding matters). */
SK_INLINE FLOAT NM(exp_reduced)(FLOAT d, FLOAT *n_out) {
#if IS_F64
    const double magic = 0x1.8p52, log2e = 0x1.71547652b82fep0;
    const double ln2_hi = 0x1.62e42fefa3800p-1, ln2_lo = 0x1.ef35793c76730p-45;
    double n = MA(d, log2e, magic) - magic; /* the nearest integer */
    double r = MA(-n, ln2_lo, MA(-n, ln2_hi, d)); /* n ln2_hi is exact */
    /* Taylor to degree 13: the remainder is < 4e-18 on |r| <= 0.347 */
    double r2 = r * r, r4 = r2 * r2;
    double q0 = MA(r, 1.0 / 24.0, 1.0 / 6.0), q1 = MA(r, 1.0 / 720.0, 1.0 / 120.0);
    double q2 = MA(r, 1.0 / 40320.0, 1.0 / 5040.0);
    double q3 = MA(r, 1.0 / 3628800.0, 1.0 / 362880.0);
    double q4 = MA(r, 1.0 / 479001600.0, 1.0 / 39916800.0);
    double s0 = MA(r2, q1, q0), s1 = MA(r2, q3, q2), s2 = MA(r2, 1.0 / 6227020800.0, q4);
    double q = MA(r4, MA(r4, s2, s1), s0);
    *n_out = n;
    return MA(r, MA(r, MA(r, q, 0.5), 1.0), 1.0);
#else
    const float magic = 0x1.8p23f, log2e = 0x1.715476p0f;
    const float ln2_hi = 0x1.62e4p-1f, ln2_lo = 0x1.7f7d1cp-20f;
    float n = MA(d, log2e, magic) - magic;
    float r = MA(-n, ln2_lo, MA(-n, ln2_hi, d));
    /* Taylor to degree 7: the remainder is < 6e-9 on |r| <= 0.347 */
    float r2 = r * r;
    float q = MA(r2, MA(r, MA(r, 1.0f / 5040.0f, 1.0f / 720.0f), 1.0f / 120.0f),
                 MA(r, 1.0f / 24.0f, 1.0f / 6.0f));
    *n_out = n;
    return MA(r, MA(r, MA(r, q, 0.5f), 1.0f), 1.0f);
#endif
}

/* exp(d) for d <= 0 (or -inf), 0 below the subnormal range: 2^n applied in two
   normal steps so that a subnormal result is rounded once. */
SK_INLINE FLOAT NM(exp_nonpos)(FLOAT d) {
#if IS_F64
    d = d < -746.0 ? -746.0 : d; /* exp(-746) rounds to 0; so does -inf */
    const double magic = 0x1.8p52;
#else
    d = d < -104.0f ? -104.0f : d; /* exp(-104) rounds to 0 in float32 */
    const float magic = 0x1.8p23f;
#endif
    FLOAT n, p = NM(exp_reduced)(d, &n);
    FLOAT n1 = (n * (FLOAT)0.5 + magic) - magic;
    return (p * NM(pow2)(n1)) * NM(pow2)(n - n1);
}

/* exp(d) for SK_TAME <= d <= 0: the result is normal, so 2^n in one step gives the
   same bits as exp_nonpos's two, one multiplication sooner. */
SK_INLINE FLOAT NM(exp_tame)(FLOAT d) {
    FLOAT n, p = NM(exp_reduced)(d, &n);
    return p * NM(pow2)(n);
}

#endif

#if SK_TABLE_EXP && !IS_F64
/* float32's exp_reduced, pow2, exp_nonpos and exp_tame in vectors of 16 lanes under
   AVX-512, step for step (the same bits), so that the exponential's loop can keep
   a lane's float64 count and sum in registers (exp_rows). */
#define SK_V16(c) _mm512_set1_ps(c)
SK_INLINE __m512 NM(exp_reduced_v)(__m512 d, __m512 *n_out) {
    const __m512 magic = SK_V16(0x1.8p23f);
    __m512 n = _mm512_sub_ps(_mm512_fmadd_ps(d, SK_V16(0x1.715476p0f), magic), magic);
    __m512 r = _mm512_fnmadd_ps(n, SK_V16(0x1.7f7d1cp-20f),
                                _mm512_fnmadd_ps(n, SK_V16(0x1.62e4p-1f), d));
    __m512 r2 = _mm512_mul_ps(r, r);
    __m512 q = _mm512_fmadd_ps(
        r2,
        _mm512_fmadd_ps(r, _mm512_fmadd_ps(r, SK_V16(1.0f / 5040.0f), SK_V16(1.0f / 720.0f)),
                        SK_V16(1.0f / 120.0f)),
        _mm512_fmadd_ps(r, SK_V16(1.0f / 24.0f), SK_V16(1.0f / 6.0f)));
    *n_out = n;
    return _mm512_fmadd_ps(
        r, _mm512_fmadd_ps(r, _mm512_fmadd_ps(r, q, SK_V16(0.5f)), SK_V16(1.0f)), SK_V16(1.0f));
}
SK_INLINE __m512 NM(pow2_v)(__m512 n) {
    __m512 t = _mm512_add_ps(n, SK_V16(0x1.8p23f + 127.0f));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_castps_si512(t), 23));
}
SK_INLINE __m512 NM(exp_nonpos_v)(__m512 d) {
    d = _mm512_max_ps(SK_V16(-104.0f), d); /* a NaN d stays (max_ps returns it) */
    __m512 n, p = NM(exp_reduced_v)(d, &n);
    const __m512 magic = SK_V16(0x1.8p23f);
    __m512 n1 = _mm512_sub_ps(_mm512_add_ps(_mm512_mul_ps(n, SK_V16(0.5f)), magic), magic);
    return _mm512_mul_ps(_mm512_mul_ps(p, NM(pow2_v)(n1)), NM(pow2_v)(_mm512_sub_ps(n, n1)));
}
SK_INLINE __m512 NM(exp_tame_v)(__m512 d) {
    __m512 n, p = NM(exp_reduced_v)(d, &n);
    return _mm512_mul_ps(p, NM(pow2_v)(n));
}
#undef SK_V16
#endif

/* a / b correctly rounded, for a in [exp(SK_TAME), 1], b in [1, 32] and y = 1 / b
   rounded: q = a y is within 1.5 ulp of a / b; one correction q + (a - b q) y makes
   it faithful, and a second (Markstein's theorem: q faithful and y within half an
   ulp of 1 / b make a - b q exact and q + (a - b q) y the correctly rounded
   quotient; Muller et al., Handbook of Floating-Point Arithmetic, 2018, sec. 4.9)
   gives the bits of the division. The residual a - b q is exact only if its last
   bit, ulp(b) ulp(q), is one the format has: with b >= 1 and q >= a / 32,
   a >= exp(SK_TAME) keeps it at or above 2^-975 in float64 and 2^-138 in float32,
   whose smallest subnormals are 2^-1074 and 2^-149. Fused multiply-adds only; a
   plain division where MA is not fused. Five multiply-adds are cheaper than a
   vector division (about a tenth of the short softmax's time).
   SK_QUOTIENT writes the steps once for every width that takes them (this scalar,
   the transposes' 4 lanes, float32's 8, float64's 8 in the gradient): p = a / b
   from y, given the width's product MUL(a, b) = a b, FMA(a, b, c) = a b + c and
   NFMA(a, b, c) = c - a b, both fused (the tame-tile test holds every width to the
   division's bits). */
#ifndef SK_QUOTIENT
#define SK_QUOTIENT(p, a, b, y, MUL, FMA, NFMA)                                            \
    do {                                                                                   \
        __typeof__(MUL(a, y)) q_ = MUL(a, y);                                              \
        q_ = FMA(NFMA(q_, b, a), y, q_);                                                   \
        (p) = FMA(NFMA(q_, b, a), y, q_);                                                  \
    } while (0)
#define SK_MUL(a, b) ((a) * (b))
#endif
SK_INLINE FLOAT NM(quotient)(FLOAT a, FLOAT b, FLOAT y) {
#if SK_FMA
#define SK_NMA(a, b, c) MA(-(a), b, c)
    FLOAT p;
    SK_QUOTIENT(p, a, b, y, SK_MUL, MA, SK_NMA);
#undef SK_NMA
    return p;
#else
    (void)y;
    return a / b;
#endif
}

/* ---------------------------------------------------------------- transposes */

/* dst[r * dr + k * dk] = src[r * sr + k * sk] for r < n, k < K: a tile of rows copied
   into the (K, TILE) layout (dr = 1, dk = TILE) or back (sr = 1, sk = TILE). When
   one side runs along the rows (its k stride 1) and the other along the classes
   (its r stride 1), by 4 x 4 blocks transposed in registers (the last block of a
   row overlaps the one before it when 4 does not divide K); when both run along
   the classes (the transposed logits of linear_cross_entropy), one contiguous
   copy per class; anything else element by element. Where minus is not NULL (tile
   to rows only), row r's entries less minus[r] are written (log_softmax's last
   step, in the same pass); where by is not NULL (likewise), row r's entries over
   by[r] (softmax's: quotient's steps with inv[r] = 1 / by[r] where inv is not
   NULL, else a division). */
#if defined(VEC) && SK_FMA /* VEC's a * b + c, fused */
#if IS_F64
#define SK_VMA(a, b, c) ((VEC)_mm256_fmadd_pd((__m256d)(a), (__m256d)(b), (__m256d)(c)))
#else
#define SK_VMA(a, b, c) ((VEC)_mm_fmadd_ps((__m128)(a), (__m128)(b), (__m128)(c)))
#endif
#endif
SK_INLINE void NM(transpose)(const FLOAT *src, Py_ssize_t sr, Py_ssize_t sk, FLOAT *dst,
                             Py_ssize_t dr, Py_ssize_t dk, Py_ssize_t n, Py_ssize_t K,
                             const FLOAT *minus, const FLOAT *by, const FLOAT *inv) {
    Py_ssize_t r = 0;
    if (sr == 1 && dr == 1 && minus == NULL && by == NULL) {
        for (Py_ssize_t k = 0; k < K; k++) memcpy(dst + k * dk, src + k * sk, sizeof(FLOAT) * n);
        return;
    }
#ifdef VEC
    int rows_in = sk == 1 && dr == 1 && minus == NULL && by == NULL;
    int rows_out = sr == 1 && dk == 1;
#if SK_FMA && !IS_F64
    /* float32 with AVX: 8 rows at a time, two 4 x 4 blocks side by side in the halves
       of 256-bit vectors (rows r..r+3 in the lower, r+4..r+7 in the upper), one set
       of in-lane shuffles for both, the tile's side moved 8 rows per load or store
       (in cache, AVX-512, 1,000,000 x 10 softmax: 8.6 -> 7.9 ms per million rows; the
       same for float64 in the halves of 512-bit vectors was slower, 11.4 -> 11.9) */
    if ((rows_in || rows_out) && K >= 4)
        for (; r + 8 <= n; r += 8)
            for (Py_ssize_t k0 = 0; k0 < K; k0 += 4) {
                Py_ssize_t k = k0 + 4 <= K ? k0 : K - 4;
                const FLOAT *s = src + r * sr + k * sk;
                FLOAT *t = dst + r * dr + k * dk;
                __m256 a[4], c[4];
                for (int j = 0; j < 4; j++)
                    a[j] = rows_in ? _mm256_insertf128_ps(
                                         _mm256_castps128_ps256(_mm_loadu_ps(s + j * sr)),
                                         _mm_loadu_ps(s + (j + 4) * sr), 1)
                                   : _mm256_loadu_ps(s + j * sk);
                if (minus != NULL) { /* rows_out: lanes are rows r..r+7 */
                    const __m256 mv = _mm256_loadu_ps(minus + r);
                    for (int j = 0; j < 4; j++) a[j] = _mm256_sub_ps(a[j], mv);
                } else if (by != NULL) { /* likewise; quotient's steps where inv is given */
                    const __m256 b = _mm256_loadu_ps(by + r);
                    if (inv != NULL) {
                        const __m256 y = _mm256_loadu_ps(inv + r);
                        for (int j = 0; j < 4; j++)
                            SK_QUOTIENT(a[j], a[j], b, y, _mm256_mul_ps, _mm256_fmadd_ps,
                                        _mm256_fnmadd_ps);
                    } else {
                        for (int j = 0; j < 4; j++) a[j] = _mm256_div_ps(a[j], b);
                    }
                }
                const __m256 t0 = _mm256_unpacklo_ps(a[0], a[1]);
                const __m256 t1 = _mm256_unpackhi_ps(a[0], a[1]);
                const __m256 t2 = _mm256_unpacklo_ps(a[2], a[3]);
                const __m256 t3 = _mm256_unpackhi_ps(a[2], a[3]);
                c[0] = _mm256_shuffle_ps(t0, t2, 0x44); /* (1, 0, 1, 0) */
                c[1] = _mm256_shuffle_ps(t0, t2, 0xee); /* (3, 2, 3, 2) */
                c[2] = _mm256_shuffle_ps(t1, t3, 0x44);
                c[3] = _mm256_shuffle_ps(t1, t3, 0xee);
                for (int j = 0; j < 4; j++)
                    if (rows_in) {
                        _mm256_storeu_ps(t + j * dk, c[j]);
                    } else {
                        _mm_storeu_ps(t + j * dr, _mm256_castps256_ps128(c[j]));
                        _mm_storeu_ps(t + (j + 4) * dr, _mm256_extractf128_ps(c[j], 1));
                    }
            }
#endif
    if ((rows_in || rows_out) && K >= 4) {
        /* vector i of a block is read along src's contiguous axis, vector j written
           along dst's */
        const Py_ssize_t s_step = rows_in ? sr : sk, d_step = rows_in ? dk : dr;
        for (; r + 4 <= n; r += 4)
            for (Py_ssize_t k0 = 0; k0 < K; k0 += 4) {
                Py_ssize_t k = k0 + 4 <= K ? k0 : K - 4;
                const FLOAT *s = src + r * sr + k * sk;
                FLOAT *t = dst + r * dr + k * dk;
                VEC a0, a1, a2, a3, c0, c1, c2, c3;
                memcpy(&a0, s, sizeof(VEC));
                memcpy(&a1, s + s_step, sizeof(VEC));
                memcpy(&a2, s + 2 * s_step, sizeof(VEC));
                memcpy(&a3, s + 3 * s_step, sizeof(VEC));
                if (minus != NULL) { /* rows_out: a vector holds rows r..r+3 */
                    VEC mv;
                    memcpy(&mv, minus + r, sizeof(VEC));
                    a0 -= mv;
                    a1 -= mv;
                    a2 -= mv;
                    a3 -= mv;
                } else if (by != NULL) { /* a vector's lanes are rows r..r+3 here too */
                    VEC b;
                    memcpy(&b, by + r, sizeof(VEC));
#ifdef SK_VMA
                    if (inv != NULL) { /* quotient's steps, lane by lane */
                        VEC y;
                        memcpy(&y, inv + r, sizeof(VEC));
#define SK_VNMA(a, b, c) SK_VMA(-(a), b, c)
#define SK_QUOT4(a) SK_QUOTIENT(a, a, b, y, SK_MUL, SK_VMA, SK_VNMA);
                        SK_QUOT4(a0)
                        SK_QUOT4(a1)
                        SK_QUOT4(a2)
                        SK_QUOT4(a3)
#undef SK_QUOT4
#undef SK_VNMA
                    } else
#endif
                    {
                        a0 /= b;
                        a1 /= b;
                        a2 /= b;
                        a3 /= b;
                    }
                }
                SK_TRANSPOSE4(a0, a1, a2, a3, c0, c1, c2, c3);
                memcpy(t, &c0, sizeof(VEC));
                memcpy(t + d_step, &c1, sizeof(VEC));
                memcpy(t + 2 * d_step, &c2, sizeof(VEC));
                memcpy(t + 3 * d_step, &c3, sizeof(VEC));
            }
    }
#endif
    for (; r < n; r++)
        for (Py_ssize_t k = 0; k < K; k++) {
            FLOAT v = src[r * sr + k * sk];
            if (minus != NULL) v = v - minus[r];
            if (by != NULL) v = inv != NULL ? NM(quotient)(v, by[r], inv[r]) : v / by[r];
            dst[r * dr + k * dk] = v;
        }
}
#undef SK_VMA

/* d[k * TILE + r] = x[r * rs + k * ks], and the way back */
SK_INLINE void NM(tr_in)(const FLOAT *x, Py_ssize_t rs, Py_ssize_t ks, FLOAT *d, Py_ssize_t n,
                         Py_ssize_t K) {
    NM(transpose)(x, rs, ks, d, 1, TILE, n, K, NULL, NULL, NULL);
}
SK_INLINE void NM(tr_out)(const FLOAT *d, FLOAT *out, Py_ssize_t rs, Py_ssize_t ks,
                          Py_ssize_t n, Py_ssize_t K) {
    NM(transpose)(d, 1, TILE, out, rs, ks, n, K, NULL, NULL, NULL);
}
/* out = d less minus[r] in row r, rows out of the tile */
SK_INLINE void NM(tr_out_minus)(const FLOAT *d, const FLOAT *minus, FLOAT *out, Py_ssize_t n,
                                Py_ssize_t K) {
    NM(transpose)(d, 1, TILE, out, K, 1, n, K, minus, NULL, NULL);
}
/* out = d over by[r] in row r (quotient's steps with inv where it is not NULL), rows
   out of the tile */
SK_INLINE void NM(tr_out_by)(const FLOAT *d, const FLOAT *by, const FLOAT *inv, FLOAT *out,
                             Py_ssize_t n, Py_ssize_t K) {
    NM(transpose)(d, 1, TILE, out, K, 1, n, K, NULL, by, inv);
}

/* ---------------------------------------------------------------- the tiles */

/* T > 1: does some x - m overflow to -inf while (x - m) / T would not?  Then the
   reference computes x / T - m / T; the row is left to it. */
static SK_ATTR int NM(rest_overflowed)(const FLOAT *row, Py_ssize_t K, Py_ssize_t stride,
                                       FLOAT m) {
    for (Py_ssize_t k = 0; k < K; k++)
        if (isinf(row[k * stride] - m) && isfinite(row[k * stride])) return 1;
    return 0;
}

/* Flag the tile's rows left to the reference (a maximum that is not finite, a NaN,
   or for T > 1 an x - m that overflows); returns their count. A tame tile has none
   (its entries are finite and within SK_TAME T of their maxima). */
static SK_ATTR int NM(flag_rows)(const FLOAT *x, Py_ssize_t rs, Py_ssize_t ks, const FLOAT *m,
                                 const double *rest, uint8_t *flags, Py_ssize_t n,
                                 Py_ssize_t K, double T, int tame) {
    if (tame) {
        if (n > 0) memset(flags, 0, (size_t)n);
        return 0;
    }
    int flagged = 0;
    for (Py_ssize_t r = 0; r < n; r++) {
        int bad = !isfinite((double)m[r]) || isnan(rest[r]) ||
                  (T > 1.0 && NM(rest_overflowed)(x + r * rs, K, ks, m[r]));
        flags[r] = (uint8_t)bad;
        flagged += bad;
    }
    return flagged;
}

/* Part k of K of the next tile's inputs and output, into the cache while this tile
   computes (the output for writing: its lines are read for ownership now, not
   when the stores come). Without it every tile waits for memory at its first
   pass and leaves memory idle through its arithmetic. Into L2, not L1 (locality
   2): fetched into L1 they pushed out the tile being worked on (measured: 10%
   slower on rows in memory). */
SK_INLINE void NM(prefetch_part)(const sk_next *next, Py_ssize_t k, Py_ssize_t K) {
    for (int i = 0; i < 2; i++) {
        const char *in = next->in[i];
        Py_ssize_t bytes = next->in_bytes[i];
        for (Py_ssize_t b = bytes * k / K; b < bytes * (k + 1) / K; b += 64)
            __builtin_prefetch(in + b, 0, 2);
    }
    for (Py_ssize_t b = next->out_bytes * k / K; b < next->out_bytes * (k + 1) / K; b += 64)
        __builtin_prefetch(next->out + b, 1, 2);
}

/* The row maxima of a transposed tile; returns whether the tile is tame (every
   (x - m) / T at least SK_TAME; false where a row has a NaN or an infinity: the
   minimum keeps a NaN, and lo - m is then NaN or -inf). */
SK_INLINE int NM(tile_max)(const FLOAT *d, FLOAT *m, Py_ssize_t n, Py_ssize_t K, double T) {
    FLOAT lo[TILE];
    const FLOAT bound = (FLOAT)(SK_TAME * T);
    int tame = isfinite((double)bound); /* a huge T: no bound (an x - m of -inf would pass) */
    Py_ssize_t r0 = 0;
#if SK_TABLE_EXP && IS_F64
    /* 8 lanes at a time, the classes innermost (maximum and minimum in registers); the
       NaNs in a mask of their own, as min_pd does not keep them */
    for (; r0 + 8 <= n; r0 += 8) {
        __m512d mv = _mm512_loadu_pd(d + r0), lv = mv;
        __mmask8 nan = _mm512_cmp_pd_mask(mv, mv, _CMP_UNORD_Q);
        for (Py_ssize_t k = 1; k < K; k++) {
            __m512d v = _mm512_loadu_pd(d + k * TILE + r0);
            mv = _mm512_max_pd(v, mv); /* v > m ? v : m, as below */
            lv = _mm512_min_pd(v, lv);
            nan |= _mm512_cmp_pd_mask(v, v, _CMP_UNORD_Q);
        }
        _mm512_storeu_pd(m + r0, mv);
        __mmask8 ok = _mm512_cmp_pd_mask(_mm512_sub_pd(lv, mv), _mm512_set1_pd(bound),
                                         _CMP_GE_OQ);
        tame &= (ok & ~nan & 0xff) == 0xff;
    }
#endif
    for (Py_ssize_t r = r0; r < n; r++) m[r] = lo[r] = d[r];
    for (Py_ssize_t k = 1; k < K; k++)
        for (Py_ssize_t r = r0; r < n; r++) {
            FLOAT v = d[k * TILE + r];
            m[r] = v > m[r] ? v : m[r];
            lo[r] = v < lo[r] || v != v ? v : lo[r]; /* a NaN stays (the max skips it) */
        }
    for (Py_ssize_t r = r0; r < n; r++) tame &= lo[r] - m[r] >= bound;
    return tame;
}

/* Row r's p = v / total[r]: LOOP(SK_QUOT) with the reciprocals inv[r] formed where
   the tile is tame, LOOP(SK_DIV) where it is not (one loop each, so the compiler
   vectorises each without a blend of both). */
#define SK_QUOT(v) NM(quotient)(v, total[r], inv[r])
#define SK_DIV(v) ((v) / total[r])
#define SK_BY_QUOTIENT(LOOP)                                                               \
    if (tame) {                                                                            \
        for (Py_ssize_t r = r0; r < n; r++) inv[r] = 1 / total[r];                         \
        LOOP(SK_QUOT)                                                                      \
    } else                                                                                 \
        LOOP(SK_DIV)

#if SK_TABLE_EXP && IS_F64
/* Lanes r < n rounded down to 8 of a transposed tile, 8 at a time with the classes
   innermost (the row's normaliser, reciprocal and factor in registers): e = the
   gradient factor (p - y') f + 0 for integer labels (y' = target at the label, u
   off it), p = e / total (quotient's steps where tame, else a division). The same
   steps as the loops below; returns where they take over. */
SK_INLINE Py_ssize_t NM(gradient_labels_v)(FLOAT *e, const FLOAT *total, FLOAT u,
                                           const int64_t *labels, FLOAT target,
                                           const FLOAT *f, Py_ssize_t n, Py_ssize_t K,
                                           int tame) {
    Py_ssize_t r = 0;
    for (; r + 8 <= n; r += 8) {
        const __m512d b = _mm512_loadu_pd(total + r);
        const __m512d y = tame ? _mm512_div_pd(_mm512_set1_pd(1.0), b) : b;
        const __m512d fv = _mm512_loadu_pd(f + r);
        const __m512i lab = _mm512_loadu_si512(labels + r);
        for (Py_ssize_t k = 0; k < K; k++) {
            const __m512d a = _mm512_loadu_pd(e + k * TILE + r);
            __m512d p;
            if (tame) {
                SK_QUOTIENT(p, a, b, y, _mm512_mul_pd, _mm512_fmadd_pd, _mm512_fnmadd_pd);
            } else {
                p = _mm512_div_pd(a, b);
            }
            __mmask8 at = _mm512_cmpeq_epi64_mask(lab, _mm512_set1_epi64(k));
            __m512d yk = _mm512_mask_blend_pd(at, _mm512_set1_pd(u), _mm512_set1_pd(target));
            p = _mm512_add_pd(_mm512_mul_pd(_mm512_sub_pd(p, yk), fv), _mm512_setzero_pd());
            _mm512_storeu_pd(e + k * TILE + r, p);
        }
    }
    return r;
}
#endif

/* The gradient factor in place over a transposed tile: e = (p - y') f + 0, where p = e /
   total (by quotient where the tile is tame) and y' is the rows y (probability
   targets) or, for integer labels, u off the label and `target` at it. The + 0
   turns the -0 of a zero factor into the +0 the reference writes. */
SK_INLINE void NM(gradient)(FLOAT *e, const FLOAT *total, const FLOAT *y, FLOAT u,
                            const int64_t *labels, FLOAT target, const FLOAT *f,
                            Py_ssize_t n, Py_ssize_t K, int tame) {
    FLOAT inv[TILE], at[TILE];
    Py_ssize_t r0 = 0;
#if SK_TABLE_EXP && IS_F64
    if (labels != NULL && y == NULL)
        r0 = NM(gradient_labels_v)(e, total, u, labels, target, f, n, K, tame);
#endif
#define SK_GRAD_LOOP(P)                                                                    \
    {                                                                                      \
        if (labels != NULL)                                                                \
            for (Py_ssize_t r = r0; r < n; r++) at[r] = P(e[labels[r] * TILE + r]);        \
        if (y != NULL)                                                                     \
            for (Py_ssize_t k = 0; k < K; k++)                                             \
                for (Py_ssize_t r = r0; r < n; r++)                                        \
                    e[k * TILE + r] = (P(e[k * TILE + r]) - y[k * TILE + r]) * f[r] + (FLOAT)0; \
        else                                                                               \
            for (Py_ssize_t k = 0; k < K; k++)                                             \
                for (Py_ssize_t r = r0; r < n; r++)                                        \
                    e[k * TILE + r] = (P(e[k * TILE + r]) - u) * f[r] + (FLOAT)0;          \
    }
    SK_BY_QUOTIENT(SK_GRAD_LOOP)
#undef SK_GRAD_LOOP
    if (labels != NULL)
        for (Py_ssize_t r = r0; r < n; r++)
            e[labels[r] * TILE + r] = (at[r] - target) * f[r] + (FLOAT)0;
}

#if SK_TABLE_EXP
/* The scalar step's count and sum for 8 lanes of float64 exponentials e: a maximum
   (at, where d == 0 and e == 1 exactly) counts 1 and adds e - 1 = 0. */
SK_INLINE void NM(count_sum_v)(__m512d *c, __m512d *s, __mmask8 at, __m512d e) {
    const __m512d top = _mm512_maskz_mov_pd(at, _mm512_set1_pd(1.0));
    *c = _mm512_add_pd(*c, top);
    *s = _mm512_add_pd(*s, _mm512_sub_pd(e, top));
}
#endif

/* The exponential's step over K rows of n lanes (row k of in, dk_out and e_out at k *
   stride): d = (in[r] - m[r ms]) / T (no division unless scaled), e = exp(d) (exp_tame
   where tame), the maxima counted (d == 0) and the rest summed in double, in row
   order, into count[r] and rest[r]; d stored to dk_out and e to e_out where they are
   not NULL, and lane r's d at class labels[r] to dl[r] where dl is not NULL (the
   loss at integer labels: no pass, no gather after); next (a tile's) prefetched
   meanwhile. Each caller passes constants for scaled, ms and the outputs, which
   always_inline turns into loops of their own.
   The lanes run innermost, where the compiler vectorises; with SK_TABLE_EXP, float64
   lanes go 8 at a time (float32 16) in vectors written out, the rows innermost so
   that the sums stay in registers, and the remaining lanes one by one: the same
   steps. */
#define SK_LANE_STEP(EXP)                                                                  \
    {                                                                                      \
        FLOAT dk = in[k * stride + r] - m[r * ms];                                         \
        if (scaled) dk = dk / Tf;                                                          \
        FLOAT e = NM(EXP)(dk);                                                             \
        double top = dk == 0 ? 1.0 : 0.0;                                                  \
        count[r] += top;                                                                   \
        rest[r] += (double)e - top;                                                        \
        if (dk_out != NULL) dk_out[k * stride + r] = dk;                                   \
        if (e_out != NULL) e_out[k * stride + r] = e;                                      \
        if (dl != NULL) dl[r] = labels[r] == k ? dk : dl[r]; /* a blend: vectorises */     \
    }
SK_INLINE void NM(exp_rows)(const FLOAT *in, Py_ssize_t stride, Py_ssize_t K, const FLOAT *m,
                            Py_ssize_t ms, int scaled, FLOAT Tf, FLOAT *dk_out, FLOAT *e_out,
                            const int64_t *labels, FLOAT *dl, double *count, double *rest,
                            Py_ssize_t n, int tame, const sk_next *next) {
    Py_ssize_t r0 = 0;
#if SK_TABLE_EXP && IS_F64
#define SK_VL 8 /* lanes per vector step */
#define SK_LANE_STEP_V(EXP)                                                                \
    {                                                                                      \
        const __m512d mv = ms ? _mm512_loadu_pd(m + r) : _mm512_set1_pd(m[0]);             \
        __m512d c = _mm512_loadu_pd(count + r), s = _mm512_loadu_pd(rest + r);             \
        __m512d dlv = _mm512_setzero_pd();                                                 \
        const __m512i lab =                                                                \
            dl != NULL ? _mm512_loadu_si512(labels + r) : _mm512_setzero_si512();          \
        for (Py_ssize_t k = 0; k < K; k++) {                                               \
            __m512d dk = _mm512_sub_pd(_mm512_loadu_pd(in + k * stride + r), mv);          \
            if (scaled) dk = _mm512_div_pd(dk, _mm512_set1_pd(Tf));                        \
            __m512d e = NM(EXP)(dk);                                                       \
            const __mmask8 at = _mm512_cmp_pd_mask(dk, _mm512_setzero_pd(), _CMP_EQ_OQ);   \
            NM(count_sum_v)(&c, &s, at, e);                                                \
            if (dk_out != NULL) _mm512_storeu_pd(dk_out + k * stride + r, dk);             \
            if (e_out != NULL) _mm512_storeu_pd(e_out + k * stride + r, e);                \
            if (dl != NULL)                                                                \
                dlv = _mm512_mask_mov_pd(                                                  \
                    dlv, _mm512_cmpeq_epi64_mask(lab, _mm512_set1_epi64(k)), dk);          \
        }                                                                                  \
        _mm512_storeu_pd(count + r, c);                                                    \
        _mm512_storeu_pd(rest + r, s);                                                     \
        if (dl != NULL) _mm512_storeu_pd(dl + r, dlv);                                     \
    }
#elif SK_TABLE_EXP
/* float32: each lane's float64 count and sum in two registers of 8 */
#define SK_VL 16
#define SK_LANE_STEP_V(EXP)                                                                \
    {                                                                                      \
        const __m512 mv = ms ? _mm512_loadu_ps(m + r) : _mm512_set1_ps(m[0]);              \
        __m512d c0 = _mm512_loadu_pd(count + r), c1 = _mm512_loadu_pd(count + r + 8);     \
        __m512d s0 = _mm512_loadu_pd(rest + r), s1 = _mm512_loadu_pd(rest + r + 8);       \
        __m512 dlv = _mm512_setzero_ps();                                                  \
        __m512i lab0 = _mm512_setzero_si512(), lab1 = lab0;                                \
        if (dl != NULL) {                                                                  \
            lab0 = _mm512_loadu_si512(labels + r);                                         \
            lab1 = _mm512_loadu_si512(labels + r + 8);                                     \
        }                                                                                  \
        for (Py_ssize_t k = 0; k < K; k++) {                                               \
            __m512 dk = _mm512_sub_ps(_mm512_loadu_ps(in + k * stride + r), mv);           \
            if (scaled) dk = _mm512_div_ps(dk, _mm512_set1_ps(Tf));                        \
            __m512 e = NM(EXP)(dk);                                                        \
            __mmask16 at = _mm512_cmp_ps_mask(dk, _mm512_setzero_ps(), _CMP_EQ_OQ);        \
            const __m512d e0 = _mm512_cvtps_pd(_mm512_castps512_ps256(e));                 \
            const __m512d e1 = _mm512_cvtps_pd(                                            \
                _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1)));         \
            NM(count_sum_v)(&c0, &s0, (__mmask8)at, e0);                                   \
            NM(count_sum_v)(&c1, &s1, (__mmask8)(at >> 8), e1);                            \
            if (dk_out != NULL) _mm512_storeu_ps(dk_out + k * stride + r, dk);             \
            if (e_out != NULL) _mm512_storeu_ps(e_out + k * stride + r, e);                \
            if (dl != NULL) {                                                              \
                const __m512i kv = _mm512_set1_epi64(k);                                   \
                const __mmask16 on = (__mmask16)(_mm512_cmpeq_epi64_mask(lab0, kv) |       \
                                                 _mm512_cmpeq_epi64_mask(lab1, kv) << 8);  \
                dlv = _mm512_mask_mov_ps(dlv, on, dk);                                     \
            }                                                                              \
        }                                                                                  \
        if (dl != NULL) _mm512_storeu_ps(dl + r, dlv);                                     \
        _mm512_storeu_pd(count + r, c0);                                                   \
        _mm512_storeu_pd(count + r + 8, c1);                                               \
        _mm512_storeu_pd(rest + r, s0);                                                    \
        _mm512_storeu_pd(rest + r + 8, s1);                                                \
    }
#endif
#if SK_TABLE_EXP
    for (Py_ssize_t r = 0; r + SK_VL <= n; r += SK_VL) {
        if (tame)
            SK_LANE_STEP_V(exp_tame_v)
        else
            SK_LANE_STEP_V(exp_nonpos_v)
        if (next != NULL) NM(prefetch_part)(next, r / SK_VL, n / SK_VL);
    }
    r0 = n - n % SK_VL;
#undef SK_LANE_STEP_V
#undef SK_VL
#endif
    for (Py_ssize_t k = 0; k < K; k++) {
        if (next != NULL && r0 == 0) NM(prefetch_part)(next, k, K);
        if (tame)
            for (Py_ssize_t r = r0; r < n; r++) SK_LANE_STEP(exp_tame)
        else
            for (Py_ssize_t r = r0; r < n; r++) SK_LANE_STEP(exp_nonpos)
    }
}
#undef SK_LANE_STEP

/* The step over a transposed tile d: DK and E are where d and e go (d, e_ or NULL). */
#define SK_EXP_LOOP(SCALED, DK, E)                                                         \
    NM(exp_rows)(d, TILE, K, m, 1, SCALED, Tf, DK, E, NULL, NULL, count, rest, n, tame, next);
/* the same, the d at each row's label to dl */
#define SK_EXP_LOOP_AT(SCALED)                                                             \
    NM(exp_rows)(d, TILE, K, m, 1, SCALED, Tf, NULL, d, labels, dl, count, rest, n, tame,  \
                 next);

/* One tile of short rows (x and out of rows_ below), transposed into d. */
static SK_ATTR int NM(short_tile)(const FLOAT *x, FLOAT *out, uint8_t *flags, Py_ssize_t n,
                                  Py_ssize_t K, int kind, double T, FLOAT *d, double *rest,
                                  double *count, const sk_next *next) {
    const FLOAT Tf = (FLOAT)T;
    FLOAT m[TILE], scale[TILE];
    NM(tr_in)(x, K, 1, d, n, K);
    const int tame = NM(tile_max)(d, m, n, K, T) && sk_tame;
    for (Py_ssize_t r = 0; r < n; r++) {
        rest[r] = 0.0;
        count[r] = 0.0;
    }
    /* softmax keeps e in d, log_softmax the shifted d, logsumexp nothing; T = 1
       costs no division */
    if (kind == SOFTMAX && T == 1.0)
        SK_EXP_LOOP(0, NULL, d)
    else if (kind == SOFTMAX)
        SK_EXP_LOOP(1, NULL, d)
    else if (kind == LOG_SOFTMAX && T == 1.0)
        SK_EXP_LOOP(0, d, NULL)
    else if (kind == LOG_SOFTMAX)
        SK_EXP_LOOP(1, d, NULL)
    else
        SK_EXP_LOOP(0, NULL, NULL)
    const int flagged = NM(flag_rows)(x, K, 1, m, rest, flags, n, K, T, tame);
    if (kind == SOFTMAX) {
        for (Py_ssize_t r = 0; r < n; r++) scale[r] = (FLOAT)(count[r] + rest[r]);
        /* e / total on the way out (quotient's steps where tame): one pass less over
           the tile (in cache, AVX-512, per million rows of 10: float64 11.9 -> 11.3
           ms; float32 8.0 -> 7.5 with its 8-row transposes, 8.5 -> 9.0 when they
           held 4 rows) */
        FLOAT inv[TILE];
        for (Py_ssize_t r = 0; r < n && tame && SK_FMA; r++) inv[r] = 1 / scale[r];
        NM(tr_out_by)(d, scale, tame && SK_FMA ? inv : NULL, out, n, K);
        return flagged;
    }
    log_norms(count, rest, rest, n);
    if (kind == LOGSUMEXP) {
        for (Py_ssize_t r = 0; r < n; r++) out[r] = (FLOAT)((double)m[r] + rest[r]);
        return flagged;
    }
    for (Py_ssize_t r = 0; r < n; r++) scale[r] = (FLOAT)rest[r];
    NM(tr_out_minus)(d, scale, out, n, K);
    return flagged;
}

/* Cross-entropy of a tile: the loss -sum_j y'_j log p_j and the gradient
   factor (p - y'), y' = (1 - eps) y + eps / K, for integer labels (y one-hot) or
   probability rows (probs, laid out as x). Entry (r, k) of x, probs and grad is
   at r * rs + k * ks: rows (rs = K, ks = 1) or the transposed (K, rows) logits of
   linear_cross_entropy (rs = 1, ks = the row count). */
static SK_ATTR int NM(ce_tile)(const FLOAT *x, Py_ssize_t rs, Py_ssize_t ks,
                               const int64_t *labels, const FLOAT *probs, const FLOAT *factor,
                               FLOAT factor1, const FLOAT *weights, double eps, double T,
                               FLOAT *loss, FLOAT *grad, uint8_t *flags, Py_ssize_t n,
                               Py_ssize_t K, FLOAT *d, FLOAT *e_, FLOAT *y, double *rest,
                               double *count, const sk_next *next) {
    const FLOAT Tf = (FLOAT)T;
    FLOAT m[TILE], ln[TILE], total[TILE], acc[TILE], f[TILE], dl[TILE];
    NM(tr_in)(x, rs, ks, d, n, K);
    const int tame = NM(tile_max)(d, m, n, K, T) && sk_tame;
    for (Py_ssize_t r = 0; r < n; r++) {
        rest[r] = 0.0;
        count[r] = 0.0;
    }
    /* the loss needs every log p (probability rows, smoothing) or only the label's,
       whose d the exponential's step keeps in dl: then e goes into d in place */
    const int keep_d = loss != NULL && (probs != NULL || eps > 0.0);
    const int at_label = loss != NULL && !keep_d;
    if (!keep_d) e_ = d;
    if (at_label)
        for (Py_ssize_t r = 0; r < n; r++) dl[r] = 0;
    if (keep_d && T == 1.0)
        SK_EXP_LOOP(0, d, e_)
    else if (keep_d)
        SK_EXP_LOOP(1, d, e_)
    else if (at_label && T == 1.0)
        SK_EXP_LOOP_AT(0)
    else if (at_label)
        SK_EXP_LOOP_AT(1)
    else if (T == 1.0)
        SK_EXP_LOOP(0, NULL, d)
    else
        SK_EXP_LOOP(1, NULL, d)
    const int flagged = NM(flag_rows)(x, rs, ks, m, rest, flags, n, K, T, tame);
    for (Py_ssize_t r = 0; r < n; r++) total[r] = (FLOAT)(count[r] + rest[r]);
    log_norms(count, rest, rest, n);
    for (Py_ssize_t r = 0; r < n; r++) ln[r] = (FLOAT)rest[r];
    for (Py_ssize_t r = 0; r < n; r++) f[r] = factor != NULL ? factor[r] : factor1;
    const FLOAT uniform = (FLOAT)(eps / (double)K);
    const FLOAT target = (FLOAT)((1.0 - eps) + eps / (double)K);
    if (probs != NULL) {
        /* y' = (1 - eps) y + eps / K as the reference forms it, then in the tile's
           layout; 0 log 0 = 0: a zero entry of y' costs nothing even against -inf */
        const FLOAT keep = (FLOAT)(1.0 - eps);
        NM(tr_in)(probs, rs, ks, y, n, K);
        if (eps > 0.0)
            for (Py_ssize_t k = 0; k < K; k++)
                for (Py_ssize_t r = 0; r < n; r++)
                    y[k * TILE + r] = keep * y[k * TILE + r] + uniform;
        if (loss != NULL) {
            for (Py_ssize_t r = 0; r < n; r++) acc[r] = 0;
            for (Py_ssize_t k = 0; k < K; k++)
                for (Py_ssize_t r = 0; r < n; r++) {
                    FLOAT yk = y[k * TILE + r];
                    acc[r] += yk * (yk == 0 ? (FLOAT)0 : d[k * TILE + r] - ln[r]);
                }
            for (Py_ssize_t r = 0; r < n; r++) loss[r] = -acc[r];
        }
        if (grad != NULL) {
            NM(gradient)(e_, total, y, 0, NULL, 0, f, n, K, tame);
            NM(tr_out)(e_, grad, rs, ks, n, K);
        }
    } else {
        if (loss != NULL) {
            /* term by term, the label's with weight target: a -inf log p at the
               label must not meet its own uniform share (-inf + inf) */
            if (eps > 0.0) {
                for (Py_ssize_t r = 0; r < n; r++) acc[r] = 0;
                for (Py_ssize_t k = 0; k < K; k++)
                    for (Py_ssize_t r = 0; r < n; r++)
                        acc[r] += (d[k * TILE + r] - ln[r]) * (labels[r] == k ? target : uniform);
                for (Py_ssize_t r = 0; r < n; r++) loss[r] = -acc[r];
            } else {
                for (Py_ssize_t r = 0; r < n; r++) loss[r] = -(dl[r] - ln[r]);
            }
        }
        if (grad != NULL) {
            NM(gradient)(e_, total, NULL, uniform, labels, target, f, n, K, tame);
            NM(tr_out)(e_, grad, rs, ks, n, K);
        }
    }
    if (loss != NULL && weights != NULL) /* w l, and 0 for rows without weight */
        for (Py_ssize_t r = 0; r < n; r++)
            loss[r] = weights[r] > 0 ? weights[r] * loss[r] : (FLOAT)0;
    return flagged;
}
#undef SK_EXP_LOOP

/* ---------------------------------------------------------------- long rows */

#define SK_LANES 256 /* a long row is worked on as chunks of at most this many lanes */
#define SK_PREFETCH_ROW 16384 /* bytes: rows up to this long prefetch the next row */

/* The next row's inputs (in0, and in1 where not NULL, of in_bytes each) and output
   (out_bytes, where out is not NULL) into the cache while this row computes, where
   rows are at most SK_PREFETCH_ROW bytes: taken last to first and one at a time,
   short rows do not let the hardware's prefetch run ahead (see lanes). */
SK_INLINE void NM(prefetch_row)(const void *in0, const void *in1, Py_ssize_t in_bytes,
                                void *out, Py_ssize_t out_bytes) {
    if (in_bytes > SK_PREFETCH_ROW) return;
    sk_next next = {{(const char *)in0, (const char *)in1},
                    {in_bytes, in1 != NULL ? in_bytes : 0},
                    (char *)out,
                    out != NULL ? out_bytes : 0};
    NM(prefetch_part)(&next, 0, 1);
}

/* The lanes for a row of K entries: the power of two at least K, at most SK_LANES (a
   row of 33 pays for 64 lanes' start and sums, not 256; with the lanes' maxima as a
   tree and the next row prefetched, softmax 100,000 x 100 float64 went from 3.9-4.4x
   to 2.3-2.4x a copy: docs/performance.md, sixth round). */
SK_INLINE Py_ssize_t NM(lanes)(Py_ssize_t K) {
    Py_ssize_t w = 64;
    while (w < K && w < SK_LANES) w *= 2;
    return w;
}

/* The lanes' sums added pairwise (a tree: the error grows with log2 W, not with W,
   as NumPy's pairwise sum in the reference); the total is in a[0]. */
SK_INLINE void NM(lanes_pairwise)(double *a, double *b, Py_ssize_t W) {
    for (Py_ssize_t w = W / 2; w >= 1; w /= 2)
        for (Py_ssize_t r = 0; r < w; r++) {
            a[r] += a[r + w];
            if (b != NULL) b[r] += b[r + w];
        }
}

/* The first two passes over one row of more than SHORT_K entries, contiguous, which
   find it in the core's cache after the first: the maximum m; then d = (x - m) / T
   with e = exp(d), the count c of maxima and the rest summed per lane in doubles
   (e stored to e_out where it is not NULL). The row goes by in chunks of W =
   lanes(K) entries, lane r taking entries r, r + W, ...: every loop runs across
   independent lanes and vectorises (the lanes' maxima too, as a tree: one by one
   they were a chain of 256 dependent maxima, a third of a short row's time), and
   the lanes are added in a fixed order (the same input gives the same bits).
   Returns 1 for a row left to the reference (the cases of short_tile). */
SK_INLINE int NM(long_sums)(const FLOAT *x, Py_ssize_t K, double T, FLOAT *e_out,
                            FLOAT *m_out, double *c_out, double *rest_out) {
    const FLOAT Tf = (FLOAT)T;
    const Py_ssize_t W = NM(lanes)(K);
    FLOAT lane_max[SK_LANES];
    double count[SK_LANES], rest[SK_LANES];
    for (Py_ssize_t r = 0; r < W; r++) {
        lane_max[r] = -INFINITY;
        count[r] = 0.0;
        rest[r] = 0.0;
    }
    for (Py_ssize_t a = 0; a < K; a += W) {
        const FLOAT *xa = x + a;
        Py_ssize_t len = K - a < W ? K - a : W;
        for (Py_ssize_t r = 0; r < len; r++) lane_max[r] = xa[r] > lane_max[r] ? xa[r] : lane_max[r];
    }
    /* no lane holds a NaN (a NaN entry never compares greater), so the order is free */
    for (Py_ssize_t w = W / 2; w >= 1; w /= 2)
        for (Py_ssize_t r = 0; r < w; r++)
            lane_max[r] = lane_max[r + w] > lane_max[r] ? lane_max[r + w] : lane_max[r];
    const FLOAT m = lane_max[0];
    if (!isfinite((double)m) || (T > 1.0 && NM(rest_overflowed)(x, K, 1, m))) return 1;
#define SK_LONG_LOOP(SCALED, E)                                                            \
    for (Py_ssize_t a = 0; a < K; a += W)                                                  \
        NM(exp_rows)(x + a, 0, 1, &m, 0, SCALED, Tf, NULL, E, NULL, NULL, count, rest,    \
                     K - a < W ? K - a : W, 0, NULL);
    if (e_out != NULL && T == 1.0)
        SK_LONG_LOOP(0, e_out + a)
    else if (e_out != NULL)
        SK_LONG_LOOP(1, e_out + a)
    else if (T == 1.0)
        SK_LONG_LOOP(0, NULL)
    else
        SK_LONG_LOOP(1, NULL)
#undef SK_LONG_LOOP
    NM(lanes_pairwise)(count, rest, W);
    *m_out = m;
    *c_out = count[0];
    *rest_out = rest[0];
    return isnan(rest[0]);
}

/* softmax, log_softmax or logsumexp of one long row: long_sums, then the output (e /
   (c + rest), or d - log-normaliser, recomputing d). Returns 1 for a row left to
   the reference. */
static SK_ATTR int NM(long_row)(const FLOAT *x, FLOAT *out, Py_ssize_t K, int kind, double T) {
    const FLOAT Tf = (FLOAT)T;
    FLOAT m;
    double c, rs;
    if (NM(long_sums)(x, K, T, kind == SOFTMAX ? out : NULL, &m, &c, &rs)) return 1;
    if (kind == SOFTMAX) {
        const FLOAT total = (FLOAT)(c + rs);
        for (Py_ssize_t i = 0; i < K; i++) out[i] = out[i] / total;
        return 0;
    }
    double ln;
    log_norms(&c, &rs, &ln, 1);
    if (kind == LOGSUMEXP) {
        out[0] = (FLOAT)((double)m + ln);
        return 0;
    }
    const FLOAT lnf = (FLOAT)ln;
    if (T == 1.0)
        for (Py_ssize_t i = 0; i < K; i++) out[i] = (x[i] - m) - lnf;
    else
        for (Py_ssize_t i = 0; i < K; i++) out[i] = (x[i] - m) / Tf - lnf;
    return 0;
}

/* The cross-entropy of one long row (as ce_tile's, for an integer label or a
   probability row y): long_sums, e stored into grad; then the loss -sum_j y'_j log
   p_j, log p_j = d_j - log-normaliser (d recomputed from x; the label's alone when
   y is one-hot without smoothing), each term rounded in the row's dtype and the
   terms summed per lane in doubles, the lanes pairwise; then the gradient (p - y')
   f + 0 in place, p = e / total. Returns 1 for a row left to the reference. */
static SK_ATTR int NM(long_ce_row)(const FLOAT *x, int64_t label, const FLOAT *y, FLOAT f,
                                   double eps, double T, FLOAT *loss, FLOAT *grad,
                                   Py_ssize_t K) {
    const FLOAT Tf = (FLOAT)T;
    FLOAT m;
    double c, rs;
    if (NM(long_sums)(x, K, T, grad, &m, &c, &rs)) return 1;
    const FLOAT total = (FLOAT)(c + rs);
    double ln_d;
    log_norms(&c, &rs, &ln_d, 1);
    const FLOAT ln = (FLOAT)ln_d;
    const FLOAT uniform = (FLOAT)(eps / (double)K);
    const FLOAT target = (FLOAT)((1.0 - eps) + eps / (double)K);
    const FLOAT keep = (FLOAT)(1.0 - eps);
    const int smooth = eps > 0.0;
    if (loss != NULL && y == NULL && !smooth) {
        FLOAT dl = x[label] - m;
        if (T != 1.0) dl = dl / Tf;
        *loss = -(dl - ln);
    } else if (loss != NULL) {
        double acc[SK_LANES];
        const Py_ssize_t W = NM(lanes)(K);
        for (Py_ssize_t r = 0; r < W; r++) acc[r] = 0.0;
        /* one loop per case (the compiler vectorises each); a term 0 where y' is 0
           (0 log 0 = 0, even against a -inf log p); the label's term by its own
           weight, not the uniform share plus the rest (-inf + inf) */
#define SK_TERMS(TERM)                                                                     \
    for (Py_ssize_t a = 0; a < K; a += W) {                                                \
        Py_ssize_t len = K - a < W ? K - a : W;                                            \
        for (Py_ssize_t r = 0; r < len; r++) {                                             \
            Py_ssize_t j = a + r;                                                          \
            FLOAT d = x[j] - m;                                                            \
            if (T != 1.0) d = d / Tf;                                                      \
            acc[r] += (double)(TERM);                                                      \
        }                                                                                  \
    }
#define SK_SOFT_TERM(YJ) ((YJ) * ((YJ) == 0 ? (FLOAT)0 : d - ln))
        if (y != NULL && smooth)
            SK_TERMS(SK_SOFT_TERM(keep * y[j] + uniform))
        else if (y != NULL)
            SK_TERMS(SK_SOFT_TERM(y[j]))
        else
            SK_TERMS((d - ln) * (j == label ? target : uniform))
#undef SK_SOFT_TERM
#undef SK_TERMS
        NM(lanes_pairwise)(acc, NULL, W);
        *loss = (FLOAT)-acc[0];
    }
    if (grad == NULL) return 0;
    if (y != NULL && smooth)
        for (Py_ssize_t i = 0; i < K; i++)
            grad[i] = (grad[i] / total - (keep * y[i] + uniform)) * f + (FLOAT)0;
    else if (y != NULL)
        for (Py_ssize_t i = 0; i < K; i++) grad[i] = (grad[i] / total - y[i]) * f + (FLOAT)0;
    else {
        const FLOAT at = grad[label] / total;
        for (Py_ssize_t i = 0; i < K; i++) grad[i] = (grad[i] / total - uniform) * f + (FLOAT)0;
        grad[label] = (at - target) * f + (FLOAT)0;
    }
    return 0;
}
#undef SK_LANES

/* ---------------------------------------------------------------- whole calls */

static SK_ATTR int NM(ce)(const FLOAT *x, const int64_t *labels, const FLOAT *probs,
                          const FLOAT *factor, FLOAT factor1, const FLOAT *weights, double eps,
                          double T, FLOAT *loss, FLOAT *grad, uint8_t *flags, Py_ssize_t n,
                          Py_ssize_t K, int transposed) {
    const Py_ssize_t rs = transposed ? 1 : K, ks = transposed ? n : 1;
    if (K > SHORT_K) { /* rows laid out along (the caller refuses transposed ones) */
        int flagged = 0;
        const Py_ssize_t row = K * (Py_ssize_t)sizeof(FLOAT);
        for (Py_ssize_t i = n - 1; i >= 0; i--) { /* last to first: see rows */
            if (i > 0)
                NM(prefetch_row)(x + (i - 1) * K, probs ? probs + (i - 1) * K : NULL, row,
                                 grad ? grad + (i - 1) * K : NULL, row);
            FLOAT l = 0;
            int bad = NM(long_ce_row)(x + i * K, labels ? labels[i] : 0,
                                      probs ? probs + i * K : NULL, factor ? factor[i] : factor1,
                                      eps, T, loss ? &l : NULL, grad ? grad + i * K : NULL, K);
            flags[i] = (uint8_t)bad;
            flagged += bad;
            if (loss != NULL) /* w l, and 0 for rows without weight */
                loss[i] = weights == NULL ? l : weights[i] > 0 ? weights[i] * l : (FLOAT)0;
        }
        return flagged;
    }
    FLOAT *d;
    double *work;
    if (tile_buffers((void **)&d, sizeof(FLOAT) * 3 * TILE * SHORT_K, &work) < 0) return -1;
    int flagged = 0;
    for (Py_ssize_t t = (n + TILE - 1) / TILE - 1; t >= 0; t--) { /* last to first: see rows */
        Py_ssize_t a = t * TILE, b = a + TILE < n ? a + TILE : n;
        Py_ssize_t pa = a >= TILE ? a - TILE : 0;
        /* the next tile [pa, a), rows laid out along (the transposed logits come from a
           product just computed, in cache) */
        Py_ssize_t bytes = transposed ? 0 : (a - pa) * K * (Py_ssize_t)sizeof(FLOAT);
        /* the second input: the probability rows, or the labels (as they are read
           last to first, the hardware's prefetch does not foresee them) */
        const char *in1 = probs ? (const char *)(probs + pa * rs)
                                : labels ? (const char *)(labels + pa) : NULL;
        Py_ssize_t in1_bytes = probs    ? bytes
                               : labels ? (a - pa) * (Py_ssize_t)sizeof(int64_t)
                                        : 0;
        sk_next next = {{(const char *)(x + pa * rs), in1},
                        {bytes, in1_bytes},
                        grad ? (char *)(grad + pa * rs) : NULL,
                        grad ? bytes : 0};
        flagged += NM(ce_tile)(x + a * rs, rs, ks, labels ? labels + a : NULL,
                               probs ? probs + a * rs : NULL, factor ? factor + a : NULL,
                               factor1, weights ? weights + a : NULL, eps, T,
                               loss ? loss + a : NULL, grad ? grad + a * rs : NULL, flags + a,
                               b - a, K, d, d + TILE * SHORT_K, d + 2 * TILE * SHORT_K, work,
                               work + TILE, &next);
    }
    free(d);
    free(work);
    return flagged;
}

static SK_ATTR int NM(rows)(const FLOAT *x, FLOAT *out, uint8_t *flags, Py_ssize_t n,
                            Py_ssize_t K, int kind, double T) {
    if (K > SHORT_K) {
        int flagged = 0;
        const Py_ssize_t out_k = kind == LOGSUMEXP ? 1 : K;
        for (Py_ssize_t i = n - 1; i >= 0; i--) { /* last to first: see below */
            if (i > 0)
                NM(prefetch_row)(x + (i - 1) * K, NULL, K * (Py_ssize_t)sizeof(FLOAT),
                                 out + (i - 1) * out_k, out_k * (Py_ssize_t)sizeof(FLOAT));
            flags[i] = (uint8_t)NM(long_row)(x + i * K, out + i * out_k, K, kind, T);
            flagged += flags[i];
        }
        return flagged;
    }
    FLOAT *d;
    double *work;
    if (tile_buffers((void **)&d, sizeof(FLOAT) * TILE * SHORT_K, &work) < 0) return -1;
    int flagged = 0;
    /* The tiles from the last to the first (and the long rows above likewise): a fresh
       output's 2 MB pages are zeroed by the system at their first touch, upwards from
       the page's start when that touch is in its upper half and downwards when it is
       in its lower half, and upwards costs less than half (Linux's process_huge_page;
       measured on one thread, 1,000,000 x 10 float64 log_softmax into a fresh array:
       19.4 ms forwards, 14.9 backwards; into an existing one 13.4 and 11.9).
       Within a tile the stores go forwards. The caller's blocks meet at pages. */
    for (Py_ssize_t t = (n + TILE - 1) / TILE - 1; t >= 0; t--) {
        Py_ssize_t a = t * TILE, b = a + TILE < n ? a + TILE : n;
        Py_ssize_t pa = a >= TILE ? a - TILE : 0, out_k = kind == LOGSUMEXP ? 1 : K;
        FLOAT *o = out + a * out_k;
        sk_next next = {{(const char *)(x + pa * K), NULL},
                        {(a - pa) * K * (Py_ssize_t)sizeof(FLOAT), 0},
                        (char *)(out + pa * out_k),
                        (a - pa) * out_k * (Py_ssize_t)sizeof(FLOAT)};
        flagged += NM(short_tile)(x + a * K, o, flags + a, b - a, K, kind, T, d, work,
                                  work + TILE, &next);
    }
    free(d);
    free(work);
    return flagged;
}

#undef SK_INLINE
#undef SK_QUOT
#undef SK_DIV
#undef SK_BY_QUOTIENT
#undef SK_TAME
#undef SK_PREFETCH_ROW
#undef NM
