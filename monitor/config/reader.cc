#include "config/reader.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "common/duration.h"
#include "common/strings.h"

namespace dw::config::detail {
namespace {

std::string number_text(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

}  // namespace

std::string type_phrase(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

std::string quoted_url(std::string_view url) {
  if (url.find('@') != std::string_view::npos) return "";
  return ", not '" + std::string(url) + "'";
}

Location Reader::where(const toml::source_region& region) const {
  return Location{file_, static_cast<int>(region.begin.line),
                  static_cast<int>(region.begin.column)};
}

void Reader::check_keys(const toml::table& table, std::span<const std::string_view> allowed,
                        const std::string& context, std::initializer_list<std::string_view> skip) {
  std::vector<std::string> names(allowed.begin(), allowed.end());
  for (const auto& [key, node] : table) {
    std::string_view k = key.str();
    if (std::find(allowed.begin(), allowed.end(), k) != allowed.end()) continue;
    if (std::find(skip.begin(), skip.end(), k) != skip.end()) continue;
    std::string message = "unknown key '" + std::string(k) + "' in " + context;
    if (auto close = closest_match(k, names)) message += "; did you mean '" + *close + "'?";
    error(where(key.source()), message);
  }
}

const toml::table* Reader::table(const toml::table& parent, std::string_view key) {
  const toml::node* node = parent.get(key);
  if (node == nullptr) return nullptr;
  if (const toml::table* t = node->as_table()) return t;
  error(*node, "'" + std::string(key) + "' must be a table, not " + type_phrase(*node));
  return nullptr;
}

std::optional<std::string> Reader::string(const toml::table& t, std::string_view key) {
  const toml::node* node = t.get(key);
  if (node == nullptr) return std::nullopt;
  if (auto v = node->value_exact<std::string>()) return v;
  error(*node, "'" + std::string(key) + "' must be a string, not " + type_phrase(*node));
  return std::nullopt;
}

std::optional<std::string> Reader::nonempty_string(const toml::table& t, std::string_view key) {
  auto v = string(t, key);
  if (v && v->empty()) {
    error(*t.get(key), "'" + std::string(key) + "' must not be empty");
    return std::nullopt;
  }
  return v;
}

std::optional<int64_t> Reader::integer(const toml::table& t, std::string_view key, int64_t min,
                                       int64_t max) {
  const toml::node* node = t.get(key);
  if (node == nullptr) return std::nullopt;
  auto v = node->value_exact<int64_t>();
  if (!v) {
    error(*node, "'" + std::string(key) + "' must be an integer, not " + type_phrase(*node));
    return std::nullopt;
  }
  if (*v < min || *v > max) {
    error(*node, "'" + std::string(key) + "' must be between " + std::to_string(min) + " and " +
                     std::to_string(max) + ", not " + std::to_string(*v));
    return std::nullopt;
  }
  return v;
}

std::optional<double> Reader::number(const toml::table& t, std::string_view key, double min,
                                     double max) {
  const toml::node* node = t.get(key);
  if (node == nullptr) return std::nullopt;
  std::optional<double> v = node->value_exact<double>();
  if (auto i = node->value_exact<int64_t>()) v = static_cast<double>(*i);
  if (!v) {
    error(*node, "'" + std::string(key) + "' must be a number, not " + type_phrase(*node));
    return std::nullopt;
  }
  if (!std::isfinite(*v) || *v < min || *v > max) {
    error(*node, "'" + std::string(key) + "' must be between " + number_text(min) + " and " +
                     number_text(max) + ", not " + number_text(*v));
    return std::nullopt;
  }
  return v;
}

std::optional<std::chrono::seconds> Reader::duration(const toml::table& t, std::string_view key,
                                                     std::chrono::seconds min,
                                                     std::chrono::seconds max) {
  const toml::node* node = t.get(key);
  auto text = string(t, key);
  if (!text) return std::nullopt;
  auto d = parse_duration(*text);
  if (!d) {
    error(*node, "'" + std::string(key) + "': " + d.error().message());
    return std::nullopt;
  }
  if (*d < min || *d > max) {
    error(*node, "'" + std::string(key) + "' must be between " + format_duration(min) + " and " +
                     format_duration(max) + ", not " + *text);
    return std::nullopt;
  }
  return *d;
}

std::optional<std::filesystem::path> Reader::path(const toml::table& t, std::string_view key) {
  auto text = nonempty_string(t, key);
  if (!text) return std::nullopt;
  return resolve(*text);
}

std::optional<std::vector<Reader::Item>> Reader::strings(const toml::table& t,
                                                         std::string_view key) {
  const toml::node* node = t.get(key);
  if (node == nullptr) return std::nullopt;
  const toml::array* array = node->as_array();
  if (array == nullptr) {
    error(*node, "'" + std::string(key) + "' must be an array of strings, not " +
                     type_phrase(*node));
    return std::nullopt;
  }
  std::vector<Item> items;
  bool ok = true;
  for (const toml::node& element : *array) {
    if (auto v = element.value_exact<std::string>()) {
      items.push_back({*v, &element});
    } else {
      error(element, "'" + std::string(key) + "' must hold only strings, not " +
                         type_phrase(element));
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return items;
}

std::filesystem::path Reader::resolve(const std::filesystem::path& p) const {
  if (p.is_absolute()) return p.lexically_normal();
  return (base_dir_ / p).lexically_normal();
}

}  // namespace dw::config::detail
