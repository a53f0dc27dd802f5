// Where the files driftwatch ships (rule packs, probe sets, the demo scenario, the simulator)
// were put by `make install` or the .deb, and the source tree the binary was built from, so that
// a build tree works without installing. Callers try the installed place first.
//
//   auto rules = dw::installed_share_dir() / "rules";   // e.g. /usr/share/driftwatch/rules
#pragma once

#include <filesystem>

namespace dw {

// CMAKE_INSTALL_PREFIX/share/driftwatch as configured, e.g. /usr/share/driftwatch.
std::filesystem::path installed_share_dir();
// CMAKE_INSTALL_PREFIX/bin as configured.
std::filesystem::path installed_bin_dir();
// The source tree this binary was built from (it may no longer exist).
std::filesystem::path source_dir();

}  // namespace dw
