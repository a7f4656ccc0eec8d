/*
 * softmaxkit._fast._core: the row-wise softmax family in compiled loops.
 *
 * One call works on a block of rows of a C-contiguous (rows, K) float32 or
 * float64 matrix, with the GIL released (the caller shares blocks among
 * threads). The arithmetic is the reference's (softmaxkit/activations.py):
 *
 *   m = max_k x_k,  d_k = (x_k - m) / T,  e_k = exp(d_k),
 *   c = #{k : d_k == 0},  rest = sum of the other e_k,
 *   softmax = e / (c + rest),  log_softmax = d - (log c + log1p(rest / c)),
 *   logsumexp = m + log c + log1p(rest / c)   (T = 1).
 *
 * Rows whose maximum is not finite (NaN, +inf, all -inf), rows with a NaN, and
 * (T > 1) rows where x - m overflows are not computed: their flag is set and
 * the caller hands them to the reference, so every edge case is the
 * reference's. The exponential is a branch-free Cody-Waite reduction and a
 * Taylor polynomial that the compiler vectorises (within 1 ulp of the
 * correctly rounded result in float64 outside the subnormal range, 2 ulp in
 * float32), scaled by 2^n in two steps so that subnormal results are rounded
 * once. Short rows are worked on transposed, a block of rows at a time, so
 * that the loops run across rows (independent) rather than along a row of 10.
 * Sums along long rows use eight lanes of partial sums, which the compiler
 * vectorises without reassociating anything it was not told to.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
/* One build runs on every x86-64 CPU: the loops are compiled for the baseline,
   for AVX2 and for AVX-512, and the loader picks one by the CPU's features (an ifunc). */
#define SK_CLONES __attribute__((target_clones("default", "avx2", "avx512f")))
#else
#define SK_CLONES
#endif

#define SHORT_K 32   /* rows up to this long are worked on transposed */
#define TILE 256     /* rows per transposed tile */
#define LANES 8

enum { SOFTMAX = 0, LOG_SOFTMAX = 1, LOGSUMEXP = 2 };

/* ---------------------------------------------------------------- exponentials */

/* 2^n for an integer-valued n in [-550, 0], as bits: the magic constant puts n + bias
   in the low bits of t's mantissa, and shifting them to the exponent field drops
   the rest (only shifts and adds of 64-bit lanes: AVX2 has them, not 64-bit
   arithmetic shifts or conversions). */
static inline double pow2_f64(double n) {
    double t = n + (0x1.8p52 + 1023.0);
    uint64_t bits;
    memcpy(&bits, &t, 8);
    bits <<= 52;
    double s;
    memcpy(&s, &bits, 8);
    return s;
}

/* exp(d) for d <= 0 (or -inf): 0 below the subnormal range. */
static inline double exp_nonpos_f64(double d) {
    const double magic = 0x1.8p52, log2e = 0x1.71547652b82fep0;
    const double ln2_hi = 0x1.62e42fefa3800p-1, ln2_lo = 0x1.ef35793c76730p-45;
    d = d < -746.0 ? -746.0 : d; /* exp(-746) rounds to 0; so does -inf */
    double n = (d * log2e + magic) - magic; /* the nearest integer */
    double r = (d - n * ln2_hi) - n * ln2_lo; /* |r| <= ln2 / 2 */
    /* Taylor to degree 13: the remainder is < 4e-18 on |r| <= 0.347 */
    double p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    /* p * 2^n in two normal steps, so that a subnormal result is rounded once */
    double n1 = (n * 0.5 + magic) - magic;
    return (p * pow2_f64(n1)) * pow2_f64(n - n1);
}

static inline float pow2_f32(float n) {
    float t = n + (0x1.8p23f + 127.0f);
    uint32_t bits;
    memcpy(&bits, &t, 4);
    bits <<= 23;
    float s;
    memcpy(&s, &bits, 4);
    return s;
}

static inline float exp_nonpos_f32(float d) {
    const float magic = 0x1.8p23f, log2e = 0x1.715476p0f;
    const float ln2_hi = 0x1.62e4p-1f, ln2_lo = 0x1.7f7d1cp-20f;
    d = d < -104.0f ? -104.0f : d; /* exp(-104) rounds to 0 in float32 */
    float n = (d * log2e + magic) - magic;
    float r = (d - n * ln2_hi) - n * ln2_lo;
    /* Taylor to degree 7: the remainder is < 6e-9 on |r| <= 0.347 */
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    float n1 = (n * 0.5f + magic) - magic;
    return (p * pow2_f32(n1)) * pow2_f32(n - n1);
}

/* log1p(q) for 0 <= q < 2^52, branch-free so that a loop over rows vectorises: u =
   1 + q rounded, its exact rounding error q - (u - 1) divided by u as a correction,
   and log(u) as fdlibm's e_log.c computes it (u = 2^k m, m in [sqrt(1/2), sqrt(2)),
   s = f / (2 + f), a degree-14 polynomial in s; within 1 ulp). The exponent k comes
   from logical shifts and a magic-number conversion (AVX2 has no 64-bit arithmetic
   shift or int64-to-double conversion). */
static inline double log1p_nonneg(double q) {
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    const double Lg1 = 6.666666666666735130e-01, Lg2 = 3.999999999940941908e-01;
    const double Lg3 = 2.857142874366239149e-01, Lg4 = 2.222219843214978396e-01;
    const double Lg5 = 1.818357216161805012e-01, Lg6 = 1.531383769920937332e-01;
    const double Lg7 = 1.479819860511658591e-01;
    double u = 1.0 + q;
    double c = (q - (u - 1.0)) / u;
    uint64_t bits;
    memcpy(&bits, &u, 8);
    uint64_t k = (bits - 0x3fe6a09e667f3bcdULL) >> 52; /* u >= 1 > sqrt(1/2): no sign */
    uint64_t mbits = bits - (k << 52);
    double m, kd;
    memcpy(&m, &mbits, 8);
    uint64_t kbits = k | 0x4330000000000000ULL;
    memcpy(&kd, &kbits, 8);
    kd -= 0x1p52;
    double f = m - 1.0;
    double s = f / (2.0 + f), z = s * s, w = z * z;
    double R = z * (Lg1 + w * (Lg3 + w * (Lg5 + w * Lg7))) + w * (Lg2 + w * (Lg4 + w * Lg6));
    double hfsq = 0.5 * f * f;
    double log_u = kd * ln2_hi - ((hfsq - (s * (hfsq + R) + kd * ln2_lo)) - f);
    return log_u + c;
}

/* ln[r] = log(count + rest) as the reference splits it, log(c) + log1p(rest / c): the
   log1p vectorised over the tile, log(c) only for rows with tied maxima (c > 1). */
static inline void log_norms(const double *count, const double *rest, double *ln,
                             Py_ssize_t n) {
    for (Py_ssize_t r = 0; r < n; r++) ln[r] = log1p_nonneg(rest[r] / count[r]);
    for (Py_ssize_t r = 0; r < n; r++)
        if (count[r] != 1.0) ln[r] += log(count[r]);
}

/* ---------------------------------------------------------------- the kernels */

/* d = SHIFTED, e = exp(d) over a tile; count the maxima (d == 0) and sum the rest. */
#define EXP_LOOP(FLOAT, EXP, SHIFTED)                                                         \
    for (Py_ssize_t k = 0; k < K; k++)                                                        \
        for (Py_ssize_t r = 0; r < n; r++) {                                                  \
            FLOAT dk = SHIFTED;                                                               \
            FLOAT e = EXP(dk);                                                                \
            double top = dk == 0 ? 1.0 : 0.0;                                                 \
            count[r] += top;                                                                  \
            rest[r] += (double)e - top;                                                       \
            d[k * TILE + r] = dk;                                                             \
            e_[k * TILE + r] = e;                                                             \
        }

/* One template for both precisions: FLOAT is the storage type, the sums are
   accumulated in double (float32 rows gain accuracy, lose nothing). */
#define DEFINE_KERNELS(SUFFIX, FLOAT, EXP)                                                    \
                                                                                              \
    /* Short rows: a tile of rows copied transposed, every loop across the rows. */           \
    SK_CLONES static int short_tile_##SUFFIX(const FLOAT *x, FLOAT *out, uint8_t *flags,      \
                                             Py_ssize_t n, Py_ssize_t K, int kind, double T,  \
                                             FLOAT *d, FLOAT *e_, double *m_, double *rest,   \
                                             double *count) {                                 \
        const FLOAT Tf = (FLOAT)T;                                                            \
        FLOAT m[TILE];                                                                        \
        for (Py_ssize_t k = 0; k < K; k++)                                                    \
            for (Py_ssize_t r = 0; r < n; r++) d[k * TILE + r] = x[r * K + k];               \
        for (Py_ssize_t r = 0; r < n; r++) m[r] = d[r];                                       \
        for (Py_ssize_t k = 1; k < K; k++)                                                    \
            for (Py_ssize_t r = 0; r < n; r++)                                                \
                m[r] = d[k * TILE + r] > m[r] ? d[k * TILE + r] : m[r];                       \
        for (Py_ssize_t r = 0; r < n; r++) { rest[r] = 0.0; count[r] = 0.0; }                 \
        /* e goes to e_ (softmax's result), d stays (log_softmax's); two copies of the  \
           loop so that T = 1 costs no division */                                            \
        if (T == 1.0)                                                                         \
            EXP_LOOP(FLOAT, EXP, (d[k * TILE + r] - m[r]))                                    \
        else                                                                                  \
            EXP_LOOP(FLOAT, EXP, (d[k * TILE + r] - m[r]) / Tf)                               \
        int flagged = 0;                                                                      \
        for (Py_ssize_t r = 0; r < n; r++) {                                                  \
            int bad = !isfinite((double)m[r]) || isnan(rest[r]) ||                            \
                      (T > 1.0 && rest_overflowed_##SUFFIX(x + r * K, K, 1, m[r]));           \
            flags[r] = (uint8_t)bad;                                                          \
            flagged += bad;                                                                   \
            m_[r] = m[r];                                                                     \
        }                                                                                     \
        if (kind == SOFTMAX)                                                                  \
            for (Py_ssize_t r = 0; r < n; r++) rest[r] = count[r] + rest[r];                  \
        else                                                                                  \
            log_norms(count, rest, rest, n);                                                  \
        if (kind == LOGSUMEXP) {                                                              \
            for (Py_ssize_t r = 0; r < n; r++) out[r] = (FLOAT)(m_[r] + rest[r]);             \
            return flagged;                                                                   \
        }                                                                                     \
        FLOAT scale[TILE];                                                                    \
        for (Py_ssize_t r = 0; r < n; r++) scale[r] = (FLOAT)rest[r];                         \
        if (kind == SOFTMAX)                                                                  \
            for (Py_ssize_t k = 0; k < K; k++)                                                \
                for (Py_ssize_t r = 0; r < n; r++) d[k * TILE + r] = e_[k * TILE + r] / scale[r]; \
        else                                                                                  \
            for (Py_ssize_t k = 0; k < K; k++)                                                \
                for (Py_ssize_t r = 0; r < n; r++) d[k * TILE + r] -= scale[r];               \
        for (Py_ssize_t r = 0; r < n; r++)                                                    \
            for (Py_ssize_t k = 0; k < K; k++) out[r * K + k] = d[k * TILE + r];              \
        return flagged;                                                                       \
    }                                                                                         \
                                                                                              \
    /* Cross-entropy of a tile with integer labels: the loss -sum_j y'_j log p_j and  \
       the gradient factor (p - y'), y' = (1 - eps) onehot + eps / K. */                    \
    SK_CLONES static int ce_tile_##SUFFIX(const FLOAT *x, Py_ssize_t rs, Py_ssize_t ks,    \
                                          const int64_t *labels, const FLOAT *factor,       \
                                          const FLOAT *weights, double eps, double T,       \
                                          FLOAT *loss, FLOAT *grad,                         \
                                          uint8_t *flags, Py_ssize_t n, Py_ssize_t K,       \
                                          FLOAT *d, FLOAT *e_, double *rest,                \
                                          double *count) {                                  \
        /* entry (r, k) of x and grad is at r * rs + k * ks: rows (rs = K, ks = 1) or     \
           the transposed (K, rows) logits of linear_cross_entropy (rs = 1, ks = n) */     \
        const FLOAT Tf = (FLOAT)T;                                                          \
        FLOAT m[TILE], ln[TILE], total[TILE], acc[TILE];                                    \
        for (Py_ssize_t k = 0; k < K; k++)                                                  \
            for (Py_ssize_t r = 0; r < n; r++) d[k * TILE + r] = x[r * rs + k * ks];       \
        for (Py_ssize_t r = 0; r < n; r++) m[r] = d[r];                                     \
        for (Py_ssize_t k = 1; k < K; k++)                                                  \
            for (Py_ssize_t r = 0; r < n; r++)                                              \
                m[r] = d[k * TILE + r] > m[r] ? d[k * TILE + r] : m[r];                     \
        for (Py_ssize_t r = 0; r < n; r++) { rest[r] = 0.0; count[r] = 0.0; }               \
        if (T == 1.0)                                                                       \
            EXP_LOOP(FLOAT, EXP, (d[k * TILE + r] - m[r]))                                  \
        else                                                                                \
            EXP_LOOP(FLOAT, EXP, (d[k * TILE + r] - m[r]) / Tf)                             \
        int flagged = 0;                                                                    \
        for (Py_ssize_t r = 0; r < n; r++) {                                                \
            int bad = !isfinite((double)m[r]) || isnan(rest[r]) ||                          \
                      (T > 1.0 && rest_overflowed_##SUFFIX(x + r * rs, K, ks, m[r]));       \
            flags[r] = (uint8_t)bad;                                                        \
            flagged += bad;                                                                 \
            total[r] = (FLOAT)(count[r] + rest[r]);                                         \
        }                                                                                   \
        log_norms(count, rest, rest, n);                                                    \
        for (Py_ssize_t r = 0; r < n; r++) ln[r] = (FLOAT)rest[r];                          \
        const FLOAT uniform = (FLOAT)(eps / (double)K);                                     \
        const FLOAT target = (FLOAT)((1.0 - eps) + eps / (double)K);                        \
        if (loss != NULL) {                                                                 \
            for (Py_ssize_t r = 0; r < n; r++) acc[r] = 0;                                  \
            /* term by term, the label's with weight target: a -inf log p at the label  \
               must not meet its own uniform share (-inf + inf) */                          \
            if (eps > 0.0)                                                                  \
                for (Py_ssize_t k = 0; k < K; k++)                                          \
                    for (Py_ssize_t r = 0; r < n; r++)                                      \
                        acc[r] += (d[k * TILE + r] - ln[r]) *                               \
                                  (labels[r] == k ? target : uniform);                      \
            for (Py_ssize_t r = 0; r < n; r++)                                              \
                loss[r] = eps > 0.0 ? -acc[r] : -(d[labels[r] * TILE + r] - ln[r]);         \
            if (weights != NULL) /* w l, and 0 for rows without weight */                   \
                for (Py_ssize_t r = 0; r < n; r++)                                          \
                    loss[r] = weights[r] > 0 ? weights[r] * loss[r] : (FLOAT)0;             \
        }                                                                                   \
        if (grad != NULL) {                                                                 \
            for (Py_ssize_t r = 0; r < n; r++) acc[r] = e_[labels[r] * TILE + r] / total[r]; \
            /* + 0 turns the -0 of a zero factor into the +0 the reference writes */      \
            for (Py_ssize_t k = 0; k < K; k++)                                              \
                for (Py_ssize_t r = 0; r < n; r++)                                          \
                    e_[k * TILE + r] =                                                      \
                        (e_[k * TILE + r] / total[r] - uniform) * factor[r] + (FLOAT)0;     \
            for (Py_ssize_t r = 0; r < n; r++)                                              \
                e_[labels[r] * TILE + r] = (acc[r] - target) * factor[r] + (FLOAT)0;        \
            for (Py_ssize_t k = 0; k < K; k++)                                              \
                for (Py_ssize_t r = 0; r < n; r++) grad[r * rs + k * ks] = e_[k * TILE + r];\
        }                                                                                   \
        return flagged;                                                                     \
    }                                                                                       \
                                                                                            \
    static int ce_##SUFFIX(const FLOAT *x, const int64_t *labels, const FLOAT *factor,      \
                           const FLOAT *weights, double eps, double T, FLOAT *loss,         \
                           FLOAT *grad, uint8_t *flags,                                     \
                           Py_ssize_t n, Py_ssize_t K, int transposed) {                    \
        const Py_ssize_t rs = transposed ? 1 : K, ks = transposed ? n : 1;                  \
        FLOAT *d = malloc(sizeof(FLOAT) * 2 * TILE * SHORT_K);                              \
        double *work = malloc(sizeof(double) * 2 * TILE);                                   \
        if (d == NULL || work == NULL) { free(d); free(work); return -1; }                  \
        int flagged = 0;                                                                    \
        for (Py_ssize_t a = 0; a < n; a += TILE) {                                          \
            Py_ssize_t b = a + TILE < n ? a + TILE : n;                                     \
            flagged += ce_tile_##SUFFIX(x + a * rs, rs, ks, labels + a, factor + a,         \
                                        weights ? weights + a : NULL, eps, T,               \
                                        loss ? loss + a : NULL, grad ? grad + a * rs : NULL,\
                                        flags + a, b - a, K, d, d + TILE * SHORT_K, work,   \
                                        work + TILE);                                       \
        }                                                                                   \
        free(d);                                                                            \
        free(work);                                                                         \
        return flagged;                                                                     \
    }                                                                                       \
                                                                                            \
    static int rows_##SUFFIX(const FLOAT *x, FLOAT *out, uint8_t *flags, Py_ssize_t n,        \
                             Py_ssize_t K, int kind, double T) {                              \
        FLOAT *d = malloc(sizeof(FLOAT) * 2 * TILE * SHORT_K);                                \
        double *work = malloc(sizeof(double) * 3 * TILE);                                     \
        if (d == NULL || work == NULL) { free(d); free(work); return -1; }                    \
        int flagged = 0;                                                                      \
        for (Py_ssize_t a = 0; a < n; a += TILE) {                                            \
            Py_ssize_t b = a + TILE < n ? a + TILE : n;                                       \
            FLOAT *o = out + (kind == LOGSUMEXP ? a : a * K);                                 \
            flagged += short_tile_##SUFFIX(x + a * K, o, flags + a, b - a, K, kind, T, d,     \
                                           d + TILE * SHORT_K, work, work + TILE,             \
                                           work + 2 * TILE);                                  \
        }                                                                                     \
        free(d);                                                                              \
        free(work);                                                                           \
        return flagged;                                                                       \
    }

/* T > 1: does some x - m overflow to -inf while (x - m) / T would not?  Then the
   reference computes x / T - m / T; the row is left to it. */
static int rest_overflowed_f64(const double *row, Py_ssize_t K, Py_ssize_t stride, double m) {
    for (Py_ssize_t k = 0; k < K; k++)
        if (isinf(row[k * stride] - m) && isfinite(row[k * stride])) return 1;
    return 0;
}
static int rest_overflowed_f32(const float *row, Py_ssize_t K, Py_ssize_t stride, float m) {
    for (Py_ssize_t k = 0; k < K; k++)
        if (isinf(row[k * stride] - m) && isfinite(row[k * stride])) return 1;
    return 0;
}

DEFINE_KERNELS(f64, double, exp_nonpos_f64)
DEFINE_KERNELS(f32, float, exp_nonpos_f32)

/* ---------------------------------------------------------------- Python */

static int get_matrix(PyObject *obj, Py_buffer *view, int writable, const char *what) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) return -1;
    if (view->ndim != 2 && view->ndim != 1) {
        PyErr_Format(PyExc_ValueError, "expected a 1-d or 2-d %s, got %d dimensions", what,
                     view->ndim);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(rows_doc,
             "rows(kind, x, out, flags, temperature) -> int\n\n"
             "kind 0 softmax, 1 log_softmax, 2 logsumexp of each row of the C-contiguous\n"
             "(n, K) float32/float64 buffer x into out ((n, K), or (n,) for logsumexp);\n"
             "flags (n,) uint8 is set to 1 for the rows left to the reference. Returns\n"
             "how many rows were flagged.");

static PyObject *py_rows(PyObject *self, PyObject *args) {
    int kind;
    PyObject *xo, *oo, *fo;
    double T;
    if (!PyArg_ParseTuple(args, "iOOOd", &kind, &xo, &oo, &fo, &T)) return NULL;
    if (kind < SOFTMAX || kind > LOGSUMEXP || !(T > 0.0) || !isfinite(T) ||
        (kind == LOGSUMEXP && T != 1.0)) {
        PyErr_SetString(PyExc_ValueError, "expected kind 0, 1 or 2 and a finite T > 0");
        return NULL;
    }
    Py_buffer x, o, f;
    if (get_matrix(xo, &x, 0, "input") < 0) return NULL;
    if (get_matrix(oo, &o, 1, "output") < 0) { PyBuffer_Release(&x); return NULL; }
    if (PyObject_GetBuffer(fo, &f, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&x);
        PyBuffer_Release(&o);
        return NULL;
    }
    Py_ssize_t n = x.ndim == 2 ? x.shape[0] : 1, K = x.shape[x.ndim - 1];
    Py_ssize_t want = kind == LOGSUMEXP ? n : n * K;
    int is64 = x.format && strcmp(x.format, "d") == 0;
    int is32 = x.format && strcmp(x.format, "f") == 0;
    int result = -2;
    if ((is64 || is32) && o.format && strcmp(o.format, x.format) == 0 &&
        o.len / o.itemsize == want && f.len == n && K > 0) {
        Py_BEGIN_ALLOW_THREADS
        if (is64)
            result = rows_f64(x.buf, o.buf, f.buf, n, K, kind, T);
        else
            result = rows_f32(x.buf, o.buf, f.buf, n, K, kind, T);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&x);
    PyBuffer_Release(&o);
    PyBuffer_Release(&f);
    if (result == -1) return PyErr_NoMemory();
    if (result == -2) {
        PyErr_SetString(PyExc_ValueError,
                        "expected float32 or float64 x and out of matching dtype and size, "
                        "K > 0, and one flag per row");
        return NULL;
    }
    return PyLong_FromLong(result);
}


PyDoc_STRVAR(ce_doc,
             "ce(x, labels, factor, weights, eps, temperature, loss, grad, flags, transposed=0)\n"
             "-> int\n\n"
             "Softmax cross-entropy of each row of the C-contiguous (n, K) buffer x, K <= 32\n"
             "(transposed: x and grad are (K, n), the logits of row i in column i),\n"
             "with int64 labels in [0, K) and label smoothing eps: the loss\n"
             "-sum_j y'_j log softmax(x / T)_j into loss (n,) and factor * (softmax - y')\n"
             "into grad (n, K), y' = (1 - eps) onehot + eps / K; either output may be None.\n"
             "With weights (n,) (or None), the loss is w * loss, 0 where w <= 0.\n"
             "flags (n,) uint8 is set for the rows left to the reference. Returns how many\n"
             "rows were flagged.");

static int optional_output(PyObject *obj, Py_buffer *view) {
    if (obj == Py_None) { view->obj = NULL; view->buf = NULL; return 0; }
    return PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE);
}

static PyObject *py_ce(PyObject *self, PyObject *args) {
    PyObject *xo, *lo, *fo, *wo, *losso, *grado, *flo;
    double eps, T;
    int transposed = 0;
    if (!PyArg_ParseTuple(args, "OOOOddOOO|p", &xo, &lo, &fo, &wo, &eps, &T, &losso, &grado,
                          &flo, &transposed))
        return NULL;
    if (!(T > 0.0) || !isfinite(T) || !(eps >= 0.0 && eps <= 1.0)) {
        PyErr_SetString(PyExc_ValueError, "expected a finite T > 0 and eps in [0, 1]");
        return NULL;
    }
    Py_buffer x, l, f, wv, lossv, gradv, fl;
    int got = 0; /* how many views to release */
    PyObject *result = NULL;
    if (get_matrix(xo, &x, 0, "input") < 0) return NULL;
    got = 1;
    if (PyObject_GetBuffer(lo, &l, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) goto done;
    got = 2;
    if (PyObject_GetBuffer(fo, &f, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) goto done;
    got = 3;
    if (wo == Py_None) {
        wv.obj = NULL;
        wv.buf = NULL;
    } else if (PyObject_GetBuffer(wo, &wv, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        goto done;
    }
    got = 4;
    if (optional_output(losso, &lossv) < 0) goto done;
    got = 5;
    if (optional_output(grado, &gradv) < 0) goto done;
    got = 6;
    if (PyObject_GetBuffer(flo, &fl, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) < 0) goto done;
    got = 7;
    {
        Py_ssize_t n = x.ndim == 2 ? x.shape[0] : 1, K = x.shape[x.ndim - 1];
        if (transposed) { n = x.ndim == 2 ? x.shape[1] : x.shape[0]; K = x.ndim == 2 ? x.shape[0] : 1; }
        int is64 = x.format && strcmp(x.format, "d") == 0;
        int is32 = x.format && strcmp(x.format, "f") == 0;
        int same = f.format && strcmp(f.format, x.format) == 0 &&
                   (wv.obj == NULL || (wv.format && strcmp(wv.format, x.format) == 0)) &&
                   (lossv.obj == NULL || (lossv.format && strcmp(lossv.format, x.format) == 0)) &&
                   (gradv.obj == NULL || (gradv.format && strcmp(gradv.format, x.format) == 0));
        int sizes = l.len == n * 8 && l.itemsize == 8 && f.len / f.itemsize == n && fl.len == n &&
                    (wv.obj == NULL || wv.len / wv.itemsize == n) &&
                    (lossv.obj == NULL || lossv.len / lossv.itemsize == n) &&
                    (gradv.obj == NULL || gradv.len / gradv.itemsize == n * K);
        if (!(is64 || is32) || !same || !sizes || K < 1 || K > SHORT_K) {
            PyErr_SetString(PyExc_ValueError,
                            "expected float32 or float64 x, factor and outputs of one dtype, "
                            "int64 labels, matching sizes and 1 <= K <= 32");
            goto done;
        }
        const int64_t *labels = l.buf;
        for (Py_ssize_t r = 0; r < n; r++)
            if (labels[r] < 0 || labels[r] >= K) {
                PyErr_Format(PyExc_ValueError, "expected labels in [0, %zd), got %lld", K,
                             (long long)labels[r]);
                goto done;
            }
        int flagged;
        Py_BEGIN_ALLOW_THREADS
        if (is64)
            flagged = ce_f64(x.buf, labels, f.buf, wv.buf, eps, T, lossv.buf, gradv.buf, fl.buf,
                             n, K, transposed);
        else
            flagged = ce_f32(x.buf, labels, f.buf, wv.buf, eps, T, lossv.buf, gradv.buf, fl.buf,
                             n, K, transposed);
        Py_END_ALLOW_THREADS
        result = flagged < 0 ? PyErr_NoMemory() : PyLong_FromLong(flagged);
    }
done:
    if (got >= 7) PyBuffer_Release(&fl);
    if (got >= 6 && gradv.obj != NULL) PyBuffer_Release(&gradv);
    if (got >= 5 && lossv.obj != NULL) PyBuffer_Release(&lossv);
    if (got >= 4 && wv.obj != NULL) PyBuffer_Release(&wv);
    if (got >= 3) PyBuffer_Release(&f);
    if (got >= 2) PyBuffer_Release(&l);
    PyBuffer_Release(&x);
    return result;
}

static PyMethodDef methods[] = {
    {"rows", py_rows, METH_VARARGS, rows_doc},
    {"ce", py_ce, METH_VARARGS, ce_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_core",
    "The compiled row-wise core of softmaxkit's NumPy fast path (see _core.c).", -1, methods,
};

PyMODINIT_FUNC PyInit__core(void) { return PyModule_Create(&module); }
