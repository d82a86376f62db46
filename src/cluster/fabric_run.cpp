// Running the fabric suite over MPI (see fabric.h): buffers, the collective library seam, timing
// with nccl-tests' algbw/busbw, verification of every output.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "cluster/fabric.h"
#include "cluster/mpi_env.h"
#include "core/dtype.h"

#ifdef SUANLI_HAVE_MPI
#include <mpi.h>
#endif

namespace suanli::cluster {

using nlohmann::json;

#ifndef SUANLI_HAVE_MPI

json run_fabric(MpiSession&, const FabricSuite&, bool) {
  throw std::runtime_error("the fabric suite needs MPI: this suanli was built without it");
}

#else

namespace {

// ---- element values -------------------------------------------------------------------------

// The core element type of a fabric dtype: loads and stores go through core's conversions.
Dtype core_dtype(FabricDtype dt) {
  switch (dt) {
    case FabricDtype::fp32:
      return Dtype::fp32;
    case FabricDtype::int32:
      return Dtype::int32;
    case FabricDtype::bf16:
      return Dtype::bf16;
    case FabricDtype::fp16:
      return Dtype::fp16;
  }
  return Dtype::fp32;
}

double load(FabricDtype dt, const void* buf, size_t i) {
  return load_as_double(buf, core_dtype(dt), i);
}

void store(FabricDtype dt, void* buf, size_t i, double v) {
  store_from_double(buf, core_dtype(dt), i, v);
}

// What rank r contributes at element i: small integers, so sums stay exact in every dtype up to
// 51 ranks (bf16) and are checked with a bound beyond.
int value(int r, size_t i) {
  return static_cast<int>((7 * static_cast<size_t>(r) + 3 * i) % 5) + 1;
}

// ---- 16-bit float sums: MPI has no bf16/fp16 types ------------------------------------------

template <float (*To)(uint16_t), uint16_t (*From)(float)>
void sum16(void* in, void* inout, int* len, MPI_Datatype*) {
  const auto* a = static_cast<const uint16_t*>(in);
  auto* b = static_cast<uint16_t*>(inout);
  for (int i = 0; i < *len; ++i) b[i] = From(To(a[i]) + To(b[i]));
}

// ---- the collective library seam ------------------------------------------------------------

// One collective library on one communicator. `count` is the element count of the op's total
// size S in nccl-tests' sense; per-rank counts derive from it.
class CollectiveLibrary {
 public:
  virtual ~CollectiveLibrary() = default;
  virtual std::string name() const = 0;
  virtual std::optional<std::string> unsupported(FabricOp op, FabricDtype dt) const = 0;
  virtual void run(FabricOp op, FabricDtype dt, const void* send, void* recv, size_t count) = 0;
};

class MpiCollectives : public CollectiveLibrary {
 public:
  explicit MpiCollectives(MPI_Comm comm) : comm_(comm) {
    MPI_Comm_rank(comm, &rank_);
    MPI_Comm_size(comm, &size_);
    MPI_Op_create(&sum16<bf16_to_float, float_to_bf16>, 1, &bf16_sum_);
    MPI_Op_create(&sum16<fp16_to_float, float_to_fp16>, 1, &fp16_sum_);
  }
  ~MpiCollectives() override {
    MPI_Op_free(&bf16_sum_);
    MPI_Op_free(&fp16_sum_);
  }
  std::string name() const override { return "mpi"; }
  std::optional<std::string> unsupported(FabricOp op, FabricDtype) const override {
    if (op == FabricOp::pingpong && size_ < 2) return "ping-pong needs 2 ranks";
    if (size_ < 2 && op == FabricOp::sendrecv) return "sendrecv needs 2 ranks";
    return std::nullopt;
  }
  void run(FabricOp op, FabricDtype dt, const void* send, void* recv, size_t count) override {
    MPI_Datatype t = dt == FabricDtype::fp32    ? MPI_FLOAT
                     : dt == FabricDtype::int32 ? MPI_INT32_T
                                                : MPI_UINT16_T;
    MPI_Op sum = dt == FabricDtype::bf16   ? bf16_sum_
                 : dt == FabricDtype::fp16 ? fp16_sum_
                                           : MPI_SUM;
    const int n = static_cast<int>(count), per = static_cast<int>(count / size_);
    switch (op) {
      case FabricOp::allreduce:
        MPI_Allreduce(send, recv, n, t, sum, comm_);
        break;
      case FabricOp::reduce_scatter:
        MPI_Reduce_scatter_block(send, recv, per, t, sum, comm_);
        break;
      case FabricOp::allgather:
        MPI_Allgather(send, per, t, recv, per, t, comm_);
        break;
      case FabricOp::alltoall:
        MPI_Alltoall(send, per, t, recv, per, t, comm_);
        break;
      case FabricOp::broadcast:
        MPI_Bcast(recv, n, t, 0, comm_);
        break;
      case FabricOp::sendrecv:
        MPI_Sendrecv(send, n, t, (rank_ + 1) % size_, 7, recv, n, t, (rank_ + size_ - 1) % size_, 7,
                     comm_, MPI_STATUS_IGNORE);
        break;
      case FabricOp::pingpong:  // rank 0 sends, rank 1 sends it back; one round trip
        if (rank_ == 0) {
          MPI_Send(send, n, t, 1, 8, comm_);
          MPI_Recv(recv, n, t, 1, 9, comm_, MPI_STATUS_IGNORE);
        } else if (rank_ == 1) {
          MPI_Recv(recv, n, t, 0, 8, comm_, MPI_STATUS_IGNORE);
          MPI_Send(recv, n, t, 0, 9, comm_);
        }
        break;
    }
  }

 private:
  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
  MPI_Op bf16_sum_, fp16_sum_;
};

// ---- one measurement ------------------------------------------------------------------------

struct Buffers {
  std::vector<unsigned char> send, recv;
};

// The element counts of S (total), the send and the receive buffer.
struct Counts {
  size_t total = 0, send = 0, recv = 0;
};
Counts counts_for(FabricOp op, size_t total, int n) {
  const size_t per = total / static_cast<size_t>(n);
  switch (op) {
    case FabricOp::reduce_scatter:
      return {per * n, per * n, per};
    case FabricOp::allgather:
      return {per * n, per, per * n};
    case FabricOp::alltoall:
      return {per * n, per * n, per * n};
    default:
      return {total, total, total};
  }
}

void fill_send(FabricOp op, FabricDtype dt, int rank, const Counts& c, Buffers& b) {
  for (size_t i = 0; i < c.send; ++i) store(dt, b.send.data(), i, value(rank, i));
  std::fill(b.recv.begin(), b.recv.end(), 0);
  if (op == FabricOp::broadcast && rank == 0)
    for (size_t i = 0; i < c.recv; ++i) store(dt, b.recv.data(), i, value(0, i));
}

// What this rank's receive buffer must hold at element i.
double expected(FabricOp op, int rank, int n, const Counts& c, size_t i) {
  const size_t per = c.total / static_cast<size_t>(n);
  switch (op) {
    case FabricOp::allreduce:
    case FabricOp::reduce_scatter: {
      const size_t g = op == FabricOp::allreduce ? i : static_cast<size_t>(rank) * per + i;
      double s = 0;
      for (int r = 0; r < n; ++r) s += value(r, g);
      return s;
    }
    case FabricOp::allgather:
      return value(static_cast<int>(i / per), i % per);
    case FabricOp::alltoall:
      return value(static_cast<int>(i / per), static_cast<size_t>(rank) * per + i % per);
    case FabricOp::broadcast:
    case FabricOp::pingpong:
      return value(0, i);
    case FabricOp::sendrecv:
      return value((rank + n - 1) % n, i);
  }
  return 0;
}

struct Check {
  double bad = 0, max_abs_error = 0;
  int64_t first_bad = -1;
};

Check verify(FabricOp op, FabricDtype dt, int rank, int n, const Counts& c, const Buffers& b) {
  Check k;
  if (op == FabricOp::pingpong && rank > 1) return k;
  // Sums of n small integers: exact while 5n fits the dtype's significand, else within its ulp.
  const double eps = dt == FabricDtype::bf16   ? 1.0 / 128
                     : dt == FabricDtype::fp16 ? 1.0 / 1024
                     : dt == FabricDtype::fp32 ? 1.0 / (1 << 23)
                                               : 0;
  // The sum over ranks depends on i mod 5 only: cache it.
  double sums[5];
  const bool red = is_reduction(op);
  for (size_t m = 0; m < 5 && red; ++m) sums[m] = expected(FabricOp::allreduce, rank, n, c, m);
  const size_t per = c.total / static_cast<size_t>(n);
  for (size_t i = 0; i < c.recv; ++i) {
    const size_t g = op == FabricOp::reduce_scatter ? static_cast<size_t>(rank) * per + i : i;
    const double want = red ? sums[g % 5] : expected(op, rank, n, c, i);
    const double err = std::fabs(load(dt, b.recv.data(), i) - want);
    if (!(err <= eps * want * (red ? n : 1))) {
      if (k.first_bad < 0) k.first_bad = static_cast<int64_t>(i);
      k.bad += 1;
    }
    if (!(err <= k.max_abs_error)) k.max_abs_error = err;
  }
  return k;
}

double seconds_max(double local, MPI_Comm comm) {
  double m = 0;
  MPI_Allreduce(&local, &m, 1, MPI_DOUBLE, MPI_MAX, comm);
  return m;
}

struct Scope {
  std::string name;
  MPI_Comm comm = MPI_COMM_NULL;  // MPI_COMM_NULL: this rank is not part of it
};

// Available memory of this host in bytes (MemAvailable), 0 when unknown.
double host_available_bytes() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  double kb = 0;
  while (f >> key >> kb) {
    if (key == "MemAvailable:") return kb * 1024;
    f.ignore(256, '\n');
  }
  return 0;
}

struct Plan {
  FabricOp op;
  FabricDtype dt;
  uint64_t bytes;
};

json measure(CollectiveLibrary& lib, MPI_Comm comm, const FabricSuite& s, const Plan& p,
             const std::string& scope, double host_budget, int local_size) {
  int rank = 0, n = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &n);
  const size_t esz = fabric_dtype_size(p.dt);
  const Counts c = counts_for(p.op, p.bytes / esz, n);
  json r = {{"op", std::string(fabric_op_name(p.op))},
            {"dtype", std::string(fabric_dtype_name(p.dt))},
            {"bytes", c.total > 0 ? c.total * esz : p.bytes},  // the size asked for when skipped
            {"scope", scope},
            {"ranks", n},
            {"library", lib.name()},
            {"algbw_bytes_per_second", 0.0},
            {"busbw_bytes_per_second", 0.0}};
  if (auto why = lib.unsupported(p.op, p.dt)) {
    r["status"] = "unsupported";
    r["reason"] = *why;
    return r;
  }
  const double need = static_cast<double>((c.send + c.recv) * esz) * local_size;
  if (c.total == 0 || need > host_budget) {
    r["status"] = "skipped";
    r["reason"] = c.total == 0 ? fmt::format("{} B is less than one element per rank", p.bytes)
                               : fmt::format(
                                     "buffers of {} ranks on a host need {:.3g} GB, more "
                                     "than the memory budget {:.3g} GB",
                                     local_size, need / 1e9, host_budget / 1e9);
    return r;
  }
  Buffers b{std::vector<unsigned char>(c.send * esz), std::vector<unsigned char>(c.recv * esz)};
  fill_send(p.op, p.dt, rank, c, b);
  for (int i = 0; i < s.warmup; ++i) lib.run(p.op, p.dt, b.send.data(), b.recv.data(), c.total);
  MPI_Barrier(comm);
  double t0 = MPI_Wtime();
  lib.run(p.op, p.dt, b.send.data(), b.recv.data(), c.total);
  const double one = seconds_max(MPI_Wtime() - t0, comm);
  const int iters =
      static_cast<int>(std::clamp(s.seconds_per_size / std::max(one, 1e-9),
                                  double(s.min_iterations), double(s.max_iterations)));
  fill_send(p.op, p.dt, rank, c, b);  // a collective that writes nothing cannot pass
  MPI_Barrier(comm);
  t0 = MPI_Wtime();
  for (int i = 0; i < iters; ++i) lib.run(p.op, p.dt, b.send.data(), b.recv.data(), c.total);
  double t = seconds_max(MPI_Wtime() - t0, comm) / iters;
  if (p.op == FabricOp::pingpong) t /= 2;  // one way
  if (corrupt_collective_hook() == r["op"] && rank == n - 1 && !b.recv.empty())
    store(p.dt, b.recv.data(), 0, load(p.dt, b.recv.data(), 0) + 1);
  const Check k = verify(p.op, p.dt, rank, n, c, b);
  double local[2] = {k.bad, k.max_abs_error}, all[2] = {0, 0};
  MPI_Allreduce(local, all, 2, MPI_DOUBLE, MPI_MAX, comm);
  int bad_rank = k.bad > 0 ? rank : n, first_bad_rank = n;
  MPI_Allreduce(&bad_rank, &first_bad_rank, 1, MPI_INT, MPI_MIN, comm);
  const double algbw = static_cast<double>(c.total * esz) / t;
  r["status"] = all[0] > 0 ? "failed" : "ok";
  if (all[0] > 0)
    r["reason"] = fmt::format(
        "wrong values: rank {} (and maybe others) received elements that "
        "differ from what the ranks contributed; max error {}",
        first_bad_rank, all[1]);
  r["time_s"] = t;
  r["iterations"] = iters;
  r["algbw_bytes_per_second"] = algbw;
  r["busbw_bytes_per_second"] = algbw * busbw_factor(p.op, n);
  r["verification"] = {{"passed", all[0] == 0},
                       {"max_abs_error", all[1]},
                       {"method",
                        "every received element against the sum or copy of what each "
                        "rank contributed"}};
  return r;
}

std::vector<Scope> scopes(MpiSession& mpi) {
  const auto& lay = mpi.layout();
  const bool one_host = lay.ranks_per_host.size() == 1;
  bool one_per_host = true;
  for (const auto& [h, c] : lay.ranks_per_host) one_per_host = one_per_host && c == 1;
  if (one_host) return {{"intra_node", MPI_COMM_WORLD}};
  if (one_per_host) return {{"inter_node", MPI_COMM_WORLD}};
  Scope intra{"intra_node"}, inter{"inter_node"};
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &intra.comm);
  MPI_Comm_split(MPI_COMM_WORLD, lay.local_rank == 0 ? 0 : MPI_UNDEFINED, mpi.rank(), &inter.comm);
  return {{"world", MPI_COMM_WORLD}, intra, inter};
}

}  // namespace

json run_fabric(MpiSession& mpi, const FabricSuite& s, bool progress) {
  double avail = host_available_bytes();
  MPI_Allreduce(MPI_IN_PLACE, &avail, 1, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD);
  const double budget = s.memory_fraction * avail;
  json results = json::array();
  for (Scope& sc : scopes(mpi)) {
    if (sc.comm == MPI_COMM_NULL) continue;
    MpiCollectives lib(sc.comm);
    const int local = sc.name == "inter_node" ? 1 : mpi.layout().local_size;
    for (const FabricTest& t : s.tests)
      for (FabricDtype dt : t.dtypes)
        for (uint64_t bytes = s.min_bytes; bytes <= s.max_bytes; bytes *= 2) {
          if (progress && mpi.rank() == 0)
            fmt::print(stderr, "\r\033[K[fabric] {} {} {} {} B", sc.name, fabric_op_name(t.op),
                       fabric_dtype_name(dt), bytes);
          results.push_back(measure(lib, sc.comm, s, {t.op, dt, bytes}, sc.name, budget, local));
        }
    if (sc.comm != MPI_COMM_WORLD) MPI_Comm_free(&sc.comm);
  }
  if (progress && mpi.rank() == 0) fmt::print(stderr, "\r\033[K");
  return results;
}

#endif

}  // namespace suanli::cluster
