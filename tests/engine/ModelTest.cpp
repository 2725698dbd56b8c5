#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

// LibTorch first: c10 defines a CHECK macro of its own (an abort, not a
// recorded assertion); Catch's, included after, must be the one in force.
#include "engine/model/LstmNet.h"

#include <catch2/catch.hpp>

#include "engine/codec/Codec.h"
#include "engine/codec/EventCodec.h"
#include "engine/model/Model.h"
#include "engine/model/ModelFile.h"
#include "engine/offline/Generator.h"

namespace fs = std::filesystem;
using namespace nextbeat::engine;

namespace {

ModelSpec small_spec(CodecKind kind, HeadKind head) {
  ModelSpec spec;
  spec.codec.kind = kind;
  spec.head = head;
  spec.input_size = make_codec(spec.codec)->input_size();
  spec.embed = 32;
  spec.hidden = 48;
  spec.layers = 2;
  spec.dropout = 0.3;  // must not matter at inference
  return spec;
}

EncodedSequence random_sequence(const ModelSpec& spec, std::size_t length, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  EncodedSequence s;
  for (std::size_t i = 0; i < length; ++i) {
    Step step;
    if (spec.codec.kind == CodecKind::kEvents) {
      step.token = static_cast<int>(rng() % static_cast<std::uint64_t>(spec.input_size));
      step.beat_tick = static_cast<std::uint16_t>(rng() % static_cast<std::uint64_t>(spec.codec.ticks_per_beat));
    } else {
      for (std::size_t k = 0; k < kKeys; ++k) step.frame[k] = rng() % 12 == 0;
      step.beat_tick = static_cast<std::uint16_t>(rng() % static_cast<std::uint64_t>(spec.codec.steps_per_beat));
    }
    step.bar_beat = static_cast<std::uint8_t>(rng() % 4);
    step.source = static_cast<std::uint8_t>(rng() % 2);
    s.steps.push_back(step);
  }
  return s;
}

// Gives the NADE weights non-zero values (they start at zero).
void perturb(LstmModel& model) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(7);
  for (auto& p : model.weights_for_training().module->parameters()) p.add_(torch::randn_like(p) * 0.05);
  model.repack();
}

}  // namespace

TEST_CASE("streaming one step at a time gives the full-sequence outputs within 1e-5", "[unit][model]") {
  for (const auto& [kind, head] :
       {std::pair{CodecKind::kEvents, HeadKind::kSoftmax}, std::pair{CodecKind::kPianoRoll, HeadKind::kSigmoid},
        std::pair{CodecKind::kPianoRoll, HeadKind::kNade}}) {
    SECTION(head_name(head)) {
      const ModelSpec spec = small_spec(kind, head);
      LstmModel model(spec, 3);
      perturb(model);
      const EncodedSequence sequence = random_sequence(spec, 60, 11);

      // The training path: the whole sequence in one forward pass.
      auto net = model.net().module;  // a handle: eval mode, no weight changes
      net->eval();
      torch::NoGradGuard no_grad;
      const auto batch = nextbeat::engine::detail::make_batch(
          spec, {nextbeat::engine::detail::Window{&sequence, 0, sequence.steps.size()}});
      const auto [full, state] = net->forward(batch.inputs);

      // The live path.
      model.reset();
      double worst = 0;
      for (std::size_t t = 0; t < sequence.steps.size(); ++t) {
        const auto logits = t == 0 ? model.logits() : model.step(sequence.steps[t - 1]);
        for (int i = 0; i < spec.output_size(); ++i)
          worst = std::max(worst, std::abs(double(logits[static_cast<std::size_t>(i)]) -
                                           full[0][static_cast<std::int64_t>(t)][i].item<double>()));
      }
      CHECK(worst < 1e-5);

      if (head == HeadKind::kNade) {
        const torch::Tensor w = net->masked_nade();
        const auto cached = model.nade_weights();
        REQUIRE(cached.size() == static_cast<std::size_t>(kKeys * kKeys));
        CHECK(cached[5 * kKeys + 3] == Approx(w[5][3].item<float>()));
        CHECK(cached[3 * kKeys + 5] == 0.0F);  // on or above the diagonal: no weight
      }
    }
  }
}

TEST_CASE("the fused sequence LSTM gives torch::nn::LSTM's outputs and gradients", "[unit][model]") {
  using nextbeat::engine::detail::LstmKernel;
  ModelSpec spec = small_spec(CodecKind::kEvents, HeadKind::kSoftmax);
  spec.layers = 3;
  spec.dropout = 0;  // dropout draws differ between the two; the maths must not
  LstmModel model(spec, 4);
  perturb(model);
  auto net = model.net().module;  // a handle: gradients, no weight changes
  net->train();
  const auto a = random_sequence(spec, 40, 1);
  const auto b = random_sequence(spec, 23, 2);  // a shorter window: padding in the batch
  const auto batch = nextbeat::engine::detail::make_batch(
      spec, {nextbeat::engine::detail::Window{&a, 0, 40}, nextbeat::engine::detail::Window{&b, 0, 23}});
  torch::manual_seed(3);
  const torch::Tensor h0 = torch::randn({spec.layers, 2, spec.hidden}) * 0.5;
  const torch::Tensor c0 = torch::randn({spec.layers, 2, spec.hidden}) * 0.5;
  const torch::Tensor weights = torch::randn({2, 40, spec.output_size()});

  struct Result {
    torch::Tensor logits, h, c;
    std::vector<torch::Tensor> grads;
  };
  const auto run = [&](LstmKernel kernel) {
    for (auto& p : net->parameters()) p.mutable_grad() = torch::Tensor();
    const torch::Tensor h = h0.clone().requires_grad_(true);
    const torch::Tensor c = c0.clone().requires_grad_(true);
    const auto [logits, state] = net->forward(batch.inputs, nextbeat::engine::detail::LstmState{h, c}, kernel);
    const torch::Tensor loss =
        (logits * weights).sum() + std::get<0>(state).pow(2).sum() + 0.5 * std::get<1>(state).sum();
    loss.backward();
    Result r{logits.detach(), std::get<0>(state).detach(), std::get<1>(state).detach(), {h.grad(), c.grad()}};
    for (const auto& p : net->parameters()) r.grads.push_back(p.grad().clone());
    return r;
  };
  const Result fused = run(LstmKernel::kSequence);
  const Result stock = run(LstmKernel::kStock);
  const auto close = [](const torch::Tensor& x, const torch::Tensor& y) {
    return (x - y).abs().max().item<double>() <= 1e-5 * std::max(1.0, y.abs().max().item<double>());
  };
  CHECK(close(fused.logits, stock.logits));
  CHECK(close(fused.h, stock.h));
  CHECK(close(fused.c, stock.c));
  REQUIRE(fused.grads.size() == stock.grads.size());
  for (std::size_t i = 0; i < fused.grads.size(); ++i) {
    INFO("gradient " << i);
    CHECK(close(fused.grads[i], stock.grads[i]));
  }
}

TEST_CASE("changed weights reach the step only through an explicit repack()", "[unit][model]") {
  LstmModel model(small_spec(CodecKind::kEvents, HeadKind::kSoftmax), 5);
  CHECK_FALSE(model.needs_repack());
  const Step input{.token = 3};
  const auto first = model.step(input);
  const std::vector<float> before(first.begin(), first.end());
  {
    torch::NoGradGuard no_grad;
    model.weights_for_training().module->head->weight.mul_(4.0);
  }
  CHECK(model.needs_repack());  // step() and reset() would abort here: they never pack
  model.repack();
  CHECK_FALSE(model.needs_repack());
  model.reset();
  const auto after = model.step(input);
  CHECK_FALSE(std::equal(before.begin(), before.end(), after.begin()));
}

TEST_CASE("a snapshot restores the state exactly", "[unit][model]") {
  const ModelSpec spec = small_spec(CodecKind::kEvents, HeadKind::kSoftmax);
  LstmModel model(spec, 5);
  const auto sequence = random_sequence(spec, 20, 2);
  model.reset();
  for (const auto& s : sequence.steps) model.step(s);
  const auto snapshot = model.snapshot();
  const std::vector<float> expected(model.logits().begin(), model.logits().end());
  for (const auto& s : random_sequence(spec, 7, 3).steps) model.step(s);  // roll out a "beat"
  model.restore(snapshot);
  CHECK(std::equal(expected.begin(), expected.end(), model.logits().begin()));
  const auto a = model.step(sequence.steps[0]);
  const std::vector<float> after_restore(a.begin(), a.end());
  model.restore(snapshot);
  const auto b = model.step(sequence.steps[0]);
  CHECK(std::equal(after_restore.begin(), after_restore.end(), b.begin()));
}

TEST_CASE("a saved model loads back with the same outputs and provenance", "[unit][model]") {
  const fs::path dir = fs::temp_directory_path() / ("nextbeat-model-test-" + std::to_string(getpid()));
  fs::create_directories(dir);
  for (const auto head : {HeadKind::kSoftmax, HeadKind::kNade}) {
    const ModelSpec spec = small_spec(head == HeadKind::kSoftmax ? CodecKind::kEvents : CodecKind::kPianoRoll, head);
    LstmModel model(spec, 9);
    perturb(model);
    model.set_provenance({{"command", "test"}, {"metrics", {{"valid_nll", 1.5}}}});
    const fs::path path = dir / ("m-" + head_name(head) + ".nbm");
    model.save(path);
    LstmModel loaded = LstmModel::load(path);
    CHECK(loaded.spec() == spec);
    CHECK(loaded.provenance()["metrics"]["valid_nll"] == 1.5);
    const auto sequence = random_sequence(spec, 10, 4);
    model.reset();
    loaded.reset();
    for (const auto& s : sequence.steps) {
      const auto a = model.step(s);
      const std::vector<float> expected(a.begin(), a.end());
      const auto b = loaded.step(s);
      CHECK(std::equal(expected.begin(), expected.end(), b.begin()));
    }
    // Atomic: no temporary file is left beside it.
    std::size_t files = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++files;
    CHECK(files == (head == HeadKind::kSoftmax ? 1U : 2U));
  }
  fs::remove_all(dir);
}

TEST_CASE("wrong, truncated, damaged or foreign model files are refused with a clear error", "[unit][model]") {
  const fs::path dir = fs::temp_directory_path() / ("nextbeat-model-bad-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const ModelSpec spec = small_spec(CodecKind::kEvents, HeadKind::kSoftmax);
  const fs::path good = dir / "good.nbm";
  LstmModel(spec, 1).save(good);
  std::ifstream in(good, std::ios::binary);
  const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

  const auto write = [&](const std::string& name, const std::vector<std::uint8_t>& content) {
    const fs::path p = dir / name;
    std::ofstream(p, std::ios::binary)
        .write(reinterpret_cast<const char*>(content.data()), static_cast<std::streamsize>(content.size()));
    return p;
  };
  const auto message_of = [](const fs::path& p) -> std::string {
    try {
      LstmModel::load(p);
    } catch (const ModelFileError& e) {
      return e.what();
    }
    return "loaded";
  };

  // Truncated anywhere: header, tensors, trailer.
  for (const std::size_t keep : {std::size_t{0}, std::size_t{5}, std::size_t{30}, bytes.size() / 2, bytes.size() - 1}) {
    const auto p = write("cut.nbm", {bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(keep)});
    const std::string m = message_of(p);
    INFO(keep << ": " << m);
    CHECK_THAT(m, Catch::StartsWith(p.string() + ": "));
    CHECK(m != "loaded");
  }
  auto flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x40;
  CHECK_THAT(message_of(write("flip.nbm", flipped)), Catch::Contains("CRC-32 mismatch"));
  CHECK_THAT(message_of(write("zip.pt", {'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0})),
             Catch::Contains("not a nextbeat model file") && Catch::Contains("PyTorch"));
  CHECK_THAT(message_of(dir / "missing.nbm"), Catch::Contains("cannot read the model"));

  // A well-formed container whose tensors do not fit its spec.
  auto contents = read_model_file(good);
  contents.header["spec"]["hidden"] = 64;
  write_model_file(dir / "shape.nbm", contents);
  CHECK_THAT(message_of(dir / "shape.nbm"), Catch::Contains("wrong type or shape"));
  contents = read_model_file(good);
  contents.header["spec"]["head"] = "nade";
  write_model_file(dir / "head.nbm", contents);
  CHECK_THAT(message_of(dir / "head.nbm"), Catch::Contains("spec.head"));
  contents = read_model_file(good);
  contents.header["format"] = "something-else";
  write_model_file(dir / "format.nbm", contents);
  CHECK_THAT(message_of(dir / "format.nbm"), Catch::Contains("not a nextbeat model"));
  fs::remove_all(dir);
}

TEST_CASE("bundled models are found by name", "[unit][model]") {
  CHECK_THROWS_WITH(resolve_model_path("default:nosuch"), Catch::Contains("bundled model not found"));
  CHECK_THROWS_WITH(resolve_model_path("/nonexistent/model.nbm"), Catch::Contains("no such model file"));
}

TEST_CASE("the bundled models load by name and continue a prime", "[unit][model]") {
  for (const auto& [name, kind] :
       {std::pair{"default:events", CodecKind::kEvents}, std::pair{"default:pianoroll", CodecKind::kPianoRoll}}) {
    SECTION(name) {
      LstmModel model = LstmModel::load(resolve_model_path(name));
      CHECK(model.spec().codec.kind == kind);
      CHECK(model.provenance().contains("command"));
      CHECK(model.provenance()["metrics"]["valid_nll"].get<double>() > 0);
      // Small enough to ship and to run live on a Raspberry Pi.
      CHECK(model.parameter_count() < 3'000'000);
      const auto codec = make_codec(model.spec().codec);
      Score prime;
      for (int beat = 0; beat < 4; ++beat)
        for (const int pitch : {48, 60, 64, 67})
          prime.notes.push_back(Note{
              .pitch = pitch + (beat % 2) * 2, .velocity = 80, .start_beat = double(beat), .end_beat = beat + 1.0});
      GenerateOptions options;
      options.beats = 8;
      options.controls.seed = 1;
      const Continuation c = continue_score(model, *codec, prime, options);
      CHECK(c.generated_notes > 0);
    }
  }
}
