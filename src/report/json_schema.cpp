// JSON Schema validation with valijson over nlohmann_json, and JSON file reading with located
// errors.
#include "report/json_schema.h"

#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string_view>
#include <utility>

#include <fmt/format.h>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>

#include "core/error.h"

namespace suanli {

// Generated from reports/schema/*.schema.json by cmake/embed_files.cmake.
const std::vector<std::pair<std::string_view, std::string_view>>& builtin_schemas();

namespace {

std::string pointer_from_context(const std::vector<std::string>& context) {
  // valijson's context reads like ["<root>", "[workloads]", "[3]", "[dtype]"].
  std::string out;
  for (const std::string& c : context) {
    if (c == "<root>") continue;
    std::string part = c;
    if (part.size() >= 2 && part.front() == '[' && part.back() == ']')
      part = part.substr(1, part.size() - 2);
    if (part.size() >= 2 && part.front() == '"' && part.back() == '"')
      part = part.substr(1, part.size() - 2);
    out += "/" + part;
  }
  return out.empty() ? "/" : out;
}

struct CompiledSchema {
  valijson::Schema schema;
};

const CompiledSchema& compiled(const std::string& name) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<CompiledSchema>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(name);
  if (it != cache.end()) return *it->second;
  auto c = std::make_unique<CompiledSchema>();
  const nlohmann::json doc = nlohmann::json::parse(schema_text(name));
  valijson::SchemaParser parser;
  valijson::adapters::NlohmannJsonAdapter adapter(doc);
  parser.populateSchema(adapter, c->schema);
  return *cache.emplace(name, std::move(c)).first->second;
}

}  // namespace

const std::string& schema_text(const std::string& schema_file) {
  static std::map<std::string, std::string> texts = [] {
    std::map<std::string, std::string> m;
    for (const auto& [name, text] : builtin_schemas()) m.emplace(name, text);
    return m;
  }();
  auto it = texts.find(schema_file);
  if (it == texts.end()) throw std::out_of_range("no embedded schema named " + schema_file);
  return it->second;
}

std::vector<SchemaError> validate_against_schema(const nlohmann::json& doc,
                                                 const std::string& schema_file) {
  const CompiledSchema& c = compiled(schema_file);
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter adapter(doc);
  std::vector<SchemaError> errors;
  if (validator.validate(c.schema, adapter, &results)) return errors;
  valijson::ValidationResults::Error e;
  while (results.popError(e)) {
    // valijson also reports every enclosing object and array as failed; those
    // lines repeat the specific error and are dropped.
    if (e.description.rfind("Failed to validate against schema associated with property", 0) == 0 ||
        e.description.rfind("Failed to validate item #", 0) == 0 ||
        e.description.rfind("Failed to validate against child schema", 0) == 0)
      continue;
    SchemaError err{pointer_from_context(e.context), e.description};
    // Say what was found, so "not one of the allowed values" reads as an answer.
    try {
      const nlohmann::json& v =
          doc.at(nlohmann::json::json_pointer(err.path == "/" ? "" : err.path));
      std::string shown = v.dump();
      if (shown.size() > 60) shown = shown.substr(0, 57) + "...";
      err.message += " (found " + shown + ")";
    } catch (const std::exception&) {
    }
    errors.push_back(std::move(err));
  }
  if (errors.empty()) errors.push_back({"/", "does not match the schema"});
  // valijson reports the enclosing failures after the specific one; keep the
  // deepest paths first so the first line is the most useful.
  std::stable_sort(errors.begin(), errors.end(), [](const SchemaError& a, const SchemaError& b) {
    return a.path.size() > b.path.size();
  });
  return errors;
}

nlohmann::json parse_json_text(const std::string& text, const std::string& origin) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // Turn the byte offset into line:column, which editors understand.
    size_t line = 1, col = 1;
    const size_t upto = std::min(static_cast<size_t>(e.byte), text.size());
    for (size_t i = 0; i + 1 < upto; ++i) {
      if (text[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    std::string what = e.what();
    const auto colon = what.find("parse error");
    if (colon != std::string::npos) what = what.substr(colon);
    throw InputError(fmt::format("{}:{}:{}: not valid JSON: {}", origin, line, col, what));
  }
}

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw InputError(fmt::format("{}: cannot open file", path));
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_json_text(ss.str(), path);
}

}  // namespace suanli
