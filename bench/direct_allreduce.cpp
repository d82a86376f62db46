// suanli-direct-allreduce: times MPI_Allreduce (fp32 sum) directly, the way the fabric suite
// does (warm-up, barrier, a timed loop, the slowest rank's time), to check that suanli's fabric
// suite adds nothing to what the MPI library delivers (issue 16's "at least 0.9x" bar).
//   mpirun -np 2 suanli-direct-allreduce [BYTES] [ITERATIONS]
// prints one JSON line: bytes, iterations, time_s (per call), algbw and busbw in B/s.
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, n = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  const size_t bytes = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : (size_t{64} << 20);
  const int iters = argc > 2 ? std::atoi(argv[2]) : 20;
  const size_t count = bytes / sizeof(float);
  std::vector<float> send(count, 1.0f + static_cast<float>(rank)), recv(count, 0.0f);
  for (int i = 0; i < 2; ++i)
    MPI_Allreduce(send.data(), recv.data(), static_cast<int>(count), MPI_FLOAT, MPI_SUM,
                  MPI_COMM_WORLD);
  MPI_Barrier(MPI_COMM_WORLD);
  const double t0 = MPI_Wtime();
  for (int i = 0; i < iters; ++i)
    MPI_Allreduce(send.data(), recv.data(), static_cast<int>(count), MPI_FLOAT, MPI_SUM,
                  MPI_COMM_WORLD);
  double t = (MPI_Wtime() - t0) / iters, tmax = 0;
  MPI_Allreduce(&t, &tmax, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  const float want = static_cast<float>(n) * (n + 1) / 2;
  const bool ok = std::all_of(recv.begin(), recv.end(), [&](float v) { return v == want; });
  if (rank == 0) {
    const double algbw = static_cast<double>(count * sizeof(float)) / tmax;
    std::printf(
        "{\"bytes\": %zu, \"ranks\": %d, \"iterations\": %d, \"time_s\": %.9g, "
        "\"algbw_bytes_per_second\": %.6g, \"busbw_bytes_per_second\": %.6g, "
        "\"verified\": %s}\n",
        count * sizeof(float), n, iters, tmax, algbw, algbw * 2.0 * (n - 1) / n,
        ok ? "true" : "false");
  }
  MPI_Finalize();
  return ok ? 0 : 1;
}
