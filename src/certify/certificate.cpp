// Certificates: keys, signing, and verification that re-derives every verdict from the numbers.
#include "certify/certificate.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

#include "certify/criteria.h"
#include "certify/profile.h"
#include "core/error.h"
#include "report/hash.h"
#include "report/json_schema.h"
#include "report/report.h"
#include "report/report_reader.h"

namespace suanli::certify {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

void init_sodium() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialize");
}

template <size_t N>
std::array<unsigned char, N> from_hex(const json& doc, const char* field, const std::string& path) {
  std::array<unsigned char, N> out{};
  if (!doc.contains(field) || !doc[field].is_string())
    throw InputError(fmt::format("{}: at /{}: expected a hex string of {} bytes", path, field, N));
  const std::string hex = doc[field].get<std::string>();
  size_t len = 0;
  if (hex.size() != 2 * N ||
      sodium_hex2bin(out.data(), N, hex.data(), hex.size(), nullptr, &len, nullptr) != 0 ||
      len != N)
    throw InputError(
        fmt::format("{}: at /{}: expected {} hex digits ({} bytes), found {} characters", path,
                    field, 2 * N, N, hex.size()));
  return out;
}

json read_key_file(const std::string& path, const std::string& type) {
  const json doc = read_json_file(path);
  if (!doc.is_object() || doc.value("suanli_key", 0) != 1 ||
      doc.value("algorithm", "") != "ed25519" || doc.value("type", "") != type)
    throw InputError(fmt::format(
        "{}: not a suanli {} key file (expected {{\"suanli_key\": 1, \"algorithm\": \"ed25519\", "
        "\"type\": \"{}\", ...}} as written by `suanli keygen`)",
        path, type, type));
  return doc;
}

// Writes text to a new file with the given mode, atomically (temporary file, fsync, rename).
// Creates `path` with exactly `mode`, never replacing anything: written to a private temporary,
// then link(2)ed into place, which fails when the name exists (concurrent keygens: one wins).
void write_new_file(const std::string& path, const std::string& text, mode_t mode) {
  std::string tmp = path + ".tmp.XXXXXX";
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) throw std::runtime_error(fmt::format("{}: cannot create: {}", tmp, strerror(errno)));
  // mkstemp gives 0600 whatever the umask; make the mode exact.
  bool ok = ::fchmod(fd, mode) == 0;
  size_t done = 0;
  while (ok && done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0)
      ok = false;
    else
      done += static_cast<size_t>(n);
  }
  ok = ok && ::fsync(fd) == 0;
  ok = (::close(fd) == 0) && ok;
  const bool linked = ok && ::link(tmp.c_str(), path.c_str()) == 0;
  const int err = errno;
  ::unlink(tmp.c_str());
  if (linked) return;
  if (ok && err == EEXIST)
    throw InputError(fmt::format("{}: already exists; suanli keygen never overwrites a key", path));
  throw std::runtime_error(fmt::format("{}: cannot write: {}", path, strerror(err)));
}

// The key directory: created with mode 0700 whatever the umask (an existing one is left as is).
void make_key_directory(const std::string& dir) {
  const fs::path p(dir);
  if (p.has_parent_path() && !p.parent_path().empty()) fs::create_directories(p.parent_path());
  if (::mkdir(dir.c_str(), 0700) == 0) {
    ::chmod(dir.c_str(), 0700);
    return;
  }
  if (errno != EEXIST)
    throw InputError(fmt::format("{}: cannot create the key directory: {}", dir, strerror(errno)));
  if (!fs::is_directory(dir))
    throw InputError(fmt::format("{}: exists and is not a directory", dir));
}

bool close_enough(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) {
    const double x = a.get<double>(), y = b.get<double>();
    return x == y || std::fabs(x - y) <= 1e-12 * std::max(std::fabs(x), std::fabs(y));
  }
  return a == b;
}

std::string where(size_t i, const json& c) {
  return fmt::format("criterion {} ({}:{} {} {})", i, c.value("backend", "?"),
                     c.value("device", -1), c.value("workload", "?"), c.value("criterion", "?"));
}

// The first difference between two JSON values, as "field: a vs b".
std::string first_difference(const json& want, const json& have, const std::string& at = "") {
  if (want.is_object() && have.is_object()) {
    std::set<std::string> keys;
    for (auto it = want.begin(); it != want.end(); ++it) keys.insert(it.key());
    for (auto it = have.begin(); it != have.end(); ++it) keys.insert(it.key());
    for (const std::string& k : keys) {
      if (!want.contains(k) || !have.contains(k))
        return fmt::format("{}/{}: {} in the certificate, {} re-derived", at, k,
                           have.contains(k) ? have[k].dump() : "absent",
                           want.contains(k) ? want[k].dump() : "absent");
      const std::string d = first_difference(want[k], have[k], at + "/" + k);
      if (!d.empty()) return d;
    }
    return "";
  }
  if (close_enough(want, have)) return "";
  return fmt::format("{}: {} in the certificate, {} re-derived", at.empty() ? "/" : at, have.dump(),
                     want.dump());
}

struct Checker {
  VerifyResult out;
  void add(const std::string& what, bool ok, const std::string& detail) {
    out.checks.push_back({what, ok, detail});
  }
};

using DeviceKey = std::pair<std::string, int>;

}  // namespace

std::string to_hex(const unsigned char* data, size_t n) {
  std::string s(2 * n + 1, '\0');
  sodium_bin2hex(s.data(), s.size(), data, n);
  s.pop_back();
  return s;
}

KeyPair generate_keypair() {
  init_sodium();
  KeyPair kp;
  crypto_sign_keypair(kp.public_key.data(), kp.secret_key.data());
  return kp;
}

std::string key_id(const PublicKey& pk) {
  return sha256_hex(std::string_view(reinterpret_cast<const char*>(pk.data()), pk.size()))
      .substr(0, 16);
}

std::pair<std::string, std::string> write_keypair(const KeyPair& kp, const std::string& dir) {
  make_key_directory(dir);
  const std::string secret = (fs::path(dir) / "suanli-certify.secret").string();
  const std::string pub = (fs::path(dir) / "suanli-certify.pub").string();
  if (fs::exists(secret) || fs::exists(pub))
    throw InputError(
        fmt::format("{}: a key pair is already there; suanli keygen never "
                    "overwrites a key (choose another --out)",
                    dir));
  json p = {{"suanli_key", 1},
            {"algorithm", "ed25519"},
            {"type", "public"},
            {"key_id", key_id(kp.public_key)},
            {"public_key", to_hex(kp.public_key.data(), kp.public_key.size())}};
  json s = p;
  s["type"] = "secret";
  s["secret_key"] = to_hex(kp.secret_key.data(), kp.secret_key.size());
  // The secret first: of concurrent keygens exactly one creates it, and only that one writes the
  // public key, so the pair on disk always belongs together.
  try {
    write_new_file(secret, s.dump(2) + "\n", 0600);
  } catch (...) {
    sodium_memzero(s["secret_key"].get_ref<std::string&>().data(), 2 * kp.secret_key.size());
    throw;
  }
  sodium_memzero(s["secret_key"].get_ref<std::string&>().data(), 2 * kp.secret_key.size());
  try {
    write_new_file(pub, p.dump(2) + "\n", 0644);
  } catch (...) {
    ::unlink(secret.c_str());  // ours, just created: no half pair is left
    throw;
  }
  return {secret, pub};
}

SecretKey load_secret_key(const std::string& path) {
  init_sodium();
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw InputError(fmt::format("{}: cannot open secret key file: {}", path, strerror(errno)));
  if (st.st_mode & 077)
    throw InputError(
        fmt::format("{}: secret key file is accessible by others (mode {:04o}); run chmod 600 {}",
                    path, st.st_mode & 0777, path));
  const json doc = read_key_file(path, "secret");
  const SecretKey sk = from_hex<64>(doc, "secret_key", path);
  const PublicKey pk = from_hex<32>(doc, "public_key", path);
  PublicKey derived{};
  crypto_sign_ed25519_sk_to_pk(derived.data(), sk.data());
  if (derived != pk)
    throw InputError(fmt::format("{}: at /public_key: does not belong to the secret key", path));
  return sk;
}

PublicKey load_public_key(const std::string& path) {
  init_sodium();
  const json doc = read_key_file(path, "public");
  return from_hex<32>(doc, "public_key", path);
}

std::string signed_bytes(const json& certificate) {
  json body = certificate;
  body.erase("signature");
  return canonical_json(body);
}

void sign_certificate(json& certificate, const SecretKey& sk) {
  init_sodium();
  PublicKey pk{};
  crypto_sign_ed25519_sk_to_pk(pk.data(), sk.data());
  certificate["signer"] = {{"algorithm", "ed25519"},
                           {"public_key", to_hex(pk.data(), pk.size())},
                           {"key_id", key_id(pk)}};
  const std::string msg = signed_bytes(certificate);
  std::array<unsigned char, crypto_sign_BYTES> sig{};
  crypto_sign_detached(sig.data(), nullptr, reinterpret_cast<const unsigned char*>(msg.data()),
                       msg.size(), sk.data());
  certificate["signature"] = to_hex(sig.data(), sig.size());
}

void check_certificate_shape(const json& certificate, const std::string& origin) {
  if (certificate.is_object() && certificate.contains("suanli_certificate") &&
      certificate["suanli_certificate"] != kCertificateVersion)
    throw InputError(fmt::format("{}: certificate format version {} (this suanli reads version {})",
                                 origin, certificate["suanli_certificate"].dump(),
                                 kCertificateVersion));
  require_valid(certificate, "certificate.schema.json", origin, "certificate", "certificates");
}

bool VerifyResult::authentic() const {
  for (const Check& c : checks)
    if (!c.ok) return false;
  return !checks.empty();
}

namespace {

// Step 1: who signed it, and the signature over the canonical JSON.
void check_signature(Checker& ck, const json& cert, const PublicKey& pk) {
  const std::string pk_hex = to_hex(pk.data(), pk.size());
  const std::string signer = cert["signer"]["public_key"].get<std::string>();
  ck.add("signer key", signer == pk_hex,
         signer == pk_hex ? fmt::format("signed with key {}", key_id(pk))
                          : fmt::format("signed with key id {}, not with the given public key {}",
                                        cert["signer"].value("key_id", "?"), key_id(pk)));
  const std::string msg = signed_bytes(cert);
  std::array<unsigned char, crypto_sign_BYTES> sig{};
  const std::string sig_hex = cert["signature"].get<std::string>();
  size_t len = 0;
  const bool decoded = sodium_hex2bin(sig.data(), sig.size(), sig_hex.data(), sig_hex.size(),
                                      nullptr, &len, nullptr) == 0 &&
                       len == sig.size();
  const bool ok = decoded && crypto_sign_verify_detached(
                                 sig.data(), reinterpret_cast<const unsigned char*>(msg.data()),
                                 msg.size(), pk.data()) == 0;
  ck.add("signature", ok,
         ok ? "Ed25519 signature over the canonical JSON is valid"
            : "Ed25519 signature does not match the content: the certificate was altered or "
              "signed with another key");
}

// Step 2: the profile: its hash, whether it is the shipped one, and the official status.
std::optional<Profile> check_profile(Checker& ck, const json& cert) {
  const json& prof = cert["profile"];
  const std::string prof_hash = sha256_hex(canonical_json(prof["document"]));
  ck.add("profile hash", prof_hash == prof["sha256"],
         fmt::format("profile '{}' sha256 {}", prof.value("name", "?"), prof_hash));
  std::optional<Profile> profile;
  try {
    profile = parse_profile(prof["document"], "certificate:/profile/document");
  } catch (const std::exception& e) {
    ck.add("profile", false, e.what());
  }
  const bool shipped_claim = prof["shipped"].get<bool>();
  if (shipped_claim) {
    const std::string here = shipped_profile_sha256(prof["name"].get<std::string>());
    ck.add("shipped profile", here == prof_hash,
           here == prof_hash ? "identical to the profile this suanli ships"
           : here.empty()    ? "says shipped, but this suanli ships no profile of that name"
                             : "says shipped, but differs from the profile this suanli ships");
  }
  const bool dirty = cert["suanli"]["git_dirty"].get<bool>();
  const bool official = cert["official"].get<bool>();
  const bool official_ok =
      official == (!dirty && shipped_claim) && official == cert["unofficial_reasons"].empty();
  ck.add("official status", official_ok,
         official ? "OFFICIAL: clean build, shipped profile"
                  : "UNOFFICIAL: " + cert["unofficial_reasons"].dump());
  return profile;
}

// Step 3: the claims the criteria were held against.
std::optional<Claims> check_claims(Checker& ck, const json& cert) {
  std::optional<Claims> claims;
  if (!cert["claims"].is_null()) {
    const json& cl = cert["claims"];
    const std::string h = sha256_hex(canonical_json(cl["document"]));
    ck.add("claims hash", h == cl["sha256"], fmt::format("claims sha256 {}", h));
    try {
      claims = claims_from_document(cl["document"], cl.value("origin", "claims"));
    } catch (const std::exception& e) {
      ck.add("claims", false, e.what());
    }
  }
  ck.add("claims evaluated flag", cert["claims_evaluated"].get<bool>() == !cert["claims"].is_null(),
         cert["claims"].is_null() ? "no claims file: criteria against claims not evaluated"
                                  : "criteria held against the embedded claims");
  return claims;
}

// What step 4 reads and gathers over the criteria.
struct CriteriaScan {
  std::map<DeviceKey, std::string> device_names;
  std::map<DeviceKey, std::map<std::string, std::string>> statuses;  // device -> workload -> status
  std::map<DeviceKey, std::multiset<std::pair<std::string, std::string>>> present;
  std::vector<std::string> problems;
};

// The measured value a criterion's basis gives (the measured value itself where the basis does
// not determine it).
json recomputed_measured(const std::string& name, const json& c) {
  const json& b = c["basis"];
  auto num = [&](const char* k) {
    return b.contains(k) && b[k].is_number() ? b[k].get<double>() : NAN;
  };
  json recomputed = c["measured"];
  if (name == kThrottle && !c["measured"].is_null())
    recomputed = 1.0 - num("first_window_median_s") / num("last_window_median_s");
  if (name == kCache) recomputed = num("fresh_median_s") / num("repeated_median_s") - 1.0;
  if (name == kClaim && !c["measured"].is_null())
    recomputed = num("flops_per_second") / num("claimed_flops_per_second");
  if (name == kClock && !c["measured"].is_null())
    recomputed = 1.0 - num("last_window_mhz") / num("first_window_mhz");
  if (name == kPeakTheory && !c["measured"].is_null())
    recomputed = num("measured_ops_per_second") / num("theoretical_ops_per_second");
  return recomputed;
}

// Step 4b: one criterion against the profile's limit and the embedded claims.
void check_criterion_against_profile(CriteriaScan& scan, size_t i, const json& c,
                                     const DeviceKey& dev, const Profile& profile,
                                     const std::optional<Claims>& claims) {
  const std::string name = c["criterion"].get<std::string>();
  const ProfileWorkload* pw = nullptr;
  for (const ProfileWorkload& p : profile.workloads)
    if (p.workload.id == c["workload"] ||
        (p.cache_check && fresh_input_workload(p.workload).id == c["workload"]))
      pw = &p;
  if (!pw) {
    scan.problems.push_back(where(i, c) + ": workload not in the profile");
    return;
  }
  const json limit = profile_limit(name, *pw, profile.limits);
  if (!limit.is_null() && !close_enough(limit, c["limit"]))
    scan.problems.push_back(fmt::format("{}: limit {} but the profile says {}", where(i, c),
                                        c["limit"].dump(), limit.dump()));
  // Claims: whether one applies is re-derived from the embedded claims.
  const std::string& device_name = scan.device_names[dev];
  const bool has_claim = claims && claims->find(device_name, pw->workload.op.dtype).has_value();
  if (name == kClaim) {
    if (c["measured"].is_null() && has_claim)
      scan.problems.push_back(where(i, c) +
                              ": not evaluated although the claims hold a claim for it");
    if (!c["measured"].is_null()) {
      const auto cl =
          claims ? claims->find(device_name, pw->workload.op.dtype) : std::optional<Claim>();
      if (!cl ||
          !close_enough(cl->flops_per_second, c["basis"].value("claimed_flops_per_second", json())))
        scan.problems.push_back(where(i, c) + ": the claimed throughput is not the claims file's");
    }
  }
  if (name == kStatus && c["measured"] == "unsupported" &&
      c["basis"].value("claimed", false) != (pw->against_claim && has_claim))
    scan.problems.push_back(where(i, c) + ": 'claimed' does not follow from the claims");
}

// Step 4a: one criterion: known device and workload, the verdict from the numbers, the measured
// value from its basis; then against the profile.
void check_criterion(CriteriaScan& scan, size_t i, const json& c,
                     const std::optional<Profile>& profile, const std::optional<Claims>& claims) {
  const std::string name = c["criterion"].get<std::string>();
  const DeviceKey dev{c["backend"].get<std::string>(), c["device"].get<int>()};
  if (!scan.device_names.count(dev)) {
    scan.problems.push_back(where(i, c) + ": device not listed under /devices");
    return;
  }
  // The peak self-check's criteria follow from the report's peak checks, not from the profile's
  // workloads: step 7 re-derives them; here only their limit is the fixed range.
  const bool peak_theory = name == kPeakTheory;
  if (peak_theory && !close_enough(c["limit"], json{kPeakCheckLow, kPeakCheckHigh}))
    scan.problems.push_back(where(i, c) + ": limit is not the peak check's range");
  if (!peak_theory) scan.present[dev].insert({c["workload"].get<std::string>(), name});
  if (name == kStatus)
    scan.statuses[dev][c["workload"].get<std::string>()] =
        c["measured"].is_string() ? c["measured"].get<std::string>() : "?";
  const std::string derived(verdict_name(derive_verdict(c)));
  if (derived != c["verdict"].get<std::string>())
    scan.problems.push_back(fmt::format("{}: says {} but measured {} {} limit {} gives {}",
                                        where(i, c), c["verdict"].get<std::string>(),
                                        c["measured"].dump(), c["comparison"].get<std::string>(),
                                        c["limit"].dump(), derived));
  const json recomputed = recomputed_measured(name, c);
  if (!close_enough(recomputed, c["measured"]))
    scan.problems.push_back(fmt::format("{}: measured {} but its basis gives {}", where(i, c),
                                        c["measured"].dump(), recomputed.dump()));
  if (profile && !peak_theory) check_criterion_against_profile(scan, i, c, dev, *profile, claims);
}

// Step 5: completeness: every criterion the profile requires for every device, no more.
void check_completeness(CriteriaScan& scan, const Profile& profile) {
  for (const auto& [dev, name] : scan.device_names) {
    std::multiset<std::pair<std::string, std::string>> want;
    for (const ProfileWorkload& pw : profile.workloads) {
      auto status_of = [&, &dev = dev](const std::string& id) {  // clang 14: no binding capture
        const auto& s = scan.statuses[dev];
        const auto it = s.find(id);
        return it == s.end() ? std::string() : it->second;
      };
      for (auto& r : required_criteria(pw, status_of(pw.workload.id),
                                       status_of(fresh_input_workload(pw.workload).id)))
        want.insert(r);
    }
    auto& present = scan.present[dev];
    if (want == present) continue;
    std::string diff;
    for (const auto& r : want)
      if (!present.count(r)) diff += fmt::format(" missing {} {};", r.first, r.second);
    for (const auto& r : present)
      if (want.count(r) != present.count(r))
        diff += fmt::format(" unexpected {} {};", r.first, r.second);
    scan.problems.push_back(fmt::format("device {}:{} ({}): criteria do not match the profile:{}",
                                        dev.first, dev.second, name, diff));
  }
}

// Steps 4 and 5 as one check, "criteria".
std::map<DeviceKey, std::string> check_criteria(Checker& ck, const json& cert,
                                                const std::optional<Profile>& profile,
                                                const std::optional<Claims>& claims) {
  CriteriaScan scan;
  for (const json& d : cert["devices"])
    scan.device_names[{d["backend"].get<std::string>(), d["index"].get<int>()}] =
        d["name"].get<std::string>();
  const json& criteria = cert["criteria"];
  for (size_t i = 0; i < criteria.size(); ++i)
    check_criterion(scan, i, criteria[i], profile, claims);
  if (profile) check_completeness(scan, *profile);
  const auto& problems = scan.problems;
  ck.add("criteria", problems.empty(),
         problems.empty()
             ? fmt::format("{} criteria: limits from the profile, measured values from their "
                           "basis, verdicts re-derived",
                           criteria.size())
             : problems.front() +
                   (problems.size() > 1 ? fmt::format(" (and {} more)", problems.size() - 1) : ""));
  return scan.device_names;
}

// Step 6: the overall verdict and the tally.
void check_verdict(Checker& ck, const json& cert) {
  const json& criteria = cert["criteria"];
  std::vector<json> list(criteria.begin(), criteria.end());
  const std::string overall(verdict_name(overall_verdict(list)));
  ck.out.verdict = overall;
  ck.add("overall verdict", overall == cert["verdict"],
         fmt::format("certificate says {}, criteria give {}", cert["verdict"].get<std::string>(),
                     overall));
  std::map<std::string, int> counts;
  for (const json& c : list) ++counts[c["verdict"].get<std::string>()];
  const json& sum = cert["summary"];
  ck.add("summary",
         sum["pass"] == counts["PASS"] && sum["fail"] == counts["FAIL"] &&
             sum["not_evaluated"] == counts["NOT_EVALUATED"],
         fmt::format("{} pass, {} fail, {} not evaluated", counts["PASS"], counts["FAIL"],
                     counts["NOT_EVALUATED"]));
}

// Step 7b: the evidence of one profile workload on one device, from the report.
std::optional<Evidence> evidence_from_report(const ReportDocument& doc, const DeviceKey& dev,
                                             const std::string& name, const ProfileWorkload& pw,
                                             const std::optional<Claims>& claims) {
  const ReportResult* main = doc.find(dev.first, dev.second, pw.workload.id);
  if (!main) return std::nullopt;
  Evidence e;
  e.backend = dev.first;
  e.device = dev.second;
  e.device_name = name;
  e.workload = &pw;
  e.main = facts_from_report_result(*main);
  if (const ReportResult* f = doc.find(dev.first, dev.second, fresh_input_workload(pw.workload).id))
    e.fresh = facts_from_report_result(*f);
  if (const ReportResult* f =
          doc.find(dev.first, dev.second, decoy_refill_workload(pw.workload).id))
    e.baseline = facts_from_report_result(*f);
  for (const ReportTelemetry& t : doc.certification_telemetry)
    if (t.backend == dev.first && t.device == dev.second && t.workload == pw.workload.id)
      e.telemetry = telemetry_series_from_json(t.series);
  e.claims = claims ? &*claims : nullptr;
  return e;
}

// Step 7c: the seed, and every criterion re-derived from the report's samples.
void check_measured_values(Checker& ck, const json& cert, const json& report,
                           const std::map<DeviceKey, std::string>& device_names,
                           const Profile& profile, const std::optional<Claims>& claims) {
  const ReportDocument doc = read_report(report);
  const bool seed_ok = doc.certification_seed == cert["seed"] && doc.seed == cert["seed"];
  ck.add("seed", seed_ok, fmt::format("input seed {} drawn at run time", cert["seed"].dump()));
  const json& criteria = cert["criteria"];
  std::vector<json> derived;
  std::vector<std::string> rproblems;
  for (const auto& [dev, name] : device_names)
    for (const ProfileWorkload& pw : profile.workloads) {
      const std::optional<Evidence> e = evidence_from_report(doc, dev, name, pw, claims);
      if (!e) {
        rproblems.push_back(
            fmt::format("no result for {} on {}:{}", pw.workload.id, dev.first, dev.second));
        continue;
      }
      for (json& c : evaluate(*e, profile.limits)) derived.push_back(std::move(c));
    }
  // Certificates since the peak probe carry the peak checks and their criteria (older ones
  // neither: they verify as they did).
  if (cert.contains("peak_checks")) {
    for (json& c : peak_theory_criteria(report)) derived.push_back(std::move(c));
    json checks = json::array();
    for (const PeakCheck& c : certified_peak_checks(report)) checks.push_back(peak_check_json(c));
    const std::string d = first_difference(checks, cert["peak_checks"]);
    if (!d.empty()) rproblems.push_back("peak_checks: not the report's: " + d);
  }
  if (derived.size() != criteria.size())
    rproblems.push_back(fmt::format("the report gives {} criteria, the certificate has {}",
                                    derived.size(), criteria.size()));
  for (size_t i = 0; i < derived.size() && i < criteria.size() && rproblems.empty(); ++i) {
    const std::string d = first_difference(derived[i], criteria[i]);
    if (!d.empty()) rproblems.push_back(where(i, criteria[i]) + ": " + d);
  }
  ck.add("measured values", rproblems.empty(),
         rproblems.empty() ? "every criterion re-derived from the report's samples matches"
                           : rproblems.front());
}

// Step 7: the report: its integrity and hash, then the seed and the measured values.
void check_report_against(Checker& ck, const json& cert, const json& report,
                          const std::string& report_origin,
                          const std::map<DeviceKey, std::string>& device_names,
                          const std::optional<Profile>& profile,
                          const std::optional<Claims>& claims) {
  bool intact = true;
  try {
    check_report(report, report_origin);
  } catch (const std::exception& e) {
    intact = false;
    ck.add("report integrity", false, e.what());
  }
  const bool same = report.value("sha256", "") == cert["report"]["sha256"];
  ck.add(
      "report hash", same,
      same ? fmt::format("{} is the report this certificate was issued over", report_origin)
           : fmt::format("{} has sha256 {}, the certificate names {}", report_origin,
                         report.value("sha256", "?"), cert["report"]["sha256"].get<std::string>()));
  if (intact && same && profile)
    check_measured_values(ck, cert, report, device_names, *profile, claims);
}

}  // namespace

VerifyResult verify_certificate(const json& cert, const PublicKey& pk, const json* report,
                                const std::string& report_origin) {
  init_sodium();
  Checker ck;
  check_signature(ck, cert, pk);
  const std::optional<Profile> profile = check_profile(ck, cert);
  const std::optional<Claims> claims = check_claims(ck, cert);
  const auto device_names = check_criteria(ck, cert, profile, claims);
  check_verdict(ck, cert);
  if (report) check_report_against(ck, cert, *report, report_origin, device_names, profile, claims);
  return ck.out;
}

}  // namespace suanli::certify
