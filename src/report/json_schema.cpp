// JSON Schema validation with valijson over nlohmann_json, and JSON file reading with located
// errors.
#include "report/json_schema.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
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

void require_valid(const nlohmann::json& doc, const std::string& schema_file,
                   const std::string& origin, const std::string& what, const std::string& plural) {
  const std::vector<SchemaError> errors = validate_against_schema(doc, schema_file);
  if (errors.empty()) return;
  const SchemaError& e = errors.front();
  throw InputError(fmt::format("{}: not a valid {}: at {}: {} ({} follow reports/schema/{})",
                               origin, what, e.path.empty() ? "/" : e.path, e.message, plural,
                               schema_file));
}

namespace {

// JSON pointer escaping of one reference token.
std::string pointer_token(const std::string& k) {
  std::string out;
  for (char c : k) out += c == '~' ? std::string("~0") : c == '/' ? "~1" : std::string(1, c);
  return out;
}

// One pass over the text before any document is built: bounded nesting, no duplicate keys,
// numbers in range; every problem named by the parser's line:column and the JSON path.
class CheckingSax : public nlohmann::json_sax<nlohmann::json> {
 public:
  using json = nlohmann::json;
  std::string error;  // set when the text is refused

  bool null() override { return value(); }
  bool boolean(bool) override { return value(); }
  bool number_integer(json::number_integer_t) override { return value(); }
  bool number_unsigned(json::number_unsigned_t) override { return value(); }
  bool number_float(json::number_float_t, const json::string_t&) override { return value(); }
  bool string(json::string_t&) override { return value(); }
  bool binary(json::binary_t&) override { return value(); }
  bool start_object(std::size_t) override { return open(true); }
  bool start_array(std::size_t) override { return open(false); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }
  bool key(json::string_t& k) override {
    Frame& f = frames_.back();
    if (!f.keys.insert(k).second) {
      error = fmt::format("duplicate key \"{}\" at {}", printable(k), path_of(f, k));
      return false;
    }
    f.key = k;
    return true;
  }
  size_t error_offset = 0;  // the parser's own position of a syntax error (bytes read)
  bool parse_error(std::size_t position, const std::string& token,
                   const nlohmann::detail::exception& ex) override {
    error_offset = position;
    if (ex.id == 406)
      error = fmt::format("number out of range at {}: '{}' (expected a finite number)", path(),
                          printable(token));
    else
      error = strip_position(ex.what());
    return false;
  }

  std::string path() const {
    std::string out;
    for (const Frame& f : frames_) out += "/" + token_of(f);
    if (out.size() > 100) out = out.substr(0, 48) + "/.../" + out.substr(out.size() - 48);
    return out.empty() ? "/" : out;
  }

 private:
  struct Frame {
    bool object = false;
    size_t count = 0;  // arrays: elements begun so far
    std::string key;   // objects: the current key
    std::set<std::string> keys;
  };
  static std::string token_of(const Frame& f) {
    return f.object ? pointer_token(f.key) : std::to_string(f.count == 0 ? 0 : f.count - 1);
  }
  std::string path_of(const Frame& last, const std::string& key) const {
    std::string out;
    for (size_t i = 0; i + 1 < frames_.size(); ++i) out += "/" + token_of(frames_[i]);
    (void)last;
    return out + "/" + pointer_token(key);
  }
  static std::string printable(const std::string& s) {
    std::string out;
    for (char c : s.substr(0, 60)) out += (static_cast<unsigned char>(c) < 0x20) ? '?' : c;
    return s.size() > 60 ? out + "..." : out;
  }
  // "[json.exception.parse_error.101] parse error at line 2, column 1: syntax error ..." ->
  // "syntax error ...": the position is given once, in front, as file:line:column.
  static std::string strip_position(const std::string& what) {
    const auto col = what.find(", column ");
    if (col != std::string::npos) {
      const auto colon = what.find(": ", col);
      if (colon != std::string::npos) return what.substr(colon + 2);
    }
    const auto pe = what.find("parse error");
    return pe == std::string::npos ? what : what.substr(pe);
  }
  bool value() {
    if (!frames_.empty() && !frames_.back().object) ++frames_.back().count;
    return true;
  }
  bool open(bool object) {
    value();
    if (frames_.size() >= kMaxJsonDepth) {
      error = fmt::format("nested deeper than {} levels at {} (refused)", kMaxJsonDepth, path());
      return false;
    }
    frames_.push_back(Frame{object, 0, {}, {}});
    return true;
  }
  bool close() {
    frames_.pop_back();
    return true;
  }
  std::vector<Frame> frames_;
};

// line:column of a byte offset, 1-based, as editors count.
std::pair<size_t, size_t> line_column(const std::string& text, size_t offset) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < std::min(offset, text.size()); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return {line, col};
}

}  // namespace

nlohmann::json parse_json_text(const std::string& text, const std::string& origin) {
  if (text.size() > kMaxJsonBytes)
    throw InputError(fmt::format("{}: {} bytes, more than the {} MiB a JSON input may have", origin,
                                 text.size(), kMaxJsonBytes >> 20));
  CheckingSax sax;
  // The lexer's own position of the failure, kept by an input adapter that counts bytes read.
  size_t consumed = 0;
  struct CountingIterator {
    const char* p;
    size_t* n;
    using iterator_category = std::forward_iterator_tag;
    using value_type = char;
    using difference_type = std::ptrdiff_t;
    using pointer = const char*;
    using reference = const char&;
    reference operator*() const { return *p; }
    CountingIterator& operator++() {
      ++p;
      ++*n;
      return *this;
    }
    CountingIterator operator++(int) {
      CountingIterator t = *this;
      ++*this;
      return t;
    }
    bool operator==(const CountingIterator& o) const { return p == o.p; }
    bool operator!=(const CountingIterator& o) const { return p != o.p; }
  };
  const CountingIterator first{text.data(), &consumed}, last{text.data() + text.size(), &consumed};
  const bool ok = nlohmann::json::sax_parse(first, last, &sax);
  if (!ok || !sax.error.empty()) {
    const size_t at = sax.error_offset > 0 ? sax.error_offset : consumed == 0 ? 0 : consumed - 1;
    const auto [line, col] = line_column(text, at);
    throw InputError(fmt::format("{}:{}:{}: not valid JSON: {}", origin, line, col,
                                 sax.error.empty() ? "refused" : sax.error));
  }
  return nlohmann::json::parse(text);
}

std::string read_text_file(const std::string& path, const char* what) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    throw InputError(fmt::format("{}: cannot open {}: {}", path, what, std::strerror(errno)));
  struct stat st {};
  if (fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
    close(fd);
    throw InputError(fmt::format("{}: cannot read {}: it is a directory", path, what));
  }
  if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) > kMaxJsonBytes) {
    close(fd);
    throw InputError(fmt::format("{}: {} bytes, more than the {} MiB a {} may have", path,
                                 st.st_size, kMaxJsonBytes >> 20, what));
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  std::string text;
  char buf[1 << 16];
  // Reserved once: no regrowth copies (a device such as /dev/zero costs one 32 MiB buffer).
  text.reserve(S_ISREG(st.st_mode) ? static_cast<size_t>(st.st_size) : kMaxJsonBytes + sizeof buf);
  while (true) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      close(fd);
      throw InputError(fmt::format("{}: cannot read {}: {}", path, what, std::strerror(err)));
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxJsonBytes) {
      close(fd);
      throw InputError(fmt::format("{}: more than the {} MiB a {} may have (refused)", path,
                                   kMaxJsonBytes >> 20, what));
    }
  }
  close(fd);
  return text;
}

nlohmann::json read_json_file(const std::string& path) {
  return parse_json_text(read_text_file(path, "JSON file"), path);
}

}  // namespace suanli
