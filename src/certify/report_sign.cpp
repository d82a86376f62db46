// Keyed reports: Ed25519 (libsodium) over the report's sha256.
#include "certify/report_sign.h"

#include <sodium.h>

#include <array>
#include <stdexcept>

#include <fmt/format.h>

#include "report/report.h"

namespace suanli::certify {

using nlohmann::json;

namespace {

std::string message(const json& report) {
  return "suanli-report-sha256:" + report_sha256(report);
}

}  // namespace

void sign_report(json& report, const SecretKey& sk) {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialize");
  PublicKey pk{};
  crypto_sign_ed25519_sk_to_pk(pk.data(), sk.data());
  const std::string msg = message(report);
  std::array<unsigned char, crypto_sign_BYTES> sig{};
  crypto_sign_detached(sig.data(), nullptr, reinterpret_cast<const unsigned char*>(msg.data()),
                       msg.size(), sk.data());
  report["signature"] = {{"algorithm", "ed25519"},
                         {"public_key", to_hex(pk.data(), pk.size())},
                         {"key_id", key_id(pk)},
                         {"signature", to_hex(sig.data(), sig.size())}};
}

std::string report_signature_problem(const json& report, const PublicKey& pk) {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialize");
  if (!report.is_object() || !report.contains("signature") || !report["signature"].is_object())
    return "the report is not signed (run --sign-key)";
  const json& s = report["signature"];
  if (s.value("algorithm", "") != "ed25519") return "the signature is not ed25519";
  if (s.value("public_key", "") != to_hex(pk.data(), pk.size()))
    return fmt::format("signed by another key (key id {})", s.value("key_id", "?"));
  const std::string hex = s.value("signature", "");
  std::array<unsigned char, crypto_sign_BYTES> sig{};
  size_t len = 0;
  if (hex.size() != 2 * sig.size() ||
      sodium_hex2bin(sig.data(), sig.size(), hex.data(), hex.size(), nullptr, &len, nullptr) != 0 ||
      len != sig.size())
    return "the signature is malformed";
  if (report.value("sha256", "") != report_sha256(report))
    return "the report was modified after it was sealed (sha256 mismatch)";
  const std::string msg = message(report);
  if (crypto_sign_verify_detached(sig.data(), reinterpret_cast<const unsigned char*>(msg.data()),
                                  msg.size(), pk.data()) != 0)
    return "the signature does not verify (the report was altered or resealed)";
  return {};
}

}  // namespace suanli::certify
