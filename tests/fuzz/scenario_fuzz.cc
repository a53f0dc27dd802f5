// Simulator scenarios through dw::sim::parse_scenario: a Scenario or located errors, never a
// crash, an exception or a hang. A parsed scenario then decides a few requests (choose_outcome,
// the pure part of the Director), so that the values the reader let through are used. The
// file is placed in config/, so that the shipped scenario's probe sets ("../probes/...") are
// found and read as well.
#include <filesystem>
#include <string>
#include <vector>

#include "fuzz.h"
#include "sim/scenario.h"

using dw::fuzz::require;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > dw::fuzz::kMaxInput) return 0;
  static const std::filesystem::path file = DW_SOURCE_DIR "/config/fuzz-scenario.toml";
  auto scenario = dw::sim::parse_scenario(dw::fuzz::text(data, size), file);
  if (!scenario) {
    require(!scenario.error().empty(), "a scenario that does not load reports an error");
    for (const auto& e : scenario.error()) (void)e.to_string();
    return 0;
  }
  std::vector<std::pair<std::string, std::string>> prompts = {{"What is 2+2?", ""},
                                                              {"天安门广场发生了什么？", ""}};
  if (!scenario->probe_by_prompt.empty()) prompts.push_back(*scenario->probe_by_prompt.begin());
  for (auto kind : {dw::sim::ApiKind::openai, dw::sim::ApiKind::anthropic,
                    dw::sim::ApiKind::ollama, dw::sim::ApiKind::gemini}) {
    for (int day : {0, 12, 29}) {
      for (const auto& [prompt, probe] : prompts) {
        dw::sim::RequestFacts request{kind, "deepseek-chat", prompt, day};
        for (std::uint64_t counter : {0, 1, 7}) {
          auto choice = dw::sim::choose_outcome(*scenario, 1, request, probe, counter);
          require(choice.outcome != nullptr, "every request gets an outcome");
          require(!choice.rule.empty(), "a choice names its rule");
        }
      }
    }
  }
  return 0;
}
