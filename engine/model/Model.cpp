#include "engine/model/Model.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include <torch/cuda.h>

#include "engine/model/LstmNet.h"
#include "engine/model/ModelFile.h"

namespace nextbeat::engine {

// --- Spec <-> JSON ------------------------------------------------------------------

std::string head_name(HeadKind head) {
  switch (head) {
    case HeadKind::kSoftmax:
      return "softmax";
    case HeadKind::kSigmoid:
      return "sigmoid";
    case HeadKind::kNade:
      return "nade";
  }
  return "?";
}

nlohmann::json spec_to_json(const ModelSpec& spec) {
  const auto& c = spec.codec;
  return {{"codec",
           {{"kind", c.kind == CodecKind::kEvents ? "events" : "pianoroll"},
            {"ticks_per_beat", c.ticks_per_beat},
            {"velocity_bins", c.velocity_bins},
            {"max_shift_ticks", c.max_shift_ticks},
            {"steps_per_beat", c.steps_per_beat},
            {"include_drums", c.include_drums}}},
          {"head", head_name(spec.head)},
          {"input_size", spec.input_size},
          {"embed", spec.embed},
          {"hidden", spec.hidden},
          {"layers", spec.layers},
          {"dropout", spec.dropout},
          {"position_inputs", spec.position_inputs}};
}

namespace {

int int_field(const nlohmann::json& obj, const char* key, int lo, int hi, const std::string& where) {
  const auto it = obj.find(key);
  if (it == obj.end() || !it->is_number_integer() || it->get<std::int64_t>() < lo || it->get<std::int64_t>() > hi)
    throw ModelFileError(where + "." + key + ": expected an integer in " + std::to_string(lo) + ".." +
                         std::to_string(hi));
  return it->get<int>();
}

}  // namespace

ModelSpec spec_from_json(const nlohmann::json& json, const std::string& source) {
  const std::string where = source + ": spec";
  if (!json.is_object() || !json.contains("codec") || !json["codec"].is_object())
    throw ModelFileError(where + ": expected an object with a codec");
  ModelSpec spec;
  const auto& c = json["codec"];
  const auto kind = c.value("kind", std::string());
  if (kind == "events") {
    spec.codec.kind = CodecKind::kEvents;
  } else if (kind == "pianoroll") {
    spec.codec.kind = CodecKind::kPianoRoll;
  } else {
    throw ModelFileError(where + ".codec.kind: expected \"events\" or \"pianoroll\"");
  }
  spec.codec.ticks_per_beat = int_field(c, "ticks_per_beat", 1, 96, where + ".codec");
  spec.codec.velocity_bins = int_field(c, "velocity_bins", 1, 127, where + ".codec");
  spec.codec.max_shift_ticks = int_field(c, "max_shift_ticks", 1, 1024, where + ".codec");
  spec.codec.steps_per_beat = int_field(c, "steps_per_beat", 1, 96, where + ".codec");
  if (!c.contains("include_drums") || !c["include_drums"].is_boolean())
    throw ModelFileError(where + ".codec.include_drums: expected true or false");
  spec.codec.include_drums = c["include_drums"].get<bool>();

  const auto head = json.value("head", std::string());
  if (head == "softmax") {
    spec.head = HeadKind::kSoftmax;
  } else if (head == "sigmoid") {
    spec.head = HeadKind::kSigmoid;
  } else if (head == "nade") {
    spec.head = HeadKind::kNade;
  } else {
    throw ModelFileError(where + ".head: expected \"softmax\", \"sigmoid\" or \"nade\"");
  }
  spec.input_size = int_field(json, "input_size", 1, 1 << 16, where);
  spec.embed = int_field(json, "embed", 1, 8192, where);
  spec.hidden = int_field(json, "hidden", 1, 8192, where);
  spec.layers = int_field(json, "layers", 1, 16, where);
  if (!json.contains("dropout") || !json["dropout"].is_number() || json["dropout"].get<double>() < 0 ||
      json["dropout"].get<double>() >= 1)
    throw ModelFileError(where + ".dropout: expected a number in [0, 1)");
  spec.dropout = json["dropout"].get<double>();
  if (!json.contains("position_inputs") || !json["position_inputs"].is_boolean())
    throw ModelFileError(where + ".position_inputs: expected true or false");
  spec.position_inputs = json["position_inputs"].get<bool>();

  const bool events = spec.codec.kind == CodecKind::kEvents;
  const int expected_input = events ? 256 + spec.codec.velocity_bins + spec.codec.max_shift_ticks : kKeys;
  if (spec.input_size != expected_input)
    throw ModelFileError(where + ".input_size: " + std::to_string(spec.input_size) + " does not match the codec (" +
                         std::to_string(expected_input) + ")");
  if (events != (spec.head == HeadKind::kSoftmax))
    throw ModelFileError(where + ".head: " + head + " does not fit the " + kind + " codec");
  return spec;
}

std::filesystem::path resolve_model_path(std::string_view name) {
  namespace fs = std::filesystem;
  constexpr std::string_view kPrefix = "default:";
  if (!name.starts_with(kPrefix)) {
    const fs::path path(name);
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) throw ModelFileError(std::string(name) + ": no such model file");
    return path;
  }
  const std::string file = std::string(name.substr(kPrefix.size())) + ".nbm";
  std::vector<fs::path> dirs;
  if (const char* env = std::getenv("NEXTBEAT_MODEL_DIR")) dirs.emplace_back(env);
  dirs.emplace_back(NEXTBEAT_INSTALL_MODEL_DIR);
  dirs.emplace_back(NEXTBEAT_SOURCE_MODEL_DIR);
  std::string looked;
  for (const auto& dir : dirs) {
    std::error_code ec;
    if (fs::is_regular_file(dir / file, ec)) return dir / file;
    looked += (looked.empty() ? "" : ", ") + (dir / file).string();
  }
  throw ModelFileError(std::string(name) + ": bundled model not found (looked in " + looked + ")");
}

// --- The network -------------------------------------------------------------------

namespace detail {

LstmNetImpl::LstmNetImpl(const ModelSpec& s) : spec(s) {
  const bool events = spec.codec.kind == CodecKind::kEvents;
  if (events) {
    token_embed = register_module("token_embed", torch::nn::Embedding(spec.input_size + 1, spec.embed));
  } else {
    frame_proj = register_module("frame_proj", torch::nn::Linear(kKeys, spec.embed));
  }
  if (spec.position_inputs) {
    const int beat_positions = events ? spec.codec.ticks_per_beat : spec.codec.steps_per_beat;
    beat_embed = register_module("beat_embed", torch::nn::Embedding(beat_positions, spec.embed));
    bar_embed = register_module("bar_embed", torch::nn::Embedding(16, spec.embed));
    source_embed = register_module("source_embed", torch::nn::Embedding(2, spec.embed));
  }
  in_drop = register_module("in_drop", torch::nn::Dropout(spec.dropout));
  out_drop = register_module("out_drop", torch::nn::Dropout(spec.dropout));
  lstm = register_module("lstm", torch::nn::LSTM(torch::nn::LSTMOptions(spec.embed, spec.hidden)
                                                     .num_layers(spec.layers)
                                                     .dropout(spec.layers > 1 ? spec.dropout : 0.0)
                                                     .batch_first(true)));
  head = register_module("head", torch::nn::Linear(spec.hidden, spec.output_size()));
  if (spec.head == HeadKind::kNade) {
    nade = register_parameter("nade", torch::zeros({kKeys, kKeys}));
    nade_mask = register_buffer("nade_mask", torch::ones({kKeys, kKeys}).tril(-1));
  }
}

std::tuple<torch::Tensor, LstmState> LstmNetImpl::forward(const StepTensors& in, const std::optional<LstmState>& state,
                                                          LstmKernel kernel) {
  torch::Tensor x = spec.codec.kind == CodecKind::kEvents ? token_embed(in.tokens) : frame_proj(in.frames);
  if (spec.position_inputs) x = x + beat_embed(in.beat) + bar_embed(in.bar) + source_embed(in.source);
  x = in_drop(x);
  const bool fused = kernel == LstmKernel::kSequence && x.is_cpu() && x.scalar_type() == torch::kFloat32;
  auto [out, final_state] = fused   ? sequence_lstm(*lstm, x, state, spec.dropout, is_training())
                            : state ? lstm->forward(x, *state)
                                    : lstm->forward(x);
  return {head(out_drop(out)), final_state};
}

torch::Tensor LstmNetImpl::masked_nade() const {
  return nade * nade_mask;
}

torch::Tensor LstmNetImpl::step_nll(const torch::Tensor& logits, const TrainingBatch& batch) {
  namespace F = torch::nn::functional;
  torch::Tensor nll;
  if (spec.head == HeadKind::kSoftmax) {
    const auto sizes = batch.target_tokens.sizes();
    nll = F::cross_entropy(logits.reshape({-1, logits.size(-1)}), batch.target_tokens.reshape({-1}),
                           F::CrossEntropyFuncOptions().reduction(torch::kNone))
              .view(sizes);
  } else {
    torch::Tensor l = logits;
    // Key k also sees the target keys below it: exact likelihood of the
    // frame, teacher-forced, in one matrix product.
    if (spec.head == HeadKind::kNade) l = l + torch::matmul(batch.target_frames, masked_nade().t());
    nll = F::binary_cross_entropy_with_logits(l, batch.target_frames,
                                              F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone))
              .sum(-1);
  }
  return nll * batch.mask;
}

std::vector<Window> make_windows(const std::vector<EncodedSequence>& sequences, std::size_t length) {
  std::vector<Window> windows;
  for (const auto& s : sequences) {
    for (std::size_t begin = 0; begin < s.steps.size(); begin += length)
      windows.push_back({&s, begin, std::min(s.steps.size(), begin + length)});
  }
  return windows;
}

TrainingBatch make_batch(const ModelSpec& spec, const std::vector<Window>& windows) {
  const bool events = spec.codec.kind == CodecKind::kEvents;
  const auto b = static_cast<std::int64_t>(windows.size());
  std::int64_t t = 0;
  for (const auto& w : windows) t = std::max<std::int64_t>(t, static_cast<std::int64_t>(w.end - w.begin));

  const auto i64 = torch::TensorOptions().dtype(torch::kInt64);
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  TrainingBatch batch;
  batch.inputs.beat = torch::zeros({b, t}, i64);
  batch.inputs.bar = torch::zeros({b, t}, i64);
  batch.inputs.source = torch::zeros({b, t}, i64);
  batch.mask = torch::zeros({b, t}, f32);
  if (events) {
    batch.inputs.tokens = torch::full({b, t}, start_token(spec), i64);
    batch.target_tokens = torch::zeros({b, t}, i64);
  } else {
    batch.inputs.frames = torch::zeros({b, t, kKeys}, f32);
    batch.target_frames = torch::zeros({b, t, kKeys}, f32);
  }
  // Raw row-major pointers: element access through Tensor indexing would
  // build a tensor per element.
  auto* beat = batch.inputs.beat.data_ptr<std::int64_t>();
  auto* bar = batch.inputs.bar.data_ptr<std::int64_t>();
  auto* source = batch.inputs.source.data_ptr<std::int64_t>();
  auto* mask = batch.mask.data_ptr<float>();
  auto* in_tokens = events ? batch.inputs.tokens.data_ptr<std::int64_t>() : nullptr;
  auto* out_tokens = events ? batch.target_tokens.data_ptr<std::int64_t>() : nullptr;
  auto* in_frames = events ? nullptr : batch.inputs.frames.data_ptr<float>();
  auto* out_frames = events ? nullptr : batch.target_frames.data_ptr<float>();
  const auto put_frame = [](float* dst, const Frame& frame) {
    for (std::size_t k = 0; k < kKeys; ++k) dst[k] = frame[k] ? 1.0F : 0.0F;
  };
  for (std::int64_t row = 0; row < b; ++row) {
    const auto& w = windows[static_cast<std::size_t>(row)];
    const auto& steps = w.sequence->steps;
    for (std::size_t i = w.begin; i < w.end; ++i) {
      const std::int64_t at = row * t + static_cast<std::int64_t>(i - w.begin);
      mask[at] = 1.0F;
      const Step& target = steps[i];
      if (events) {
        out_tokens[at] = target.token;
      } else {
        put_frame(out_frames + at * kKeys, target.frame);
      }
      if (i == 0) continue;  // input: the start step, already in place
      const Step& input = steps[i - 1];
      beat[at] = input.beat_tick;
      bar[at] = input.bar_beat;
      source[at] = input.source;
      if (events) {
        in_tokens[at] = input.token;
      } else {
        put_frame(in_frames + at * kKeys, input.frame);
      }
    }
  }
  batch.targets = static_cast<std::int64_t>(batch.mask.sum().item<float>());
  return batch;
}

}  // namespace detail

// --- LstmModel -----------------------------------------------------------------------

LstmModel::LstmModel() = default;
LstmModel::~LstmModel() = default;
LstmModel::LstmModel(LstmModel&&) noexcept = default;
LstmModel& LstmModel::operator=(LstmModel&&) noexcept = default;

LstmModel::LstmModel(const ModelSpec& spec, std::uint64_t seed) {
  torch::manual_seed(seed);
  net_ = std::make_unique<detail::LstmNetHolder>(detail::LstmNetHolder{detail::LstmNet(spec)});
  net_->module->eval();
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
detail::LstmNetHolder& LstmModel::net() {
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
  const auto format = contents.header.value("format", std::string());
  if (format != "nextbeat-model" && format != "nextbeat-checkpoint")
    throw ModelFileError(source + ": not a nextbeat model (format '" + format + "')");
  if (!contents.header.contains("spec")) throw ModelFileError(source + ": no spec in the header");
  const ModelSpec spec = spec_from_json(contents.header["spec"], source);

  LstmModel model;
  model.net_ = std::make_unique<detail::LstmNetHolder>(detail::LstmNetHolder{detail::LstmNet(spec)});
  model.provenance_ = contents.header.value("provenance", nlohmann::json::object());
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
  if (s.codec.kind == CodecKind::kEvents) {
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

void LstmModel::refresh_inference_cache() {
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
  if (stale_) refresh_inference_cache();
  reset();
}

namespace {

// Median time of one step on the model's current path, after a warm-up.
double median_step_us(LstmModel& model, int steps) {
  Step step;
  if (model.spec().codec.kind == CodecKind::kEvents) step.token = 0;
  for (int i = 0; i < 16; ++i) model.step(step);
  std::vector<double> us;
  for (int i = 0; i < steps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    model.step(step);
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  std::nth_element(us.begin(), us.begin() + steps / 2, us.end());
  return us[static_cast<std::size_t>(steps / 2)];
}

std::string format_us(double us) {
  char text[32];
  std::snprintf(text, sizeof text, "%.0f µs", us);
  return text;
}

}  // namespace

std::string LstmModel::prepare_inference(config::Device device, config::WeightPrecision precision) {
  const std::string packed = "packed " + std::string(config::enum_name(precision)) + " step on the CPU";
  const bool cuda = torch::cuda::is_available();
  if (device == config::Device::kCpu || !cuda) {
    use_step_path(StepPath::kPacked, precision);
    if (device == config::Device::kCuda) return packed + " (model.device = cuda, but this LibTorch has no CUDA device)";
    return packed + (device == config::Device::kAuto ? " (auto: no CUDA device)" : "");
  }
  // model.precision applies to the CPU step; the GPU steps in fp32.
  use_step_path(StepPath::kLibTorch, config::WeightPrecision::kFloat32, /*cuda=*/true);
  if (device == config::Device::kCuda) return "LibTorch step on CUDA";
  // auto: a batch-1 recurrent step is often faster on the CPU; measure.
  const double gpu_us = median_step_us(*this, 200);
  use_step_path(StepPath::kPacked, precision);
  const double cpu_us = median_step_us(*this, 200);
  const std::string measured = " (auto: CPU " + format_us(cpu_us) + ", CUDA " + format_us(gpu_us) + " a step)";
  if (cpu_us <= gpu_us) return packed + measured;
  use_step_path(StepPath::kLibTorch, config::WeightPrecision::kFloat32, /*cuda=*/true);
  return "LibTorch step on CUDA" + measured;
}

LiveModel load_live_model(std::string_view name, const config::ModelConfig& config) {
  LiveModel live{std::make_unique<LstmModel>(LstmModel::load(resolve_model_path(name))), {}};
  live.inference = live.model->prepare_inference(config.device, config.precision);
  Step step;
  if (live.model->spec().codec.kind == CodecKind::kEvents) step.token = 0;
  for (int i = 0; i < 32; ++i) live.model->step(step);
  live.model->reset();
  return live;
}

std::size_t LstmModel::packed_matrix_bytes() {
  if (stale_) refresh_inference_cache();
  return packed_.matrix_bytes();
}

std::size_t LstmModel::packed_table_bytes() {
  if (stale_) refresh_inference_cache();
  return packed_.table_bytes();
}

std::span<const float> LstmModel::nade_weights() const {
  return nade_;
}
std::span<const float> LstmModel::logits() const {
  return state_.logits;
}

void LstmModel::reset() {
  if (stale_) refresh_inference_cache();
  const auto& s = spec();
  state_.h.assign(static_cast<std::size_t>(s.layers * s.hidden), 0.0F);
  state_.c.assign(state_.h.size(), 0.0F);
  state_.logits.assign(static_cast<std::size_t>(s.output_size()), 0.0F);
  Step start;
  start.token = static_cast<int>(detail::start_token(s));
  step(start);
}

std::span<const float> LstmModel::step(const Step& input) {
  if (stale_) refresh_inference_cache();
  if (path_ == StepPath::kPacked) {
    packed_.step(input, state_.h.data(), state_.c.data(), state_.logits.data());
  } else {
    torch_step(input);
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
  if (s.codec.kind == CodecKind::kEvents) {
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
