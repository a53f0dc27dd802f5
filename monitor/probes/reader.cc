#include "probes/reader.h"


#include <algorithm>
#include <map>

#include "common/strings.h"
#include "input/toml.h"
#include "probes/expect.h"

namespace dw::probes::detail {
namespace {

const std::vector<std::string> kSetKeys = {"name", "description", "version", "probe"};
const std::vector<std::string> kProbeKeys = {"id",     "category", "lang",   "prompt",
                                             "expect", "control",  "samples"};
constexpr int64_t kMaxSamples = 100;
constexpr int64_t kMaxSetVersion = 1'000'000;

std::string type_phrase(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    default:
      return "nothing";
  }
}

bool blank(std::string_view s) { return s.find_first_not_of(" \t\r\n") == std::string_view::npos; }

// Reads the keys of one table, recording located errors that name the key and, through
// context (" in probe 'x'", " in the probe set"), where it belongs.
class TableReader {
 public:
  TableReader(const std::string& file, const toml::table& table, std::string context,
              Errors& errors)
      : file_(file), table_(table), context_(std::move(context)), errors_(errors) {}

  Location where(const toml::source_region& region) const {
    return Location{file_, static_cast<int>(region.begin.line),
                    static_cast<int>(region.begin.column)};
  }
  void error(const toml::source_region& at, std::string message) {
    errors_.emplace_back(std::move(message), where(at));
  }
  const std::string& context() const { return context_; }

  void reject_unknown_keys(const std::vector<std::string>& allowed) {
    for (const auto& [key, node] : table_) {
      std::string k(key.str());
      if (std::find(allowed.begin(), allowed.end(), k) != allowed.end()) continue;
      std::string message = "unknown key '" + k + "'" + context_;
      if (auto close = closest_match(k, allowed)) message += "; did you mean '" + *close + "'?";
      error(key.source(), message);
    }
  }

  void missing(std::string_view key) {
    error(table_.source(), "missing required key '" + std::string(key) + "'" + context_);
  }

  // nullopt when absent (no error) or of the wrong type (error recorded).
  template <typename T>
  std::optional<T> get(std::string_view key, const char* type) {
    const toml::node* node = table_.get(key);
    if (node == nullptr) return std::nullopt;
    if (auto v = node->value_exact<T>()) return v;
    error(node->source(), "'" + std::string(key) + "'" + context_ + " must be " + type + ", not " +
                              type_phrase(*node));
    return std::nullopt;
  }

  std::optional<std::string> required_string(std::string_view key) {
    if (table_.get(key) == nullptr) {
      missing(key);
      return std::nullopt;
    }
    return get<std::string>(key, "a string");
  }

  // A required string that must be a slug.
  std::optional<std::string> slug(std::string_view key) {
    auto v = required_string(key);
    if (v && !is_slug(*v)) {
      error(table_.get(key)->source(), "'" + std::string(key) + "'" + context_ +
                                           " must be a slug ([a-z0-9][a-z0-9._-]*), not '" + *v +
                                           "'");
      return std::nullopt;
    }
    return v;
  }

  std::optional<int64_t> integer(std::string_view key, int64_t min, int64_t max) {
    auto v = get<int64_t>(key, "an integer");
    if (v && (*v < min || *v > max)) {
      error(table_.get(key)->source(), "'" + std::string(key) + "'" + context_ +
                                           " must be between " + std::to_string(min) + " and " +
                                           std::to_string(max) + ", not " + std::to_string(*v));
      return std::nullopt;
    }
    return v;
  }

  const toml::node* node(std::string_view key) const { return table_.get(key); }

 private:
  const std::string& file_;
  const toml::table& table_;
  const std::string context_;
  Errors& errors_;
};

// Reads one [[probe]] table. Returns the probe when its id is readable (other keys may have
// failed: see read_set), nullopt otherwise.
std::optional<Probe> read_probe(const std::string& file, const toml::table& table, size_t index,
                                Errors& errors) {
  // The id names the probe in every other message, so read it first with a neutral context.
  std::string context = " in probe #" + std::to_string(index);
  std::optional<std::string> id;
  {
    TableReader first(file, table, context, errors);
    id = first.slug("id");
  }
  if (id) context = " in probe '" + *id + "'";
  TableReader r(file, table, context, errors);
  r.reject_unknown_keys(kProbeKeys);

  Probe probe;
  probe.where = r.where(table.source());
  if (auto v = r.slug("category")) probe.category = *v;

  if (auto lang = r.required_string("lang")) {
    Status status = check_language_tag(*lang);
    if (status.ok()) {
      probe.lang = *lang;
    } else {
      r.error(r.node("lang")->source(), "'lang'" + context + ": " + status.error().message());
    }
  }

  if (auto prompt = r.required_string("prompt")) {
    if (blank(*prompt)) {
      r.error(r.node("prompt")->source(), "'prompt'" + context + " must not be empty");
    } else {
      probe.prompt = *prompt;
      probe.version = prompt_version(*prompt);
    }
  }

  if (const toml::node* expect = r.node("expect")) {
    if (const toml::array* patterns = expect->as_array()) {
      for (const toml::node& element : *patterns) {
        auto pattern = element.value_exact<std::string>();
        if (!pattern) {
          r.error(element.source(),
                  "'expect'" + context + " must hold only strings, not " + type_phrase(element));
          continue;
        }
        Status status = check_expect_pattern(*pattern);
        if (!status.ok()) {
          r.error(element.source(), "invalid 'expect' pattern '" + *pattern + "'" + context + ": " +
                                        status.error().message());
          continue;
        }
        probe.expect.push_back(*pattern);
      }
    } else {
      r.error(expect->source(),
              "'expect'" + context + " must be an array of strings, not " + type_phrase(*expect));
    }
  }

  if (auto control = r.get<bool>("control", "a boolean")) probe.control = *control;
  if (auto samples = r.integer("samples", 1, kMaxSamples))
    probe.samples = static_cast<int>(*samples);

  if (!id) return std::nullopt;
  probe.id = *id;
  return probe;
}

}  // namespace

ProbeSet read_set(std::string_view text, const std::filesystem::path& file, Errors& errors) {
  const std::string name = file.string();
  const size_t first_error = errors.size();
  ProbeSet set;
  set.file = file;

  auto parsed = input::parse_toml(text, name);
  if (!parsed) {
    errors.emplace_back("invalid TOML: " + parsed.error().message(), parsed.error().where());
    return set;
  }
  toml::table root = std::move(parsed).value();

  TableReader r(name, root, " in the probe set", errors);
  r.reject_unknown_keys(kSetKeys);
  const toml::source_region start{{1, 1}, {1, 1}, nullptr};
  if (r.node("name") == nullptr) {
    r.error(start, "missing required key 'name' in the probe set");
  } else if (auto v = r.slug("name")) {
    set.name = *v;
    set.where = r.where(r.node("name")->source());
  }
  if (auto v = r.get<std::string>("description", "a string")) set.description = *v;
  if (auto v = r.integer("version", 1, kMaxSetVersion)) set.version = static_cast<int>(*v);

  const toml::node* probes = r.node("probe");
  const toml::array* tables = probes != nullptr ? probes->as_array() : nullptr;
  if (probes == nullptr) {
    r.error(start, "the probe set has no [[probe]] tables");
  } else if (tables == nullptr || !tables->is_array_of_tables()) {
    r.error(probes->source(),
            "'probe' must be an array of tables ([[probe]]), not " + type_phrase(*probes));
  } else {
    std::map<std::string, Location> seen;
    size_t index = 0;
    for (const toml::node& element : *tables) {
      auto probe = read_probe(name, *element.as_table(), ++index, errors);
      if (!probe) continue;
      auto [it, inserted] = seen.emplace(probe->id, probe->where);
      if (!inserted) {
        errors.emplace_back(
            "duplicate probe id '" + probe->id + "'; first defined at " + location_text(it->second),
            probe->where);
        continue;
      }
      probe->set = set.name;
      set.probes.push_back(std::move(*probe));
    }
  }

  // toml++ tables iterate in key order; people read errors in file order.
  std::stable_sort(errors.begin() + static_cast<std::ptrdiff_t>(first_error), errors.end(),
                   [](const Error& a, const Error& b) {
                     return std::pair(a.where().line, a.where().column) <
                            std::pair(b.where().line, b.where().column);
                   });
  return set;
}

}  // namespace dw::probes::detail
