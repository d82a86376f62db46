// A certification run: sustain every workload of a profile on every device, with a seed drawn
// at run time, the caching check and a telemetry series; then the report and the (unsigned)
// certificate.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "certify/profile.h"
#include "harness/backend_host.h"
#include "harness/run_report.h"
#include "harness/runner.h"
#include "report/claims.h"

namespace suanli::certify {

struct CertifyInput {
  Profile profile;
  std::optional<Claims> claims;
  nlohmann::json claims_document;  // the claims file as read, embedded in the certificate
  std::vector<Backend*> backends;
  std::vector<LoadIssue> issues;
  std::vector<std::string> unofficial_reasons;  // empty: official
  RunMeta meta;
  std::string report_file;  // as the certificate names it
  std::function<void(const Progress&)> on_progress;
};

struct CertifyOutput {
  uint64_t seed = 0;
  std::vector<Result> results;
  nlohmann::json report;       // sealed
  nlohmann::json certificate;  // unsigned: sign_certificate adds signer and signature
};

// Why a certificate from this build and profile would be UNOFFICIAL (empty: official).
std::vector<std::string> unofficial_reasons(const Profile& profile);

// A seed from the system's CSPRNG (libsodium randombytes), 53 bits so that every JSON reader
// keeps it exactly.
uint64_t draw_seed();

// SHA-256 of the running executable (/proc/self/exe) and its path.
std::pair<std::string, std::string> binary_identity();

CertifyOutput run_certification(const CertifyInput& in);

// The certificate over evaluated criteria (used by run_certification; public for tests).
nlohmann::json make_certificate(const CertifyInput& in, uint64_t seed, const nlohmann::json& report,
                                const std::vector<nlohmann::json>& criteria);

}  // namespace suanli::certify
