// Dependency-free SVG plots for training reports and `nextbeat generate`:
// loss curves and piano rolls. Each returns a complete standalone SVG
// document (UTF-8); write it with write_text_file_atomically.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/music/Score.h"

namespace nextbeat::engine {

struct CurvePoint {
  double x = 0;  // step or epoch
  double y = 0;  // loss
};

struct LossCurveSvgOptions {
  std::string x_label = "step";
  std::string y_label = "loss";
  int width = 800;  // pixels, whole image
  int height = 480;
};

// Train and validation losses as two polylines over shared axes, with ticks,
// a legend and the title. Points with a NaN or infinite coordinate are
// skipped (the line joins its neighbours); an empty series draws no line and
// no legend entry; a one-point series draws a dot. Text is XML-escaped.
std::string loss_curve_svg(const std::vector<CurvePoint>& train, const std::vector<CurvePoint>& valid,
                           const std::string& title, const LossCurveSvgOptions& options = {});

struct PianoRollSvgOptions {
  std::string title;
  // Where the prime ends and the continuation begins, in beats: a vertical
  // marker. Unset: none.
  std::optional<double> split_beat;
  // Legend labels by Note::source; a source past the end is "source N".
  std::vector<std::string> source_labels = {"performer", "nextbeat"};
  double pixels_per_beat = 32;  // shrunk so that the plot fits max_width
  int pixels_per_pitch = 8;
  int max_width = 2400;  // pixels, whole image
};

// Notes as rectangles (x = beats, y = pitch, opacity = velocity), coloured by
// Note::source with a legend; a keyboard with octave labels (C4 = 60) on the
// pitch axis; bar lines from the score's time signatures (4/4 when none).
// Drum-channel notes are drawn like the others at their key number.
std::string piano_roll_svg(const Score& score, const PianoRollSvgOptions& options = {});

// & < > " ' as entities, for text and attribute values.
std::string escape_xml(std::string_view text);

}  // namespace nextbeat::engine
