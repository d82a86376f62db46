#include "core/text.h"

#include <algorithm>

namespace suanli {

std::string replace_chars(const std::string& s, std::initializer_list<CharReplacement> table) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    const CharReplacement* r = std::find_if(table.begin(), table.end(),
                                            [c](const CharReplacement& x) { return x.from == c; });
    if (r != table.end())
      o += r->to;
    else
      o += c;
  }
  return o;
}

std::string html_escape(const std::string& s) {
  return replace_chars(s, {{'&', "&amp;"}, {'<', "&lt;"}, {'>', "&gt;"}, {'"', "&quot;"}});
}

std::string markdown_cell_escape(const std::string& s) {
  // Raw HTML in a cell would be rendered as HTML by most Markdown viewers.
  return replace_chars(strip_control(s),
                       {{'|', "\\|"}, {'<', "&lt;"}, {'>', "&gt;"}, {'&', "&amp;"}});
}

std::string strip_control(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    o += (u < 0x20 || u == 0x7f) ? '?' : c;
  }
  return o;
}

}  // namespace suanli
