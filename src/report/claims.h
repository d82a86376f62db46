// Vendor claims (reports/schema/claims.schema.json): what a device is said to sustain per dtype.
// `suanli rate` uses them as Rpeak with basis "spec"; `suanli certify` checks measured
// throughput against a fraction of them.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/dtype.h"

namespace suanli {

struct Claim {
  std::string device;  // substring of the device model name, matched case-insensitively
  Dtype dtype = Dtype::invalid;
  double flops_per_second = 0;  // per device; int8: OPS/s
  bool sparse = false;          // a 2:4 sparsity figure: a note, never a dense Rpeak
  std::string source;
};

struct Claims {
  std::string origin;  // the file it came from
  std::string vendor;
  std::vector<Claim> claims;

  // The dense (or sparse) claim for a device model and dtype: the longest matching `device`
  // substring wins; nullopt when none matches.
  std::optional<Claim> find(const std::string& device_model, Dtype dtype,
                            bool sparse = false) const;
};

// Reads and validates a claims file; throws InputError naming the file, the JSON pointer and
// what was expected.
Claims load_claims(const std::string& path);
// The same for a document already read (a certificate embeds the claims it was checked against);
// `origin` names it in errors.
Claims claims_from_document(const nlohmann::json& doc, const std::string& origin);

}  // namespace suanli
