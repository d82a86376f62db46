// Escaping text for the human-readable forms (HTML pages, Markdown tables).
#pragma once

#include <string>

namespace suanli {

// & < > " as entities: safe in HTML text and in double-quoted attributes.
std::string html_escape(const std::string& s);
// '|' as "\|": safe inside a Markdown table cell.
std::string markdown_cell_escape(const std::string& s);

}  // namespace suanli
