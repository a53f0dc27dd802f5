#include "probes/probe.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "common/hash.h"
#include "probes/reader.h"

namespace dw::probes {
namespace detail {

std::string location_text(const Location& where) {
  return where.file + ":" + std::to_string(where.line) + ":" + std::to_string(where.column);
}

}  // namespace detail

namespace {

// Reads and parses one file, appending its errors; see detail::read_set for what is returned.
ProbeSet read_file(const std::filesystem::path& file, Errors& errors) {
  ProbeSet unread;
  unread.file = file;
  std::error_code ec;
  if (std::filesystem::is_directory(file, ec)) {
    errors.emplace_back("cannot read probe set: is a folder", Location{file.string()});
    return unread;
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    errors.emplace_back("cannot read probe set: " + std::string(std::strerror(errno)),
                        Location{file.string()});
    return unread;
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    errors.emplace_back("cannot read probe set: read failed", Location{file.string()});
    return unread;
  }
  return detail::read_set(text.str(), file, errors);
}

}  // namespace

std::string prompt_version(std::string_view prompt) { return sha256_hex(prompt).substr(0, 16); }

Result<ProbeSet, Errors> parse_set(std::string_view text, const std::filesystem::path& file) {
  Errors errors;
  ProbeSet set = detail::read_set(text, file, errors);
  if (!errors.empty()) return errors;
  return set;
}

Result<ProbeSet, Errors> load_set(const std::filesystem::path& file) {
  Errors errors;
  ProbeSet set = read_file(file, errors);
  if (!errors.empty()) return errors;
  return set;
}

Result<std::vector<ProbeSet>, Errors> load_sets(const std::vector<std::filesystem::path>& files) {
  Errors errors;
  std::vector<ProbeSet> sets;
  std::map<std::string, Location> ids;
  std::map<std::string, Location> names;
  for (const auto& file : files) {
    ProbeSet set = read_file(file, errors);
    if (!set.name.empty()) {
      auto [it, inserted] = names.emplace(set.name, set.where);
      if (!inserted && it->second.file == set.where.file) {
        // Said once: checking its ids would repeat every one of them as a duplicate.
        errors.emplace_back("probe set file listed more than once", set.where);
        continue;
      }
      if (!inserted) {
        errors.emplace_back("duplicate probe set name '" + set.name + "'; first used at " +
                                detail::location_text(it->second),
                            set.where);
      }
    }
    for (const Probe& probe : set.probes) {
      auto [it, inserted] = ids.emplace(probe.id, probe.where);
      if (!inserted) {
        errors.emplace_back("duplicate probe id '" + probe.id + "'; first defined at " +
                                detail::location_text(it->second),
                            probe.where);
      }
    }
    sets.push_back(std::move(set));
  }
  if (!errors.empty()) return errors;
  return sets;
}

}  // namespace dw::probes
