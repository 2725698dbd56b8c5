#include "engine/model/Runtime.h"

#include <dlfcn.h>
#include <link.h>

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace nextbeat::engine {
namespace {

int collect_object(struct dl_phdr_info* info, std::size_t /*size*/, void* data) {
  auto* names = static_cast<std::vector<std::string>*>(data);
  if (info->dlpi_name != nullptr && info->dlpi_name[0] != '\0') names->emplace_back(info->dlpi_name);
  return 0;
}

std::string resolve(const std::string& path) {
  char buf[PATH_MAX];
  return realpath(path.c_str(), buf) != nullptr ? std::string(buf) : path;
}

}  // namespace

BlasInfo detect_blas() {
  std::vector<std::string> objects;
  dl_iterate_phdr(collect_object, &objects);

  BlasInfo info;
  for (const auto& name : objects) {
    const std::string_view base = std::string_view(name).substr(name.rfind('/') + 1);
    if (base.starts_with("libblas.so") || base.starts_with("libopenblas") || base.starts_with("libblis") ||
        base.starts_with("libmkl_rt")) {
      info.library_path = resolve(name);
      break;
    }
  }
  if (info.library_path.empty()) {
    info.description = "no BLAS library loaded";
    return info;
  }
  // OpenBLAS (and BLIS's compatibility layer) export a self-description.
  using GetConfig = const char* (*)();
  if (auto* get_config = reinterpret_cast<GetConfig>(dlsym(RTLD_DEFAULT, "openblas_get_config"))) {
    info.description = get_config();  // "OpenBLAS 0.3.21 DYNAMIC_ARCH ... Haswell MAX_THREADS=64"
  } else if (info.library_path.find("blis") != std::string::npos) {
    info.description = "BLIS";
  } else if (info.library_path.find("mkl") != std::string::npos) {
    info.description = "Intel MKL";
  } else if (info.library_path.find("atlas") != std::string::npos) {
    info.description = "ATLAS";
  } else {
    info.description = "reference BLAS (netlib): slow; install libopenblas0-pthread";
    info.is_reference = true;
  }
  return info;
}

RuntimeInfo runtime_info() {
  RuntimeInfo info;
  info.torch_version = TORCH_VERSION;
  info.intra_op_threads = at::get_num_threads();
  info.cuda_available = torch::cuda::is_available();
  info.cuda_devices = info.cuda_available ? static_cast<int>(torch::cuda::device_count()) : 0;
  info.blas = detect_blas();
  return info;
}

}  // namespace nextbeat::engine

namespace nextbeat::engine {

void set_inference_threads(int threads) {
  at::set_num_threads(std::max(1, threads));
}

}  // namespace nextbeat::engine
