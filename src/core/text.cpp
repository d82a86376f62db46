#include "core/text.h"

namespace suanli {

std::string html_escape(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        o += "&amp;";
        break;
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '"':
        o += "&quot;";
        break;
      default:
        o += c;
    }
  }
  return o;
}

std::string markdown_cell_escape(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (char c : strip_control(s)) {
    if (c == '|') o += '\\';
    // Raw HTML in a cell would be rendered as HTML by most Markdown viewers.
    if (c == '<')
      o += "&lt;";
    else if (c == '>')
      o += "&gt;";
    else if (c == '&')
      o += "&amp;";
    else
      o += c;
  }
  return o;
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
