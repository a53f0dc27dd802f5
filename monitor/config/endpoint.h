// Reading one [[endpoint]] table: internal to dw_config.
#pragma once

#include <array>
#include <optional>
#include <string>

#include "config/config.h"
#include "config/reader.h"

namespace dw::config::detail {

// The keys of an [[endpoint]] table (the [judge] table has these and its own).
inline constexpr std::array<std::string_view, 16> kEndpointKeys{
    "name", "kind", "base_url", "model", "api_key_env", "api_key_file", "api_key_credential",
    "temperature", "max_tokens", "concurrency", "rate", "retries", "timeout", "connect_timeout",
    "system", "headers"};

// Reads the index-th (1-based) [[endpoint]] table. Records every problem through reader and
// returns nullopt when there was any.
std::optional<Endpoint> read_endpoint(Reader& reader, const toml::table& table, int index);

// Reads the [judge] table's endpoint keys (its name is "judge" unless it gives one); the
// caller checks the table's keys, which are more than an endpoint's.
std::optional<Endpoint> read_judge_endpoint(Reader& reader, const toml::table& table);

// Empty when url is an http or https URL with a host (and no query or fragment); otherwise why
// it is not.
std::string check_base_url(std::string_view url);

}  // namespace dw::config::detail
