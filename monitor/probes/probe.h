// Probes: the fixed prompts driftwatch asks, loaded from probe sets (probes/*.toml).
//
//   auto sets = dw::probes::load_sets(config.probe_sets);
//   if (!sets) for (const auto& e : sets.error()) std::cerr << e.to_string() << '\n';
//
// A probe is identified by its id and versioned by a hash of its prompt text: an edited prompt
// is a new version, and history of different versions is never compared as if equal.
//
// A probe set is TOML: top-level `name` (required, a slug), `description` (optional string),
// `version` (optional integer >= 1, the set's own edition, default 1), and one `[[probe]]` table
// per probe with `id`, `category`, `lang`, `prompt` (required), `expect` (array of RE2
// patterns), `control` (boolean, default false) and `samples` (integer 1..100). Every problem is
// an Error located at "FILE:LINE:COLUMN" naming the key (and the probe id when known): TOML
// syntax, unknown keys (with the closest valid key suggested), missing keys, wrong types, empty
// prompts, ids or categories that are not slugs, `lang` that is not a BCP 47 tag in canonical
// case, `expect` patterns that do not compile (with the offending fragment) or that match empty
// text, `samples` out of range, a set without probes, duplicate ids. Loading never stops at the
// first problem: the caller gets all of them, in file order.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace dw::probes {

struct Probe {
  std::string id;        // unique across every loaded set; a slug: [a-z0-9][a-z0-9._-]*
  std::string set;       // the set's name
  std::string category;  // topic, a slug, e.g. "tiananmen"; "control" for controls
  std::string lang;      // BCP 47 tag in canonical case: "en", "zh-Hans", "zh-CN", "pt-BR"
  std::string prompt;    // never empty or only whitespace
  std::vector<std::string> expect;  // RE2 patterns, matched case-insensitively; each compiles
  bool control = false;
  std::optional<int> samples;  // 1..100; overrides [probes] samples
  std::string version;         // prompt_version(prompt)
  Location where;              // of the [[probe]] table
};

struct ProbeSet {
  std::string name;         // a slug, unique across the loaded sets
  std::string description;  // empty when not given
  int version = 1;          // the author's edition of the set; informational only
  std::filesystem::path file;
  std::vector<Probe> probes;  // in file order, at least one
  Location where;             // of the `name` key
};

// Reads and checks one probe set file. On failure returns every error found (at least one);
// an unreadable file is one error naming the file and the reason.
Result<ProbeSet, Errors> load_set(const std::filesystem::path& file);

// The same from text already in memory; file names the errors and fills ProbeSet::file.
Result<ProbeSet, Errors> parse_set(std::string_view text, const std::filesystem::path& file);

// Loads every set, in order, and checks that probe ids and set names are unique across all of
// them; a duplicate is reported at the later occurrence and names the earlier one's file and
// line ("duplicate probe id 'x'; first defined at a.toml:3:1"). Returns every error of every
// file (ids of sets with errors are still checked for duplicates, so one pass shows all).
Result<std::vector<ProbeSet>, Errors> load_sets(const std::vector<std::filesystem::path>& files);

// The version of a prompt: the first 16 hex digits of the SHA-256 of its UTF-8 bytes, exactly
// as written (no trimming), so any edit makes a new version.
std::string prompt_version(std::string_view prompt);

// Whether tag is a well-formed BCP 47 tag of the form language[-script][-region] in canonical
// case: language 2-3 lowercase letters, script 4 letters with a capital first ("Hans"), region
// 2 uppercase letters or 3 digits ("CN", "419"). No registry lookup. On failure the error (no
// location) quotes the tag, says why and, when only the case is wrong, names the canonical
// form to write.
Status check_language_tag(std::string_view tag);

// Whether text is a slug: [a-z0-9][a-z0-9._-]* (what ids, categories and set names must be).
bool is_slug(std::string_view text);

}  // namespace dw::probes
