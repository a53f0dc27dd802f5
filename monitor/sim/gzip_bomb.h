// The body of the simulator's gzip_bomb outcome: a small gzip body that inflates to far more
// than any client should hold, as a hostile or broken server can send to a client that accepts
// gzip. A client is safe only if it caps the bytes it decodes, not the bytes it receives.
#pragma once

#include <cstddef>
#include <string>

namespace dw::sim {

// What gzip_bomb() inflates to: 200 MiB, the size in the report that found the fault.
inline constexpr std::size_t kGzipBombInflated = std::size_t{200} << 20;

// One gzip member (RFC 1952) of about 200 KiB that inflates to kGzipBombInflated spaces (JSON
// whitespace, so nothing but a cap on decoded bytes stops a client reading it). Built on first
// use in a few milliseconds, constant after; safe to call from any thread.
const std::string& gzip_bomb();

}  // namespace dw::sim
