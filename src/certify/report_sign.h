// Keyed reports: a run's report signed with the certify Ed25519 key (`run --sign-key`), so a data
// center can require signed reports (`rate --require-signed PUB`). The signature is over the
// report's sha256 (which covers everything but "sha256" and "signature").
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "certify/certificate.h"

namespace suanli::certify {

// Sets report["signature"] = {algorithm, public_key, key_id, signature}; the report must be
// sealed (seal_report) first.
void sign_report(nlohmann::json& report, const SecretKey& sk);

// Empty when the report is signed by `pk` and its hash is right; otherwise why not.
std::string report_signature_problem(const nlohmann::json& report, const PublicKey& pk);

}  // namespace suanli::certify
