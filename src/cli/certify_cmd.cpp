// `suanli certify`, `suanli keygen` and `suanli verify`: argument handling and output around
// src/certify.
#include "cli/certify_cmd.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "certify/certificate.h"
#include "certify/run.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/units.h"
#include "harness/isolate.h"
#include "report/json_schema.h"
#include "report/report.h"
#include "report/system_info.h"

namespace suanli::cli {
namespace {

namespace fs = std::filesystem;

// cert.json -> cert + suffix (cert.report.json, cert.md, cert.html).
std::string sibling(const std::string& out, const std::string& suffix) {
  fs::path p(out);
  if (p.extension() == ".json") p.replace_extension("");
  return p.string() + suffix;
}

// The four outputs, before any work: none a directory, device or input, none the same as another.
void check_certify_outputs(const CertifyOptionsCli& o, const std::string& out,
                           const std::string& report_path, bool default_name) {
  std::vector<std::string> inputs = {o.key, o.claims};
  if (o.profile.find('/') != std::string::npos || fs::path(o.profile).extension() == ".json")
    inputs.push_back(o.profile);
  const std::vector<std::string> outputs = {out, report_path, sibling(out, ".md"),
                                            sibling(out, ".html")};
  for (size_t i = 0; i < outputs.size(); ++i) {
    check_output_path(outputs[i], inputs, i == 1 ? "--report" : "-o/--out", default_name);
    for (size_t j = 0; j < i; ++j)
      if (outputs[i] == outputs[j] || same_file(outputs[i], outputs[j]))
        throw InputError(fmt::format("--report {}: is also the certificate's {} file; refused",
                                     outputs[i], j == 0 ? "JSON" : "other"));
  }
}

}  // namespace

int cmd_certify(const CertifyOptionsCli& o) {
  // Everything that can be wrong with the input is checked before anything runs.
  const certify::Profile profile = certify::load_profile(o.profile);
  const certify::SecretKey sk = certify::load_secret_key(o.key);
  certify::CertifyInput in;
  in.profile = profile;
  if (!o.claims.empty()) {
    in.claims = load_claims(o.claims);
    in.claims_document = read_json_file(o.claims);
  }
  in.unofficial_reasons = certify::unofficial_reasons(profile);
  if (!in.unofficial_reasons.empty() && !o.unofficial) {
    std::string why;
    for (const std::string& r : in.unofficial_reasons) why += "\n  " + r;
    throw InputError(fmt::format(
        "refusing to certify:{}\nan official certificate needs a clean build of a commit and a "
        "shipped profile; pass --unofficial to issue one marked UNOFFICIAL",
        why));
  }
  // Enumerated, and later measured, in worker processes (src/harness/isolate): a plugin that
  // crashes or hangs costs its results, never the certification.
  LoadOptions lo;
  lo.only = o.backends;
  if (o.threads > 0) lo.create_options.emplace_back("threads", std::to_string(o.threads));
  const isolate::Enumeration loaded = enumerate(lo);
  in.backends = loaded.backends;
  in.create_options = lo.create_options;
  in.timeout_s = o.timeout_s;
  size_t devices = 0;
  for (const isolate::BackendDesc& b : in.backends) devices += b.devices.size();
  if (devices == 0) throw InputError("no device to certify (see `suanli info`)");
  in.issues = loaded.issues;

  const bool default_name = o.out.empty();
  const std::string out =
      default_name ? unique_output_name("suanli-certificates", host_info().hostname, ".json")
                   : o.out;
  const std::string report_path = o.report.empty() ? sibling(out, ".report.json") : o.report;
  check_certify_outputs(o, out, report_path, default_name);
  in.report_file = fs::path(report_path).filename().string();
  in.meta.command = o.argv;
  in.meta.started_utc = utc_timestamp();
  in.meta.options = {{"profile", o.profile}, {"out", out}, {"report", report_path}};
  if (!o.claims.empty()) in.meta.options.emplace_back("claims", o.claims);
  if (o.threads) in.meta.options.emplace_back("threads", std::to_string(o.threads));
  if (o.unofficial) in.meta.options.emplace_back("unofficial", "true");

  const bool tty = isatty(STDERR_FILENO) && !o.quiet;
  if (!o.quiet)
    for (const LoadIssue& i : loaded.issues)
      fmt::print(stderr, "note: backend {}: {}\n", i.path, i.reason);
  if (!o.quiet) {
    in.on_progress = [tty](const Progress& p) {
      std::string line = fmt::format("[{}/{}] {}  elapsed {}", p.index + 1, p.total, p.label,
                                     format_clock(p.elapsed_s));
      if (p.eta_s >= 0) line += fmt::format("  ETA {}", format_clock(p.eta_s));
      if (tty)
        fmt::print(stderr, "\r\033[K{}", line);
      else
        fmt::print(stderr, "{}\n", line);
      std::fflush(stderr);
    };
  }
  certify::CertifyOutput result;
  try {
    const isolate::InterruptScope interrupts;
    result = certify::run_certification(in);
  } catch (const certify::Interrupted&) {
    if (tty) fmt::print(stderr, "\r\033[K");
    const int sig = isolate::InterruptScope::received();
    fmt::print(stderr,
               "suanli: certify interrupted by SIG{}: nothing written (a certification is not "
               "resumed: run it again)\n",
               sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
    return 128 + sig;
  }
  if (tty) fmt::print(stderr, "\r\033[K");
  certify::sign_certificate(result.certificate, sk);

  // All four written before any is renamed into place, the renames with interrupts held back:
  // a reader finds the complete old set or the complete new one.
  write_files_atomic({{report_path, result.report.dump(2) + "\n"},
                      {sibling(out, ".md"), certify::certificate_markdown(result.certificate)},
                      {sibling(out, ".html"), certify::certificate_html(result.certificate)},
                      {out, result.certificate.dump(2) + "\n"}},
                     default_name);
  std::cout << certify::certificate_text(result.certificate);
  fmt::print("certificate: {}\nreport: {}\nreadable: {} {}\n", out, report_path,
             sibling(out, ".md"), sibling(out, ".html"));
  // A FAIL is a result, not an error of the command: the certificate says it.
  return result.certificate["verdict"] == "PASS" ? kExitOk : kExitFailed;
}

int cmd_keygen(const KeygenOptions& o) {
  const certify::KeyPair kp = certify::generate_keypair();
  const auto [secret, pub] = certify::write_keypair(kp, o.out);
  fmt::print(
      "key id: {}\nsecret key: {} (mode 0600: keep it private)\npublic key: {} (give it "
      "to whoever verifies your certificates)\n",
      certify::key_id(kp.public_key), secret, pub);
  return kExitOk;
}

int cmd_verify(const VerifyOptions& o) {
  const nlohmann::json cert = read_json_file(o.certificate);
  certify::check_certificate_shape(cert, o.certificate);
  const certify::PublicKey pk = certify::load_public_key(o.pubkey);
  nlohmann::json report;
  if (!o.report.empty()) {
    report = read_json_file(o.report);
    // Not a report at all is a bad input; an edited report is for the checks to find.
    if (!report.is_object() || !report.contains("schema_version"))
      throw InputError(
          fmt::format("{}: not a suanli report (no \"schema_version\" at /)", o.report));
  }
  const certify::VerifyResult v =
      certify::verify_certificate(cert, pk, o.report.empty() ? nullptr : &report, o.report);
  for (const certify::Check& c : v.checks)
    fmt::print("{:<4} {:<22} {}\n", c.ok ? "ok" : "BAD", c.what, c.detail);
  if (o.report.empty())
    fmt::print(
        "note: no --report given: the report's hash and the measured values were not "
        "checked against it\n");
  if (!v.authentic()) {
    fmt::print("NOT AUTHENTIC or INCONSISTENT: {} is not to be trusted\n", o.certificate);
    return certify::kExitNotAuthentic;
  }
  const bool official = cert["official"].get<bool>();
  fmt::print("authentic: verdict {}{}\n", v.verdict, official ? "" : " (UNOFFICIAL)");
  if (v.verdict != "PASS") return kExitFailed;
  return official ? kExitOk : certify::kExitUnofficialPass;
}

}  // namespace suanli::cli
