// suanli OpenCL: what every kernel file starts with (device.cpp builds each program from this
// text followed by the file's own). SUANLI_FP64 / SUANLI_FP16 enable the extensions those types
// need; CAT and XCAT paste tokens after macro expansion (vector type names such as float8).
#ifdef SUANLI_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif
#ifdef SUANLI_FP16
#pragma OPENCL EXTENSION cl_khr_fp16 : enable
#endif

#define CAT(a, b) a##b
#define XCAT(a, b) CAT(a, b)
