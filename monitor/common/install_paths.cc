// The only file that sees the configured paths (monitor/common/CMakeLists.txt): reconfiguring
// the install prefix for packaging recompiles this file alone.
#include "common/install_paths.h"

namespace dw {

std::filesystem::path installed_share_dir() { return DW_INSTALL_SHARE_DIR; }
std::filesystem::path installed_bin_dir() { return DW_INSTALL_BIN_DIR; }
std::filesystem::path source_dir() { return DW_SOURCE_TREE; }

}  // namespace dw
