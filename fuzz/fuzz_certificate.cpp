// libFuzzer target: certificates as `verify` reads them (shape, then every check re-derived;
// with the certificate's own signer key, so the checks past the signature run too).
#include "certify/certificate.h"
#include "fuzz_common.h"
#include "report/json_schema.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  suanli::fuzz::expect_input_error_only([&] {
    const nlohmann::json cert = suanli::parse_json_text(text, "fuzz.json");
    suanli::certify::check_certificate_shape(cert, "fuzz.json");
    const suanli::certify::PublicKey pk{};
    suanli::certify::verify_certificate(cert, pk, &cert, "fuzz.json");
  });
  return 0;
}
