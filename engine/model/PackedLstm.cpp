#include "engine/model/PackedLstm.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <type_traits>

#include "engine/model/VectorMath.h"

// The hot loops are plain loops written for GCC's auto-vectoriser (a fixed
// run of 64 lanes, no aliasing, no branches), so there is one portable
// source for SSE2, AVX2, AVX-512 and NEON (NEXTBEAT_VECTOR_CLONES,
// VectorMath.h). The one exception is fp16: GCC 12 does not vectorise
// _Float16 -> float, so on x86-64 that product uses the F16C instructions
// directly. This file is built with -O3 and -ffp-contract=fast
// (engine/CMakeLists.txt) so that a*b+c becomes one FMA, and with
// -fno-trapping-math: without it GCC keeps the clamps in exp_approx
// (VectorMath.h) as branches ("control flow in loop") and the gate loop
// stays scalar on NEON and on baseline x86-64; with it they become selects
// and the loop vectorises.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#include <immintrin.h>
#define NEXTBEAT_F16C 1
#endif

namespace nextbeat::engine {

namespace {

// The IEEE half type. GCC 12's C++ front end knows _Float16 on x86-64 only
// ("does not name a type" on aarch64, also in JetPack's GCC 11); on Arm,
// __fp16 is IEEE binary16 (always on aarch64, with -mfp16-format=ieee on
// 32-bit Arm) and converts to and from float the same way.
#if defined(__ARM_FP16_FORMAT_IEEE)
using Half = __fp16;
#else
__extension__ using Half = _Float16;
#endif
static_assert(sizeof(Half) == 2, "Half must be IEEE binary16");

// y = W x for `blocks` blocks of 64 rows packed column-interleaved: for each
// block, column k holds the 64 rows' weights contiguously. x[k] is broadcast
// over one column, a run of FMAs into 64 accumulators (registers), so the
// weights stream through once, in order (what the prefetcher likes), and
// narrow weights are widened to fp32 on the way.
template <typename W>
NEXTBEAT_VECTOR_CLONES void multiply_blocks(const W* w, const float* x, int cols, int blocks, float* y) noexcept {
  for (int b = 0; b < blocks; ++b) {
    float acc[PackedMatrix::kBlockRows] = {};
    for (int k = 0; k < cols; ++k) {
      const float xk = x[k];
      for (int j = 0; j < PackedMatrix::kBlockRows; ++j) acc[j] += static_cast<float>(w[j]) * xk;
      w += PackedMatrix::kBlockRows;
    }
    std::copy_n(acc, PackedMatrix::kBlockRows, y);
    y += PackedMatrix::kBlockRows;
  }
}

#if NEXTBEAT_F16C
static_assert(PackedMatrix::kBlockRows == 64, "multiply_blocks_f16c keeps 8 x 8 accumulators");
[[gnu::target("avx2,fma,f16c")]] void multiply_blocks_f16c(const Half* w, const float* x, int cols, int blocks,
                                                           float* y) noexcept {
  for (int b = 0; b < blocks; ++b) {
    __m256 acc[8];
    for (auto& a : acc) a = _mm256_setzero_ps();
    for (int k = 0; k < cols; ++k) {
      const __m256 xk = _mm256_set1_ps(x[k]);
      for (int i = 0; i < 8; ++i) {
        const __m128i half8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + 8 * i));
        acc[i] = _mm256_fmadd_ps(_mm256_cvtph_ps(half8), xk, acc[i]);
      }
      w += PackedMatrix::kBlockRows;
    }
    for (int i = 0; i < 8; ++i) _mm256_storeu_ps(y + 8 * i, acc[i]);
    y += PackedMatrix::kBlockRows;
  }
}

// The same with 512-bit vectors: vcvtph2ps and the FMA both issue on ports
// 0 and 5 only, so the conversion is what bounds it (3 uops per 32 weight
// bytes: ~21 bytes a cycle, against ~16 for the 256-bit form). The same
// products in the same order per row: the results are identical.
[[gnu::target("avx512f")]] void multiply_blocks_f16c_512(const Half* w, const float* x, int cols, int blocks,
                                                         float* y) noexcept {
  for (int b = 0; b < blocks; ++b) {
    __m512 acc[4];
    for (auto& a : acc) a = _mm512_setzero_ps();
    for (int k = 0; k < cols; ++k) {
      const __m512 xk = _mm512_set1_ps(x[k]);
      for (int i = 0; i < 4; ++i) {
        const __m256i half16 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 16 * i));
        // (maskz with all lanes: vcvtph2ps; the unmasked intrinsic warns of an
        // uninitialised variable in GCC 12's own header)
        acc[i] = _mm512_fmadd_ps(_mm512_maskz_cvtph_ps(0xFFFF, half16), xk, acc[i]);
      }
      w += PackedMatrix::kBlockRows;
    }
    for (int i = 0; i < 4; ++i) _mm512_storeu_ps(y + 16 * i, acc[i]);
    y += PackedMatrix::kBlockRows;
  }
}

const bool kHasF16c = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
const bool kHasAvx512 = __builtin_cpu_supports("avx512f");
#endif

template <typename W>
void multiply_packed(const W* w, const float* x, int cols, int blocks, float* y) noexcept {
#if NEXTBEAT_F16C
  if constexpr (std::is_same_v<W, Half>) {
    if (kHasAvx512) return multiply_blocks_f16c_512(w, x, cols, blocks, y);
    if (kHasF16c) return multiply_blocks_f16c(w, x, cols, blocks, y);
  }
#endif
  multiply_blocks(w, x, cols, blocks, y);
}

// --- int8: integer products ------------------------------------------------------
//
// x is quantised per product to q = round(x * 2^e), |q| <= 32767, with the
// power of two chosen from max |x| (so x * 2^e and q * 2^-e are exact and no
// FMA contraction can change a rounding: every platform quantises alike).
// u = q + 32768 is split into bytes, high = u >> 8 and low = u & 255, both
// unsigned, so that sum_k w_k q_k = 256 (sum w_k high_k - 128 row_sum) +
// sum w_k low_k: two int32 dot products of unsigned by signed bytes (what
// vpdpbusd computes, four columns per int32 lane), exact for any width a
// model has (|sum| <= 127 * 255 * cols). The quantisation adds a relative
// error of at most 2^-16 of max |x| per input, small beside the weights'
// own rounding (half an int8 step of the row's range).
constexpr int kGroup = PackedMatrix::kGroupCols;
constexpr int kInt8Block = PackedMatrix::kBlockRows * kGroup;  // bytes of one column group of a block

// Writes high and low bytes for cols values (zero-padded to padded_cols) and
// returns 2^-e, the value of one step of q.
NEXTBEAT_VECTOR_CLONES float quantise_input(const float* x, int cols, int padded_cols, std::uint8_t* high,
                                            std::uint8_t* low) noexcept {
  // max |x| on the bits: for non-negative floats the integer order is the
  // float order, and an integer max reduction vectorises.
  std::uint32_t peak_bits = 0;
  for (int k = 0; k < cols; ++k) peak_bits = std::max(peak_bits, std::bit_cast<std::uint32_t>(x[k]) & 0x7FFFFFFFU);
  int exponent = 0;
  std::frexp(std::bit_cast<float>(peak_bits), &exponent);  // peak = m 2^exponent, m in [0.5, 1)
  exponent = std::clamp(exponent, -100, 100);              // 0, subnormal or non-finite peaks: any finite scale
  const float scale = std::ldexp(1.0F, 15 - exponent);     // peak * scale in [2^14, 2^15)
  for (int k = 0; k < cols; ++k) {
    float r = x[k] * scale;
    r = r > -32767.0F ? r : -32767.0F;  // (a NaN lands here: no undefined conversion)
    r = r < 32767.0F ? r : 32767.0F;
    const auto q = static_cast<std::int32_t>(r + (r >= 0.0F ? 0.5F : -0.5F));  // half away from zero
    const auto u = static_cast<std::uint32_t>(q + 32768);
    high[k] = static_cast<std::uint8_t>(u >> 8);
    low[k] = static_cast<std::uint8_t>(u & 0xFFU);
  }
  for (int k = cols; k < padded_cols; ++k) {  // q = 0 (their weights are 0 too)
    high[k] = 128;
    low[k] = 0;
  }
  return std::ldexp(1.0F, exponent - 15);
}

// One row's result from its two integer sums: both conversions are exact
// or nearly (|sums| < 2^24 below ~500 columns), 256 * high is exact, and
// step is a power of two, so every path below computes the same float.
[[gnu::always_inline]] inline float int8_row(std::int32_t high_sum, std::int32_t low_sum, std::int32_t row_sum,
                                             float scale, float step) {
  const float high = static_cast<float>(high_sum - 128 * row_sum);
  const float low = static_cast<float>(low_sum);
  return scale * (256.0F * high + low) * step;
}

// Portable: blocks of 64 rows, for each column group the 64 rows' 4 bytes
// contiguous (row-major within the group), as vpdpbusd reads them.
NEXTBEAT_VECTOR_CLONES void multiply_blocks_int8(const std::int8_t* w, const std::uint8_t* high,
                                                 const std::uint8_t* low, int groups, int blocks,
                                                 const std::int32_t* row_sum, const float* scale, float step,
                                                 float* y) noexcept {
  constexpr int kRows = PackedMatrix::kBlockRows;
  for (int b = 0; b < blocks; ++b) {
    std::int32_t high_acc[kRows] = {};
    std::int32_t low_acc[kRows] = {};
    for (int g = 0; g < groups; ++g) {
      const std::uint8_t* h4 = high + g * kGroup;
      const std::uint8_t* l4 = low + g * kGroup;
      for (int j = 0; j < kRows; ++j) {
        std::int32_t hs = 0;
        std::int32_t ls = 0;
        for (int t = 0; t < kGroup; ++t) {
          const std::int32_t wv = w[j * kGroup + t];
          hs += static_cast<std::int32_t>(h4[t]) * wv;
          ls += static_cast<std::int32_t>(l4[t]) * wv;
        }
        high_acc[j] += hs;
        low_acc[j] += ls;
      }
      w += kInt8Block;
    }
    for (int j = 0; j < kRows; ++j) y[j] = int8_row(high_acc[j], low_acc[j], row_sum[j], scale[j], step);
    y += kRows;
    row_sum += kRows;
    scale += kRows;
  }
}

#if NEXTBEAT_F16C
// AVX-512 VNNI (Ice Lake, Sapphire Rapids, Zen 4 on): one vpdpbusd per 64
// weight bytes and input byte plane, 16 rows x 4 columns. Written as inline
// assembly: with the intrinsic, GCC 12 copies every accumulator twice per
// use (vmovdqa32 in, vmovdqa64 out), which halved the throughput. The
// weights are prefetched 2 KB ahead: without it the loop reads L2-resident
// weights at ~72 GB/s here (Xeon, Sapphire Rapids), with it ~90.
static_assert(PackedMatrix::kBlockRows == 64 && PackedMatrix::kGroupCols == 4, "the VNNI kernel's layout");
constexpr int kPrefetchBytes = 2048;
[[gnu::target("avx512f,avx512bw,avx512vnni")]] void multiply_blocks_vnni(const std::int8_t* w, const std::uint8_t* high,
                                                                         const std::uint8_t* low, int groups,
                                                                         int blocks, const std::int32_t* row_sum,
                                                                         const float* scale, float step,
                                                                         float* y) noexcept {
  const __m512 step_v = _mm512_set1_ps(step);
  const __m512 k256 = _mm512_set1_ps(256.0F);
  for (int b = 0; b < blocks; ++b) {
    __m512i h0 = _mm512_setzero_si512(), h1 = h0, h2 = h0, h3 = h0, l0 = h0, l1 = h0, l2 = h0, l3 = h0;
    for (int g = 0; g < groups; ++g) {
      std::int32_t h4 = 0;
      std::int32_t l4 = 0;
      std::memcpy(&h4, high + g * kGroup, sizeof h4);
      std::memcpy(&l4, low + g * kGroup, sizeof l4);
      const __m512i hb = _mm512_set1_epi32(h4);
      const __m512i lb = _mm512_set1_epi32(l4);
      const auto* bytes = reinterpret_cast<const char*>(w);
      for (int i = 0; i < 4; ++i) _mm_prefetch(bytes + kPrefetchBytes + 64 * i, _MM_HINT_T0);
      const __m512i w0 = _mm512_loadu_si512(w);
      const __m512i w1 = _mm512_loadu_si512(w + 64);
      const __m512i w2 = _mm512_loadu_si512(w + 128);
      const __m512i w3 = _mm512_loadu_si512(w + 192);
      // acc += per int32 lane, sum of 4 (unsigned byte of x) * (signed byte of w)
#define NEXTBEAT_DPBUSD(acc, x, wv) asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(x), "v"(wv))
      NEXTBEAT_DPBUSD(h0, hb, w0);
      NEXTBEAT_DPBUSD(l0, lb, w0);
      NEXTBEAT_DPBUSD(h1, hb, w1);
      NEXTBEAT_DPBUSD(l1, lb, w1);
      NEXTBEAT_DPBUSD(h2, hb, w2);
      NEXTBEAT_DPBUSD(l2, lb, w2);
      NEXTBEAT_DPBUSD(h3, hb, w3);
      NEXTBEAT_DPBUSD(l3, lb, w3);
#undef NEXTBEAT_DPBUSD
      w += kInt8Block;
    }
    const __m512i h[4] = {h0, h1, h2, h3};
    const __m512i l[4] = {l0, l1, l2, l3};
    for (int i = 0; i < 4; ++i) {
      // (__builtin_convertvector is vcvtdq2ps; GCC 12's intrinsic for it
      // warns of an uninitialised variable in its own header.)
      using Ints = std::int32_t __attribute__((vector_size(64)));
      using Floats = float __attribute__((vector_size(64)));
      const Ints rs = Ints(_mm512_loadu_si512(row_sum + 16 * i));
      const auto hf = __m512(__builtin_convertvector(Ints(h[i]) - (rs << 7), Floats));
      const auto lf = __m512(__builtin_convertvector(Ints(l[i]), Floats));
      const __m512 t = _mm512_fmadd_ps(k256, hf, lf);
      _mm512_storeu_ps(y + 16 * i, _mm512_mul_ps(_mm512_mul_ps(_mm512_loadu_ps(scale + 16 * i), t), step_v));
    }
    y += PackedMatrix::kBlockRows;
    row_sum += PackedMatrix::kBlockRows;
    scale += PackedMatrix::kBlockRows;
  }
}

const bool kHasVnni =
    __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni");
#endif

void multiply_int8(const std::int8_t* w, const std::uint8_t* high, const std::uint8_t* low, int groups, int blocks,
                   const std::int32_t* row_sum, const float* scale, float step, float* y) noexcept {
#if NEXTBEAT_F16C
  if (kHasVnni) return multiply_blocks_vnni(w, high, low, groups, blocks, row_sum, scale, step, y);
#endif
  multiply_blocks_int8(w, high, low, groups, blocks, row_sum, scale, step, y);
}

// The LSTM cell on one layer's gates (PyTorch order i, f, g, o).
NEXTBEAT_VECTOR_CLONES void cell_update(const float* gates, int hidden, float* h, float* c) noexcept {
  const float* gi = gates;
  const float* gf = gates + hidden;
  const float* gg = gates + 2 * hidden;
  const float* go = gates + 3 * hidden;
  for (int j = 0; j < hidden; ++j) {
    const float cell = vector_math::sigmoid(gf[j]) * c[j] + vector_math::sigmoid(gi[j]) * vector_math::tanh(gg[j]);
    c[j] = cell;
    h[j] = vector_math::sigmoid(go[j]) * vector_math::tanh(cell);
  }
}

void add_row(float* dst, const float* row, int n) noexcept {
  for (int i = 0; i < n; ++i) dst[i] += row[i];
}

NEXTBEAT_VECTOR_CLONES void add_rows(float* dst, const float* a, const float* b, const float* c, const float* d,
                                     const float* e, int n) noexcept {
  for (int i = 0; i < n; ++i) dst[i] = ((((dst[i] + a[i]) + b[i]) + c[i]) + d[i]) + e[i];
}

std::uint16_t to_half_bits(float value) {
  const Half h = static_cast<Half>(value);
  std::uint16_t bits = 0;
  std::memcpy(&bits, &h, sizeof bits);
  return bits;
}

}  // namespace

// --- PackedMatrix --------------------------------------------------------------------

PackedMatrix::PackedMatrix(std::span<const float> row_major, int rows, int cols, WeightPrecision precision)
    : rows_(rows),
      cols_(cols),
      blocks_((rows + kBlockRows - 1) / kBlockRows),
      groups_((cols + kGroupCols - 1) / kGroupCols),
      precision_(precision) {
  if (row_major.size() != static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols))
    throw std::invalid_argument("PackedMatrix: size does not match rows x cols");
  const auto padded_rows = static_cast<std::size_t>(blocks_) * kBlockRows;
  const auto padded = padded_rows * static_cast<std::size_t>(cols);
  const auto weight = [&](int r, int k) { return row_major[static_cast<std::size_t>(r) * cols + k]; };
  switch (precision) {
    case WeightPrecision::kFloat32:
    case WeightPrecision::kFloat16:
      if (precision == WeightPrecision::kFloat32)
        f32_.assign(padded, 0.0F);
      else
        f16_.assign(padded, 0);
      for (int r = 0; r < rows; ++r) {
        const int block = r / kBlockRows;
        const int lane = r % kBlockRows;
        for (int k = 0; k < cols; ++k) {
          const std::size_t at = (static_cast<std::size_t>(block) * cols + k) * kBlockRows + lane;
          if (precision == WeightPrecision::kFloat32)
            f32_[at] = weight(r, k);
          else
            f16_[at] = to_half_bits(weight(r, k));
        }
      }
      break;
    case WeightPrecision::kInt8: {
      // One symmetric scale per row, max |w| -> 127; blocks of 64 rows, for
      // each group of 4 columns the rows' 4 bytes in row order.
      const auto padded_cols = static_cast<std::size_t>(groups_) * kGroupCols;
      scale_.assign(padded_rows, 0.0F);
      row_sum_.assign(padded_rows, 0);
      i8_.assign(padded_rows * padded_cols, 0);
      x_high_.assign(padded_cols, 0);
      x_low_.assign(padded_cols, 0);
      for (int r = 0; r < rows; ++r) {
        float peak = 0;
        for (int k = 0; k < cols; ++k) peak = std::max(peak, std::abs(weight(r, k)));
        const float s = peak > 0 ? peak / 127.0F : 0.0F;
        scale_[static_cast<std::size_t>(r)] = s;
        const int block = r / kBlockRows;
        const int lane = r % kBlockRows;
        for (int k = 0; k < cols; ++k) {
          const auto q = static_cast<std::int8_t>(s > 0 ? std::lround(weight(r, k) / s) : 0);
          const std::size_t at =
              ((static_cast<std::size_t>(block) * groups_ + k / kGroupCols) * kBlockRows + lane) * kGroupCols +
              k % kGroupCols;
          i8_[at] = q;
          row_sum_[static_cast<std::size_t>(r)] += q;
        }
      }
      break;
    }
  }
}

std::size_t PackedMatrix::bytes() const {
  return f32_.size() * sizeof(float) + f16_.size() * sizeof(std::uint16_t) + i8_.size() +
         scale_.size() * sizeof(float) + row_sum_.size() * sizeof(std::int32_t);
}

void PackedMatrix::multiply(const float* x, float* y) const noexcept {
  // y has room for rows_ values only: the last block's padding rows are
  // computed into a local tail.
  const int full = rows_ / kBlockRows;
  const int tail_rows = rows_ - full * kBlockRows;
  alignas(64) float tail[kBlockRows];
  if (precision_ == WeightPrecision::kInt8) {
    const float step = quantise_input(x, cols_, groups_ * kGroupCols, x_high_.data(), x_low_.data());
    const auto block_bytes = static_cast<std::size_t>(groups_) * kInt8Block;
    multiply_int8(i8_.data(), x_high_.data(), x_low_.data(), groups_, full, row_sum_.data(), scale_.data(), step, y);
    if (tail_rows > 0) {
      const auto first = static_cast<std::size_t>(full) * kBlockRows;
      multiply_int8(i8_.data() + static_cast<std::size_t>(full) * block_bytes, x_high_.data(), x_low_.data(), groups_,
                    1, row_sum_.data() + first, scale_.data() + first, step, tail);
      std::copy_n(tail, tail_rows, y + first);
    }
    return;
  }
  const auto block_stride = static_cast<std::size_t>(cols_) * kBlockRows;
  const auto run = [&](const auto* w) {
    multiply_packed(w, x, cols_, full, y);
    if (tail_rows > 0) {
      multiply_packed(w + static_cast<std::size_t>(full) * block_stride, x, cols_, 1, tail);
      std::copy_n(tail, tail_rows, y + static_cast<std::size_t>(full) * kBlockRows);
    }
  };
  if (precision_ == WeightPrecision::kFloat32) {
    run(f32_.data());
  } else {
    // The bits were written from Half values; reading them as Half is
    // what they are.
    run(reinterpret_cast<const Half*>(f16_.data()));
  }
}

// --- PackedLstm ----------------------------------------------------------------------

PackedLstm::PackedLstm(const LstmWeights& w, WeightPrecision precision)
    : hidden_(w.hidden),
      layers_(w.layers),
      output_(w.output),
      gate_rows_(4 * w.hidden),
      frame_input_(w.frame_input),
      input_rows_count_(static_cast<int>(w.input_rows.size() / (4 * static_cast<std::size_t>(std::max(1, w.hidden))))),
      input_rows_(w.input_rows.begin(), w.input_rows.end()),
      beat_rows_(w.beat_rows.begin(), w.beat_rows.end()),
      bar_rows_(w.bar_rows.begin(), w.bar_rows.end()),
      source_rows_(w.source_rows.begin(), w.source_rows.end()),
      bias_(w.bias),
      head_bias_(w.head_bias),
      gates_(static_cast<std::size_t>(4 * w.hidden)),
      x_(static_cast<std::size_t>(2 * w.hidden)) {
  const auto g = static_cast<std::size_t>(gate_rows_);
  if (w.hidden <= 0 || w.layers <= 0 || w.output <= 0 || w.input_rows.empty() || w.input_rows.size() % g != 0 ||
      w.recurrent.size() != static_cast<std::size_t>(w.layers) || w.bias.size() != static_cast<std::size_t>(w.layers) ||
      w.head.size() != static_cast<std::size_t>(w.output) * w.hidden ||
      w.head_bias.size() != static_cast<std::size_t>(w.output))
    throw std::invalid_argument("PackedLstm: weights do not match their sizes");
  for (const auto& b : w.bias)
    if (b.size() != g) throw std::invalid_argument("PackedLstm: a bias does not have 4 x hidden values");
  for (int l = 0; l < w.layers; ++l)
    recurrent_.emplace_back(w.recurrent[static_cast<std::size_t>(l)], gate_rows_, l == 0 ? w.hidden : 2 * w.hidden,
                            precision);
  head_ = PackedMatrix(w.head, w.output, w.hidden, precision);
}

std::size_t PackedLstm::matrix_bytes() const {
  std::size_t n = head_.bytes() + head_bias_.size() * sizeof(float);
  for (const auto& m : recurrent_) n += m.bytes();
  for (const auto& b : bias_) n += b.size() * sizeof(float);
  return n;
}

std::size_t PackedLstm::table_bytes() const {
  return (input_rows_.size() + beat_rows_.size() + bar_rows_.size() + source_rows_.size()) * sizeof(float);
}

void PackedLstm::step(const Step& input, float* h, float* c, float* logits) const noexcept {
  const int g = gate_rows_;
  float* gates = gates_.data();
  const auto row = [g](const CacheAlignedVector<float>& table, std::size_t i) {
    return table.data() + i * static_cast<std::size_t>(g);
  };

  // Layer 0: W_hh h, plus the input's table rows and the biases. The rows
  // (4H floats each, from tables that need not stay in cache between steps)
  // are prefetched into L2 first, so that fetching them overlaps the product
  // instead of stalling the adds after it.
  const float* token_row = nullptr;
  const float* beat_row = nullptr;
  const float* bar_row = nullptr;
  const float* source_row = nullptr;
  if (!frame_input_)
    token_row = row(input_rows_, static_cast<std::size_t>(std::clamp(input.token, 0, input_rows_count_ - 1)));
  if (!beat_rows_.empty()) {
    const std::size_t beats = beat_rows_.size() / static_cast<std::size_t>(g);
    beat_row = row(beat_rows_, std::min<std::size_t>(input.beat_tick, beats - 1));
    bar_row = row(bar_rows_, std::min<std::size_t>(input.bar_beat, 15));
    source_row = row(source_rows_, std::min<std::size_t>(input.source, 1));
  }
  constexpr int kLineFloats = 64 / sizeof(float);
  for (const float* r : {token_row, beat_row, bar_row, source_row})
    if (r != nullptr)
      for (int i = 0; i < g; i += kLineFloats) __builtin_prefetch(r + i, 0, 2);
  recurrent_[0].multiply(h, gates);
  if (token_row != nullptr && beat_row != nullptr) {
    // One pass, the same additions in the same order as add_row below.
    add_rows(gates, bias_[0].data(), token_row, beat_row, bar_row, source_row, g);
  } else {
    add_row(gates, bias_[0].data(), g);
    if (frame_input_) {
      for (std::size_t k = 0; k < input.frame.size(); ++k)
        if (input.frame[k]) add_row(gates, row(input_rows_, k), g);
    } else {
      add_row(gates, token_row, g);
    }
    if (beat_row != nullptr) {
      add_row(gates, beat_row, g);
      add_row(gates, bar_row, g);
      add_row(gates, source_row, g);
    }
  }
  cell_update(gates, hidden_, h, c);

  // Layers above: [W_ih | W_hh] [h_below; h] in one product.
  const auto hid = static_cast<std::size_t>(hidden_);
  for (int l = 1; l < layers_; ++l) {
    float* hl = h + l * hid;
    std::copy_n(hl - hid, hid, x_.data());
    std::copy_n(hl, hid, x_.data() + hid);
    recurrent_[static_cast<std::size_t>(l)].multiply(x_.data(), gates);
    add_row(gates, bias_[static_cast<std::size_t>(l)].data(), g);
    cell_update(gates, hidden_, hl, c + l * hid);
  }

  head_.multiply(h + (layers_ - 1) * hid, logits);
  add_row(logits, head_bias_.data(), output_);
}

}  // namespace nextbeat::engine
