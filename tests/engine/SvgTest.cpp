#include "engine/util/Svg.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include "Skip.h"
#include "engine/util/AtomicFile.h"
#include "engine/util/Subprocess.h"
#include "engine/util/TempDirectory.h"

using namespace nextbeat::engine;

namespace {

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t count = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) {
    ++count;
  }
  return count;
}

// xmllint (libxml2-utils) is the judge of well-formedness when installed.
// Without it the test is skipped, not passed (scripts/setup.sh installs it).
void check_well_formed(const std::string& svg, const std::string& name) {
  if (std::system("command -v xmllint >/dev/null 2>&1") != 0)
    nextbeat::test::skip_test("needs xmllint (libxml2-utils; scripts/setup.sh installs it) to check the SVG as XML");
  const TempDirectory dir("nextbeat-svgtest");
  const std::filesystem::path path = dir.path() / (name + ".svg");
  write_text_file_atomically(path, svg);
  const ProcessResult result = run_process({"xmllint", "--noout", path.string()}, {.log = dir.path() / "xmllint.log"});
  REQUIRE(result.status != ProcessResult::Status::kNotFound);
  INFO(svg);
  CHECK(result.succeeded());
}

// Set NEXTBEAT_SVG_OUT=DIR to keep the plots for a look.
void keep_for_viewing(const std::string& svg, const std::string& name) {
  if (const char* dir = std::getenv("NEXTBEAT_SVG_OUT"))
    write_text_file_atomically(std::filesystem::path(dir) / name, svg);
}

Note note(int pitch, double start, double end, std::uint8_t source, int velocity = 90) {
  Note n;
  n.pitch = pitch;
  n.start_beat = start;
  n.end_beat = end;
  n.source = source;
  n.velocity = velocity;
  return n;
}

}  // namespace

TEST_CASE("escape_xml escapes markup characters", "[unit]") {
  CHECK(escape_xml("a & b < c > d \"e\" 'f'") == "a &amp; b &lt; c &gt; d &quot;e&quot; &apos;f&apos;");
  CHECK(escape_xml("plain") == "plain");
}

TEST_CASE("loss curve: two series, axes, legend, escaped title", "[unit]") {
  std::vector<CurvePoint> train, valid;
  for (int step = 0; step <= 2000; step += 50) {
    train.push_back({double(step), 4.2 * std::exp(-step / 400.0) + 0.9 + 0.05 * std::sin(step / 30.0)});
  }
  for (int step = 0; step <= 2000; step += 250) valid.push_back({double(step), 4.3 * std::exp(-step / 450.0) + 1.1});
  const std::string svg = loss_curve_svg(train, valid, "events codec: loss & <perplexity>");
  check_well_formed(svg, "loss");
  keep_for_viewing(svg, "loss_curve.svg");
  CHECK(count_of(svg, "<polyline") == 2);
  CHECK(svg.find("events codec: loss &amp; &lt;perplexity&gt;") != std::string::npos);
  CHECK(svg.find("<perplexity>") == std::string::npos);
  CHECK(svg.find(">train<") != std::string::npos);
  CHECK(svg.find(">validation<") != std::string::npos);
  CHECK(svg.find(">step<") != std::string::npos);
  CHECK(svg.find(">loss<") != std::string::npos);
  CHECK(svg.find(">1000<") != std::string::npos);  // an x tick label
}

TEST_CASE("loss curve: empty, one-point and non-finite series", "[unit]") {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  constexpr double kInf = std::numeric_limits<double>::infinity();

  SECTION("both empty") {
    const std::string svg = loss_curve_svg({}, {}, "nothing yet");
    check_well_formed(svg, "empty");
    CHECK(count_of(svg, "<polyline") == 0);
    CHECK(svg.find("no data") != std::string::npos);
  }
  SECTION("validation empty") {
    const std::string svg = loss_curve_svg({{0, 3}, {1, 2}}, {}, "train only");
    check_well_formed(svg, "train-only");
    CHECK(count_of(svg, "<polyline") == 1);
    CHECK(svg.find(">validation<") == std::string::npos);
  }
  SECTION("one point each") {
    const std::string svg = loss_curve_svg({{5, 2.5}}, {{5, 2.5}}, "one epoch");
    check_well_formed(svg, "one-point");
    CHECK(count_of(svg, "<polyline") == 2);
    CHECK(count_of(svg, "<circle") == 2);
    CHECK(svg.find("nan") == std::string::npos);
  }
  SECTION("NaN and inf points are skipped") {
    const std::string svg =
        loss_curve_svg({{0, 3}, {1, kNaN}, {2, 2}, {kInf, 1}, {3, -kInf}, {4, 1.5}}, {{kNaN, kNaN}}, "diverged");
    check_well_formed(svg, "nonfinite");
    CHECK(count_of(svg, "<polyline") == 1);  // validation has no finite point
    const auto at = svg.find("points=\"");
    REQUIRE(at != std::string::npos);
    const std::string points = svg.substr(at + 8, svg.find('"', at + 8) - at - 8);
    CHECK(count_of(points, ",") == 3);  // (0,3) (2,2) (4,1.5)
    CHECK(svg.find("nan") == std::string::npos);
    CHECK(svg.find("inf") == std::string::npos);
  }
}

TEST_CASE("piano roll: a rect per note, sources in the legend, the split marker", "[unit]") {
  Score score;
  // Prime (performer): a C major arpeggio and chord over two bars.
  const int arpeggio[] = {60, 64, 67, 72, 67, 64};
  for (int i = 0; i < 6; ++i) score.notes.push_back(note(arpeggio[i], i * 0.5, i * 0.5 + 0.5, 0, 70 + 8 * i));
  for (int pitch : {48, 55, 64}) score.notes.push_back(note(pitch, 4, 8, 0, 80));
  // Continuation (nextbeat): a melody over a bass line in bars 3-4.
  const int melody[] = {72, 74, 76, 79, 77, 76, 74, 72};
  for (int i = 0; i < 8; ++i) score.notes.push_back(note(melody[i], 8 + i * 0.5, 8 + i * 0.5 + 0.5, 1, 100));
  score.notes.push_back(note(43, 8, 12, 1, 60));
  score.notes.push_back(note(45, 12, 16, 1, 60));
  score.notes.push_back(note(69, 12, 16, 1, 110));
  score.sort_notes();

  PianoRollSvgOptions options;
  options.title = "prime & continuation <C major>";
  options.split_beat = 8;
  const std::string svg = piano_roll_svg(score, options);
  check_well_formed(svg, "pianoroll");
  keep_for_viewing(svg, "piano_roll.svg");
  CHECK(count_of(svg, "class=\"note\"") == score.notes.size());
  CHECK(count_of(svg, "class=\"legend\"") == 2);
  CHECK(svg.find(">performer<") != std::string::npos);
  CHECK(svg.find(">nextbeat<") != std::string::npos);
  CHECK(count_of(svg, "class=\"split\"") == 1);
  CHECK(svg.find("prime &amp; continuation &lt;C major&gt;") != std::string::npos);
  CHECK(svg.find(">C4<") != std::string::npos);  // the keyboard's octave labels

  SECTION("no split, one source, unknown source label") {
    Score one;
    one.notes.push_back(note(60, 0, 1, 3));
    const std::string plain = piano_roll_svg(one, {});
    check_well_formed(plain, "pianoroll-plain");
    CHECK(count_of(plain, "class=\"split\"") == 0);
    CHECK(count_of(plain, "class=\"legend\"") == 1);
    CHECK(plain.find(">source 3<") != std::string::npos);
  }
  SECTION("an empty score still draws") {
    const std::string empty = piano_roll_svg(Score{}, {});
    check_well_formed(empty, "pianoroll-empty");
    CHECK(count_of(empty, "class=\"note\"") == 0);
  }
  SECTION("a long score fits the maximum width") {
    Score long_score;
    for (int i = 0; i < 4000; ++i) long_score.notes.push_back(note(60 + i % 12, i, i + 1, 0));
    options.max_width = 1200;
    const std::string wide = piano_roll_svg(long_score, options);
    check_well_formed(wide, "pianoroll-long");
    CHECK(wide.find("width=\"1200\"") != std::string::npos);
  }
}
