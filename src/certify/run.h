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
#include "harness/isolate.h"
#include "harness/run_report.h"
#include "harness/runner.h"
#include "report/claims.h"

namespace suanli::certify {

struct CertifyInput {
  Profile profile;
  std::optional<Claims> claims;
  nlohmann::json claims_document;  // the claims file as read, embedded in the certificate
  // Enumerated in worker processes: the measurements run in workers too (src/harness/isolate).
  std::vector<isolate::BackendDesc> backends;
  std::vector<std::pair<std::string, std::string>> create_options;  // --threads, as the workers get
  double timeout_s = 0;  // seconds a run may take before its worker is killed; 0: the default
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

// Thrown by run_certification when SIGINT/SIGTERM/SIGHUP arrived (isolate::interrupted()):
// nothing is written, a certification is run again from the start.
struct Interrupted : std::exception {
  const char* what() const noexcept override { return "interrupted"; }
};

// The suite a certification runs and its report records: the profile's workloads with the run's
// seed, each cache-checked one followed by its decoy-refill and fresh-input twins. The workers
// build the same one from the profile.
Suite certification_suite(const Profile& profile, uint64_t seed);

// Runs every workload of the profile on every device, each backend's in a worker process of its
// own: a plugin that crashes, exits or hangs (past its timeout) gives an error result naming how
// its worker ended, and the certification goes on. Throws Interrupted.
CertifyOutput run_certification(const CertifyInput& in);

// The certificate over evaluated criteria (used by run_certification; public for tests).
nlohmann::json make_certificate(const CertifyInput& in, uint64_t seed, const nlohmann::json& report,
                                const std::vector<nlohmann::json>& criteria);

}  // namespace suanli::certify
