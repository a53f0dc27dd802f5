// Reading one [[endpoint]] table: internal to dw_config.
#pragma once

#include <optional>
#include <string>

#include "config/config.h"
#include "config/reader.h"

namespace dw::config::detail {

// Reads the index-th (1-based) [[endpoint]] table. Records every problem through reader and
// returns nullopt when there was any.
std::optional<Endpoint> read_endpoint(Reader& reader, const toml::table& table, int index);

// Empty when url is an http or https URL with a host (and no query or fragment); otherwise why
// it is not.
std::string check_base_url(std::string_view url);

}  // namespace dw::config::detail
