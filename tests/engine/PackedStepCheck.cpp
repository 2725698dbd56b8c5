// The packed live step (PackedLstm.cpp) without LibTorch, for
// scripts/check-arm64.sh: built for the host and cross-built for aarch64
// (run under qemu as a Pi 4 and a Pi 5), so that the NEON path is checked
// on a machine without an Arm CPU.
//
//   packed-step-check OUT            runs fp32, fp16 and int8 on a model with
//                                    deterministic weights, checks each against a
//                                    double-precision reference (kReferenceTolerance),
//                                    writes every logit and state value to OUT
//   packed-step-check --compare A B  max |a - b| per precision between two OUT files;
//                                    fails above kCrossTolerance
//
// The reference uses the same rounded weights as the packed step (fp16: the
// nearest binary16, int8: q * scale) and, for int8, the same rounded inputs
// (each product's x quantised to 16 bits, as PackedLstm.cpp does), so what it
// measures is the arithmetic (accumulation order, FMA, exp_approx), not the
// rounding.
// Exit code 0 when within tolerance, 1 when not, 2 on a usage or I/O error.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "config/Config.h"
#include "engine/codec/Codec.h"
#include "engine/model/PackedLstm.h"

namespace {

using nextbeat::config::WeightPrecision;
using nextbeat::engine::LstmWeights;
using nextbeat::engine::PackedLstm;
using nextbeat::engine::Step;

// Sizes chosen to cover the packed layout's cases: gate rows a whole number
// of 64-row blocks, a head of 100 rows (one block and a 36-row tail), two
// layers (layer 1 multiplies [W_ih | W_hh] by [h_below; h]).
constexpr int kHidden = 160;
constexpr int kLayers = 2;
constexpr int kOutput = 100;
constexpr int kTokens = 50;
constexpr int kBeatTicks = 12;
constexpr int kSteps = 64;
// |packed - reference| / max(1, |reference|), on logits, h and c after every
// step: the parity test's tolerance on logits (PackedLstmTest.cpp).
constexpr double kReferenceTolerance = 1e-5;
// Between two builds (host and aarch64) of the same step; with
// -fno-trapping-math both vectorise the same loops and agree bit for bit on
// an x86-64 with FMA. A host without FMA (the baseline clone) rounds
// a * b + c twice and differs in the last bits: this bound allows that.
constexpr double kCrossTolerance = 1e-6;

struct Precision {
  WeightPrecision value;
  const char* name;
};
constexpr Precision kPrecisions[] = {
    {WeightPrecision::kFloat32, "fp32"}, {WeightPrecision::kFloat16, "fp16"}, {WeightPrecision::kInt8, "int8"}};

// xorshift32: the same numbers on every platform and standard library.
class Random {
 public:
  float uniform(float bound) {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 17;
    state_ ^= state_ << 5;
    return bound * (static_cast<float>(state_ >> 8) / static_cast<float>(1U << 23) - 1.0F);
  }

 private:
  std::uint32_t state_ = 0x9E3779B9U;
};

std::vector<float> random_vector(Random& random, std::size_t n, float bound) {
  std::vector<float> v(n);
  for (auto& x : v) x = random.uniform(bound);
  return v;
}

LstmWeights make_weights() {
  Random random;
  const auto g = static_cast<std::size_t>(4 * kHidden);
  const auto h = static_cast<std::size_t>(kHidden);
  const float bound = 1.0F / std::sqrt(static_cast<float>(kHidden));  // PyTorch's LSTM init
  LstmWeights w;
  w.hidden = kHidden;
  w.layers = kLayers;
  w.output = kOutput;
  w.input_rows = random_vector(random, kTokens * g, 0.5F);
  w.beat_rows = random_vector(random, kBeatTicks * g, 0.2F);
  w.bar_rows = random_vector(random, 16 * g, 0.2F);
  w.source_rows = random_vector(random, 2 * g, 0.2F);
  for (int l = 0; l < kLayers; ++l) {
    w.recurrent.push_back(random_vector(random, g * (l == 0 ? h : 2 * h), bound));
    w.bias.push_back(random_vector(random, g, bound));
  }
  w.head = random_vector(random, static_cast<std::size_t>(kOutput) * h, bound);
  w.head_bias = random_vector(random, kOutput, bound);
  return w;
}

Step input_at(int t) {
  Step s;
  s.token = (7 * t + 3) % kTokens;
  s.beat_tick = static_cast<std::uint16_t>(t % kBeatTicks);
  s.bar_beat = static_cast<std::uint8_t>((t / kBeatTicks) % 4);
  s.source = static_cast<std::uint8_t>((t / 5) % 2);
  return s;
}

// The nearest IEEE binary16 value (ties to even; subnormals below 2^-14),
// computed without any half type, so that it also checks the platform's.
double nearest_half(float value) {
  const double v = value;
  if (v == 0) return 0;
  int exponent = 0;
  std::frexp(v, &exponent);  // |v| = m * 2^exponent, m in [0.5, 1)
  const double quantum = std::ldexp(1.0, std::max(exponent - 1, -14) - 10);
  return std::nearbyint(v / quantum) * quantum;
}

// The weights of a matrix as the packed step multiplies them.
std::vector<double> rounded(const std::vector<float>& row_major, int rows, int cols, WeightPrecision precision) {
  std::vector<double> out(row_major.size());
  for (int r = 0; r < rows; ++r) {
    const float* row = row_major.data() + static_cast<std::size_t>(r) * cols;
    float peak = 0;
    for (int k = 0; k < cols; ++k) peak = std::max(peak, std::abs(row[k]));
    const float scale = peak > 0 ? peak / 127.0F : 0.0F;  // as PackedMatrix computes it
    for (int k = 0; k < cols; ++k) {
      double& w = out[static_cast<std::size_t>(r) * cols + k];
      switch (precision) {
        case WeightPrecision::kFloat32:
          w = row[k];
          break;
        case WeightPrecision::kFloat16:
          w = nearest_half(row[k]);
          break;
        case WeightPrecision::kInt8:
          w = scale > 0 ? static_cast<double>(std::lround(row[k] / scale)) * static_cast<double>(scale) : 0.0;
          break;
      }
    }
  }
  return out;
}

// The input of an int8 product as the packed step multiplies it
// (PackedLstm.cpp, quantise_input): q = round(x 2^e) (half away from zero),
// |q| <= 32767, with 2^e from max |x| so that max |x| 2^e is in [2^14, 2^15).
std::vector<double> quantised(const std::vector<double>& x) {
  float peak = 0;
  for (const double v : x) peak = std::max(peak, std::abs(static_cast<float>(v)));
  int exponent = 0;
  std::frexp(peak, &exponent);
  exponent = std::clamp(exponent, -100, 100);
  const double scale = std::ldexp(1.0, 15 - exponent);
  std::vector<double> out(x.size());
  for (std::size_t k = 0; k < x.size(); ++k) {
    const double r = std::clamp(x[k] * scale, -32767.0, 32767.0);
    out[k] = std::round(r) / scale;
  }
  return out;
}

double sigmoid(double x) {
  return 1.0 / (1.0 + std::exp(-x));
}

// The LSTM step in double precision, written from the definition (PyTorch's
// gate order i, f, g, o), not from the packed layout.
class ReferenceLstm {
 public:
  ReferenceLstm(const LstmWeights& w, WeightPrecision precision)
      : w_(w), quantised_inputs_(precision == WeightPrecision::kInt8) {
    for (int l = 0; l < kLayers; ++l)
      recurrent_.push_back(
          rounded(w.recurrent[static_cast<std::size_t>(l)], 4 * kHidden, (l == 0 ? 1 : 2) * kHidden, precision));
    head_ = rounded(w.head, kOutput, kHidden, precision);
  }

  void step(const Step& s, std::vector<double>& h, std::vector<double>& c, std::vector<double>& logits) const {
    const int g = 4 * kHidden;
    std::vector<double> gates(static_cast<std::size_t>(g));
    std::vector<double> x;
    for (int l = 0; l < kLayers; ++l) {
      double* hl = h.data() + l * kHidden;
      double* cl = c.data() + l * kHidden;
      x.assign(hl, hl + kHidden);
      if (l > 0) x.insert(x.begin(), hl - kHidden, hl);  // [h_below; h]
      if (quantised_inputs_) x = quantised(x);
      const auto& m = recurrent_[static_cast<std::size_t>(l)];
      for (int r = 0; r < g; ++r) {
        double sum = w_.bias[static_cast<std::size_t>(l)][static_cast<std::size_t>(r)];
        if (l == 0) {
          sum += w_.input_rows[static_cast<std::size_t>(s.token * g + r)];
          sum += w_.beat_rows[static_cast<std::size_t>(s.beat_tick * g + r)];
          sum += w_.bar_rows[static_cast<std::size_t>(s.bar_beat * g + r)];
          sum += w_.source_rows[static_cast<std::size_t>(s.source * g + r)];
        }
        for (std::size_t k = 0; k < x.size(); ++k) sum += m[static_cast<std::size_t>(r) * x.size() + k] * x[k];
        gates[static_cast<std::size_t>(r)] = sum;
      }
      for (int j = 0; j < kHidden; ++j) {
        const auto at = [&](int gate) { return gates[static_cast<std::size_t>(gate * kHidden + j)]; };
        cl[j] = sigmoid(at(1)) * cl[j] + sigmoid(at(0)) * std::tanh(at(2));
        hl[j] = sigmoid(at(3)) * std::tanh(cl[j]);
      }
    }
    std::vector<double> top(h.begin() + (kLayers - 1) * kHidden, h.end());
    if (quantised_inputs_) top = quantised(top);
    for (int o = 0; o < kOutput; ++o) {
      double sum = w_.head_bias[static_cast<std::size_t>(o)];
      for (int k = 0; k < kHidden; ++k)
        sum += head_[static_cast<std::size_t>(o * kHidden + k)] * top[static_cast<std::size_t>(k)];
      logits[static_cast<std::size_t>(o)] = sum;
    }
  }

 private:
  const LstmWeights& w_;
  bool quantised_inputs_;
  std::vector<std::vector<double>> recurrent_;
  std::vector<double> head_;
};

double relative_error(float value, double reference) {
  return std::abs(static_cast<double>(value) - reference) / std::max(1.0, std::abs(reference));
}

// Each line: precision, then the float's bits in hex (exact, and what
// --compare reads back).
int run(const char* out_path) {
  std::ofstream out(out_path);
  if (!out) {
    std::fprintf(stderr, "packed-step-check: cannot write %s\n", out_path);
    return 2;
  }
  const LstmWeights weights = make_weights();
  bool ok = true;
  for (const auto& p : kPrecisions) {
    const PackedLstm packed(weights, p.value);
    const ReferenceLstm reference(weights, p.value);
    const auto state = static_cast<std::size_t>(kLayers * kHidden);
    std::vector<float> h(state), c(state), logits(kOutput);
    std::vector<double> rh(state), rc(state), rlogits(kOutput);
    double worst = 0;
    for (int t = 0; t < kSteps; ++t) {
      const Step s = input_at(t);
      packed.step(s, h.data(), c.data(), logits.data());
      reference.step(s, rh, rc, rlogits);
      for (std::size_t i = 0; i < kOutput; ++i) worst = std::max(worst, relative_error(logits[i], rlogits[i]));
      for (std::size_t i = 0; i < state; ++i)
        worst = std::max({worst, relative_error(h[i], rh[i]), relative_error(c[i], rc[i])});
      for (const auto* v : {&logits, &h, &c})
        for (float x : *v) {
          char line[32];
          std::snprintf(line, sizeof line, "%s %08x\n", p.name, static_cast<unsigned>(std::bit_cast<std::uint32_t>(x)));
          out << line;
        }
    }
    const bool within = worst <= kReferenceTolerance;
    std::printf("%s: max error vs double reference %.3g (tolerance %.0e) %s\n", p.name, worst, kReferenceTolerance,
                within ? "ok" : "FAIL");
    ok = ok && within;
  }
  out.close();
  if (!out) {
    std::fprintf(stderr, "packed-step-check: cannot write %s\n", out_path);
    return 2;
  }
  return ok ? 0 : 1;
}

bool read_values(const char* path, std::map<std::string, std::vector<float>>& values) {
  std::ifstream in(path);
  std::string name;
  std::uint32_t bits = 0;
  while (in >> name >> std::hex >> bits) values[name].push_back(std::bit_cast<float>(bits));
  if (!in.eof() || values.empty()) {
    std::fprintf(stderr, "packed-step-check: cannot read %s\n", path);
    return false;
  }
  return true;
}

int compare(const char* a_path, const char* b_path) {
  std::map<std::string, std::vector<float>> a, b;
  if (!read_values(a_path, a) || !read_values(b_path, b)) return 2;
  bool ok = true;
  for (const auto& p : kPrecisions) {
    const auto& va = a[p.name];
    const auto& vb = b[p.name];
    if (va.empty() || va.size() != vb.size()) {
      std::printf("%s: %zu values against %zu FAIL\n", p.name, va.size(), vb.size());
      ok = false;
      continue;
    }
    double worst = 0;
    std::size_t different = 0;
    for (std::size_t i = 0; i < va.size(); ++i) {
      worst = std::max(worst, relative_error(vb[i], va[i]));
      different += std::bit_cast<std::uint32_t>(va[i]) != std::bit_cast<std::uint32_t>(vb[i]) ? 1 : 0;
    }
    const bool within = worst <= kCrossTolerance;
    std::printf("%s: max difference %.3g (tolerance %.0e), %zu of %zu values not bit-identical %s\n", p.name, worst,
                kCrossTolerance, different, va.size(), within ? "ok" : "FAIL");
    ok = ok && within;
  }
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2) return run(argv[1]);
  if (argc == 4 && std::strcmp(argv[1], "--compare") == 0) return compare(argv[2], argv[3]);
  std::fprintf(stderr, "usage: packed-step-check OUT | packed-step-check --compare A B\n");
  return 2;
}
