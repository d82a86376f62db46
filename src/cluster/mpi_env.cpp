// The MPI environment layer (see mpi_env.h).
#include "cluster/mpi_env.h"

#include <cstdlib>
#include <stdexcept>

#include "core/names.h"

#ifdef SUANLI_HAVE_MPI
#include <mpi.h>
#endif

namespace suanli::cluster {
namespace {

int env_int(const std::function<const char*(const char*)>& get, const char* name) {
  const char* v = get(name);
  if (!v || !*v) return -1;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  return (*end == '\0' && x >= 0 && x < (1L << 30)) ? static_cast<int>(x) : -1;
}

}  // namespace

std::string_view launcher_name(Launcher l) {
  static constexpr NameRow<Launcher> kNames[] = {{Launcher::none, "none"},
                                                 {Launcher::mpirun, "mpirun"},
                                                 {Launcher::srun, "srun"},
                                                 {Launcher::other, "other"}};
  return name_of(l, kNames, "none");
}

LaunchEnv detect_launch(const std::function<const char*(const char*)>& get) {
  LaunchEnv e;
  if (env_int(get, "OMPI_COMM_WORLD_SIZE") > 0) {
    // Open MPI's mpirun, or srun --mpi=pmix starting an Open MPI program (both set OMPI_*
    // after MPI_Init only in the latter; SLURM_STEP_ID tells srun apart).
    e.launcher = get("SLURM_STEP_ID") && get("SLURM_PROCID") ? Launcher::srun : Launcher::mpirun;
    e.rank = env_int(get, "OMPI_COMM_WORLD_RANK");
    e.size = env_int(get, "OMPI_COMM_WORLD_SIZE");
    e.local_rank = env_int(get, "OMPI_COMM_WORLD_LOCAL_RANK");
    e.local_size = env_int(get, "OMPI_COMM_WORLD_LOCAL_SIZE");
  } else if (get("SLURM_STEP_ID") && env_int(get, "SLURM_PROCID") >= 0) {
    e.launcher = Launcher::srun;
    e.rank = env_int(get, "SLURM_PROCID");
    e.size = env_int(get, "SLURM_NTASKS");
    e.local_rank = env_int(get, "SLURM_LOCALID");
    e.local_size = env_int(get, "SLURM_NTASKS_PER_NODE");
  } else if (env_int(get, "PMIX_RANK") >= 0 || env_int(get, "PMI_RANK") >= 0) {
    e.launcher = Launcher::other;
    e.rank = env_int(get, "PMIX_RANK") >= 0 ? env_int(get, "PMIX_RANK") : env_int(get, "PMI_RANK");
    e.size = env_int(get, "PMI_SIZE");
  }
  return e;
}

LaunchEnv detect_launch() {
  return detect_launch([](const char* n) { return std::getenv(n); });
}

#ifdef SUANLI_HAVE_MPI

bool mpi_built() {
  return true;
}

MpiSession::MpiSession(bool thread_multiple) {
  int provided = 0;
  MPI_Init_thread(nullptr, nullptr, thread_multiple ? MPI_THREAD_MULTIPLE : MPI_THREAD_FUNNELED,
                  &provided);
  // Errors come back as codes (a dead peer must not abort the ranks that still answer).
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  launch_ = detect_launch();
  char name[MPI_MAX_PROCESSOR_NAME] = {};
  int len = 0;
  MPI_Get_processor_name(name, &len);
  host_.assign(name, static_cast<size_t>(len));
  char lib[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  MPI_Get_library_version(lib, &len);
  library_.assign(lib);  // up to the first NUL (len may count it)
  library_ = library_.substr(0, library_.find_first_of("\r\n"));
  int major = 0, minor = 0;
  MPI_Get_version(&major, &minor);
  standard_ = std::to_string(major) + "." + std::to_string(minor);

  std::vector<char> all(static_cast<size_t>(size_) * MPI_MAX_PROCESSOR_NAME, '\0');
  MPI_Allgather(name, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all.data(), MPI_MAX_PROCESSOR_NAME,
                MPI_CHAR, MPI_COMM_WORLD);
  layout_.local_size = 0;
  for (int r = 0; r < size_; ++r) {
    std::string h(&all[static_cast<size_t>(r) * MPI_MAX_PROCESSOR_NAME]);
    if (h == host_) {
      if (r < rank_) ++layout_.local_rank;
      ++layout_.local_size;
    }
    auto it = layout_.ranks_per_host.begin();
    while (it != layout_.ranks_per_host.end() && it->first != h) ++it;
    if (it == layout_.ranks_per_host.end())
      layout_.ranks_per_host.emplace_back(h, 1);
    else
      ++it->second;
    layout_.host_of_rank.push_back(std::move(h));
  }
}

MpiSession::~MpiSession() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

void MpiSession::abort(int code) const {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

#else

bool mpi_built() {
  return false;
}

MpiSession::MpiSession(bool) {
  throw std::runtime_error(
      "this suanli was built without MPI (SUANLI_WITH_MPI=OFF or no MPI found at configure "
      "time): install libopenmpi-dev (scripts/setup.sh) and rebuild for cluster runs");
}
MpiSession::~MpiSession() = default;
void MpiSession::abort(int code) const {
  std::_Exit(code);
}

#endif

}  // namespace suanli::cluster
