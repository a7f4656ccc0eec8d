/*
 * The kernels of _core_tile.h for one instruction set, in both precisions.
 * _core.c includes this file once per instruction set, with:
 *
 *   ISA      a suffix naming it (base, avx2, avx512)
 *   SK_ATTR  the function attribute selecting it (or nothing)
 *   MA64     MA32: a * b + c in double and in float (fused, or two roundings)
 *   SK_FMA   1 where they are fused
 *   SK_TABLE_EXP  1 for AVX-512: float64's exponential by a 16-entry table (two
 *            registers, looked up by permutes), its lanes in vectors written out,
 *            and float32's exponential loop in vectors written out too
 */

#define MA MA64
#ifdef SK_SHUF4
#define VEC sk_v4d
#endif
#define FLOAT double
#define IS_F64 1
#define SFX SK_CAT(f64, ISA)
#include "_core_tile.h"
#undef FLOAT
#undef IS_F64
#undef SFX
#undef VEC
#undef MA

#define MA MA32
#ifdef SK_SHUF4
#define VEC sk_v4f
#endif
#define FLOAT float
#define IS_F64 0
#define SFX SK_CAT(f32, ISA)
#include "_core_tile.h"
#undef FLOAT
#undef IS_F64
#undef SFX
#undef VEC
#undef MA

#undef ISA
#undef SK_ATTR
#undef MA64
#undef MA32
#undef SK_FMA
#undef SK_TABLE_EXP
