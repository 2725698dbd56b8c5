#include "engine/util/Svg.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <set>
#include <utility>

namespace nextbeat::engine {
namespace {

// Text in numbers must not depend on the locale (a "0,5" breaks the SVG), so
// they go through to_chars, trimmed of trailing zeros.
std::string number(double value, int decimals = 2) {
  if (!std::isfinite(value)) return "0";
  if (std::abs(value) < 0.5 * std::pow(10.0, -decimals)) value = 0;  // no "-0"
  std::array<char, 64> buffer{};
  const auto result =
      std::to_chars(buffer.data(), buffer.data() + buffer.size(), value, std::chars_format::fixed, decimals);
  std::string text(buffer.data(), result.ptr);
  if (text.find('.') != std::string::npos) {
    while (text.back() == '0') text.pop_back();
    if (text.back() == '.') text.pop_back();
  }
  return text;
}

void append_svg_open(std::string& svg, int width, int height) {
  svg += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) + "\" height=\"" +
         std::to_string(height) + "\" viewBox=\"0 0 " + std::to_string(width) + " " + std::to_string(height) +
         "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n";
  svg += "<rect x=\"0\" y=\"0\" width=\"" + std::to_string(width) + "\" height=\"" + std::to_string(height) +
         "\" fill=\"#ffffff\"/>\n";
}

void append_text(std::string& svg, double x, double y, std::string_view text, std::string_view attributes) {
  svg += "<text x=\"" + number(x) + "\" y=\"" + number(y) + "\" " + std::string(attributes) + ">" + escape_xml(text) +
         "</text>\n";
}

void append_line(std::string& svg, double x1, double y1, double x2, double y2, std::string_view attributes) {
  svg += "<line x1=\"" + number(x1) + "\" y1=\"" + number(y1) + "\" x2=\"" + number(x2) + "\" y2=\"" + number(y2) +
         "\" " + std::string(attributes) + "/>\n";
}

// --- Axes --------------------------------------------------------------------

struct Range {
  double low = 0;
  double high = 1;
};

// A range that can be drawn: widened around a single value.
Range widen(Range range) {
  if (range.high > range.low) return range;
  const double half = range.low == 0 ? 0.5 : std::abs(range.low) * 0.1;
  return {range.low - half, range.low + half};
}

// A 1, 2 or 5 times a power of ten, near span / target_ticks.
double nice_step(double span, int target_ticks) {
  const double raw = span / target_ticks;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double fraction = raw / magnitude;
  const double nice = fraction < 1.5 ? 1 : fraction < 3.5 ? 2 : fraction < 7.5 ? 5 : 10;
  return nice * magnitude;
}

struct Ticks {
  std::vector<double> values;
  int decimals = 0;
};

Ticks ticks_for(Range range, int target_ticks) {
  Ticks ticks;
  const double step = nice_step(range.high - range.low, target_ticks);
  ticks.decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  // Counted in whole steps: a double loop counter would drift and could skip the last tick.
  const auto first = static_cast<long long>(std::ceil(range.low / step - 1e-9));
  const auto last = static_cast<long long>(std::floor(range.high / step + 1e-9));
  for (long long k = first; k <= last; ++k) ticks.values.push_back(static_cast<double>(k) * step);
  return ticks;
}

struct Series {
  std::vector<CurvePoint> points;  // finite only
  std::string label;
  std::string colour;
  std::string dash;  // stroke-dasharray, "" = solid
};

}  // namespace

std::string escape_xml(std::string_view text) {
  std::string escaped;
  escaped.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        escaped += "&amp;";
        break;
      case '<':
        escaped += "&lt;";
        break;
      case '>':
        escaped += "&gt;";
        break;
      case '"':
        escaped += "&quot;";
        break;
      case '\'':
        escaped += "&apos;";
        break;
      default:
        escaped += c;
    }
  }
  return escaped;
}

std::string loss_curve_svg(const std::vector<CurvePoint>& train, const std::vector<CurvePoint>& valid,
                           const std::string& title, const LossCurveSvgOptions& options) {
  const auto finite_points = [](const std::vector<CurvePoint>& points) {
    std::vector<CurvePoint> kept;
    for (const CurvePoint& point : points) {
      if (std::isfinite(point.x) && std::isfinite(point.y)) kept.push_back(point);
    }
    return kept;
  };
  std::vector<Series> series;
  for (Series candidate : {Series{finite_points(train), "train", "#1f77b4", ""},
                           Series{finite_points(valid), "validation", "#d62728", "6 3"}}) {
    if (!candidate.points.empty()) series.push_back(std::move(candidate));
  }

  const double width = std::max(options.width, 200), height = std::max(options.height, 150);
  const double left = 72, right = 20, top = 40, bottom = 52;
  const double plot_w = width - left - right, plot_h = height - top - bottom;

  Range x_range{0, 1}, y_range{0, 1};
  bool first = true;
  for (const Series& s : series) {
    for (const CurvePoint& p : s.points) {
      if (first) {
        x_range = {p.x, p.x};
        y_range = {p.y, p.y};
        first = false;
      }
      x_range = {std::min(x_range.low, p.x), std::max(x_range.high, p.x)};
      y_range = {std::min(y_range.low, p.y), std::max(y_range.high, p.y)};
    }
  }
  x_range = widen(x_range);
  y_range = widen(y_range);
  const double y_pad = 0.05 * (y_range.high - y_range.low);  // lines off the frame
  y_range = {y_range.low - y_pad, y_range.high + y_pad};

  const auto to_x = [&](double x) { return left + (x - x_range.low) / (x_range.high - x_range.low) * plot_w; };
  const auto to_y = [&](double y) { return top + plot_h - (y - y_range.low) / (y_range.high - y_range.low) * plot_h; };

  std::string svg;
  append_svg_open(svg, static_cast<int>(width), static_cast<int>(height));
  append_text(svg, width / 2, 24, title, "font-size=\"16\" font-weight=\"bold\" text-anchor=\"middle\"");

  // Grid and ticks under the data.
  const Ticks x_ticks = ticks_for(x_range, std::max(2, static_cast<int>(plot_w / 90)));
  const Ticks y_ticks = ticks_for(y_range, std::max(2, static_cast<int>(plot_h / 60)));
  for (double value : x_ticks.values) {
    const double x = to_x(value);
    append_line(svg, x, top, x, top + plot_h, "stroke=\"#e5e5e5\"");
    append_line(svg, x, top + plot_h, x, top + plot_h + 5, "stroke=\"#333333\"");
    append_text(svg, x, top + plot_h + 19, number(value, x_ticks.decimals), "font-size=\"12\" text-anchor=\"middle\"");
  }
  for (double value : y_ticks.values) {
    const double y = to_y(value);
    append_line(svg, left, y, left + plot_w, y, "stroke=\"#e5e5e5\"");
    append_line(svg, left - 5, y, left, y, "stroke=\"#333333\"");
    append_text(svg, left - 8, y + 4, number(value, y_ticks.decimals), "font-size=\"12\" text-anchor=\"end\"");
  }
  svg += "<rect x=\"" + number(left) + "\" y=\"" + number(top) + "\" width=\"" + number(plot_w) + "\" height=\"" +
         number(plot_h) + "\" fill=\"none\" stroke=\"#333333\"/>\n";
  append_text(svg, left + plot_w / 2, height - 12, options.x_label, "font-size=\"13\" text-anchor=\"middle\"");
  append_text(svg, 18, top + plot_h / 2, options.y_label,
              "font-size=\"13\" text-anchor=\"middle\" transform=\"rotate(-90 18 " + number(top + plot_h / 2) + ")\"");

  if (series.empty()) {
    append_text(svg, left + plot_w / 2, top + plot_h / 2, "no data",
                "font-size=\"14\" fill=\"#888888\" text-anchor=\"middle\"");
  }
  for (const Series& s : series) {
    const std::string dash = s.dash.empty() ? "" : " stroke-dasharray=\"" + s.dash + "\"";
    svg += "<polyline class=\"" + s.label + "\" fill=\"none\" stroke=\"" + s.colour +
           "\" stroke-width=\"2\" stroke-linejoin=\"round\"" + dash + " points=\"";
    for (std::size_t i = 0; i < s.points.size(); ++i) {
      if (i > 0) svg += ' ';
      svg += number(to_x(s.points[i].x)) + "," + number(to_y(s.points[i].y));
    }
    svg += "\"/>\n";
    if (s.points.size() == 1) {  // a one-point polyline draws nothing
      svg += "<circle cx=\"" + number(to_x(s.points[0].x)) + "\" cy=\"" + number(to_y(s.points[0].y)) +
             "\" r=\"3.5\" fill=\"" + s.colour + "\"/>\n";
    }
  }

  // Legend, top right inside the plot.
  if (!series.empty()) {
    const double box_w = 128, row_h = 20, box_h = 10 + row_h * static_cast<double>(series.size());
    const double box_x = left + plot_w - box_w - 10, box_y = top + 10;
    svg += "<rect x=\"" + number(box_x) + "\" y=\"" + number(box_y) + "\" width=\"" + number(box_w) + "\" height=\"" +
           number(box_h) + "\" fill=\"#ffffff\" fill-opacity=\"0.9\" stroke=\"#bbbbbb\"/>\n";
    for (std::size_t i = 0; i < series.size(); ++i) {
      const double y = box_y + 15 + row_h * static_cast<double>(i);
      const std::string dash = series[i].dash.empty() ? "" : " stroke-dasharray=\"" + series[i].dash + "\"";
      append_line(svg, box_x + 10, y, box_x + 40, y, "stroke=\"" + series[i].colour + "\" stroke-width=\"2\"" + dash);
      append_text(svg, box_x + 48, y + 4, series[i].label, "font-size=\"12\"");
    }
  }
  svg += "</svg>\n";
  return svg;
}

namespace {

constexpr std::array<const char*, 10> kSourceColours = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                                        "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

bool is_black_key(int pitch) {
  const int pc = pitch % 12;
  return pc == 1 || pc == 3 || pc == 6 || pc == 8 || pc == 10;
}

std::string pitch_name(int pitch) {
  constexpr std::array<const char*, 12> kNames = {"C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"};
  return std::string(kNames[static_cast<std::size_t>(pitch % 12)]) + std::to_string(pitch / 12 - 1);
}

// Bar starts in [0, end_beat], from the time signatures (4/4 before the first).
std::vector<double> bar_starts(const Score& score, double end_beat) {
  std::vector<TimeSignature> signatures = score.time_signatures;
  std::stable_sort(signatures.begin(), signatures.end(),
                   [](const TimeSignature& a, const TimeSignature& b) { return a.beat < b.beat; });
  if (signatures.empty() || signatures.front().beat > 0) signatures.insert(signatures.begin(), TimeSignature{});
  std::vector<double> bars;
  constexpr std::size_t kMaxBars = 10000;  // a bogus signature must not make a huge file
  for (std::size_t i = 0; i < signatures.size() && bars.size() < kMaxBars; ++i) {
    const TimeSignature& signature = signatures[i];
    const bool valid = signature.numerator > 0 && signature.denominator > 0;
    const double bar_beats = valid ? signature.numerator * 4.0 / signature.denominator : 4.0;
    const double until = i + 1 < signatures.size() ? signatures[i + 1].beat : end_beat + 1e-9;
    for (double beat = signature.beat; beat < until - 1e-9 && beat <= end_beat + 1e-9 && bars.size() < kMaxBars;
         beat += bar_beats) {
      bars.push_back(beat);
    }
  }
  return bars;
}

}  // namespace

std::string piano_roll_svg(const Score& score, const PianoRollSvgOptions& options) {
  // Pitch range: the notes' plus a margin, at least an octave.
  int low = 60, high = 72;
  if (!score.notes.empty()) {
    low = 127;
    high = 0;
    for (const Note& note : score.notes) {
      low = std::min(low, std::clamp(note.pitch, 0, 127));
      high = std::max(high, std::clamp(note.pitch, 0, 127));
    }
    low -= 2;
    high += 2;
    while (high - low < 12) {
      --low;
      ++high;
    }
    low = std::max(low, 0);
    high = std::min(high, 127);
  }
  const int rows = high - low + 1;

  // Time range: to the end of the bar holding the last note end (or the split).
  double end_beat = std::max(score.end_beat(), options.split_beat.value_or(0.0));
  end_beat = std::max(end_beat, 1.0);
  // Bar lines are computed a little past the end, then the end moves to the
  // first bar line at or after it.
  std::vector<double> bars = bar_starts(score, end_beat + 64);
  const auto closing = std::find_if(bars.begin(), bars.end(), [&](double bar) { return bar >= end_beat - 1e-9; });
  if (closing != bars.end()) {
    end_beat = *closing;
    bars.erase(closing + 1, bars.end());
  }

  const double keyboard_w = 34, label_w = 36;
  const double left = label_w + keyboard_w + 2, right = 16, top = options.title.empty() ? 44 : 64, bottom = 40;
  const double row_h = std::max(2, options.pixels_per_pitch);
  const double max_plot_w = std::max(100.0, options.max_width - left - right);
  const double beat_w = std::min(std::max(options.pixels_per_beat, 0.01), max_plot_w / end_beat);
  const double plot_w = beat_w * end_beat, plot_h = row_h * rows;
  const double width = std::max(left + plot_w + right, 420.0), height = top + plot_h + bottom;

  const auto to_x = [&](double beat) { return left + beat * beat_w; };
  const auto row_y = [&](int pitch) { return top + (high - pitch) * row_h; };  // top of the pitch's row

  std::string svg;
  append_svg_open(svg, static_cast<int>(std::ceil(width - 1e-6)), static_cast<int>(std::ceil(height - 1e-6)));
  if (!options.title.empty()) {
    append_text(svg, left, 24, options.title, "font-size=\"16\" font-weight=\"bold\"");
  }

  // Rows: black keys shaded across the plot; the keyboard on the left.
  for (int pitch = low; pitch <= high; ++pitch) {
    const double y = row_y(pitch);
    const bool black = is_black_key(pitch);
    if (black) {
      svg += "<rect x=\"" + number(left) + "\" y=\"" + number(y) + "\" width=\"" + number(plot_w) + "\" height=\"" +
             number(row_h) + "\" fill=\"#f1f1f4\"/>\n";
    }
    svg += "<rect x=\"" + number(label_w) + "\" y=\"" + number(y) + "\" width=\"" +
           number(black ? keyboard_w * 0.62 : keyboard_w) + "\" height=\"" + number(row_h) + "\" fill=\"" +
           (black ? "#222222" : "#ffffff") + "\" stroke=\"#999999\" stroke-width=\"0.5\"/>\n";
    if (pitch % 12 == 0) {
      append_line(svg, left, y + row_h, left + plot_w, y + row_h, "stroke=\"#c8c8d0\" stroke-width=\"1\"");
      append_text(svg, label_w - 4, y + row_h / 2 + 4, pitch_name(pitch), "font-size=\"11\" text-anchor=\"end\"");
    }
  }

  // Beat and bar lines; bar numbers where they fit.
  if (beat_w >= 6) {
    for (int beat = 1; beat < end_beat; ++beat) {
      append_line(svg, to_x(beat), top, to_x(beat), top + plot_h, "stroke=\"#e6e6e6\" stroke-width=\"0.5\"");
    }
  }
  // The shortest bar decides the spacing, so that labels never collide.
  double bar_px = 4 * beat_w;
  for (std::size_t i = 1; i < bars.size(); ++i) bar_px = std::min(bar_px, (bars[i] - bars[i - 1]) * beat_w);
  // On a long score, every k-th bar line (>= 6 px apart) and label (>= 40 px).
  const auto every = [&](double min_px) {
    return static_cast<std::size_t>(std::max(1.0, std::ceil(min_px / std::max(bar_px, 1e-3))));
  };
  const std::size_t line_every = every(6);
  const std::size_t label_every =
      line_every * static_cast<std::size_t>(std::ceil(40.0 / (bar_px * static_cast<double>(line_every))));
  for (std::size_t i = 0; i < bars.size(); ++i) {
    if (i % line_every != 0) continue;
    append_line(svg, to_x(bars[i]), top, to_x(bars[i]), top + plot_h, "stroke=\"#9a9aa6\" stroke-width=\"1\"");
    if (i % label_every == 0) {
      // The closing line ends the last bar; it starts none.
      if (bars[i] < end_beat - 1e-9) {
        append_text(svg, to_x(bars[i]) + 3, top - 6, std::to_string(i + 1), "font-size=\"10\" fill=\"#666666\"");
      }
      append_text(svg, to_x(bars[i]), top + plot_h + 16, number(bars[i]), "font-size=\"11\" text-anchor=\"middle\"");
    }
  }
  append_text(svg, left + plot_w / 2, height - 8, "beats", "font-size=\"12\" text-anchor=\"middle\"");
  append_text(svg, left - 2, top - 6, "bar", "font-size=\"10\" fill=\"#666666\" text-anchor=\"end\"");

  // Notes.
  std::set<int> sources;
  for (const Note& note : score.notes) {
    if (note.pitch < low || note.pitch > high) continue;
    sources.insert(note.source);
    const double x = to_x(std::max(0.0, note.start_beat));
    const double w = std::max(1.0, (note.end_beat - std::max(0.0, note.start_beat)) * beat_w);
    const double opacity = 0.35 + 0.65 * std::clamp(note.velocity, 1, 127) / 127.0;
    const char* colour = kSourceColours[note.source % kSourceColours.size()];
    svg += "<rect class=\"note\" x=\"" + number(x) + "\" y=\"" + number(row_y(note.pitch) + 0.5) + "\" width=\"" +
           number(w) + "\" height=\"" + number(row_h - 1) + "\" rx=\"1.5\" fill=\"" + colour + "\" fill-opacity=\"" +
           number(opacity) + "\" stroke=\"" + colour + "\" stroke-width=\"0.8\"><title>" +
           escape_xml(pitch_name(note.pitch) + " (" + std::to_string(note.pitch) + ") velocity " +
                      std::to_string(note.velocity) + ", beats " + number(note.start_beat, 3) + "-" +
                      number(note.end_beat, 3)) +
           "</title></rect>\n";
  }

  if (options.split_beat) {
    const double x = to_x(*options.split_beat);
    append_line(svg, x, top - 2, x, top + plot_h,
                "class=\"split\" stroke=\"#c0392b\" stroke-width=\"2\" stroke-dasharray=\"5 3\"");
  }
  svg += "<rect x=\"" + number(left) + "\" y=\"" + number(top) + "\" width=\"" + number(plot_w) + "\" height=\"" +
         number(plot_h) + "\" fill=\"none\" stroke=\"#555555\"/>\n";

  // Legend, right-aligned above the plot: one entry per source present.
  double legend_x = width - right;
  const double legend_y = top - 22;
  for (auto it = sources.rbegin(); it != sources.rend(); ++it) {
    const std::string label = static_cast<std::size_t>(*it) < options.source_labels.size()
                                  ? options.source_labels[static_cast<std::size_t>(*it)]
                                  : "source " + std::to_string(*it);
    legend_x -= 7.0 * static_cast<double>(label.size()) + 26;
    svg += "<rect class=\"legend\" x=\"" + number(legend_x) + "\" y=\"" + number(legend_y - 9) +
           "\" width=\"12\" height=\"10\" fill=\"" +
           kSourceColours[static_cast<std::size_t>(*it) % kSourceColours.size()] + "\"/>\n";
    append_text(svg, legend_x + 16, legend_y, label, "font-size=\"12\"");
  }
  if (options.split_beat) {
    legend_x -= 78;
    append_line(svg, legend_x, legend_y - 9, legend_x, legend_y + 1,
                "stroke=\"#c0392b\" stroke-width=\"2\" stroke-dasharray=\"3 2\"");
    append_text(svg, legend_x + 6, legend_y, "prime end", "font-size=\"12\"");
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace nextbeat::engine
