// What the model runs on: LibTorch version, threads, device and — because
// Debian's LibTorch uses whatever libblas.so.3 the system selects, and the
// reference BLAS makes an LSTM step ~8x slower than OpenBLAS — which BLAS
// was actually loaded. Reported by `nextbeat run`, `devices` and `bench`.
#pragma once

#include <string>

namespace nextbeat::engine {

struct BlasInfo {
  std::string library_path;   // the resolved file behind libblas.so.3, "" if none is loaded
  std::string description;    // "OpenBLAS 0.3.21 DYNAMIC_ARCH ... (pthread)" or "reference BLAS (netlib)"
  bool is_reference = false;  // the slow netlib reference implementation
};

struct RuntimeInfo {
  std::string torch_version;
  int intra_op_threads = 0;
  bool cuda_available = false;  // false on Debian's CPU-only LibTorch
  int cuda_devices = 0;
  BlasInfo blas;
};

// Inspects the loaded shared objects; call from any thread, at start-up.
BlasInfo detect_blas();
RuntimeInfo runtime_info();
// LibTorch's intra-op threads (model.threads). One is fastest for a batch-1
// step on small machines: more threads cost more in hand-offs than they save.
void set_inference_threads(int threads);

}  // namespace nextbeat::engine
