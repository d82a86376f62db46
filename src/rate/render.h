// Rating outputs: JSON (reports/schema/rating.schema.json), terminal text, Markdown and a
// self-contained HTML page with SVG charts.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "rate/rating.h"

namespace suanli::rate {

// `tool_version` is written into the JSON and the page footer ("suanli 0.1.0 (abc123)").
nlohmann::json rating_to_json(const Rating& r, const std::string& tool_version);
std::string render_text(const Rating& r);
std::string render_markdown(const Rating& r);
std::string render_html(const Rating& r, const std::string& tool_version);

// A plain table: header row, then rows; numeric-looking columns are right-aligned in text.
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::string text(const std::string& indent = "") const;
  std::string markdown() const;
};

}  // namespace suanli::rate
