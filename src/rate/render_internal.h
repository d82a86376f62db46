// Shared by the text, Markdown and HTML renderers: the rating laid out as headline, tables and
// lists, in reading order.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "rate/rating.h"
#include "rate/render.h"

namespace suanli::rate {

struct Sections {
  std::string title;
  std::vector<std::pair<std::string, std::string>> intro;  // key, value
  std::vector<std::pair<std::string, Table>> tables;       // heading, table
  std::vector<std::string> headline;
  std::vector<std::pair<std::string, std::vector<std::string>>> lists;  // heading, lines
};

Sections build_sections(const Rating& r);

}  // namespace suanli::rate
