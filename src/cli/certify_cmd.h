// The certification subcommands of `suanli`: certify, keygen, verify.
#pragma once

#include <string>
#include <vector>

namespace suanli::cli {

struct CertifyOptionsCli {
  std::string profile = "standard";
  std::string claims;
  std::string key;
  std::string out;
  std::string report;
  std::vector<std::string> backends;
  int threads = 0;
  double timeout_s = 0;  // --timeout: seconds each run may take (0: the default per workload)
  bool unofficial = false;
  bool quiet = false;
  std::vector<std::string> argv;
};

struct KeygenOptions {
  std::string out;
};

struct VerifyOptions {
  std::string certificate;
  std::string pubkey;
  std::string report;
};

int cmd_certify(const CertifyOptionsCli& o);
int cmd_keygen(const KeygenOptions& o);
int cmd_verify(const VerifyOptions& o);

}  // namespace suanli::cli
