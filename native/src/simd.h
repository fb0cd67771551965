// The vector instructions the addon's own loops (elementwise passes, pooling, sums, the optimizer update) use:
// each function holding such a loop is compiled three times, for AVX-512 (x86-64-v4), AVX2 (x86-64-v3) and the
// baseline, and the first call picks the widest this CPU runs (GCC's target_clones, an ifunc). Compiled for the
// baseline alone (SSE2), converting bfloat16 took longer than moving its bytes: a ReLU gradient over bfloat16 ran
// 2.2x slower, one over float32 1.7x. Fused multiply-adds stay off in every version (-ffp-contract=off), so each
// computes the same float32 results.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12 && !defined(NIN_NO_CLONES)
#define NIN_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define NIN_VECTOR_CLONES
#endif
