// The subcommands of `suanli`, each a function over parsed options returning the exit status.
#pragma once

#include <string>
#include <vector>

namespace suanli::cli {

struct InfoOptions {
  bool json = false;
  std::vector<std::string> backends;
  int threads = 0;
};

struct ListOptions {
  std::string what;
  std::string suite = "standard";
  std::vector<std::string> dtypes;
};

struct RunOptionsCli {
  std::string suite = "standard";
  std::vector<std::string> backends;
  std::vector<std::string> dtypes;
  std::string out;
  int threads = 0;
  double min_time = 0, max_time = -1;
  int repetitions = 0;
  std::vector<std::string> backend_options;
  bool quiet = false;
  std::vector<std::string> argv;
};

std::string version_string();
int cmd_info(const InfoOptions& o);
int cmd_list(const ListOptions& o);
int cmd_run(const RunOptionsCli& o);

}  // namespace suanli::cli
