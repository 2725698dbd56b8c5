#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "engine/model/Model.h"
#include "engine/music/PianoRollData.h"
#include "engine/offline/Dataset.h"
#include "engine/offline/Evaluator.h"
#include "engine/offline/Generator.h"
#include "engine/offline/Trainer.h"
#include "engine/util/TempDirectory.h"

namespace fs = std::filesystem;
using namespace nextbeat::engine;

namespace {

TrainOptions tiny_options(const fs::path& out, const Codec& codec) {
  TrainOptions o;
  o.out = out;
  o.spec.codec = codec.settings();
  o.spec.head = HeadKind::kNade;
  o.spec.input_size = codec.input_size();
  o.spec.embed = 16;
  o.spec.hidden = 24;
  o.spec.layers = 1;
  o.spec.dropout = 0.2;
  o.batch_size = 4;
  o.window = 32;
  o.max_epochs = 2;
  o.lr = 1e-2;
  o.warmup_steps = 2;
  o.log_every = 2;
  o.checkpoint_every = 4;
  o.transpose = 2;
  o.threads = 1;  // the same arithmetic in every run: resume must match bit for bit
  return o;
}

std::vector<nlohmann::json> metrics_lines(const fs::path& path) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

const fs::path kSmall = fs::path(NEXTBEAT_TEST_DATA) / "jsb-quarter-small.json";

}  // namespace

TEST_CASE("train -> eval -> generate end to end on a few chorales", "[unit][train]") {
  TempDirectory dir("nextbeat-train-test");
  CodecSettings settings;
  settings.kind = CodecKind::kPianoRoll;
  const auto codec = make_codec(settings);
  const Dataset data = load_dataset({kSmall}, *codec);
  REQUIRE(data.train.size() == 24);
  TrainOptions o = tiny_options(dir.path() / "tiny.nbm", *codec);
  o.provenance = {{"data", {kSmall.string()}}, {"command", "test"}};
  int progress_calls = 0;
  const TrainResult r = train_model(o, data.train, data.valid, [&](const TrainProgress&) { ++progress_calls; });
  CHECK(r.epochs == 2);
  CHECK(progress_calls > 0);
  CHECK(std::isfinite(r.best_valid_loss));
  CHECK(r.best_valid_loss < 61.0);  // better than a coin per key

  // The model, its side files and its provenance.
  REQUIRE(fs::exists(o.out));
  CHECK(fs::exists(checkpoint_path(o.out)));
  CHECK(fs::file_size(loss_curve_path(o.out)) > 500);
  const auto lines = metrics_lines(metrics_path(o.out));
  CHECK(std::count_if(lines.begin(), lines.end(), [](auto& l) { return l.contains("valid_loss"); }) == 2);
  LstmModel model = LstmModel::load(o.out);
  CHECK(model.provenance()["command"] == "test");
  CHECK(model.provenance()["metrics"]["valid_nll"].get<double>() == Approx(r.best_valid_loss));

  // Evaluation reproduces the validation NLL the trainer saw.
  CHECK(evaluate_nll(model, data.valid).mean() == Approx(r.best_valid_loss).epsilon(1e-6));
  const NllResult test = evaluate_nll(model, data.test, true);
  CHECK(test.steps > 0);
  // Frame accuracy TP / (TP + FP + FN) over every target frame: TP + FN is
  // every key that sounds in the test frames, whatever the model predicts.
  // (This tiny model predicts silence, so its accuracy is 0: the formula is
  // checked on counts made by hand.)
  std::int64_t keys_on = 0;
  for (const auto& sequence : data.test)
    for (const auto& step : sequence.steps) keys_on += static_cast<std::int64_t>(step.frame.count());
  REQUIRE(keys_on > 0);
  CHECK(test.true_positives + test.false_negatives == keys_on);
  CHECK(test.accuracy() ==
        Approx(static_cast<double>(test.true_positives) /
               static_cast<double>(test.true_positives + test.false_positives + keys_on - test.true_positives)));
  NllResult counted;
  counted.true_positives = 3;
  counted.false_positives = 1;
  counted.false_negatives = 2;
  CHECK(counted.accuracy() == Approx(0.5));
  CHECK(NllResult{}.accuracy() == 0.0);  // nothing to predict: 0, not NaN
  NllResult perfect;
  perfect.true_positives = 7;
  CHECK(perfect.accuracy() == 1.0);

  // Generation continues a prime with notes from the model.
  Score prime = codec->decode(data.test.front());
  std::erase_if(prime.notes, [](const Note& n) { return n.start_beat >= 8; });
  GenerateOptions g;
  g.beats = 8;
  g.controls.seed = 5;
  const Continuation c = continue_score(model, *codec, prime, g);
  CHECK(c.start_beat >= 8);
  CHECK(c.model_steps == 8);
  for (const auto& n : c.score.notes)
    if (n.source == 1) CHECK(n.start_beat >= c.start_beat);
}

TEST_CASE("a resumed run continues on the same loss curve", "[unit][train]") {
  TempDirectory dir("nextbeat-train-test");
  CodecSettings settings;
  settings.kind = CodecKind::kPianoRoll;
  const auto codec = make_codec(settings);
  const Dataset data = load_dataset({kSmall}, *codec);

  // Every step's progress, by step: the train loss at each log point.
  using Seen = std::map<std::int64_t, double>;
  const auto recorder = [](Seen& seen) { return [&seen](const TrainProgress& p) { seen[p.step] = p.train_loss; }; };
  Seen straight_seen, first_seen, second_seen;
  TrainOptions straight = tiny_options(dir.path() / "straight.nbm", *codec);
  train_model(straight, data.train, data.valid, recorder(straight_seen));

  // Stopped after 6 steps (mid-epoch, after a checkpoint at 4 and a log at 6),
  // then resumed to the end.
  TrainOptions first = tiny_options(dir.path() / "resumed.nbm", *codec);
  first.max_steps = 6;
  train_model(first, data.train, data.valid, recorder(first_seen));
  REQUIRE(!first_seen.empty());
  CHECK(first_seen.rbegin()->first == 6);
  TrainOptions second = tiny_options(dir.path() / "resumed.nbm", *codec);
  second.resume = true;
  const TrainResult resumed = train_model(second, data.train, data.valid, recorder(second_seen));

  // The resumed run starts after the checkpoint (step 4), not from step 0:
  // a run restarted from scratch would repeat steps 1..4 and still write
  // the same metrics file.
  REQUIRE(!second_seen.empty());
  CHECK(second_seen.begin()->first > 4);
  CHECK(second_seen.rbegin()->first == straight_seen.rbegin()->first);
  CHECK(resumed.steps == straight_seen.rbegin()->first);
  // And on the same train-loss curve as the straight run, step for step.
  for (const auto& [step, loss] : second_seen) {
    INFO("step " << step);
    REQUIRE(straight_seen.count(step) == 1);
    CHECK(loss == Approx(straight_seen.at(step)).epsilon(1e-9));
  }

  const auto a = metrics_lines(metrics_path(straight.out));
  const auto b = metrics_lines(metrics_path(second.out));
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    INFO("line " << i << ": " << a[i].dump() << " vs " << b[i].dump());
    CHECK(a[i]["step"] == b[i]["step"]);
    for (const char* key : {"train_loss", "valid_loss"})
      if (a[i].contains(key)) CHECK(b[i][key].get<double>() == Approx(a[i][key].get<double>()).epsilon(1e-9));
  }

  SECTION("resuming with other settings is refused") {
    TrainOptions other = tiny_options(dir.path() / "resumed.nbm", *codec);
    other.resume = true;
    other.seed = 99;
    CHECK_THROWS_WITH(train_model(other, data.train, data.valid, {}),
                      Catch::Contains("cannot resume") && Catch::Contains("seed"));
  }
}

TEST_CASE("a time budget stops the run cleanly with the best model saved", "[unit][train]") {
  TempDirectory dir("nextbeat-train-budget");
  CodecSettings settings;
  settings.kind = CodecKind::kPianoRoll;
  const auto codec = make_codec(settings);
  const Dataset data = load_dataset({kSmall}, *codec);
  TrainOptions o = tiny_options(dir.path() / "budget.nbm", *codec);
  o.max_epochs = 100000;  // the budget, not the epochs, ends it
  o.max_seconds = 1.0;
  const TrainResult r = train_model(o, data.train, data.valid, {});
  CHECK(r.time_budget_reached);
  CHECK_FALSE(r.early_stopped);
  CHECK(r.epochs < 100000);
  CHECK(r.seconds >= 1.0);
  CHECK(r.seconds < 30.0);  // one step and one validation past the budget at most
  REQUIRE(fs::exists(o.out));
  REQUIRE(fs::exists(checkpoint_path(o.out)));
  LstmModel model = LstmModel::load(o.out);
  CHECK(evaluate_nll(model, data.valid).mean() == Approx(r.best_valid_loss).epsilon(1e-6));
  // The cosine reached its floor at the budget.
  const auto lines = metrics_lines(metrics_path(o.out));
  double last_lr = o.lr;
  for (const auto& l : lines)
    if (l.contains("lr")) last_lr = l["lr"].get<double>();
  CHECK(last_lr < o.lr * 0.5);
}

TEST_CASE("the informed initialisation starts a frame model at the train marginals", "[unit][train]") {
  TempDirectory dir("nextbeat-train-init");
  CodecSettings settings;
  settings.kind = CodecKind::kPianoRoll;
  const auto codec = make_codec(settings);
  const Dataset data = load_dataset({kSmall}, *codec);
  TrainOptions o = tiny_options(dir.path() / "init.nbm", *codec);
  o.max_steps = 0;  // validate the initial weights only
  o.spec.dropout = 0;
  const double informed = train_model(o, data.train, data.valid, {}).best_valid_loss;
  o.informed_init = false;
  o.out = dir.path() / "random.nbm";
  const double random = train_model(o, data.train, data.valid, {}).best_valid_loss;
  INFO("informed " << informed << ", random " << random);
  CHECK(random > 50);    // ~88 ln 2 = 61: a coin per key
  CHECK(informed < 15);  // the marginals (JSB test: 11.1)
}
