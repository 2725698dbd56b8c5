// The streaming step of the live path: batch 1, one step, state carried, from
// weights packed once at load. Plain C++ (no LibTorch): LibTorch's step pays
// for a dozen small tensors, dispatch and allocation per call (~100 µs for
// 2 x 256 here), while the work itself is reading ~4 MB of weights once.
//
// What makes it fast (docs/PERFORMANCE.md has the measurements):
// - Layer 0's input projection is folded into tables at pack time. Its input
//   is a sum of embedding rows (token or keys of the frame, position in beat
//   and bar, source), so W_ih0 * x is the sum of the same rows of E * W_ih0^T:
//   a few table rows are read instead of the whole [4H x embed] matrix.
// - Every other matrix is packed in blocks of kBlockRows rows, interleaved
//   column by column, so that the inner loop is one broadcast of x[k] and a
//   run of fused multiply-adds into accumulators that stay in registers.
//   Layers above 0 multiply [W_ih | W_hh] by [h_below; h] in one pass.
// - Gate nonlinearities use a vectorisable exp (relative error ~1e-7).
// - Optional reduced-precision weights (fp16, or int8 with one scale per
//   row) halve or quarter the bytes read, for models whose weights do not fit
//   in cache. fp16 accumulates in fp32. int8 multiplies in integers: the
//   input vector is quantised per product to 16 bits (a power-of-two scale,
//   split into a high and a low byte), so the product is two exact int32
//   dot products per row (VNNI's vpdpbusd where the CPU has it), converted
//   to float once per row.
// - No allocation, no lock and no thread hand-off per step.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "config/Config.h"
#include "engine/codec/Codec.h"
#include "engine/util/CacheAligned.h"

namespace nextbeat::engine {

using config::WeightPrecision;

// The model's weights as plain row-major arrays, as the LibTorch side
// computes them (Model.cpp). H = hidden, G = 4H gate rows in PyTorch's order
// (input, forget, cell, output).
struct LstmWeights {
  int hidden = 0;
  int layers = 0;
  int output = 0;
  bool frame_input = false;        // pianoroll: input_rows are per key; events: per token
  std::vector<float> input_rows;   // [tokens or keys x G]: layer 0's projection of each
  std::vector<float> beat_rows;    // [n x G], empty without position inputs
  std::vector<float> bar_rows;     // [16 x G]
  std::vector<float> source_rows;  // [2 x G]
  // Per layer l: [G x H] (l = 0: W_hh) or [G x 2H] (l > 0: W_ih | W_hh).
  std::vector<std::vector<float>> recurrent;
  // Per layer, [G]: b_ih + b_hh (layer 0 also W_ih0 times the frame projection's bias).
  std::vector<std::vector<float>> bias;
  std::vector<float> head;       // [output x H]
  std::vector<float> head_bias;  // [output]
};

// A row-major matrix packed for the batch-1 product y = W x.
class PackedMatrix {
 public:
  static constexpr int kBlockRows = 64;
  // int8: columns are packed in groups of 4 (one int32 lane of vpdpbusd).
  static constexpr int kGroupCols = 4;
  PackedMatrix() = default;
  PackedMatrix(std::span<const float> row_major, int rows, int cols, WeightPrecision precision);
  // y[rows] = W x[cols]. real-time safe: no allocation, no locks; not
  // reentrant (int8 quantises x into scratch members).
  void multiply(const float* x, float* y) const noexcept;
  std::size_t bytes() const;

 private:
  int rows_ = 0;
  int cols_ = 0;
  int blocks_ = 0;
  int groups_ = 0;  // int8: column groups of kGroupCols (the last one zero-padded)
  WeightPrecision precision_ = WeightPrecision::kFloat32;
  // The weights, each on a cache line (CacheAligned.h).
  CacheAlignedVector<float> f32_;
  CacheAlignedVector<std::uint16_t> f16_;  // IEEE half bits
  CacheAlignedVector<std::int8_t> i8_;
  std::vector<float> scale_;                          // int8: per row
  std::vector<std::int32_t> row_sum_;                 // int8: per row, the sum of its int8 weights
  mutable std::vector<std::uint8_t> x_high_, x_low_;  // int8: x quantised, [groups_ x kGroupCols] each
};

class PackedLstm {
 public:
  PackedLstm() = default;
  PackedLstm(const LstmWeights& weights, WeightPrecision precision);

  bool empty() const { return hidden_ == 0; }
  // Bytes of packed weights read per step (matrices) plus the tables.
  std::size_t matrix_bytes() const;
  std::size_t table_bytes() const;

  // One step: h, c ([layers x H] each) are updated in place and logits
  // [output] written. Called on: the thread that owns the model (the engine
  // thread live). real-time safe: no allocation, no locks; not reentrant
  // (scratch buffers are members).
  void step(const Step& input, float* h, float* c, float* logits) const noexcept;

 private:
  int hidden_ = 0;
  int layers_ = 0;
  int output_ = 0;
  int gate_rows_ = 0;
  bool frame_input_ = false;
  int input_rows_count_ = 0;  // tokens or keys: rows of input_rows_
  CacheAlignedVector<float> input_rows_, beat_rows_, bar_rows_, source_rows_;
  std::vector<PackedMatrix> recurrent_;
  std::vector<std::vector<float>> bias_;
  PackedMatrix head_;
  std::vector<float> head_bias_;
  mutable CacheAlignedVector<float> gates_;  // [G]
  mutable CacheAlignedVector<float> x_;      // [2H]: input of a layer above 0
};

}  // namespace nextbeat::engine
