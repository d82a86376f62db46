// The rating as one self-contained HTML page: inline CSS, tables, and SVG charts drawn here
// (no scripts, no fonts or images fetched from anywhere).
#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "core/text.h"
#include "core/units.h"
#include "rate/render.h"
#include "rate/render_internal.h"
#include "report/enum_names.h"

namespace suanli::rate {

namespace {

constexpr EnumName<Dtype> kDtypeColors[] = {
    {Dtype::fp64, "#1f77b4"},     {Dtype::fp32, "#ff7f0e"}, {Dtype::tf32, "#8c564b"},
    {Dtype::fp16, "#2ca02c"},     {Dtype::bf16, "#d62728"}, {Dtype::fp8_e4m3, "#9467bd"},
    {Dtype::fp8_e5m2, "#9467bd"}, {Dtype::int8, "#7f7f7f"}};

std::string color_of(Dtype d) {
  return std::string(enum_name(kDtypeColors, d, "#17becf"));
}

// Short rate label for axes: "230G", "1.5T".
std::string short_rate(double v) {
  static const char* kP[] = {"", "k", "M", "G", "T", "P", "E", "Z"};
  int p = 0;
  while (std::fabs(v) >= 1000 && p < 7) {
    v /= 1000;
    ++p;
  }
  // three significant digits at most: 82.9G, 989T, 1.98P
  const double r = std::fabs(v) >= 100  ? std::round(v)
                   : std::fabs(v) >= 10 ? std::round(v * 10) / 10
                                        : std::round(v * 100) / 100;
  return fmt::format("{:g}{}", r, kP[p]);
}

// A chart canvas: plot area inside margins, linear or log10 axes.
struct Chart {
  double w, h, left = 70, right = 20, top = 34, bottom = 46;
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  bool xlog = false, ylog = false;
  std::string body;

  Chart(double width, double height) : w(width), h(height) {}
  double px(double x) const {
    const double t = xlog ? (std::log10(x) - std::log10(x0)) / (std::log10(x1) - std::log10(x0))
                          : (x - x0) / (x1 - x0);
    return left + t * (w - left - right);
  }
  double py(double y) const {
    const double t = ylog ? (std::log10(y) - std::log10(y0)) / (std::log10(y1) - std::log10(y0))
                          : (y - y0) / (y1 - y0);
    return h - bottom - t * (h - top - bottom);
  }
  void line(double ax, double ay, double bx, double by, const std::string& color, double width = 1,
            const std::string& dash = "") {
    body += fmt::format(
        R"(<line x1="{:.1f}" y1="{:.1f}" x2="{:.1f}" y2="{:.1f}" stroke="{}" stroke-width="{}"{}/>)",
        ax, ay, bx, by, color, width,
        dash.empty() ? "" : fmt::format(R"( stroke-dasharray="{}")", dash));
    body += "\n";
  }
  void text(double x, double y, const std::string& s, const std::string& anchor = "start",
            int size = 11, const std::string& color = "#222", const std::string& extra = "") {
    body += fmt::format(
        R"(<text x="{:.1f}" y="{:.1f}" font-size="{}" text-anchor="{}" fill="{}"{}>{}</text>)", x,
        y, size, anchor, color, extra, html_escape(s));
    body += "\n";
  }
  void title(const std::string& s) {
    text(left, 18, s, "start", 13, "#111", R"( font-weight="bold")");
  }
  // Grid and tick labels; log axes tick at powers of ten.
  void axes(const std::string& xlabel, const std::string& ylabel, bool xticks = true) {
    auto ticks = [](double a, double b, bool log) {
      std::vector<double> t;
      if (log) {
        // Powers of ten; over three decades or fewer also 2x and 5x (or 3x), so that an axis
        // always has at least four labelled ticks.
        const double e0 = std::floor(std::log10(a)), e1 = std::ceil(std::log10(b));
        const std::vector<double> steps = e1 - e0 <= 2   ? std::vector<double>{1, 2, 5}
                                          : e1 - e0 <= 3 ? std::vector<double>{1, 3}
                                                         : std::vector<double>{1};
        for (double e = e0; e <= e1; e += 1)
          for (double m : steps) {
            const double v = m * std::pow(10.0, e);
            if (v >= a * 0.999 && v <= b * 1.001) t.push_back(v);
          }
      } else {
        const double span = b - a;
        const double raw = span / 5;
        const double mag = std::pow(10.0, std::floor(std::log10(raw)));
        const double step = raw / mag < 1.5   ? mag
                            : raw / mag < 3.5 ? 2 * mag
                            : raw / mag < 7.5 ? 5 * mag
                                              : 10 * mag;
        for (double v = std::ceil(a / step) * step; v <= b + 1e-9 * span; v += step) t.push_back(v);
      }
      return t;
    };
    if (xticks)
      for (double v : ticks(x0, x1, xlog)) {
        line(px(v), top, px(v), h - bottom, "#e4e4e4");
        text(px(v), h - bottom + 15, short_rate(v), "middle", 10, "#555");
      }
    for (double v : ticks(y0, y1, ylog)) {
      line(left, py(v), w - right, py(v), "#e4e4e4");
      text(left - 6, py(v) + 3, short_rate(v), "end", 10, "#555");
    }
    line(left, h - bottom, w - right, h - bottom, "#444");
    line(left, top, left, h - bottom, "#444");
    text((left + w - right) / 2, h - 8, xlabel, "middle", 11, "#333");
    text(14, (top + h - bottom) / 2, ylabel, "middle", 11, "#333",
         fmt::format(R"svg( transform="rotate(-90 14 {:.1f})")svg", (top + h - bottom) / 2));
  }
  std::string svg() const {
    return fmt::format(
        R"(<svg width="{:.0f}" height="{:.0f}" viewBox="0 0 {:.0f} {:.0f}" font-family="sans-serif">)"
        "\n<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n{}</svg>\n",
        w, h, w, h, body);
  }
};

// Vertical grid lines from 0 to x1 at a 1-2-5 step, labelled with short rates.
void x_grid(Chart& c) {
  const double raw = c.x1 / 5, mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double step = raw / mag < 1.5   ? mag
                      : raw / mag < 3.5 ? 2 * mag
                      : raw / mag < 7.5 ? 5 * mag
                                        : 10 * mag;
  for (double v = 0; v <= c.x1; v += step) {
    c.line(c.px(v), c.top, c.px(v), c.h - c.bottom, "#e4e4e4");
    c.text(c.px(v), c.h - c.bottom + 15, short_rate(v), "middle", 10, "#555");
  }
}

// Legend entries at the top right, one per line.
void legend(Chart& c, const std::vector<std::pair<std::string, std::string>>& items,
            double x = -1) {
  double y = c.top + 12;
  const double lx = x < 0 ? c.w - c.right - 150 : x;
  for (const auto& [label, color] : items) {
    c.body += fmt::format(R"(<rect x="{:.1f}" y="{:.1f}" width="10" height="10" fill="{}"/>)", lx,
                          y - 9, color);
    c.text(lx + 14, y, label, "start", 10);
    y += 14;
  }
}

// Rmax against Rpeak per precision for one device: horizontal bars.
std::string chart_rmax_rpeak(const DeviceRating& d) {
  std::vector<const PrecisionRating*> rows;
  double mx = 0;
  for (const PrecisionRating& p : d.precisions)
    if (p.rpeak.present() || p.rmax.present()) {
      rows.push_back(&p);
      mx = std::max({mx, p.rpeak.value, p.rmax.value, p.ceiling.value});
    }
  if (rows.empty() || mx <= 0) return "";
  const double row_h = 30;
  Chart c(640, 34 + 46 + row_h * static_cast<double>(rows.size()) + 20);
  c.left = 110;
  c.right = 90;
  c.x0 = 0;
  c.x1 = mx * 1.05;
  c.y0 = 0;
  c.y1 = 1;
  c.title(fmt::format("Rmax vs Rpeak: {}:{} {}", d.backend, d.index, d.name));
  x_grid(c);
  double y = c.top + 8;
  for (const PrecisionRating* p : rows) {
    const std::string col = color_of(p->dtype);
    const bool ops = dtype_is_integer(p->dtype);
    c.text(c.left - 8, y + 15, fmt::format("{}{}", dtype_name(p->dtype), ops ? " (OPS)" : ""),
           "end", 11);
    if (p->rpeak.present())
      c.body += fmt::format(
          R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="20" fill="none" stroke="{}" stroke-width="1.5" stroke-dasharray="4 2"/>)"
          "\n",
          c.px(0), y, c.px(p->rpeak.value) - c.px(0), col);
    if (p->rmax.present())
      c.body += fmt::format(
          R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="14" fill="{}" opacity="0.85"/>)"
          "\n",
          c.px(0), y + 3, c.px(p->rmax.value) - c.px(0), col);
    if (p->ceiling.present())
      c.line(c.px(p->ceiling.value), y - 2, c.px(p->ceiling.value), y + 22, "#000", 2);
    const double end = std::max({p->rpeak.value, p->rmax.value, p->ceiling.value});
    c.text(c.px(end) + 6, y + 14,
           p->efficiency() >= 0 ? fmt::format("{:.0f}% of Rpeak", 100 * p->efficiency())
           : p->rmax.present()  ? "no Rpeak"
                                : "no verified Rmax",
           "start", 10, "#333");
    y += row_h;
  }
  c.line(c.left, c.h - c.bottom, c.w - c.right, c.h - c.bottom, "#444");
  c.line(c.left, c.top, c.left, c.h - c.bottom, "#444");
  c.text((c.left + c.w - c.right) / 2, c.h - 8,
         "FLOP/s (int8: OP/s) - solid: Rmax (verified GEMM), dashed box: Rpeak, black tick: "
         "peak kernel",
         "middle", 10, "#333");
  return c.svg();
}

// Roofline: log-log FLOP/s against FLOP/byte, stream-triad slope and peak-kernel ceilings, with
// the measured GEMM and conv points.
struct RoofCeiling {
  Dtype dtype;
  double value;
  bool measured;  // the peak kernel; else Rpeak (spec/formula), drawn dashed
};

// The roofs of a device, highest first. A dtype the device could not run (no verified peak
// kernel, no verified GEMM) gets no ceiling: its Rpeak would be a roof nothing measured stands
// under.
std::vector<RoofCeiling> roof_ceilings(const DeviceRating& d) {
  std::vector<RoofCeiling> ceilings;
  for (const PrecisionRating& p : d.precisions) {
    const double v = p.ceiling.present() ? p.ceiling.value : p.rmax.present() ? p.rpeak.value : -1;
    if (v > 0) ceilings.push_back({p.dtype, v, p.ceiling.present()});
  }
  std::sort(ceilings.begin(), ceilings.end(),
            [](const RoofCeiling& a, const RoofCeiling& b) { return a.value > b.value; });
  return ceilings;
}

// The log-log frame around the measured points and the ceilings.
Chart roofline_frame(const DeviceRating& d, const std::vector<RoofCeiling>& ceilings, double bw) {
  double imin = 1e30, imax = 0, rmin = 1e30, rmax = 0;
  for (const Point& p : d.points) {
    imin = std::min(imin, p.intensity);
    imax = std::max(imax, p.intensity);
    rmin = std::min(rmin, p.rate);
    rmax = std::max(rmax, p.rate);
  }
  for (const RoofCeiling& ce : ceilings) {
    rmax = std::max(rmax, ce.value);
    if (bw > 0) imax = std::max(imax, 2 * ce.value / bw);
  }
  if (bw > 0) rmin = std::min(rmin, bw * imin);
  Chart c(640, 400);
  c.xlog = c.ylog = true;
  c.right = 130;
  c.x0 = std::pow(10.0, std::floor(std::log10(imin / 1.5)));
  c.x1 = std::pow(10.0, std::ceil(std::log10(imax * 1.5)));
  c.y0 = std::pow(10.0, std::floor(std::log10(rmin / 1.5)));
  c.y1 = std::pow(10.0, std::ceil(std::log10(rmax * 1.5)));
  return c;
}

void draw_ceilings(Chart& c, const std::vector<RoofCeiling>& ceilings, double bw) {
  double last_label_y = -1e9;
  for (const RoofCeiling& ce : ceilings) {
    const Dtype dt = ce.dtype;
    const double v = ce.value;
    const double ridge = bw > 0 ? v / bw : c.x0;
    const double xs = std::max(c.x0, ridge);
    c.line(c.px(xs), c.py(v), c.px(c.x1), c.py(v), color_of(dt), 1.5, ce.measured ? "" : "6 3");
    // labels right of the plot, pushed down so that close ceilings stay readable
    const double ly = std::max(c.py(v) + 3, last_label_y + 12);
    last_label_y = ly;
    c.text(c.px(c.x1) + 4, ly,
           fmt::format("{} {}{}", dtype_name(dt), short_rate(v), ce.measured ? "" : " Rpeak"),
           "start", 10, color_of(dt));
    if (bw > 0 && ridge > c.x0) {
      // the memory slope up to this ceiling's ridge point
      const double xa = std::max(c.x0, c.y0 / bw);
      c.line(c.px(xa), c.py(bw * xa), c.px(ridge), c.py(v), "#555", 1, "5 3");
    }
  }
  if (bw > 0) {
    // the label runs along the memory slope, just under it
    const double xa = std::max(c.x0, c.y0 / bw);
    double xt = xa * 1.5;
    if (bw * xt > c.y1) xt = c.y1 / bw / 2;
    const double x = c.px(xt), y = c.py(bw * xt);
    const double angle = std::atan2(c.py(bw * xt * 10) - y, c.px(xt * 10) - x) * 180 / M_PI;
    c.text(x + 4, y + 13, fmt::format("stream triad {}", format_si(bw, "B/s")), "start", 10, "#555",
           fmt::format(R"svg( transform="rotate({:.1f} {:.1f} {:.1f})")svg", angle, x, y));
  }
}

// The measured points (circles: GEMM, diamonds: conv2d); returns the dtypes drawn.
std::map<Dtype, bool> draw_points(Chart& c, const DeviceRating& d) {
  std::map<Dtype, bool> seen;
  for (const Point& p : d.points) {
    const double x = c.px(p.intensity), y = c.py(p.rate);
    if (p.op == "gemm")
      c.body += fmt::format(
          R"(<circle cx="{:.1f}" cy="{:.1f}" r="4.5" fill="{}" stroke="#000" stroke-width="0.6"><title>{}</title></circle>)"
          "\n",
          x, y, color_of(p.dtype),
          html_escape(
              fmt::format("gemm {} {}: {}", dtype_name(p.dtype), p.shape, short_rate(p.rate))));
    else
      c.body += fmt::format(
          R"svg(<rect x="{:.1f}" y="{:.1f}" width="8" height="8" fill="{}" stroke="#000" stroke-width="0.6" transform="rotate(45 {:.1f} {:.1f})"><title>{}</title></rect>)svg"
          "\n",
          x - 4, y - 4, color_of(p.dtype), x, y,
          html_escape(
              fmt::format("conv2d {} {}: {}", dtype_name(p.dtype), p.shape, short_rate(p.rate))));
    seen[p.dtype] = true;
  }
  return seen;
}

std::string chart_roofline(const DeviceRating& d) {
  if (d.points.empty()) return "";
  const double bw = d.memory_bandwidth.value;
  const std::vector<RoofCeiling> ceilings = roof_ceilings(d);
  Chart c = roofline_frame(d, ceilings, bw);
  c.title(fmt::format("Roofline: {}:{} {}", d.backend, d.index, d.name));
  c.axes("arithmetic intensity (FLOP or OP per byte of compulsory traffic)", "FLOP/s (int8: OP/s)");
  draw_ceilings(c, ceilings, bw);
  std::vector<std::pair<std::string, std::string>> items;
  for (const auto& [dt, _] : draw_points(c, d))
    items.emplace_back(std::string(dtype_name(dt)), color_of(dt));
  legend(c, items, c.left + 10);
  c.text(c.left + 80, c.top + 12, "circle: GEMM   diamond: conv2d", "start", 10, "#333");
  c.text(c.left + 80, c.top + 26, "solid ceiling: peak kernel   dashed: Rpeak", "start", 10,
         "#333");
  return c.svg();
}

// GEMM throughput against work per call, one line per precision.
std::string chart_gemm_sizes(const DeviceRating& d) {
  std::map<Dtype, std::vector<const Point*>> by;
  double fmin = 1e300, fmax = 0, rmax = 0;
  for (const Point& p : d.points)
    if (p.op == "gemm") {
      by[p.dtype].push_back(&p);
      fmin = std::min(fmin, p.flops);
      fmax = std::max(fmax, p.flops);
      rmax = std::max(rmax, p.rate);
    }
  if (by.empty()) return "";
  Chart c(640, 340);
  c.xlog = true;
  c.right = 110;
  c.x0 = std::pow(10.0, std::floor(std::log10(fmin / 1.5)));
  c.x1 = std::pow(10.0, std::ceil(std::log10(fmax * 1.5)));
  c.y0 = 0;
  c.y1 = rmax * 1.15;
  c.title(fmt::format("GEMM throughput vs size: {}:{} {}", d.backend, d.index, d.name));
  c.axes("work per GEMM call (FLOP or OP, 2*m*n*k*batch)", "FLOP/s (int8: OP/s), median time");
  std::vector<std::pair<std::string, std::string>> items;
  for (auto& [dt, pts] : by) {
    std::sort(pts.begin(), pts.end(), [](const Point* a, const Point* b) {
      return a->flops < b->flops || (a->flops == b->flops && a->rate < b->rate);
    });
    std::string poly;
    for (const Point* p : pts) poly += fmt::format("{:.1f},{:.1f} ", c.px(p->flops), c.py(p->rate));
    c.body += fmt::format(R"(<polyline points="{}" fill="none" stroke="{}" stroke-width="1.8"/>)"
                          "\n",
                          poly, color_of(dt));
    for (const Point* p : pts)
      c.body += fmt::format(
          R"(<circle cx="{:.1f}" cy="{:.1f}" r="4" fill="{}"><title>{}</title></circle>)"
          "\n",
          c.px(p->flops), c.py(p->rate), color_of(dt),
          html_escape(fmt::format("{} {}: {}", dtype_name(dt), p->shape, short_rate(p->rate))));
    items.emplace_back(std::string(dtype_name(dt)) + (dtype_is_integer(dt) ? " (OPS)" : ""),
                       color_of(dt));
  }
  legend(c, items, c.w - c.right + 10);
  return c.svg();
}

// The fleet by category: Rpeak and Rmax per category, each labelled with its own precision.
std::string chart_categories(const Rating& r) {
  if (r.categories.empty()) return "";
  double mx = 0;
  for (const CategoryFigure& f : r.categories) mx = std::max({mx, f.rpeak, f.rmax});
  if (mx <= 0) return "";
  const double row_h = 46;
  Chart c(760, 34 + 46 + row_h * static_cast<double>(r.categories.size()) + 20);
  c.left = 260;
  c.right = 150;
  c.x0 = 0;
  c.x1 = mx * 1.05;
  c.title("Fleet by category, each at its own precision (not summed)");
  x_grid(c);
  static const std::map<Category, const char*> kColor = {{Category::general, "#ff7f0e"},
                                                         {Category::general_hosts, "#fdbf6f"},
                                                         {Category::intelligent, "#2ca02c"},
                                                         {Category::super, "#1f77b4"}};
  double y = c.top + 8;
  for (const CategoryFigure& f : r.categories) {
    const std::string col = kColor.at(f.category);
    c.text(c.left - 8, y + 12, std::string(category_label(f.category)), "end", 11);
    c.text(c.left - 8, y + 26,
           fmt::format("{}{}{}", f.precision, f.category == Category::intelligent ? " dense" : "",
                       f.included_in_total ? "" : ", not in totals"),
           "end", 10, "#555");
    if (f.rpeak > 0)
      c.body += fmt::format(
          R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="16" fill="{}" opacity="0.35"/>)"
          "\n",
          c.px(0), y, c.px(f.rpeak) - c.px(0), col);
    if (f.rmax > 0)
      c.body += fmt::format(R"(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="16" fill="{}"/>)"
                            "\n",
                            c.px(0), y + 18, c.px(f.rmax) - c.px(0), col);
    c.text(c.px(std::max(f.rpeak, 0.0)) + 6, y + 12, "Rpeak " + format_rate(f.rpeak, false),
           "start", 10);
    c.text(c.px(std::max(f.rmax, 0.0)) + 6, y + 30,
           "Rmax " + format_rate(f.rmax, false) + (f.extrapolated ? " (extrapolated)" : ""),
           "start", 10);
    y += row_h;
  }
  c.line(c.left, c.h - c.bottom, c.w - c.right, c.h - c.bottom, "#444");
  c.line(c.left, c.top, c.left, c.h - c.bottom, "#444");
  c.text((c.left + c.w - c.right) / 2, c.h - 8,
         "FLOP/s - light: Rpeak (spec/formula), dark: Rmax (verified)", "middle", 10, "#333");
  return c.svg();
}

std::string table_html(const Table& t) {
  std::string o = "<table><thead><tr>";
  for (const auto& h : t.header) o += "<th>" + html_escape(h) + "</th>";
  o += "</tr></thead><tbody>\n";
  for (const auto& row : t.rows) {
    o += "<tr>";
    for (const auto& c : row) o += "<td>" + html_escape(c) + "</td>";
    o += "</tr>\n";
  }
  return o + "</tbody></table>\n";
}

}  // namespace

std::string render_html(const Rating& r, const std::string& tool_version) {
  const Sections s = build_sections(r);
  std::string o =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>" +
      html_escape(s.title) +
      "</title>\n<style>\n"
      "body{font-family:sans-serif;margin:24px;color:#222;max-width:1500px}\n"
      "h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ccc}\n"
      "table{border-collapse:collapse;font-size:12px;margin:8px 0}\n"
      "th,td{border:1px solid #ddd;padding:3px 7px;text-align:left}th{background:#f3f3f3}\n"
      "td{font-variant-numeric:tabular-nums}\n"
      ".headline{font-size:16px;background:#f7f9fc;border:1px solid #cfd8e6;padding:10px 14px}\n"
      ".charts{display:flex;flex-wrap:wrap;gap:14px}.charts svg{border:1px solid #ddd}\n"
      "ul{font-size:12px}.foot{color:#777;font-size:11px;margin-top:30px}\n"
      "</style></head><body>\n";
  o += "<h1>" + html_escape(s.title) + "</h1>\n<ul>";
  for (const auto& [k, v] : s.intro)
    o += "<li><b>" + html_escape(k) + "</b>: " + html_escape(v) + "</li>";
  o += "</ul>\n<div class=\"headline\"><b>Headline</b> (each category at its own precision; no "
       "cross-precision sum)<br>\n";
  for (const std::string& h : s.headline) o += html_escape(h) + "<br>\n";
  o += "</div>\n";
  o += "<h2>Fleet by category</h2>\n<div class=\"charts\">" + chart_categories(r) + "</div>\n";
  std::vector<std::string> drawn;  // a report used by several node types is drawn once
  for (const NodeType& t : r.node_types)
    for (const NodeRating& n : t.measured)
      for (const DeviceRating& d : n.devices) {
        const std::string key = fmt::format("{} {}:{}", n.report, d.backend, d.index);
        if (std::find(drawn.begin(), drawn.end(), key) != drawn.end()) continue;
        drawn.push_back(key);
        o += fmt::format("<h2>{}: {}:{} {} ({})</h2>\n<div class=\"charts\">", html_escape(t.name),
                         html_escape(d.backend), d.index, html_escape(d.name),
                         html_escape(std::string(category_name(d.category))));
        o += chart_rmax_rpeak(d) + chart_roofline(d) + chart_gemm_sizes(d);
        o += "</div>\n";
      }
  for (const auto& [h, t] : s.tables) o += "<h2>" + html_escape(h) + "</h2>\n" + table_html(t);
  for (const auto& [h, lines] : s.lists) {
    o += "<h2>" + html_escape(h) + "</h2>\n<ul>";
    for (const std::string& l : lines) o += "<li>" + html_escape(l) + "</li>";
    o += "</ul>\n";
  }
  o += "<p class=\"foot\">" + html_escape(tool_version) +
       ". Self-contained: no scripts, no external resources; charts are inline SVG.</p>\n";
  o += "</body></html>\n";
  return o;
}

}  // namespace suanli::rate
