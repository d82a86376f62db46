// libFuzzer target: reports as `rate` and `compare` read them (check_report, then the rating
// of one node).
#include "fuzz_common.h"
#include "rate/compare.h"
#include "rate/rating.h"
#include "report/json_schema.h"
#include "report/report.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  suanli::fuzz::expect_input_error_only([&] {
    nlohmann::json doc = suanli::parse_json_text(text, "fuzz.json");
    // Resealed, so that the readers past the hash check are reached too.
    if (doc.is_object()) suanli::seal_report(doc);
    suanli::rate::rate_report(doc, "fuzz.json", std::nullopt);
    suanli::rate::compare_reports(doc, "a.json", doc, "b.json", {});
  });
  return 0;
}
