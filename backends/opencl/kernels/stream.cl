// suanli OpenCL STREAM kernels (copy, scale, add, triad) over n elements of T, one element per
// work-item: the form every OpenCL device coalesces and every CPU implementation vectorizes.

__kernel void stream_copy(__global const T* restrict a, __global const T* restrict b,
                          __global T* restrict c, T s, long n) {
  const long i = (long)get_global_id(0);
  if (i < n) c[i] = a[i];
}
__kernel void stream_scale(__global const T* restrict a, __global const T* restrict b,
                           __global T* restrict c, T s, long n) {
  const long i = (long)get_global_id(0);
  if (i < n) c[i] = s * a[i];
}
__kernel void stream_add(__global const T* restrict a, __global const T* restrict b,
                         __global T* restrict c, T s, long n) {
  const long i = (long)get_global_id(0);
  if (i < n) c[i] = a[i] + b[i];
}
__kernel void stream_triad(__global const T* restrict a, __global const T* restrict b,
                           __global T* restrict c, T s, long n) {
  const long i = (long)get_global_id(0);
  if (i < n) c[i] = a[i] + s * b[i];
}
