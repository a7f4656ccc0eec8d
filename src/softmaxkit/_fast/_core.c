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
 *   logsumexp = m + log c + log1p(rest / c)   (T = 1),
 *
 * and the cross-entropy -sum_j y'_j log p_j with its gradient factor (p - y'),
 * y' = (1 - eps) y + eps / K, y one-hot or probability rows.
 *
 * Rows whose maximum is not finite (NaN, +inf, all -inf), rows with a NaN, and
 * (T > 1) rows where x - m overflows are not computed: their flag is set and
 * the caller hands them to the reference, so every edge case is the
 * reference's. The exponential is a branch-free Cody-Waite reduction and a
 * Taylor polynomial that the compiler vectorises (within 1 ulp of the
 * correctly rounded result outside the subnormal range, in float64 and
 * float32), scaled by 2^n in two steps so that subnormal results are rounded
 * once; with AVX-512, float64's is Tang's table method instead (16 entries held
 * in two registers, a polynomial of degree 7: within 0.56 ulp of e^d), in
 * vectors written out with intrinsics, 8 lanes at a time. Rows of up to 32
 * classes are worked on transposed, a tile of 128 rows at a time (4 x 4 blocks
 * transposed in registers), so that the loops run across rows (independent)
 * rather than along a row of 10; longer rows one at a time, in chunks of up to
 * 256 lanes (_core_tile.h, long rows). A tile whose shifted entries are all at least
 * -600 (float32: -60) is tame: 2^n takes one step and the division by the
 * normaliser two correction steps of fused multiply-adds, the same bits as the
 * general steps, sooner (tame() switches this off, for tests).
 *
 * The kernels are in _core_tile.h, compiled here (through _core_isa.h) once per
 * precision and per instruction set: the baseline, AVX2 with FMA, and AVX-512
 * (x86-64 with GCC or Clang); the CPU's features pick one when the module is
 * loaded (isa() says which, and can choose a lower one, for tests).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SHORT_K 32 /* rows up to this long are worked on transposed */
#define TILE 128   /* rows per transposed tile (64 to 128 measured best with the prefetch; 256 and 512 slower) */

enum { SOFTMAX = 0, LOG_SOFTMAX = 1, LOGSUMEXP = 2 };

#define SK_CAT_(a, b) a##_##b
#define SK_CAT(a, b) SK_CAT_(a, b)

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define SK_X86 1
#include <immintrin.h>
#endif

#if defined(__clang__)
#define SK_SHUF4(a, b, i0, i1, i2, i3) __builtin_shufflevector(a, b, i0, i1, i2, i3)
#elif defined(__GNUC__)
#define SK_SHUF4(a, b, i0, i1, i2, i3) \
    __builtin_shuffle(a, b, (__typeof__(SK_INDEX(a))){i0, i1, i2, i3})
#endif

#ifdef SK_SHUF4
typedef double sk_v4d __attribute__((vector_size(32)));
typedef float sk_v4f __attribute__((vector_size(16)));
typedef int64_t sk_v4l __attribute__((vector_size(32)));
typedef int32_t sk_v4i __attribute__((vector_size(16)));
/* the index vector type of a 4-lane vector (GCC's __builtin_shuffle wants one) */
#define SK_INDEX(a) _Generic((a), sk_v4d: (sk_v4l){0}, sk_v4f: (sk_v4i){0})
/* c_j = (a0[j], a1[j], a2[j], a3[j]): the 4 x 4 transpose in six shuffles */
#define SK_TRANSPOSE4(a0, a1, a2, a3, c0, c1, c2, c3)          \
    do {                                                        \
        __typeof__(a0) t0 = SK_SHUF4(a0, a1, 0, 4, 2, 6);       \
        __typeof__(a0) t1 = SK_SHUF4(a0, a1, 1, 5, 3, 7);       \
        __typeof__(a0) t2 = SK_SHUF4(a2, a3, 0, 4, 2, 6);       \
        __typeof__(a0) t3 = SK_SHUF4(a2, a3, 1, 5, 3, 7);       \
        c0 = SK_SHUF4(t0, t2, 0, 1, 4, 5);                      \
        c1 = SK_SHUF4(t1, t3, 0, 1, 4, 5);                      \
        c2 = SK_SHUF4(t0, t2, 2, 3, 6, 7);                      \
        c3 = SK_SHUF4(t1, t3, 2, 3, 6, 7);                      \
    } while (0)
#endif

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
    int ties = 0;
    for (Py_ssize_t r = 0; r < n; r++) ties |= count[r] != 1.0;
    if (!ties) { /* the usual tile: c = 1 throughout, rest / c = rest */
        for (Py_ssize_t r = 0; r < n; r++) ln[r] = log1p_nonneg(rest[r]);
        return;
    }
    for (Py_ssize_t r = 0; r < n; r++) ln[r] = log1p_nonneg(rest[r] / count[r]);
    for (Py_ssize_t r = 0; r < n; r++)
        if (count[r] != 1.0) ln[r] += log(count[r]);
}

#ifdef SK_X86
/* 2^(j/16), j = 0..15, for the float64 exponential of the AVX-512 kernels: hi rounded
   to the nearest double, tail = (2^(j/16) - hi) / hi rounded (the relative rest, below
   2^-53), and adj = the bits of hi less j << 48 (so that adding k << 48, k = 16 n + j,
   gives the bits of 2^n hi). Computed with mpmath at 300 bits; a test recomputes
   them. */
static const double sk_exp_hi[16] = {
    0x1.0000000000000p+0, 0x1.0b5586cf9890fp+0, 0x1.172b83c7d517bp+0, 0x1.2387a6e756238p+0,
    0x1.306fe0a31b715p+0, 0x1.3dea64c123422p+0, 0x1.4bfdad5362a27p+0, 0x1.5ab07dd485429p+0,
    0x1.6a09e667f3bcdp+0, 0x1.7a11473eb0187p+0, 0x1.8ace5422aa0dbp+0, 0x1.9c49182a3f090p+0,
    0x1.ae89f995ad3adp+0, 0x1.c199bdd85529cp+0, 0x1.d5818dcfba487p+0, 0x1.ea4afa2a490dap+0};
static const double sk_exp_tail[16] = {
    0x0.0p+0,               0x1.79aa65d837b6dp-54, -0x1.01b15eaa59348p-55, 0x1.68efde3a8a894p-54,
    0x1.34d754db0abb6p-55,  0x1.59f48a72a4c6dp-55, 0x1.690cebb7aafb0p-56,  0x1.063e1e21c5409p-54,
    -0x1.3b3efbf5e2228p-54, -0x1.b32dcb94da51dp-56, 0x1.db72fc1f0eab4p-55, 0x1.1affc2b91ce27p-56,
    0x1.c1a7792cb3387p-55,  0x1.36eae30af0cb3p-56, 0x1.4a385a63d07a7p-56,  -0x1.ff7128fd391f0p-55};
static const uint64_t sk_exp_adj[16] = {
    0x3ff0000000000000ULL, 0x3fefb5586cf9890fULL, 0x3fef72b83c7d517bULL, 0x3fef387a6e756238ULL,
    0x3fef06fe0a31b715ULL, 0x3feedea64c123422ULL, 0x3feebfdad5362a27ULL, 0x3feeab07dd485429ULL,
    0x3feea09e667f3bcdULL, 0x3feea11473eb0187ULL, 0x3feeace5422aa0dbULL, 0x3feec49182a3f090ULL,
    0x3feee89f995ad3adULL, 0x3fef199bdd85529cULL, 0x3fef5818dcfba487ULL, 0x3fefa4afa2a490daULL};
#endif

/* ---------------------------------------------------------------- the kernels */

/* A call's scratch: the transposed tiles (bytes) and 2 x TILE doubles of per-row
   sums; -1 (nothing allocated) when memory is short. */
static int tile_buffers(void **tiles, size_t bytes, double **work) {
    *tiles = malloc(bytes);
    *work = malloc(sizeof(double) * 2 * TILE);
    if (*tiles == NULL || *work == NULL) {
        free(*tiles);
        free(*work);
        return -1;
    }
    return 0;
}

/* The next tile's memory: up to two inputs and one output, prefetched while a tile
   computes. */
typedef struct {
    const char *in[2];
    Py_ssize_t in_bytes[2];
    char *out;
    Py_ssize_t out_bytes;
} sk_next;

#define MA_PLAIN(a, b, c) ((a) * (b) + (c))

/* Whether tame tiles take their quicker steps (exp_tame, quotient in _core_tile.h),
   which give the same bits as the general ones: tame() turns them off for tests. */
static int sk_tame = 1;

/* the baseline: every x86-64 (SSE2), and every other CPU */
#define ISA base
#define SK_ATTR
#define MA64 MA_PLAIN
#define MA32 MA_PLAIN
#define SK_FMA 0
#define SK_TABLE_EXP 0
#include "_core_isa.h"

#ifdef SK_X86
/* AVX2 with FMA, and AVX-512: one fused multiply-add where the source writes MA */
#define ISA avx2
#define SK_ATTR __attribute__((target("avx2,fma")))
#define MA64 __builtin_fma
#define MA32 __builtin_fmaf
#define SK_FMA 1
#define SK_TABLE_EXP 0
#include "_core_isa.h"

#define ISA avx512
#define SK_ATTR __attribute__((target("avx512f,avx2,fma")))
#define MA64 __builtin_fma
#define MA32 __builtin_fmaf
#define SK_FMA 1
#define SK_TABLE_EXP 1 /* float64's exponential by a table; both dtypes' loops in vectors */
#include "_core_isa.h"
#endif

/* ---------------------------------------------------------------- dispatch */

enum { ISA_BASE = 0, ISA_AVX2 = 1, ISA_AVX512 = 2 };
static const char *const isa_names[] = {"baseline", "avx2+fma", "avx512f"};
static int isa_best = ISA_BASE; /* what the CPU has (set when the module loads) */
static int isa = ISA_BASE;      /* what the kernels use */

static void detect_isa(void) {
#ifdef SK_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        isa_best = ISA_AVX512;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        isa_best = ISA_AVX2;
#endif
    isa = isa_best;
}

#ifdef SK_X86
#define SK_DISPATCH(NAME, TYPE, ...)                                                   \
    (isa == ISA_AVX512 ? SK_CAT(NAME, SK_CAT(TYPE, avx512))(__VA_ARGS__)               \
     : isa == ISA_AVX2 ? SK_CAT(NAME, SK_CAT(TYPE, avx2))(__VA_ARGS__)                 \
                       : SK_CAT(NAME, SK_CAT(TYPE, base))(__VA_ARGS__))
#else
#define SK_DISPATCH(NAME, TYPE, ...) SK_CAT(NAME, SK_CAT(TYPE, base))(__VA_ARGS__)
#endif

static int rows_f64(const double *x, double *out, uint8_t *flags, Py_ssize_t n, Py_ssize_t K,
                    int kind, double T) {
    return SK_DISPATCH(rows, f64, x, out, flags, n, K, kind, T);
}
static int rows_f32(const float *x, float *out, uint8_t *flags, Py_ssize_t n, Py_ssize_t K,
                    int kind, double T) {
    return SK_DISPATCH(rows, f32, x, out, flags, n, K, kind, T);
}
static int ce_f64(const double *x, const int64_t *labels, const double *probs,
                  const double *factor, double factor1, const double *weights, double eps,
                  double T, double *loss, double *grad, uint8_t *flags, Py_ssize_t n,
                  Py_ssize_t K, int transposed) {
    return SK_DISPATCH(ce, f64, x, labels, probs, factor, factor1, weights, eps, T, loss, grad,
                       flags, n, K, transposed);
}
static int ce_f32(const float *x, const int64_t *labels, const float *probs,
                  const float *factor, double factor1, const float *weights, double eps,
                  double T, float *loss, float *grad, uint8_t *flags, Py_ssize_t n,
                  Py_ssize_t K, int transposed) {
    return SK_DISPATCH(ce, f32, x, labels, probs, factor, (float)factor1, weights, eps, T, loss,
                       grad, flags, n, K, transposed);
}
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
             "Softmax cross-entropy of each row of the C-contiguous (n, K) buffer x (rows of\n"
             "more than 32 one at a time; transposed, K <= 32: x and grad are (K, n), the\n"
             "logits of row i in column i). labels:\n"
             "int64 (n,) labels in [0, K), or a float (n, K) buffer of probability rows laid\n"
             "out as x. With label smoothing eps, the loss -sum_j y'_j log softmax(x / T)_j\n"
             "goes into loss (n,) and factor * (softmax - y') into grad (n, K),\n"
             "y' = (1 - eps) y + eps / K; either output may be None. factor: (n,) or one\n"
             "number for every row. With weights (n,) (or None), the loss is w * loss, 0\n"
             "where w <= 0. flags (n,) uint8 is set for the rows left to the reference.\n"
             "Returns how many rows were flagged.");

static int optional_output(PyObject *obj, Py_buffer *view) {
    if (obj == Py_None) {
        view->obj = NULL;
        view->buf = NULL;
        return 0;
    }
    return PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE);
}

static int optional_input(PyObject *obj, Py_buffer *view) {
    if (obj == Py_None) {
        view->obj = NULL;
        view->buf = NULL;
        return 0;
    }
    return PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT);
}

static int same_format(const Py_buffer *v, const char *format) {
    return v->obj == NULL || (v->format && strcmp(v->format, format) == 0);
}

static PyObject *py_ce(PyObject *self, PyObject *args) {
    PyObject *xo, *lo, *fo, *wo, *losso, *grado, *flo;
    double eps, T, factor1 = 1.0;
    int transposed = 0;
    if (!PyArg_ParseTuple(args, "OOOOddOOO|p", &xo, &lo, &fo, &wo, &eps, &T, &losso, &grado,
                          &flo, &transposed))
        return NULL;
    if (!(T > 0.0) || !isfinite(T) || !(eps >= 0.0 && eps <= 1.0)) {
        PyErr_SetString(PyExc_ValueError, "expected a finite T > 0 and eps in [0, 1]");
        return NULL;
    }
    int factor_is_number = PyFloat_Check(fo) || PyLong_Check(fo);
    if (factor_is_number) {
        factor1 = PyFloat_AsDouble(fo);
        if (factor1 == -1.0 && PyErr_Occurred()) return NULL;
    }
    Py_buffer x, l, f, wv, lossv, gradv, fl;
    int got = 0; /* how many views to release */
    PyObject *result = NULL;
    if (get_matrix(xo, &x, 0, "input") < 0) return NULL;
    got = 1;
    if (PyObject_GetBuffer(lo, &l, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) goto done;
    got = 2;
    if (optional_input(factor_is_number ? Py_None : fo, &f) < 0) goto done;
    got = 3;
    if (optional_input(wo, &wv) < 0) goto done;
    got = 4;
    if (optional_output(losso, &lossv) < 0) goto done;
    got = 5;
    if (optional_output(grado, &gradv) < 0) goto done;
    got = 6;
    if (PyObject_GetBuffer(flo, &fl, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) < 0) goto done;
    got = 7;
    {
        Py_ssize_t n = x.ndim == 2 ? x.shape[0] : 1, K = x.shape[x.ndim - 1];
        if (transposed) {
            n = x.ndim == 2 ? x.shape[1] : x.shape[0];
            K = x.ndim == 2 ? x.shape[0] : 1;
        }
        int is64 = x.format && strcmp(x.format, "d") == 0;
        int is32 = x.format && strcmp(x.format, "f") == 0;
        /* labels: int64 (n,); or probabilities, x's dtype and size */
        int soft = l.format && x.format && strcmp(l.format, x.format) == 0;
        int same = same_format(&f, x.format) && same_format(&wv, x.format) &&
                   same_format(&lossv, x.format) && same_format(&gradv, x.format);
        int sizes = (soft ? l.len == x.len : (l.len == n * 8 && l.itemsize == 8)) &&
                    fl.len == n && (f.obj == NULL || f.len / f.itemsize == n) &&
                    (wv.obj == NULL || wv.len / wv.itemsize == n) &&
                    (lossv.obj == NULL || lossv.len / lossv.itemsize == n) &&
                    (gradv.obj == NULL || gradv.len / gradv.itemsize == n * K);
        if (!(is64 || is32) || !same || !sizes || K < 1 || (transposed && K > SHORT_K)) {
            PyErr_SetString(PyExc_ValueError,
                            "expected float32 or float64 x, factor and outputs of one dtype, "
                            "int64 labels or probabilities of x's dtype and shape, matching "
                            "sizes and K >= 1 (transposed: 1 <= K <= 32)");
            goto done;
        }
        const int64_t *labels = soft ? NULL : l.buf;
        if (!soft)
            for (Py_ssize_t r = 0; r < n; r++)
                if (labels[r] < 0 || labels[r] >= K) {
                    PyErr_Format(PyExc_ValueError, "expected labels in [0, %zd), got %lld", K,
                                 (long long)labels[r]);
                    goto done;
                }
        int flagged;
        Py_BEGIN_ALLOW_THREADS
        if (is64)
            flagged = ce_f64(x.buf, labels, soft ? l.buf : NULL, f.buf, factor1, wv.buf, eps, T,
                             lossv.buf, gradv.buf, fl.buf, n, K, transposed);
        else
            flagged = ce_f32(x.buf, labels, soft ? l.buf : NULL, f.buf, factor1, wv.buf, eps, T,
                             lossv.buf, gradv.buf, fl.buf, n, K, transposed);
        Py_END_ALLOW_THREADS
        result = flagged < 0 ? PyErr_NoMemory() : PyLong_FromLong(flagged);
    }
done:
    if (got >= 7) PyBuffer_Release(&fl);
    if (got >= 6 && gradv.obj != NULL) PyBuffer_Release(&gradv);
    if (got >= 5 && lossv.obj != NULL) PyBuffer_Release(&lossv);
    if (got >= 4 && wv.obj != NULL) PyBuffer_Release(&wv);
    if (got >= 3 && f.obj != NULL) PyBuffer_Release(&f);
    if (got >= 2) PyBuffer_Release(&l);
    PyBuffer_Release(&x);
    return result;
}

PyDoc_STRVAR(isa_doc,
             "isa(name=None) -> str\n\n"
             "The instruction set the kernels use: 'avx512f', 'avx2+fma' or 'baseline'\n"
             "(chosen by the CPU's features when the module loads). With a name, use that\n"
             "one instead (one the CPU has; for tests) and return the previous one.");

static PyObject *py_isa(PyObject *self, PyObject *args) {
    const char *name = NULL;
    if (!PyArg_ParseTuple(args, "|z", &name)) return NULL;
    const char *previous = isa_names[isa];
    if (name != NULL) {
        int level = -1;
        for (int i = 0; i <= ISA_AVX512; i++)
            if (strcmp(name, isa_names[i]) == 0) level = i;
        if (level < 0 || level > isa_best) {
            PyErr_Format(PyExc_ValueError, "expected one of this CPU's instruction sets (up to %s), got %s",
                         isa_names[isa_best], name);
            return NULL;
        }
        isa = level;
    }
    return PyUnicode_FromString(previous);
}

PyDoc_STRVAR(tame_doc,
             "tame(on=None) -> bool\n\n"
             "Whether tiles of short rows whose shifted entries are all at least -600\n"
             "(float64; -60 for float32) take the quicker steps that give the same bits:\n"
             "2^n in one step and the division by multiply-adds (with fused multiply-adds).\n"
             "With a value, set it (for tests, which compare the two) and return the\n"
             "previous one.");

static PyObject *py_tame(PyObject *self, PyObject *args) {
    int on = -1;
    if (!PyArg_ParseTuple(args, "|p", &on)) return NULL;
    int previous = sk_tame;
    if (on >= 0) sk_tame = on;
    return PyBool_FromLong(previous);
}

static PyMethodDef methods[] = {
    {"rows", py_rows, METH_VARARGS, rows_doc},
    {"ce", py_ce, METH_VARARGS, ce_doc},
    {"isa", py_isa, METH_VARARGS, isa_doc},
    {"tame", py_tame, METH_VARARGS, tame_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_core",
    "The compiled row-wise core of softmaxkit's NumPy fast path (see _core.c).", -1, methods,
};

PyMODINIT_FUNC PyInit__core(void) {
    detect_isa();
    return PyModule_Create(&module);
}
