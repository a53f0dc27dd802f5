// Probes: the fixed prompts driftwatch asks, loaded from probe sets (probes/*.toml).
//
//   auto sets = dw::probes::load_sets(config.probe_sets);
//   if (!sets) ...  // every located error, e.g. duplicate ids naming both files
//
// A probe is identified by its id and versioned by a hash of its prompt text: an edited prompt
// is a new version, and history of different versions is never compared as if equal.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

namespace dw::probes {

struct Probe {
  std::string id;        // unique across every loaded set
  std::string set;       // the set's name
  std::string category;  // topic, e.g. "tiananmen"; "control" for controls
  std::string lang;      // BCP 47 tag: "en", "zh-Hans", "zh-CN"...
  std::string prompt;
  std::vector<std::string> expect;  // RE2 patterns, matched case-insensitively
  bool control = false;
  std::optional<int> samples;  // overrides [probes] samples
  std::string version;         // first 16 hex digits of SHA-256 of prompt
  Location where;              // of the [[probe]] table
};

struct ProbeSet {
  std::string name;
  std::string description;
  int version = 1;
  std::filesystem::path file;
  std::vector<Probe> probes;
};

// Loads and checks one probe set. On failure returns every error found.
Result<ProbeSet, Errors> load_set(const std::filesystem::path& file);

// Loads every set and checks ids are unique across all of them.
Result<std::vector<ProbeSet>, Errors> load_sets(const std::vector<std::filesystem::path>& files);

// The version of a prompt: first 16 hex digits of its SHA-256.
std::string prompt_version(const std::string& prompt);

}  // namespace dw::probes
