// Certificates: Ed25519 keys (libsodium), signing over canonical JSON, and independent
// verification that re-derives every verdict (reports/schema/certificate.schema.json).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "report/claims.h"

namespace suanli::certify {

constexpr int kCertificateVersion = 1;
// `suanli verify`'s status when a certificate is not authentic or not consistent (0: authentic
// and PASS, 1: authentic and FAIL, 2: bad input).
constexpr int kExitNotAuthentic = 3;
// `suanli verify`'s status for an authentic PASS that is UNOFFICIAL (dirty build or modified
// profile): not to be mistaken for an official PASS (0).
constexpr int kExitUnofficialPass = 4;

using PublicKey = std::array<unsigned char, 32>;
using SecretKey = std::array<unsigned char, 64>;  // libsodium's: seed, then the public key

struct KeyPair {
  PublicKey public_key{};
  SecretKey secret_key{};
};

KeyPair generate_keypair();
// First 16 hex digits of the SHA-256 of the public key.
std::string key_id(const PublicKey& pk);
std::string to_hex(const unsigned char* data, size_t n);

// Key files are JSON: {"suanli_key": 1, "algorithm": "ed25519", "type": "secret"|"public",
// "key_id", "public_key" (hex), "secret_key" (hex, secret files only)}.
// Writes DIR/suanli-certify.secret (created with mode 0600; refuses to overwrite) and
// DIR/suanli-certify.pub; returns their paths. Throws InputError when a file exists.
std::pair<std::string, std::string> write_keypair(const KeyPair& kp, const std::string& dir);
// Throws InputError naming the file: unreadable, malformed, or (secret) readable by others.
SecretKey load_secret_key(const std::string& path);
PublicKey load_public_key(const std::string& path);

// The bytes that are signed: canonical_json of the certificate without "signature".
std::string signed_bytes(const nlohmann::json& certificate);
// Sets certificate["signer"] (algorithm, public key, key id) and certificate["signature"].
void sign_certificate(nlohmann::json& certificate, const SecretKey& sk);

// Validates a certificate against certificate.schema.json; throws InputError naming `origin`,
// the JSON pointer and what was expected.
void check_certificate_shape(const nlohmann::json& certificate, const std::string& origin);

struct Check {
  std::string what;
  bool ok = false;
  std::string detail;
};

struct VerifyResult {
  std::vector<Check> checks;
  std::string verdict;  // as re-derived
  bool authentic() const;
};

// Checks a certificate: signer key, signature, profile (hash, shipped), provenance
// consistency, claims, every criterion's limit and verdict re-derived, completeness, the
// overall verdict; with `report` (its origin for messages) also the report's hash and every
// measured value re-derived from the report's samples. Throws InputError for a certificate
// that is not one (check_certificate_shape).
VerifyResult verify_certificate(const nlohmann::json& certificate, const PublicKey& pk,
                                const nlohmann::json* report, const std::string& report_origin);

// Human-readable forms for a vendor to publish.
std::string certificate_text(const nlohmann::json& certificate);  // terminal summary
std::string certificate_markdown(const nlohmann::json& certificate);
std::string certificate_html(const nlohmann::json& certificate);  // self-contained page

}  // namespace suanli::certify
