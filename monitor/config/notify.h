// Reading the [[notify]] tables: internal to dw_config.
#pragma once

#include <string>
#include <vector>

#include "config/config.h"
#include "config/reader.h"

namespace dw::config::detail {

// Reads every [[notify]] table of root into c.notify. Records every problem through reader;
// a table with any problem is left out.
void read_notify(Reader& reader, const toml::table& root, Config& c);

// Reads at most one of PREFIX_env, PREFIX_file and PREFIX_credential of t into ref (a file made
// absolute); more than one, or a credential name that is a path, is an error naming context.
// ref is left as it was when none is given ([[notify]], [fleet]).
void read_secret_ref(Reader& reader, const toml::table& t, const std::string& prefix,
                     const std::string& context, SecretRef& ref);

}  // namespace dw::config::detail
