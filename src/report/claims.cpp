#include "report/claims.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "core/error.h"
#include "report/json_schema.h"

namespace suanli {

namespace {
std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}
}  // namespace

std::optional<Claim> Claims::find(const std::string& device_model, Dtype dtype, bool sparse) const {
  const std::string model = lower(device_model);
  const Claim* best = nullptr;
  for (const Claim& c : claims) {
    if (c.dtype != dtype || c.sparse != sparse) continue;
    if (model.find(lower(c.device)) == std::string::npos) continue;
    if (!best || c.device.size() > best->device.size()) best = &c;
  }
  if (!best) return std::nullopt;
  return *best;
}

Claims claims_from_document(const nlohmann::json& doc, const std::string& origin) {
  const auto errors = validate_against_schema(doc, "claims.schema.json");
  if (!errors.empty())
    throw InputError(fmt::format(
        "{}: at {}: {} (claims files follow reports/schema/claims.schema.json)", origin,
        errors.front().path.empty() ? "/" : errors.front().path, errors.front().message));
  Claims out;
  out.origin = origin;
  out.vendor = doc.value("vendor", "");
  for (const auto& c : doc["claims"]) {
    Claim claim;
    claim.device = c["device"].get<std::string>();
    claim.dtype = *dtype_from_name(c["dtype"].get<std::string>());
    claim.flops_per_second = c["flops_per_second"].get<double>();
    claim.sparse = c.value("sparse", false);
    claim.source = c["source"].get<std::string>();
    for (size_t i = 0; i < out.claims.size(); ++i) {
      const Claim& o = out.claims[i];
      if (lower(o.device) == lower(claim.device) && o.dtype == claim.dtype &&
          o.sparse == claim.sparse && o.flops_per_second != claim.flops_per_second)
        throw InputError(fmt::format(
            "{}: at /claims/{}: {} {}{} is claimed twice with different values ({:g} at "
            "/claims/{}, {:g} here); refused",
            origin, out.claims.size(), claim.device, dtype_name(claim.dtype),
            claim.sparse ? " sparse" : "", o.flops_per_second, i, claim.flops_per_second));
    }
    out.claims.push_back(std::move(claim));
  }
  return out;
}

Claims load_claims(const std::string& path) {
  return claims_from_document(read_json_file(path), path);
}

}  // namespace suanli
