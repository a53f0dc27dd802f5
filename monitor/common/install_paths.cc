// The only file that sees the configured paths (monitor/common/CMakeLists.txt): reconfiguring
// the install prefix for packaging recompiles this file alone.
#include "common/install_paths.h"

namespace dw {

std::filesystem::path installed_share_dir() { return DW_INSTALL_SHARE_DIR; }
std::filesystem::path installed_bin_dir() { return DW_INSTALL_BIN_DIR; }
std::filesystem::path source_dir() { return DW_SOURCE_TREE; }

ShippedRules shipped_rules_dir() {
  std::error_code ec;
  // A binary run from its build tree uses the packs of its own source tree, not older ones
  // installed on the same machine.
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  const bool installed = !ec && exe.parent_path() == installed_bin_dir();
  const auto source = source_dir() / "config/rules";
  if (!installed && std::filesystem::is_directory(source, ec)) return {source, false};
  for (const auto& candidate : {installed_share_dir() / "rules",
                                std::filesystem::path("/usr/share/driftwatch/rules")}) {
    if (std::filesystem::is_directory(candidate, ec)) return {candidate, true};
  }
  return {source, false};
}

}  // namespace dw
