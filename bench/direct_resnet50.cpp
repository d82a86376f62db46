// suanli-direct-resnet50: ResNet-50 v1.5 fp32 inference written directly against oneDNN, to check
// that `suanli run` with the resnet50 model costs nothing over the library.
//
// Same primitives as the CPU backend's model ops, created the plainest way: NHWC activations,
// convolution_direct with bias, relu and sum (in-place residual) post-ops, weights reordered once
// into the primitive's layout, max pool, global average pool, an fp32 matmul for the FC layer. It
// times one warm-up and R forward passes with steady_clock and prints one JSON line with images/s.
//
// usage: suanli-direct-resnet50 [--batch N] [--reps R] [--threads T]
#include <omp.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

dnnl::engine eng(dnnl::engine::kind::cpu, 0);
dnnl::stream strm(eng);

struct Step {
  dnnl::primitive prim;
  std::unordered_map<int, dnnl::memory> args;
};

struct Act {  // one NHWC activation buffer
  int64_t h = 0, w = 0, c = 0;
  dnnl::memory mem;
};

std::mt19937 rng(1);

dnnl::memory filled(const dnnl::memory::desc& md, float sd) {
  dnnl::memory m(md, eng);
  std::normal_distribution<float> nd(0.f, sd);
  float* p = static_cast<float*>(m.get_data_handle());
  for (size_t i = 0; i < md.get_size() / 4; ++i) p[i] = nd(rng);
  return m;
}

dnnl::primitive_attr attr_with(bool sum, bool relu) {
  dnnl::primitive_attr a;
  a.set_fpmath_mode(dnnl::fpmath_mode::strict);
  dnnl::post_ops po;
  if (sum) po.append_sum(1.f);
  if (relu) po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
  a.set_post_ops(po);
  return a;
}

int64_t batch = 32;
std::vector<Step> steps;

// dst = relu?(conv(src) + bias [+ dst]); dst allocated when it has no memory yet.
void conv(const Act& src, Act& dst, int64_t k, int64_t r, int64_t stride, int64_t pad, bool relu,
          bool residual) {
  const int64_t p = (src.h + 2 * pad - r) / stride + 1, q = (src.w + 2 * pad - r) / stride + 1;
  const dnnl::memory::desc src_md({batch, src.c, src.h, src.w}, dt::f32, tag::nhwc);
  const dnnl::memory::desc dst_md({batch, k, p, q}, dt::f32, tag::nhwc);
  const dnnl::memory::desc wei_md({k, src.c, r, r}, dt::f32, tag::oihw);
  const dnnl::memory::desc bias_md({k}, dt::f32, tag::a);
  const dnnl::convolution_forward::desc d(
      dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src_md,
      dnnl::memory::desc(wei_md.dims(), dt::f32, tag::any), bias_md, dst_md, {stride, stride},
      {0, 0}, {pad, pad}, {pad, pad});
  dnnl::convolution_forward::primitive_desc pd(d, attr_with(residual, relu), eng);
  dnnl::memory user = filled(wei_md, std::sqrt(2.f / static_cast<float>(src.c * r * r)));
  dnnl::memory wei(pd.weights_desc(), eng);
  dnnl::reorder(user, wei).execute(strm, user, wei);
  strm.wait();
  if (!dst.mem) dst = {p, q, k, dnnl::memory(dst_md, eng)};
  steps.push_back({dnnl::convolution_forward(pd),
                   {{DNNL_ARG_SRC, src.mem},
                    {DNNL_ARG_WEIGHTS, wei},
                    {DNNL_ARG_BIAS, filled(bias_md, 0.05f)},
                    {DNNL_ARG_DST, dst.mem}}});
}

Act pool(const Act& src, dnnl::algorithm alg, int64_t r, int64_t stride, int64_t pad) {
  const int64_t p = (src.h + 2 * pad - r) / stride + 1, q = (src.w + 2 * pad - r) / stride + 1;
  const dnnl::memory::desc src_md({batch, src.c, src.h, src.w}, dt::f32, tag::nhwc);
  const dnnl::memory::desc dst_md({batch, src.c, p, q}, dt::f32, tag::nhwc);
  const dnnl::pooling_forward::desc d(dnnl::prop_kind::forward_inference, alg, src_md, dst_md,
                                      {stride, stride}, {r, r}, {pad, pad}, {pad, pad});
  dnnl::pooling_forward::primitive_desc pd(d, attr_with(false, false), eng);
  Act out{p, q, src.c, dnnl::memory(dst_md, eng)};
  steps.push_back({dnnl::pooling_forward(pd), {{DNNL_ARG_SRC, src.mem}, {DNNL_ARG_DST, out.mem}}});
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 10, threads = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--batch")
      batch = std::atoll(argv[i + 1]);
    else if (a == "--reps")
      reps = std::atoi(argv[i + 1]);
    else if (a == "--threads")
      threads = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: suanli-direct-resnet50 [--batch N] [--reps R] [--threads T]\n");
      return 2;
    }
  }
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  omp_set_num_threads(threads);
  Act image{224, 224, 3, filled({{batch, 3, 224, 224}, dt::f32, tag::nhwc}, 0.5f)};
  Act c1;
  conv(image, c1, 64, 7, 2, 3, true, false);
  Act cur = pool(c1, dnnl::algorithm::pooling_max, 3, 2, 1);
  const int blocks[4] = {3, 4, 6, 3};
  for (int stage = 0; stage < 4; ++stage) {
    const int64_t mid = 64 << stage, out = mid * 4;
    for (int b = 0; b < blocks[stage]; ++b) {
      const int64_t stride = (b == 0 && stage > 0) ? 2 : 1;
      Act t1, t2;
      conv(cur, t1, mid, 1, 1, 0, true, false);
      conv(t1, t2, mid, 3, stride, 1, true, false);
      if (b == 0) {
        Act sc;
        conv(cur, sc, out, 1, stride, 0, false, false);
        cur = sc;
      }
      conv(t2, cur, out, 1, 1, 0, true, true);  // residual added in place, then relu
    }
  }
  Act feat = pool(cur, dnnl::algorithm::pooling_avg_exclude_padding, cur.h, 1, 0);
  {
    const dnnl::memory::desc a_md({batch, 2048}, dt::f32, tag::ab);
    const dnnl::memory::desc b_md({2048, 1000}, dt::f32, tag::ab);
    const dnnl::memory::desc bias_md({1, 1000}, dt::f32, tag::ab);
    const dnnl::memory::desc c_md({batch, 1000}, dt::f32, tag::ab);
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, bias_md, c_md),
                                    attr_with(false, false), eng);
    steps.push_back({dnnl::matmul(pd),
                     {{DNNL_ARG_SRC, dnnl::memory(a_md, eng, feat.mem.get_data_handle())},
                      {DNNL_ARG_WEIGHTS, filled(b_md, 0.02f)},
                      {DNNL_ARG_BIAS, filled(bias_md, 0.05f)},
                      {DNNL_ARG_DST, dnnl::memory(c_md, eng)}}});
  }
  auto forward = [&] {
    for (Step& s : steps) s.prim.execute(strm, s.args);
    strm.wait();
  };
  forward();  // warm-up
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    forward();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  const double median = t[t.size() / 2];
  std::printf(
      "{\"program\": \"suanli-direct-resnet50\", \"dtype\": \"fp32\", \"batch\": %lld, "
      "\"threads\": %d, \"primitives\": %zu, \"reps\": %d, \"median_s\": %.6g, \"min_s\": %.6g, "
      "\"images_per_second\": %.4g, \"images_per_second_best\": %.4g}\n",
      static_cast<long long>(batch), threads, steps.size(), reps, median, t.front(),
      static_cast<double>(batch) / median, static_cast<double>(batch) / t.front());
  return 0;
}
