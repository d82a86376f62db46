// libFuzzer target: vendor claims files (claims_from_document: schema, conflicting duplicates).
#include "fuzz_common.h"
#include "report/claims.h"
#include "report/json_schema.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  suanli::fuzz::expect_input_error_only([&] {
    suanli::claims_from_document(suanli::parse_json_text(text, "fuzz.json"), "fuzz.json");
  });
  return 0;
}
