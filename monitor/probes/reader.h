// Reading one probe set's TOML into a ProbeSet: internal to dw_probes.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "common/error.h"
#include "probes/probe.h"

namespace dw::probes::detail {

// Parses text, appending every problem to errors (in file order). The returned set holds every
// probe whose id is a valid slug, even when other keys of that probe are wrong, so that
// duplicate ids across sets can still be reported; it is only usable when no error was added.
// "FILE:LINE:COLUMN", for messages that point at a second place.
std::string location_text(const Location& where);

ProbeSet read_set(std::string_view text, const std::filesystem::path& file, Errors& errors);

}  // namespace dw::probes::detail
