// Typed, located reading of toml++ tables: internal to dw_config.
//
// Every getter returns nullopt both when the key is absent (no error: the caller keeps its
// default) and when it is present but wrong (an error is recorded at the value, naming the key).
#pragma once

#include <toml++/toml.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace dw::config::detail {

class Reader {
 public:
  // Errors are appended to errors, located in file; relative paths resolve against base_dir.
  Reader(std::string file, std::filesystem::path base_dir, Errors& errors)
      : file_(std::move(file)), base_dir_(std::move(base_dir)), errors_(errors) {}

  Location where(const toml::source_region& region) const;
  Location where(const toml::node& node) const { return where(node.source()); }
  Location file_only() const { return Location{file_, 0, 0}; }
  void error(const Location& at, std::string message) { errors_.emplace_back(std::move(message), at); }
  void error(const toml::node& at, std::string message) { error(where(at), std::move(message)); }
  size_t error_count() const { return errors_.size(); }

  // Records "unknown key 'k' in CONTEXT; did you mean 'x'?" for every key of table not in
  // allowed. Keys listed in skip are left alone (the caller reports them its own way).
  void check_keys(const toml::table& table, std::initializer_list<std::string_view> allowed,
                  const std::string& context, std::initializer_list<std::string_view> skip = {}) {
    check_keys(table, std::span(allowed.begin(), allowed.size()), context, skip);
  }
  void check_keys(const toml::table& table, std::span<const std::string_view> allowed,
                  const std::string& context, std::initializer_list<std::string_view> skip = {});

  // The sub-table at key, or nullptr (absent, or an error recorded when it is not a table).
  const toml::table* table(const toml::table& parent, std::string_view key);

  std::optional<std::string> string(const toml::table& t, std::string_view key);
  // A string that must not be empty.
  std::optional<std::string> nonempty_string(const toml::table& t, std::string_view key);
  std::optional<int64_t> integer(const toml::table& t, std::string_view key, int64_t min,
                                 int64_t max);
  // An integer or a float, as a double.
  std::optional<double> number(const toml::table& t, std::string_view key, double min,
                               double max);
  std::optional<std::chrono::seconds> duration(const toml::table& t, std::string_view key,
                                               std::chrono::seconds min, std::chrono::seconds max);
  // A path, made absolute against the base folder.
  std::optional<std::filesystem::path> path(const toml::table& t, std::string_view key);
  // An array whose elements are all strings; each element's node is kept for locating errors.
  struct Item {
    std::string value;
    const toml::node* node;
  };
  std::optional<std::vector<Item>> strings(const toml::table& t, std::string_view key);

  std::filesystem::path resolve(const std::filesystem::path& p) const;

 private:
  const std::string file_;
  const std::filesystem::path base_dir_;
  Errors& errors_;
};

// "a string", "an integer", ... for messages about wrong types.
std::string type_phrase(const toml::node& node);

// ", not 'URL'" for a message about a rejected URL; "" when the URL has an '@' anywhere: it may
// hold a password (user:password@host, or one typed where the check cannot tell), and
// messages reach the terminal and the journal. The message's location names the line.
std::string quoted_url(std::string_view url);

}  // namespace dw::config::detail
