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

const bool kHasF16c = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#endif

template <typename W>
void multiply_packed(const W* w, const float* x, int cols, int blocks, float* y) noexcept {
#if NEXTBEAT_F16C
  if constexpr (std::is_same_v<W, Half>) {
    if (kHasF16c) return multiply_blocks_f16c(w, x, cols, blocks, y);
  }
#endif
  multiply_blocks(w, x, cols, blocks, y);
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

std::uint16_t to_half_bits(float value) {
  const Half h = static_cast<Half>(value);
  std::uint16_t bits = 0;
  std::memcpy(&bits, &h, sizeof bits);
  return bits;
}

}  // namespace

// --- PackedMatrix --------------------------------------------------------------------

PackedMatrix::PackedMatrix(std::span<const float> row_major, int rows, int cols, WeightPrecision precision)
    : rows_(rows), cols_(cols), blocks_((rows + kBlockRows - 1) / kBlockRows), precision_(precision) {
  if (row_major.size() != static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols))
    throw std::invalid_argument("PackedMatrix: size does not match rows x cols");
  const auto padded = static_cast<std::size_t>(blocks_) * kBlockRows * static_cast<std::size_t>(cols);
  // int8: one symmetric scale per row, max |w| -> 127.
  if (precision == WeightPrecision::kInt8) {
    scale_.assign(static_cast<std::size_t>(blocks_) * kBlockRows, 0.0F);
    for (int r = 0; r < rows; ++r) {
      float peak = 0;
      for (int k = 0; k < cols; ++k) peak = std::max(peak, std::abs(row_major[static_cast<std::size_t>(r) * cols + k]));
      scale_[static_cast<std::size_t>(r)] = peak > 0 ? peak / 127.0F : 0.0F;
    }
  }
  switch (precision) {
    case WeightPrecision::kFloat32:
      f32_.assign(padded, 0.0F);
      break;
    case WeightPrecision::kFloat16:
      f16_.assign(padded, 0);
      break;
    case WeightPrecision::kInt8:
      i8_.assign(padded, 0);
      break;
  }
  for (int r = 0; r < rows; ++r) {
    const int block = r / kBlockRows;
    const int lane = r % kBlockRows;
    for (int k = 0; k < cols; ++k) {
      const float w = row_major[static_cast<std::size_t>(r) * cols + k];
      const std::size_t at = (static_cast<std::size_t>(block) * cols + k) * kBlockRows + lane;
      switch (precision) {
        case WeightPrecision::kFloat32:
          f32_[at] = w;
          break;
        case WeightPrecision::kFloat16:
          f16_[at] = to_half_bits(w);
          break;
        case WeightPrecision::kInt8: {
          const float s = scale_[static_cast<std::size_t>(r)];
          i8_[at] = static_cast<std::int8_t>(s > 0 ? std::lround(w / s) : 0);
          break;
        }
      }
    }
  }
}

std::size_t PackedMatrix::bytes() const {
  return f32_.size() * sizeof(float) + f16_.size() * sizeof(std::uint16_t) + i8_.size() + scale_.size() * sizeof(float);
}

void PackedMatrix::multiply(const float* x, float* y) const noexcept {
  // y has room for rows_ values only: the last block's padding rows are
  // computed into a local tail.
  const int full = rows_ / kBlockRows;
  const int tail_rows = rows_ - full * kBlockRows;
  alignas(64) float tail[kBlockRows];
  const auto block_stride = static_cast<std::size_t>(cols_) * kBlockRows;
  const auto run = [&](const auto* w) {
    multiply_packed(w, x, cols_, full, y);
    if (tail_rows > 0) {
      multiply_packed(w + static_cast<std::size_t>(full) * block_stride, x, cols_, 1, tail);
      std::copy_n(tail, tail_rows, y + static_cast<std::size_t>(full) * kBlockRows);
    }
  };
  switch (precision_) {
    case WeightPrecision::kFloat32:
      run(f32_.data());
      break;
    case WeightPrecision::kFloat16:
      // The bits were written from Half values; reading them as Half is
      // what they are.
      run(reinterpret_cast<const Half*>(f16_.data()));
      break;
    case WeightPrecision::kInt8:
      run(i8_.data());
      for (int r = 0; r < rows_; ++r) y[r] *= scale_[static_cast<std::size_t>(r)];
      break;
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
      input_rows_(w.input_rows),
      beat_rows_(w.beat_rows),
      bar_rows_(w.bar_rows),
      source_rows_(w.source_rows),
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
  const auto row = [g](const std::vector<float>& table, std::size_t i) {
    return table.data() + i * static_cast<std::size_t>(g);
  };

  // Layer 0: W_hh h, plus the input's table rows and the biases.
  recurrent_[0].multiply(h, gates);
  add_row(gates, bias_[0].data(), g);
  if (frame_input_) {
    for (std::size_t k = 0; k < input.frame.size(); ++k)
      if (input.frame[k]) add_row(gates, row(input_rows_, k), g);
  } else {
    const auto token = static_cast<std::size_t>(std::clamp(input.token, 0, input_rows_count_ - 1));
    add_row(gates, row(input_rows_, token), g);
  }
  if (!beat_rows_.empty()) {
    const std::size_t beats = beat_rows_.size() / static_cast<std::size_t>(g);
    add_row(gates, row(beat_rows_, std::min<std::size_t>(input.beat_tick, beats - 1)), g);
    add_row(gates, row(bar_rows_, std::min<std::size_t>(input.bar_beat, 15)), g);
    add_row(gates, row(source_rows_, std::min<std::size_t>(input.source, 1)), g);
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
