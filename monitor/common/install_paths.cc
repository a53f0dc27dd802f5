// The only file that sees the configured paths (monitor/common/CMakeLists.txt): reconfiguring
// the install prefix for packaging recompiles this file alone.
#include "common/install_paths.h"

namespace dw {

std::filesystem::path installed_share_dir() { return DW_INSTALL_SHARE_DIR; }
std::filesystem::path installed_bin_dir() { return DW_INSTALL_BIN_DIR; }
std::filesystem::path source_dir() { return DW_SOURCE_TREE; }

ShippedRules shipped_rules_dir() {
  std::error_code ec;
  for (const auto& candidate : {installed_share_dir() / "rules",
                                std::filesystem::path("/usr/share/driftwatch/rules")}) {
    if (std::filesystem::is_directory(candidate, ec)) return {candidate, true};
  }
  return {source_dir() / "config/rules", false};
}

}  // namespace dw
