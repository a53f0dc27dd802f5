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

// The rule packs driftwatch ships, for every command that needs them and was not told where
// they are. A binary that does not run from installed_bin_dir() (a build tree) takes
// source_dir()/config/rules when that is a folder. Otherwise the first folder of
// installed_share_dir()/rules and /usr/share/driftwatch/rules (where the .deb puts them, for a
// binary configured with another prefix); when neither is, the source tree's, so that the
// error from loading names a path. installed is false when the source tree's was chosen.
struct ShippedRules {
  std::filesystem::path dir;
  bool installed = false;
};
ShippedRules shipped_rules_dir();

}  // namespace dw
