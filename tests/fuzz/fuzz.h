// What the fuzz targets share: how input becomes text, the size cap, and how a broken contract
// becomes a crash libFuzzer keeps the input of.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace dw::fuzz {

// Bigger inputs are skipped, as RE2's fuzzers skip theirs: every format here is a file a person
// writes or a body under the transport's 1 MiB cap, and size only slows the search. The largest
// shipped example (config/demo-scenario.toml, 75 KB) fits.
inline constexpr size_t kMaxInput = size_t{256} << 10;

inline std::string_view text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A header's promise that did not hold: abort, so that libFuzzer saves the input as a crash.
inline void require(bool ok, const char* promise) {
  if (ok) return;
  std::fprintf(stderr, "contract broken: %s\n", promise);
  std::abort();
}

}  // namespace dw::fuzz
