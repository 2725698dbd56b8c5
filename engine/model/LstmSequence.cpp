// The LSTM over whole sequences, for training and evaluation (see LstmNet.h,
// sequence_lstm). torch::nn::LSTM on the CPU runs each time step of each
// layer as ~15 small ops forward and ~30 through autograd backward, each a
// dispatch and an allocation: for a batch of 16 x 256 steps that is ~25,000
// ops, a large part of a training step on a small machine. Here each layer is
// one autograd function:
// - forward: the input projection of all steps in one GEMM (with both
//   biases), then per step one GEMM (h W_hh^T added onto it in place) and one
//   fused loop for the cell, into buffers allocated once per batch;
// - backward: per step one fused loop for the cell's gradients and one GEMM
//   for dh; W_hh's gradient is a single GEMM over all steps at the end.
// Same parameters, same names, same maths as torch::nn::LSTM (tested against
// it, values and gradients, in ModelTest.cpp), so model files do not change.
#include <torch/csrc/autograd/custom_function.h>
#include <torch/nn/modules/rnn.h>

#include "engine/model/LstmNet.h"
#include "engine/model/VectorMath.h"

namespace nextbeat::engine::detail {

namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
namespace vm = vector_math;

// One step of the cell for a batch, gates [B, 4H] in PyTorch's order
// (i, f, g, o) as pre-activations in, activations out (kept for backward).
NEXTBEAT_VECTOR_CLONES void cell_forward(float* gates, const float* c_prev, float* c, float* h, std::int64_t batch,
                                         std::int64_t hidden) noexcept {
  for (std::int64_t b = 0; b < batch; ++b) {
    float* gi = gates + b * 4 * hidden;
    float* gf = gi + hidden;
    float* gg = gf + hidden;
    float* go = gg + hidden;
    const float* cp = c_prev + b * hidden;
    float* cb = c + b * hidden;
    float* hb = h + b * hidden;
    for (std::int64_t j = 0; j < hidden; ++j) {
      const float i = vm::sigmoid(gi[j]);
      const float f = vm::sigmoid(gf[j]);
      const float g = vm::tanh(gg[j]);
      const float o = vm::sigmoid(go[j]);
      const float cell = f * cp[j] + i * g;
      gi[j] = i;
      gf[j] = f;
      gg[j] = g;
      go[j] = o;
      cb[j] = cell;
      hb[j] = o * vm::tanh(cell);
    }
  }
}

// The cell's gradients for one step: dh_out is the gradient reaching h from
// above, dh_next from the following step; dc carries the cell gradient
// backwards in place. dgates receives the pre-activation gradients.
NEXTBEAT_VECTOR_CLONES void cell_backward(const float* acts, const float* c_prev, const float* c, const float* dh_out,
                                          const float* dh_next, float* dc, float* dgates, std::int64_t batch,
                                          std::int64_t hidden) noexcept {
  for (std::int64_t b = 0; b < batch; ++b) {
    const float* ai = acts + b * 4 * hidden;
    const float* af = ai + hidden;
    const float* ag = af + hidden;
    const float* ao = ag + hidden;
    float* di = dgates + b * 4 * hidden;
    float* df = di + hidden;
    float* dg = df + hidden;
    float* d_o = dg + hidden;
    const std::int64_t row = b * hidden;
    for (std::int64_t j = 0; j < hidden; ++j) {
      const float i = ai[j], f = af[j], g = ag[j], o = ao[j];
      const float tc = vm::tanh(c[row + j]);
      const float dh = dh_out[row + j] + dh_next[row + j];
      const float dcell = dc[row + j] + dh * o * (1.0F - tc * tc);
      d_o[j] = dh * tc * o * (1.0F - o);
      di[j] = dcell * g * i * (1.0F - i);
      dg[j] = dcell * i * (1.0F - g * g);
      df[j] = dcell * c_prev[row + j] * f * (1.0F - f);
      dc[row + j] = dcell * f;
    }
  }
}

// One layer's recurrence. Inputs: wx [T, B, 4H] (input projection plus both
// biases), w_hh [4H, H], h0 and c0 [B, H]. Outputs: every h [T, B, H] and the
// last c [B, H].
struct LstmRecurrence : torch::autograd::Function<LstmRecurrence> {
  static variable_list forward(AutogradContext* ctx, const Tensor& wx, const Tensor& w_hh, const Tensor& h0,
                               const Tensor& c0) {
    const std::int64_t steps = wx.size(0), batch = wx.size(1), gates = wx.size(2), hidden = gates / 4;
    Tensor acts = torch::empty({steps, batch, gates}, wx.options());
    Tensor cs = torch::empty({steps + 1, batch, hidden}, wx.options());  // c_{-1} = c0, then every c
    Tensor hs = torch::empty({steps + 1, batch, hidden}, wx.options());  // h_{-1} = h0, then every h
    cs[0].copy_(c0);
    hs[0].copy_(h0);
    const Tensor w_t = w_hh.t();
    for (std::int64_t t = 0; t < steps; ++t) {
      Tensor g = acts[t];
      at::addmm_out(g, wx[t], hs[t], w_t);
      cell_forward(g.data_ptr<float>(), cs[t].data_ptr<float>(), cs[t + 1].data_ptr<float>(),
                   hs[t + 1].data_ptr<float>(), batch, hidden);
    }
    ctx->save_for_backward({acts, cs, hs, w_hh});
    return {hs.slice(0, 1), cs[steps]};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const Tensor& acts = saved[0];
    const Tensor& cs = saved[1];
    const Tensor& hs = saved[2];
    const Tensor& w_hh = saved[3];
    const std::int64_t steps = acts.size(0), batch = acts.size(1), gates = acts.size(2), hidden = gates / 4;
    const Tensor dh_seq =
        grads[0].defined() ? grads[0].contiguous() : torch::zeros({steps, batch, hidden}, acts.options());
    Tensor dc = grads[1].defined() ? grads[1].clone().contiguous() : torch::zeros({batch, hidden}, acts.options());
    Tensor dh_next = torch::zeros({batch, hidden}, acts.options());
    Tensor dgates = torch::empty_like(acts);
    for (std::int64_t t = steps - 1; t >= 0; --t) {
      Tensor dg = dgates[t];
      cell_backward(acts[t].data_ptr<float>(), cs[t].data_ptr<float>(), cs[t + 1].data_ptr<float>(),
                    dh_seq[t].data_ptr<float>(), dh_next.data_ptr<float>(), dc.data_ptr<float>(), dg.data_ptr<float>(),
                    batch, hidden);
      at::mm_out(dh_next, dg, w_hh);
    }
    const Tensor d_w_hh =
        dgates.view({steps * batch, gates}).t().mm(hs.slice(0, 0, steps).reshape({steps * batch, hidden}));
    return {dgates, d_w_hh, dh_next, dc};
  }
};

}  // namespace

std::tuple<torch::Tensor, LstmState> sequence_lstm(torch::nn::LSTMImpl& lstm, const torch::Tensor& x,
                                                   const std::optional<LstmState>& state, double dropout,
                                                   bool training) {
  const auto params = lstm.named_parameters(/*recurse=*/false);
  const std::int64_t batch = x.size(0), steps = x.size(1);
  const int layers = static_cast<int>(lstm.options.num_layers());
  const std::int64_t hidden = lstm.options.hidden_size();
  const auto zeros = [&] { return torch::zeros({layers, batch, hidden}, x.options()); };
  const Tensor h0 = state ? std::get<0>(*state) : zeros();
  const Tensor c0 = state ? std::get<1>(*state) : zeros();

  Tensor input = x.transpose(0, 1);  // [T, B, in]: one step's batch is contiguous
  std::vector<Tensor> h_last, c_last;
  for (int l = 0; l < layers; ++l) {
    const std::string n = std::to_string(l);
    const Tensor& w_ih = params["weight_ih_l" + n];
    const Tensor bias = params["bias_ih_l" + n] + params["bias_hh_l" + n];
    const Tensor wx =
        torch::addmm(bias, input.reshape({steps * batch, input.size(2)}), w_ih.t()).view({steps, batch, 4 * hidden});
    const auto out = LstmRecurrence::apply(wx, params["weight_hh_l" + n], h0[l], c0[l]);
    h_last.push_back(out[0][steps - 1]);
    c_last.push_back(out[1]);
    input = out[0];
    if (l + 1 < layers && training && dropout > 0) input = torch::dropout(input, dropout, /*train=*/true);
  }
  return {input.transpose(0, 1), {torch::stack(h_last), torch::stack(c_last)}};
}

}  // namespace nextbeat::engine::detail
