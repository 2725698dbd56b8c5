// Branch-free float math that GCC vectorises (no libm calls in the loop),
// shared by the live step (PackedLstm.cpp) and the training LSTM
// (LstmSequence.cpp), so that both compute the gates the same way.
#pragma once

#include <bit>
#include <cstdint>

// On x86-64 a function marked NEXTBEAT_VECTOR_CLONES is compiled three
// times and the loader picks the widest the CPU supports: a Debian binary
// must run on any x86-64, yet use AVX-512 or AVX2 + FMA where they exist.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define NEXTBEAT_VECTOR_CLONES [[gnu::target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")]]
#else
#define NEXTBEAT_VECTOR_CLONES
#endif

namespace nextbeat::engine::vector_math {

// exp(x) without a libm call, so that the gate loop vectorises: Cephes'
// expf (range reduction by ln 2, degree-6 polynomial), relative error about
// 1e-7 — well inside the parity test's 1e-5 on logits. x is clamped to
// where 2^n stays a normal float; sigmoid and tanh saturate long before.
[[gnu::always_inline]] inline float exp_approx(float x) {
  x = x < -87.0F ? -87.0F : x;
  x = x > 88.0F ? 88.0F : x;
  constexpr float kShift = 12582912.0F;  // 1.5 * 2^23: adding it rounds to an integer
  const float n = (x * 1.44269504088896341F + kShift) - kShift;
  float r = x - n * 0.693359375F;
  r = r - n * -2.12194440e-4F;
  float p = 1.9875691500e-4F;
  p = p * r + 1.3981999507e-3F;
  p = p * r + 8.3334519073e-3F;
  p = p * r + 4.1665795894e-2F;
  p = p * r + 1.6666665459e-1F;
  p = p * r + 5.0000001201e-1F;
  p = p * (r * r) + r + 1.0F;
  const auto e = static_cast<std::int32_t>(n) + 127;
  return p * std::bit_cast<float>(e << 23);
}

[[gnu::always_inline]] inline float sigmoid(float x) {
  return 1.0F / (1.0F + exp_approx(-x));
}

[[gnu::always_inline]] inline float tanh(float x) {
  return 2.0F / (1.0F + exp_approx(-2.0F * x)) - 1.0F;
}

}  // namespace nextbeat::engine::vector_math
