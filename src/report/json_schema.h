// JSON Schema validation (valijson) against the schemas embedded from reports/schema/.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace suanli {

struct SchemaError {
  std::string path;     // JSON pointer, "/workloads/3/dtype"
  std::string message;  // what was expected
};

// Validates doc against the embedded schema file `schema_file` (e.g.
// "suite.schema.json"). Returns the errors, most specific first; empty = valid.
std::vector<SchemaError> validate_against_schema(const nlohmann::json& doc,
                                                 const std::string& schema_file);

// Validates doc against `schema_file`; throws InputError "ORIGIN: not a valid WHAT: at POINTER:
// MESSAGE (PLURAL follow reports/schema/SCHEMA_FILE)" for the first (most specific) error.
void require_valid(const nlohmann::json& doc, const std::string& schema_file,
                   const std::string& origin, const std::string& what, const std::string& plural);

// The embedded schema text; throws std::out_of_range for an unknown name.
const std::string& schema_text(const std::string& schema_file);

// Limits on every JSON input, checked before a document is built.
constexpr size_t kMaxJsonBytes = size_t{32} << 20;  // 32 MiB
constexpr size_t kMaxJsonDepth = 256;               // nesting of objects and arrays

// Reads a whole file of at most kMaxJsonBytes (also from pipes and devices, which are read up to
// the limit only); throws InputError naming the file and `what` it should be.
std::string read_text_file(const std::string& path, const char* what);

// Reads a JSON file; throws InputError naming the file and line:column of a syntax error
// (the parser's position, given once), of nesting deeper than kMaxJsonDepth, of a duplicate key
// and of a number out of range (with its JSON path); refuses files over kMaxJsonBytes.
nlohmann::json read_json_file(const std::string& path);
// Parses JSON text that came from `origin`; same errors as read_json_file.
nlohmann::json parse_json_text(const std::string& text, const std::string& origin);

}  // namespace suanli
