// Reading the [fleet] table: internal to dw_config (check_server is public, config.h).
#pragma once

#include "config/config.h"
#include "config/reader.h"

namespace dw::config::detail {

// Reads [fleet] of root, when there is one, into c.fleet. Records every problem through reader;
// a table with any problem is left out.
void read_fleet(Reader& reader, const toml::table& root, Config& c);

}  // namespace dw::config::detail
