// The MPI environment of a cluster run: whether suanli was started by a launcher (mpirun, srun),
// and, inside an MPI session, rank, size, host and the MPI library. No MPI type appears here, so
// callers compile without mpi.h; the functions that need MPI throw when suanli was built without
// it (SUANLI_WITH_MPI=OFF or MPI not found).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace suanli::cluster {

enum class Launcher { none, mpirun, srun, other };
std::string_view launcher_name(Launcher l);  // "none", "mpirun", "srun", "other"

// What the launcher's environment says, read from environment variables only (no MPI call):
// Open MPI's OMPI_COMM_WORLD_{RANK,SIZE,LOCAL_RANK,LOCAL_SIZE}, PMIx's PMIX_RANK and Slurm's
// SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID (srun sets SLURM_STEP_ID; sbatch alone does not make
// suanli a rank). rank/size/local_* are -1 when unknown.
struct LaunchEnv {
  Launcher launcher = Launcher::none;
  int rank = -1, size = -1, local_rank = -1, local_size = -1;
  bool under_launcher() const { return launcher != Launcher::none; }
};
LaunchEnv detect_launch();
// Same, from a lookup function (tests).
LaunchEnv detect_launch(const std::function<const char*(const char*)>& getenv_fn);

// Built with MPI (SUANLI_WITH_MPI and MPI found).
bool mpi_built();

// One MPI session: MPI_Init_thread (funneled) on construction, MPI_Finalize on destruction.
// Only one per process; construct it in the parent process, never in a forked child.
// Throws std::runtime_error when built without MPI.
class MpiSession {
 public:
  // thread_multiple: MPI_THREAD_MULTIPLE (a watchdog thread calls MPI), else FUNNELED.
  explicit MpiSession(bool thread_multiple = false);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  const std::string& host() const { return host_; }  // MPI_Get_processor_name
  // MPI_Get_library_version's first line ("Open MPI v4.1.4, package: ..."), and the MPI
  // standard version ("3.1").
  const std::string& library() const { return library_; }
  const std::string& standard() const { return standard_; }
  const LaunchEnv& launch() const { return launch_; }

  // Ranks per host and the rank's index on its host, from every rank's host name (a collective).
  struct Layout {
    std::vector<std::string> host_of_rank;                    // indexed by rank
    std::vector<std::pair<std::string, int>> ranks_per_host;  // in order of first rank
    int local_rank = 0, local_size = 1;
  };
  const Layout& layout() const { return layout_; }

  // Aborts every rank (MPI_Abort) with this exit code.
  [[noreturn]] void abort(int code) const;

 private:
  int rank_ = 0, size_ = 1;
  std::string host_, library_, standard_;
  LaunchEnv launch_;
  Layout layout_;
};

}  // namespace suanli::cluster
