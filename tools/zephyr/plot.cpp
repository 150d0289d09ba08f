#include "plot.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <zephyr/error.h>
#include <zephyr/io/atomic_file.h>

#include "metrics_log.h"

namespace zephyr::cli {
namespace {

struct Point {
  double x, y;
};

struct Series {
  std::string name, color;
  std::vector<Point> points;
  bool dots = false;  // markers at each point (few points: epochs)
};

// Ticks at 1, 2 or 5 times a power of ten, about `count` of them over [low, high].
std::vector<double> ticks(double low, double high, int count) {
  double span = high - low;
  if (!(span > 0)) return {low};
  double raw = span / count, power = std::pow(10.0, std::floor(std::log10(raw)));
  double step = raw / power < 1.5 ? power : raw / power < 3.5 ? 2 * power : raw / power < 7.5 ? 5 * power : 10 * power;
  std::vector<double> out;
  for (double t = std::ceil(low / step) * step; t <= high + step * 1e-9; t += step) out.push_back(std::abs(t) < step * 1e-9 ? 0 : t);
  return out;
}

std::string escaped(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

// One chart: axes, grid, tick labels, the series as polylines, a legend.
std::string panel(const std::vector<Series>& series, const std::string& y_label, double x_max, double left, double top,
                  double width, double height) {
  double y_low = std::numeric_limits<double>::infinity(), y_high = -y_low;
  for (const Series& s : series)
    for (const Point& p : s.points) y_low = std::min(y_low, p.y), y_high = std::max(y_high, p.y);
  if (!std::isfinite(y_low)) return "";
  if (y_high - y_low < 1e-12) y_low -= 0.5, y_high += 0.5;  // a flat line still gets an axis
  double pad = 0.05 * (y_high - y_low);
  y_low -= pad, y_high += pad;
  auto sx = [&](double x) { return left + width * x / x_max; };
  auto sy = [&](double y) { return top + height * (1 - (y - y_low) / (y_high - y_low)); };

  std::string out = fmt::format(R"svg(<rect x="{}" y="{}" width="{}" height="{}" fill="white" stroke="#444"/>)svg" "\n", left, top,
                                width, height);
  for (double t : ticks(y_low, y_high, 5))
    out += fmt::format(R"svg(<line x1="{0}" x2="{1}" y1="{2:.1f}" y2="{2:.1f}" stroke="#ddd"/>)svg"
                       R"svg(<text x="{3}" y="{2:.1f}" text-anchor="end" dominant-baseline="middle">{4:g}</text>)svg" "\n",
                       left, left + width, sy(t), left - 6, t);
  for (double t : ticks(0, x_max, 8))
    out += fmt::format(R"svg(<line x1="{0:.1f}" x2="{0:.1f}" y1="{1}" y2="{2}" stroke="#ddd"/>)svg"
                       R"svg(<text x="{0:.1f}" y="{3}" text-anchor="middle">{4:g}</text>)svg" "\n",
                       sx(t), top, top + height, top + height + 16, t);
  out += fmt::format(R"svg(<text x="{}" y="{}" text-anchor="middle" transform="rotate(-90 {} {})">{}</text>)svg" "\n",
                     left - 48, top + height / 2, left - 48, top + height / 2, escaped(y_label));
  double legend_y = top + 16;
  for (const Series& s : series) {
    if (s.points.empty()) continue;
    std::string points;
    for (const Point& p : s.points) points += fmt::format("{:.1f},{:.1f} ", sx(p.x), sy(p.y));
    out += fmt::format(R"svg(<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>)svg" "\n", s.color, points);
    if (s.dots)
      for (const Point& p : s.points)
        out += fmt::format(R"svg(<circle cx="{:.1f}" cy="{:.1f}" r="4" fill="{}"/>)svg" "\n", sx(p.x), sy(p.y), s.color);
    out += fmt::format(R"svg(<line x1="{0}" x2="{1}" y1="{2}" y2="{2}" stroke="{3}" stroke-width="3"/>)svg"
                       R"svg(<text x="{4}" y="{2}" dominant-baseline="middle">{5}</text>)svg" "\n",
                       left + width - 150, left + width - 126, legend_y, s.color, left + width - 120, escaped(s.name));
    legend_y += 18;
  }
  return out;
}

// The number under `key`, when the line has one (NaN losses are logged as null).
bool number(const nlohmann::json& line, const char* key, double& out) {
  auto it = line.find(key);
  if (it == line.end() || !it->is_number()) return false;
  out = it->get<double>();
  return std::isfinite(out);
}

}  // namespace

std::string plot_svg(const std::vector<nlohmann::json>& lines, const std::string& title) {
  Series steps{"loss", "#1f77b4"}, epochs{"epoch mean loss", "#ff7f0e", {}, true};
  Series accuracy{"test accuracy", "#2ca02c", {}, true}, mse{"test mse", "#d62728", {}, true};
  double x_max = 1;
  for (const nlohmann::json& line : lines) {
    double step, value;
    if (!number(line, "step", step)) continue;
    x_max = std::max(x_max, step);
    const std::string kind = line.value("kind", "");
    if (number(line, "loss", value)) (kind == "epoch" ? epochs : steps).points.push_back({step, value});
    if (kind == "epoch" && number(line, "test_accuracy", value)) accuracy.points.push_back({step, value});
    if (kind == "epoch" && number(line, "test_mse", value)) mse.points.push_back({step, value});
  }
  if (steps.points.empty() && epochs.points.empty())
    throw Error(fmt::format("[plot] {}: no line has a step and a loss (is it a `zephyr train --log` file?)", title));
  const Series& metric = accuracy.points.empty() ? mse : accuracy;
  const bool two = !metric.points.empty();
  const double width = 800, height = two ? 600 : 340, left = 80, plot_width = 690;
  std::string svg = fmt::format(
      R"svg(<svg xmlns="http://www.w3.org/2000/svg" width="{0}" height="{1}" viewBox="0 0 {0} {1}" )svg"
      R"svg(font-family="sans-serif" font-size="12">)svg" "\n"
      R"svg(<rect width="100%" height="100%" fill="#fafafa"/>)svg" "\n"
      R"svg(<text x="{2}" y="24" text-anchor="middle" font-size="16">{3}</text>)svg" "\n",
      width, height, width / 2, escaped(title));
  svg += panel({steps, epochs}, "loss", x_max, left, 40, plot_width, 240);
  if (two) svg += panel({metric}, metric.name, x_max, left, 320, plot_width, 240);
  svg += fmt::format(R"svg(<text x="{}" y="{}" text-anchor="middle">step</text>)svg" "\n", left + plot_width / 2, height - 8);
  return svg + "</svg>\n";
}

void plot(const std::string& log, const std::string& output) {
  std::string title = log;
  if (size_t slash = title.rfind('/'); slash != std::string::npos) title = title.substr(slash + 1);
  io::write_file_atomically(output, plot_svg(read_metrics_log(log), title));
}

}  // namespace zephyr::cli
