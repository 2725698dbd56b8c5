#include "engine/model/Model.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <torch/cuda.h>

#include "engine/model/LstmNet.h"
#include "engine/model/ModelFile.h"

namespace nextbeat::engine {

// --- LstmModel -----------------------------------------------------------------------

LstmModel::LstmModel() = default;
LstmModel::~LstmModel() = default;
LstmModel::LstmModel(LstmModel&&) noexcept = default;
LstmModel& LstmModel::operator=(LstmModel&&) noexcept = default;

LstmModel::LstmModel(const ModelSpec& spec, std::uint64_t seed) {
  torch::manual_seed(seed);
  net_ = std::make_unique<detail::LstmNetHolder>(detail::LstmNetHolder{detail::LstmNet(spec)});
  net_->module->eval();
  repack();
  reset();
}

const ModelSpec& LstmModel::spec() const {
  return net_->module->spec;
}
const nlohmann::json& LstmModel::provenance() const {
  return provenance_;
}
void LstmModel::set_provenance(nlohmann::json provenance) {
  provenance_ = std::move(provenance);
}
detail::LstmNetHolder& LstmModel::weights_for_training() {
  stale_ = true;
  return *net_;
}
const detail::LstmNetHolder& LstmModel::net() const {
  return *net_;
}

std::int64_t LstmModel::parameter_count() const {
  std::int64_t n = 0;
  for (const auto& p : net_->module->parameters()) n += p.numel();
  return n;
}

void LstmModel::save(const std::filesystem::path& path) const {
  write_model_file(path, file_contents());
}

ModelFileContents LstmModel::file_contents() const {
  ModelFileContents contents;
  contents.header = {{"format", "nextbeat-model"}, {"spec", spec_to_json(spec())}, {"provenance", provenance_}};
  for (const auto& item : net_->module->named_parameters()) {
    const torch::Tensor t = item.value().detach().to(torch::kCPU, torch::kFloat32).contiguous();
    TensorBlob blob{item.key(), DType::kFloat32, t.sizes().vec(), {}};
    const auto* bytes = static_cast<const std::uint8_t*>(t.data_ptr());
    blob.data.assign(bytes, bytes + t.numel() * 4);
    contents.tensors.push_back(std::move(blob));
  }
  return contents;
}

LstmModel LstmModel::load(const std::filesystem::path& path) {
  const auto contents = read_model_file(path);
  const std::string source = path.string();
  const auto format_it = contents.header.find("format");
  const std::string format =
      format_it != contents.header.end() && format_it->is_string() ? format_it->get<std::string>() : std::string();
  if (format != "nextbeat-model" && format != "nextbeat-checkpoint")
    throw ModelFileError(source + ": format: expected \"nextbeat-model\" or \"nextbeat-checkpoint\"");
  if (!contents.header.contains("spec")) throw ModelFileError(source + ": spec: missing from the header");
  const ModelSpec spec = spec_from_json(contents.header["spec"], source);
  const auto provenance = contents.header.find("provenance");
  if (provenance != contents.header.end() && !provenance->is_object())
    throw ModelFileError(source + ": provenance: expected an object");
  // The network is allocated from the spec: a spec that asks for more weights
  // than the file holds is refused before that allocation, not after.
  std::uint64_t float_bytes = 0;
  for (const auto& t : contents.tensors)
    if (t.dtype == DType::kFloat32) float_bytes += t.data.size();
  const std::uint64_t needed = 4 * static_cast<std::uint64_t>(minimum_parameter_count(spec));
  if (needed > float_bytes)
    throw ModelFileError(source + ": spec: its sizes need at least " + std::to_string(needed) +
                         " bytes of weights, the file holds " + std::to_string(float_bytes));

  LstmModel model;
  model.net_ = std::make_unique<detail::LstmNetHolder>(detail::LstmNetHolder{detail::LstmNet(spec)});
  model.provenance_ = provenance != contents.header.end() ? *provenance : nlohmann::json::object();
  torch::NoGradGuard no_grad;
  std::size_t used = 0;
  for (auto& item : model.net_->module->named_parameters()) {
    const TensorBlob* blob = contents.find(item.key());
    if (blob == nullptr) throw ModelFileError(source + ": tensor '" + item.key() + "' is missing");
    if (blob->dtype != DType::kFloat32 || blob->shape != item.value().sizes().vec())
      throw ModelFileError(source + ": tensor '" + item.key() + "' has the wrong type or shape for the spec");
    std::memcpy(item.value().data_ptr(), blob->data.data(), blob->data.size());
    ++used;
  }
  if (format == "nextbeat-model" && used != contents.tensors.size())
    throw ModelFileError(source + ": holds tensors the spec does not know");
  model.net_->module->eval();
  model.repack();
  model.reset();
  return model;
}

namespace {

torch::Tensor cpu64(const torch::Tensor& t) {
  return t.detach().to(torch::kCPU, torch::kFloat64);
}

std::vector<float> to_floats(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  return {c.data_ptr<float>(), c.data_ptr<float>() + c.numel()};
}

// The network's weights in the form PackedLstm steps on (see PackedLstm.h):
// layer 0's input projection is folded into per-row tables, computed in
// double so that the folding adds no rounding of its own.
LstmWeights packable_weights(detail::LstmNetImpl& net) {
  const ModelSpec& s = net.spec;
  const auto params = net.lstm->named_parameters(/*recurse=*/false);
  const auto param = [&](const std::string& name) { return cpu64(params[name]); };
  LstmWeights w;
  w.hidden = s.hidden;
  w.layers = s.layers;
  w.output = s.output_size();
  const torch::Tensor w_ih0 = param("weight_ih_l0");  // [4H, embed]
  const auto project = [&](const torch::Tensor& rows) { return to_floats(torch::matmul(rows, w_ih0.t())); };
  torch::Tensor bias0 = param("bias_ih_l0") + param("bias_hh_l0");
  if (step_form(s.codec.kind) == StepForm::kToken) {
    w.input_rows = project(cpu64(net.token_embed->weight));  // the start token included
  } else {
    // x = W_f frame + b_f, so W_ih0 x = sum over sounding keys k of
    // (W_ih0 W_f)[:, k], plus W_ih0 b_f.
    w.frame_input = true;
    w.input_rows = project(cpu64(net.frame_proj->weight).t());
    bias0 = bias0 + torch::matmul(w_ih0, cpu64(net.frame_proj->bias));
  }
  if (s.position_inputs) {
    w.beat_rows = project(cpu64(net.beat_embed->weight));
    w.bar_rows = project(cpu64(net.bar_embed->weight));
    w.source_rows = project(cpu64(net.source_embed->weight));
  }
  for (int l = 0; l < s.layers; ++l) {
    const std::string n = std::to_string(l);
    w.recurrent.push_back(to_floats(l == 0 ? param("weight_hh_l0")
                                           : torch::cat({param("weight_ih_l" + n), param("weight_hh_l" + n)}, 1)));
    w.bias.push_back(to_floats(l == 0 ? bias0 : param("bias_ih_l" + n) + param("bias_hh_l" + n)));
  }
  w.head = to_floats(net.head->weight);
  w.head_bias = to_floats(net.head->bias);
  return w;
}

}  // namespace

void LstmModel::repack() {
  stale_ = false;
  c10::InferenceMode guard;
  packed_ = PackedLstm(packable_weights(*net_->module), precision_);
  nade_.clear();
  if (spec().head != HeadKind::kNade) return;
  const torch::Tensor w = net_->module->masked_nade().to(torch::kCPU).contiguous();
  nade_.assign(w.data_ptr<float>(), w.data_ptr<float>() + w.numel());
}

void LstmModel::use_step_path(StepPath path, config::WeightPrecision precision, bool cuda) {
  if (cuda && (path != StepPath::kLibTorch || !torch::cuda::is_available()))
    throw std::runtime_error("the CUDA step needs the LibTorch path and a CUDA device");
  if (cuda != cuda_) net_->module->to(cuda ? torch::kCUDA : torch::kCPU);
  cuda_ = cuda;
  path_ = path;
  if (precision != precision_ || packed_.empty()) stale_ = true;
  precision_ = precision;
  if (stale_) repack();
  reset();
}

std::size_t LstmModel::packed_matrix_bytes() const {
  require_packed();
  return packed_.matrix_bytes();
}

std::size_t LstmModel::packed_table_bytes() const {
  require_packed();
  return packed_.table_bytes();
}

void LstmModel::require_packed() const noexcept {
  if (!stale_) [[likely]]
    return;
  // A programming error, not a runtime condition: training code changed the
  // weights and stepped without repack(). Packing here would allocate on the
  // engine thread, and stepping on the old weights would be silently wrong.
  std::fputs("nextbeat: LstmModel stepped after weights_for_training() without repack()\n", stderr);
  std::abort();
}

std::span<const float> LstmModel::nade_weights() const {
  return nade_;
}
std::span<const float> LstmModel::logits() const {
  return state_.logits;
}

void LstmModel::reset() {
  require_packed();
  const auto& s = spec();
  state_.h.assign(static_cast<std::size_t>(s.layers * s.hidden), 0.0F);
  state_.c.assign(state_.h.size(), 0.0F);
  state_.logits.assign(static_cast<std::size_t>(s.output_size()), 0.0F);
  Step start;
  start.token = static_cast<int>(detail::start_token(s));
  step(start);
}

std::span<const float> LstmModel::step(const Step& input) {
  require_packed();
  Step fed = input;
  fed.source = input_source(spec(), input);
  if (path_ == StepPath::kPacked) {
    packed_.step(fed, state_.h.data(), state_.c.data(), state_.logits.data());
  } else {
    torch_step(fed);
  }
  return state_.logits;
}

// The stock step: the training module, one step, through LibTorch. It
// builds a dozen small tensors a call; the packed path exists because of it.
void LstmModel::torch_step(const Step& input) {
  c10::InferenceMode guard;
  const auto& s = spec();
  const torch::Device device = cuda_ ? torch::kCUDA : torch::kCPU;
  const auto i64 = torch::TensorOptions().dtype(torch::kInt64).device(device);
  detail::StepTensors in;
  if (step_form(s.codec.kind) == StepForm::kToken) {
    in.tokens = torch::full({1, 1}, input.token, i64);
  } else {
    torch::Tensor frame = torch::zeros({1, 1, kKeys});
    auto f = frame.accessor<float, 3>();
    for (int k = 0; k < kKeys; ++k) f[0][0][k] = input.frame[static_cast<std::size_t>(k)] ? 1.0F : 0.0F;
    in.frames = frame.to(device);
  }
  in.beat = torch::full({1, 1}, static_cast<std::int64_t>(input.beat_tick), i64);
  in.bar = torch::full({1, 1}, static_cast<std::int64_t>(input.bar_beat), i64);
  in.source = torch::full({1, 1}, static_cast<std::int64_t>(input.source), i64);
  const auto shape = std::vector<std::int64_t>{s.layers, 1, s.hidden};
  detail::LstmState state{torch::from_blob(state_.h.data(), shape).to(device, /*non_blocking=*/false, /*copy=*/true),
                          torch::from_blob(state_.c.data(), shape).to(device, false, true)};
  auto [logits, next] = net_->module->forward(in, state, detail::LstmKernel::kStock);
  const torch::Tensor h = std::get<0>(next).to(torch::kCPU).contiguous();
  const torch::Tensor c = std::get<1>(next).to(torch::kCPU).contiguous();
  std::copy_n(h.data_ptr<float>(), state_.h.size(), state_.h.begin());
  std::copy_n(c.data_ptr<float>(), state_.c.size(), state_.c.begin());
  const torch::Tensor l = logits.to(torch::kCPU).contiguous();
  std::copy_n(l.data_ptr<float>(), state_.logits.size(), state_.logits.begin());
}

LstmModel::State LstmModel::snapshot() const {
  return state_;
}

void LstmModel::snapshot(State& into) const {
  into.h = state_.h;
  into.c = state_.c;
  into.logits = state_.logits;
}

void LstmModel::restore(const State& state) {
  std::copy(state.h.begin(), state.h.end(), state_.h.begin());
  std::copy(state.c.begin(), state.c.end(), state_.c.begin());
  std::copy(state.logits.begin(), state.logits.end(), state_.logits.begin());
}

}  // namespace nextbeat::engine
