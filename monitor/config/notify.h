// Reading the [[notify]] tables: internal to dw_config.
#pragma once

#include <vector>

#include "config/config.h"
#include "config/reader.h"

namespace dw::config::detail {

// Reads every [[notify]] table of root into c.notify. Records every problem through reader;
// a table with any problem is left out.
void read_notify(Reader& reader, const toml::table& root, Config& c);

}  // namespace dw::config::detail
