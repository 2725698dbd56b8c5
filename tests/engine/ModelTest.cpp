#include <sys/stat.h>
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

namespace {

fs::path write_bytes(const fs::path& p, const std::vector<std::uint8_t>& content) {
  std::ofstream(p, std::ios::binary)
      .write(reinterpret_cast<const char*>(content.data()), static_cast<std::streamsize>(content.size()));
  return p;
}

// LstmModel::load's error message, or "loaded".
std::string message_of(const fs::path& p) {
  try {
    LstmModel::load(p);
  } catch (const ModelFileError& e) {
    return e.what();
  }
  return "loaded";
}

}  // namespace

TEST_CASE("wrong, truncated, damaged or foreign model files are refused with a clear error", "[unit][model]") {
  const fs::path dir = fs::temp_directory_path() / ("nextbeat-model-bad-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const ModelSpec spec = small_spec(CodecKind::kEvents, HeadKind::kSoftmax);
  const fs::path good = dir / "good.nbm";
  LstmModel(spec, 1).save(good);
  std::ifstream in(good, std::ios::binary);
  const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

  const auto write = [&](const std::string& name, const std::vector<std::uint8_t>& content) {
    return write_bytes(dir / name, content);
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
  contents.header["spec"]["hidden"] = spec.hidden / 2;
  write_model_file(dir / "shape.nbm", contents);
  CHECK_THAT(message_of(dir / "shape.nbm"), Catch::Contains("wrong type or shape"));
  contents = read_model_file(good);
  contents.header["spec"]["head"] = "nade";
  write_model_file(dir / "head.nbm", contents);
  CHECK_THAT(message_of(dir / "head.nbm"), Catch::Contains("spec.head"));
  contents = read_model_file(good);
  contents.header["format"] = "something-else";
  write_model_file(dir / "format.nbm", contents);
  CHECK_THAT(message_of(dir / "format.nbm"), Catch::Contains("format: expected"));
  fs::remove_all(dir);
}

namespace {

std::uint32_t crc32_reference(const std::vector<std::uint8_t>& bytes) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (const std::uint8_t b : bytes) {
    crc ^= b;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

// A container with this header text and tensor data, its lengths and CRC
// right: what a hostile file that passes the integrity checks looks like.
std::vector<std::uint8_t> container(const std::string& header, const std::vector<std::uint8_t>& data) {
  std::vector<std::uint8_t> out{'N', 'X', 'T', 'B', 'E', 'A', 'T', 0, 1, 0, 0, 0, 0, 0, 0, 0};
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(std::uint64_t{header.size()} >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  const std::uint32_t crc = crc32_reference(out);
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(crc >> (8 * i)));
  for (const char c : {'E', 'N', 'D', '\0'}) out.push_back(static_cast<std::uint8_t>(c));
  return out;
}

}  // namespace

TEST_CASE("hostile model headers are refused before they cost stack or memory", "[unit][model]") {
  const fs::path dir = fs::temp_directory_path() / ("nextbeat-model-hostile-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const auto write = [&](const std::string& name, const std::vector<std::uint8_t>& content) {
    return write_bytes(dir / name, content);
  };
  const ModelSpec spec = small_spec(CodecKind::kEvents, HeadKind::kSoftmax);
  const fs::path good = dir / "good.nbm";
  LstmModel(spec, 1).save(good);
  ModelFileContents contents = read_model_file(good);
  std::vector<std::uint8_t> data;
  for (const auto& t : contents.tensors) data.insert(data.end(), t.data.begin(), t.data.end());
  const auto header_text = [&](const ModelFileContents& c) {
    nlohmann::json table = nlohmann::json::array();
    std::uint64_t offset = 0;
    for (const auto& t : c.tensors) {
      table.push_back(
          {{"name", t.name}, {"dtype", "f32"}, {"shape", t.shape}, {"offset", offset}, {"bytes", t.data.size()}});
      offset += t.data.size();
    }
    nlohmann::json header = c.header;
    header["tensors"] = table;
    return header.dump();
  };
  // The container built here is the real one: it loads.
  REQUIRE(message_of(write("rebuilt.nbm", container(header_text(contents), data))) == "loaded");

  SECTION("provenance nested 100,000 arrays deep (it used to overflow the stack when copied)") {
    std::string text = header_text(contents);
    text.insert(1, "\"deep\":" + std::string(100000, '[') + std::string(100000, ']') + ",");
    const auto p = write("deep.nbm", container(text, data));
    CHECK_THAT(message_of(p), Catch::StartsWith(p.string() + ": ") && Catch::Contains("nested deeper than 64"));
    CHECK_THROWS_WITH(parse_model_file(container(text, data), "x"), Catch::Contains("nested deeper than 64"));
  }
  SECTION("a fractional shape is not read as a whole one") {
    std::string text = header_text(contents);
    const auto at = text.find("\"shape\":[") + 9;
    const auto end = text.find_first_of(",]", at);
    text.insert(end, ".5");
    CHECK_THAT(message_of(write("half.nbm", container(text, data))),
               Catch::Contains("tensors[0].shape: expected whole numbers >= 0, got ") && Catch::Contains(".5"));
  }
  SECTION("a spec far larger than the weights in the file is refused before the network is built") {
    contents.header["spec"]["hidden"] = 4096;
    contents.header["spec"]["embed"] = 4096;
    const auto p = write("huge.nbm", container(header_text(contents), data));
    CHECK_THAT(message_of(p), Catch::Contains("spec: its sizes need at least"));
  }
  SECTION("header fields of the wrong type name the field") {
    contents.header["format"] = 5;
    CHECK_THAT(message_of(write("format.nbm", container(header_text(contents), data))),
               Catch::Contains("format: expected"));
    contents.header["format"] = "nextbeat-model";
    contents.header["spec"]["codec"]["kind"] = 3;
    CHECK_THAT(message_of(write("kind.nbm", container(header_text(contents), data))),
               Catch::Contains("spec.codec.kind: expected"));
    contents.header["spec"]["codec"]["kind"] = "events";
    contents.header["provenance"] = "hand-made";
    CHECK_THAT(message_of(write("prov.nbm", container(header_text(contents), data))),
               Catch::Contains("provenance: expected an object"));
  }
  SECTION("a sparse file is refused from its first bytes, not read whole") {
    // 1.5 GB that take no disk: the old reader allocated and read all of it.
    const fs::path junk = dir / "sparse-junk.nbm";
    std::ofstream(junk) << "junk";
    fs::resize_file(junk, std::uintmax_t{3} << 29);
    CHECK_THAT(message_of(junk), Catch::Contains("not a nextbeat model file"));
    // A real preamble and header, then a hole: its size is not what the header says.
    const auto bytes = container(header_text(contents), data);
    const fs::path holed = write("sparse-model.nbm", bytes);
    fs::resize_file(holed, std::uintmax_t{3} << 29);
    CHECK_THAT(message_of(holed), Catch::Contains("the tensor table says " + std::to_string(bytes.size()) + " bytes"));
  }
  SECTION("FIFOs and devices are refused without blocking") {
    const fs::path fifo = dir / "fifo.nbm";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    CHECK_THAT(message_of(fifo), Catch::Contains("not a regular file (a FIFO)"));
    CHECK_THAT(message_of("/dev/zero"), Catch::Contains("not a regular file (a character device)"));
  }
  fs::remove_all(dir);
}

TEST_CASE("the spec's parameter floor is below what the network allocates", "[unit][model]") {
  for (const auto kind : {CodecKind::kEvents, CodecKind::kPianoRoll}) {
    for (const auto head : {HeadKind::kSoftmax, HeadKind::kSigmoid, HeadKind::kNade}) {
      ModelSpec spec = small_spec(kind, head);
      if (!head_fits(head, step_form(kind))) continue;
      for (const int layers : {1, 3}) {
        spec.layers = layers;
        INFO(codec_name(kind) << " " << head_name(head) << " " << layers);
        const LstmModel model(spec, 1);
        CHECK(minimum_parameter_count(spec) <= model.parameter_count());
        CHECK(minimum_parameter_count(spec) * 10 >= model.parameter_count() * 5);  // and not far below it
      }
    }
  }
}

TEST_CASE("bundled models are found by name", "[unit][model]") {
  CHECK_THROWS_WITH(resolve_model_path("default:nosuch"), Catch::Contains("bundled model not found"));
  CHECK_THROWS_WITH(resolve_model_path("/nonexistent/model.nbm"), Catch::Contains("no such model file"));
  // Names come over OSC too: a bundled name never leaves the model directories.
  for (const char* name : {"default:../models/events", "default:/etc/passwd", "default:", "default:Events"})
    CHECK_THROWS_WITH(resolve_model_path(name), Catch::Contains("a word of a-z, 0-9, _ and -"));
}

TEST_CASE("default:events is a roles model that plays alone too, and default:accompany names it", "[unit][model]") {
  const LstmModel model = LstmModel::load(resolve_model_path("default:events"));
  CHECK(model.spec().roles);
  CHECK(model.spec().own_time);
  CHECK(model.spec().plays_alone);
  CHECK(model.spec().codec.kind == CodecKind::kEvents);
  CHECK(model.parameter_count() < 3'000'000);
  const std::string command = model.provenance()["command"].get<std::string>();
  for (const char* option : {"--roles", "--solo-copies", "--off-grid-performer"}) {
    INFO(option);
    CHECK(command.find(option) != std::string::npos);
  }
  CHECK(resolve_model_path("default:accompany") == resolve_model_path("default:events"));
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

TEST_CASE("with roles only nextbeat's steps are trained: its notes, and SHIFTs to a tick where it plays",
          "[unit][model]") {
  ModelSpec spec = small_spec(CodecKind::kEvents, HeadKind::kSoftmax);
  spec.roles = true;
  const EventCodec codec(spec.codec);
  // The performer plays 72 on beat 0 and 74 on beat 1; nextbeat holds 48 from beat 1.
  Score score;
  for (const auto& [pitch, start, end, source] :
       {std::tuple{72, 0.0, 1.0, 0}, std::tuple{74, 1.0, 2.0, 0}, std::tuple{48, 1.0, 2.0, 1}}) {
    Note n;
    n.pitch = pitch;
    n.start_beat = start;
    n.end_beat = end;
    n.source = static_cast<std::uint8_t>(source);
    score.notes.push_back(n);
  }
  score.sort_notes();
  const EncodedSequence sequence = codec.encode(score);
  const auto batch = nextbeat::engine::detail::make_batch(
      spec, {nextbeat::engine::detail::Window{&sequence, 0, sequence.steps.size()}});
  std::vector<std::string> trained;
  for (std::size_t i = 0; i < sequence.steps.size(); ++i) {
    if (batch.mask[0][static_cast<std::int64_t>(i)].item<float>() > 0)
      trained.push_back(codec.describe(sequence.steps[i]));
  }
  // Tokens: VEL ON72 | SHIFT12 OFF72 ON48 ON74 | SHIFT12 OFF48 OFF74: the performer's note-on and note-off
  // are listened to; the SHIFTs lead to ticks where nextbeat's 48 starts and ends.
  REQUIRE(trained.size() == 4);
  CHECK(batch.targets == 4);
  for (const auto& t : trained) CHECK((t.find("SHIFT") != std::string::npos || t.find("48") != std::string::npos));

  spec.roles = false;
  CHECK(nextbeat::engine::detail::make_batch(spec,
                                             {nextbeat::engine::detail::Window{&sequence, 0, sequence.steps.size()}})
            .targets == static_cast<std::int64_t>(sequence.steps.size()));
}

TEST_CASE("with own time every step learns nextbeat's next event, and a SHIFT is fed as source 0", "[unit][model]") {
  ModelSpec spec = small_spec(CodecKind::kEvents, HeadKind::kSoftmax);
  spec.roles = true;
  spec.own_time = true;
  const EventCodec codec(spec.codec);
  // The performer plays 72 on each of beats 0-3; nextbeat holds 48 over beats 0-1.
  Score score;
  for (int beat = 0; beat < 4; ++beat)
    score.notes.push_back(Note{.pitch = 72, .velocity = 80, .start_beat = double(beat), .end_beat = beat + 1.0});
  score.notes.push_back(Note{.pitch = 48, .velocity = 80, .start_beat = 0, .end_beat = 2, .source = 1});
  score.sort_notes();
  const EncodedSequence sequence = codec.encode(score);
  const auto batch = nextbeat::engine::detail::make_batch(
      spec, {nextbeat::engine::detail::Window{&sequence, 0, sequence.steps.size()}});
  std::vector<std::string> actual;  // the step that comes next in the file
  std::vector<std::string> targets;
  for (std::size_t i = 0; i < sequence.steps.size(); ++i) {
    const auto at = static_cast<std::int64_t>(i);
    if (batch.mask[0][at].item<float>() == 0) continue;
    actual.push_back(codec.describe(sequence.steps[i]));
    targets.push_back(codec.describe(Step{.token = static_cast<int>(batch.target_tokens[0][at].item<std::int64_t>())}));
  }
  // Tokens: VEL ON48 ON72 | SHIFT12 OFF72 ON72 | SHIFT12 OFF48 OFF72 ON72 | ... After nextbeat's OFF48
  // (beat 2) it plays nothing more: nothing left to learn.
  const int beat = spec.codec.ticks_per_beat;
  const auto shift = [&](int ticks) { return "SHIFT(" + std::to_string(ticks) + ")"; };
  REQUIRE(targets.size() == 8);
  CHECK(batch.targets == 8);
  CHECK(targets[1] == "NOTE_ON(48)");
  CHECK(actual[2] == "NOTE_ON(72)");  // the performer's note comes next; nextbeat waits two beats
  CHECK(targets[2] == shift(2 * beat));
  CHECK(targets[3] == shift(2 * beat));  // the SHIFT to beat 1 moves to the performer's notes only
  CHECK(targets[4] == shift(beat));
  CHECK(targets[5] == shift(beat));
  CHECK(targets[6] == shift(beat));
  CHECK(targets[7] == "NOTE_OFF(48)");
  // The SHIFT to beat 2 leads to nextbeat's OFF48, so it carries source 1; it is fed as 0.
  REQUIRE(sequence.steps[6].source == 1);
  CHECK(batch.inputs.source[0][7].item<std::int64_t>() == 0);
  CHECK(batch.inputs.source[0][8].item<std::int64_t>() == 1);  // its OFF48 keeps its source
}

TEST_CASE("a model file records whether it was trained with roles, a file from before roles has none",
          "[unit][model]") {
  ModelSpec spec = small_spec(CodecKind::kEvents, HeadKind::kSoftmax);
  spec.roles = true;
  nlohmann::json json = spec_to_json(spec);
  CHECK(spec_from_json(json, "m.nbm").roles);
  json.erase("roles");
  CHECK_FALSE(spec_from_json(json, "m.nbm").roles);
  json["roles"] = "yes";
  CHECK_THROWS_WITH(spec_from_json(json, "m.nbm"), Catch::Contains("roles: expected true or false"));

  spec.own_time = true;
  json = spec_to_json(spec);
  CHECK(spec_from_json(json, "m.nbm").own_time);
  json.erase("own_time");  // a roles file from before own time: SHIFTs as before
  CHECK_FALSE(spec_from_json(json, "m.nbm").own_time);
  json["own_time"] = true;
  json["roles"] = false;
  CHECK_THROWS_WITH(spec_from_json(json, "m.nbm"), Catch::Contains("own_time: needs roles: true"));

  spec.plays_alone = true;
  json = spec_to_json(spec);
  CHECK(spec_from_json(json, "m.nbm").plays_alone);
  json.erase("plays_alone");  // a roles file from before: it only accompanies
  CHECK_FALSE(spec_from_json(json, "m.nbm").plays_alone);
  json["plays_alone"] = 1;
  CHECK_THROWS_WITH(spec_from_json(json, "m.nbm"), Catch::Contains("plays_alone: expected true or false"));
  json["plays_alone"] = true;
  json["roles"] = false;
  json.erase("own_time");
  CHECK_THROWS_WITH(spec_from_json(json, "m.nbm"), Catch::Contains("plays_alone: needs roles: true"));
}
