// A probe set's TOML through dw::probes::detail::read_set: located errors, or a set whose
// expect patterns all compile (expect.h promises it for probes from a loaded set).
#include "common/strings.h"
#include "fuzz.h"
#include "probes/expect.h"
#include "probes/reader.h"

using dw::fuzz::require;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > dw::fuzz::kMaxInput) return 0;
  dw::Errors errors;
  dw::probes::ProbeSet set = dw::probes::detail::read_set(dw::fuzz::text(data, size),
                                                          "fuzz.toml", errors);
  for (const auto& e : errors) (void)e.to_string();
  if (!errors.empty()) return 0;
  require(!set.probes.empty(), "a set read without errors has a probe");
  for (const auto& probe : set.probes) {
    require(dw::probes::is_slug(probe.id), "probe ids are slugs");
    auto matcher = dw::probes::ExpectMatcher::create(probe);
    require(matcher.ok(), "the expect patterns of a set read without errors compile");
    if (matcher->size() > 0) {
      auto share = matcher->coverage(probe.prompt);
      require(share && *share >= 0 && *share <= 1, "coverage is a share from 0 to 1");
    }
    require(!dw::trim(probe.prompt).empty(), "a prompt is never empty or only whitespace");
    require(probe.version == dw::probes::prompt_version(probe.prompt),
            "a probe's version is its prompt's");
    require(!probe.samples || (*probe.samples >= 1 && *probe.samples <= 100),
            "samples is 1..100");
  }
  return 0;
}
