/* k_arch.cu — which GPU features the loaded kernels have. A build carries
 * machine code for some targets and PTX for others (LOCALM_CUDA_ARCHS); a
 * device without matching machine code runs the newest PTX it can compile,
 * and code compiled from compute_75 PTX has no mma.sync int8 or cp.async
 * (compute 8.0) and no programmatic dependent launch (9.0) in it, whatever
 * the device could do. So the launchers gate those features on the lower of
 * the device's compute capability and the loaded code's: an sm_86 or sm_120
 * card running compute_75 PTX takes the paths without them (correct, slower)
 * instead of kernels whose tensor-core and PDL instructions were compiled
 * out. */
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/launch.cuh"

namespace {
__global__ void arch_probe_kernel() {}
} // namespace

/* The PTX architecture (75, 80, 90, ...) the current device's copy of this
 * build's kernels was compiled from; 0 when the build has none it can run.
 * Every .cu file of the engine is built for the same targets, so this
 * file's probe speaks for all of them. */
extern "C" int lmc_code_arch(void) {
    cudaFuncAttributes a;
    if (cudaFuncGetAttributes(&a, arch_probe_kernel) != cudaSuccess) {
        (void)cudaGetLastError(); /* no image for this device: not sticky */
        return 0;
    }
    return a.ptxVersion;
}

namespace lmc {

/* An attribute of the current device, 0 when it cannot be read. */
static int device_attr(cudaDeviceAttr attr) {
    int dev = 0, v = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&v, attr, dev) != cudaSuccess)
        return 0;
    return v;
}

int cc_major() {
    static const int major = [] {
        const int m = device_attr(cudaDevAttrComputeCapabilityMajor);
        if (m == 0) return 0;
        const int code = lmc_code_arch() / 10;
        return code < m ? code : m;
    }();
    return major;
}

int sm_count() {
    static const int n = device_attr(cudaDevAttrMultiProcessorCount);
    return n;
}

} // namespace lmc
