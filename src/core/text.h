// Escaping text for the human-readable forms (HTML pages, Markdown tables).
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

namespace suanli {

struct CharReplacement {
  char from;
  std::string_view to;
};
// s with every character that has a row in `table` replaced by the row's text.
std::string replace_chars(const std::string& s, std::initializer_list<CharReplacement> table);

// & < > " as entities: safe in HTML text and in double-quoted attributes.
std::string html_escape(const std::string& s);
// '|' as "\|", < > & as entities (no raw HTML), control characters as '?': safe inside a
// Markdown table cell.
std::string markdown_cell_escape(const std::string& s);
// Control characters (escape sequences, CR, newlines) as '?': safe to print on a terminal. Text
// from plugins and input files passes through it before it is kept.
std::string strip_control(const std::string& s);

}  // namespace suanli
