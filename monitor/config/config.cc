#include "config/config.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <system_error>

#include "config/endpoint.h"
#include "config/fleet.h"
#include "input/toml.h"
#include "config/notify.h"
#include "config/reader.h"

namespace dw::config {
namespace {

using detail::Reader;

constexpr std::string_view kDefaultProbeSchedule = "0 */6 * * *";
constexpr std::string_view kDefaultReportSchedule = "30 6 * * *";
constexpr std::chrono::seconds kLongestDefaultDeadline = std::chrono::minutes(20);
const std::vector<std::string> kReportFormats{"md", "html", "json"};

// [storage] keep: a duration as the other keys take them, or whole years ("2y", 365 days
// each), which is how people think of retention.
void read_keep(Reader& r, const toml::table& t, Config& c) {
  const toml::node* node = t.get("keep");
  auto text = r.string(t, "keep");
  if (!text) return;
  using std::chrono::days;
  const std::chrono::seconds shortest = days(1), longest = days(365 * 100);
  std::optional<std::chrono::seconds> keep;
  if (text->size() > 1 && text->back() == 'y' &&
      text->find_first_not_of("0123456789") == text->size() - 1 && text->size() <= 4) {
    keep = days(365) * std::stoi(text->substr(0, text->size() - 1));
  } else if (auto d = parse_duration(*text)) {
    keep = *d;
  } else {
    r.error(*node, "'keep' must be a duration such as \"730d\" or whole years such as \"2y\", "
                   "not '" + *text + "'");
    return;
  }
  if (*keep < shortest || *keep > longest) {
    r.error(*node, "'keep' must be between 1d and 100y, not " + *text);
    return;
  }
  c.keep = keep;
}

void read_storage(Reader& r, const toml::table& root, Config& c) {
  const toml::table* t = r.table(root, "storage");
  if (t == nullptr) return;
  r.check_keys(*t, {"database", "keep"}, "[storage]");
  if (auto p = r.path(*t, "database")) c.database = *p;
  read_keep(r, *t, c);
}

// Returns whether [probes] deadline was given (read into c.run_deadline when valid): without
// it the default depends on the probe schedule, read later.
bool read_probes(Reader& r, const toml::table& root, Config& c) {
  const toml::table* t = r.table(root, "probes");
  if (t == nullptr) {
    if (!root.contains("probes")) {
      r.error(r.file_only(), "missing [probes] section: list the probe sets to ask, e.g. "
                             "sets = [\"probes/china-sensitive.toml\"]");
    }
    return false;
  }
  r.check_keys(*t, {"sets", "samples", "deadline"}, "[probes]");
  if (auto v = r.integer(*t, "samples", 1, 100)) c.samples = static_cast<int>(*v);
  if (auto v = r.duration(*t, "deadline", std::chrono::seconds(1), std::chrono::days(7)))
    c.run_deadline = *v;
  const bool deadline_given = t->contains("deadline");
  auto sets = r.strings(*t, "sets");
  if (!sets) {
    if (!t->contains("sets")) r.error(*t, "missing required key 'sets' in [probes]");
    return deadline_given;
  }
  if (sets->empty()) r.error(*t->get("sets"), "'sets' must list at least one probe set");
  for (const auto& item : *sets) {
    std::filesystem::path p = r.resolve(item.value);
    std::error_code ec;
    if (item.value.empty()) {
      r.error(*item.node, "'sets' must not hold an empty path");
    } else if (std::find(c.probe_sets.begin(), c.probe_sets.end(), p) != c.probe_sets.end()) {
      r.error(*item.node, "probe set '" + item.value + "' is listed twice in 'sets'");
    } else if (!std::filesystem::is_regular_file(p, ec)) {
      r.error(*item.node, "probe set '" + item.value + "' not found (looked for " + p.string() +
                              ")");
    } else {
      c.probe_sets.push_back(p);
    }
  }
  return deadline_given;
}

void read_schedule(Reader& r, const toml::table& root, Config& c) {
  const toml::table* t = r.table(root, "schedule");
  if (t != nullptr) {
    r.check_keys(*t, {"probes", "report", "jitter", "timezone"}, "[schedule]");
    if (auto zone = r.nonempty_string(*t, "timezone")) {
      if (Status ok = schedule::check_timezone(*zone); ok) {
        c.timezone = *zone;
      } else {
        r.error(*t->get("timezone"), "'timezone': " + ok.error().message());
      }
    }
    using std::chrono::hours;
    if (auto v = r.duration(*t, "jitter", std::chrono::seconds(0), hours(6))) c.jitter = *v;
  }
  auto read = [&](std::string_view key, std::string_view fallback, schedule::Schedule& out) {
    std::optional<std::string> text;
    if (t != nullptr) {
      text = r.nonempty_string(*t, key);
      if (!text && t->contains(key)) return;  // wrong type, already reported
    }
    auto s = schedule::Schedule::parse(text ? *text : fallback, c.timezone);
    if (s) {
      out = *s;
    } else if (t != nullptr && t->contains(key)) {
      r.error(*t->get(key), "'" + std::string(key) + "': " + s.error().message());
    } else {
      r.error(r.file_only(), "default schedule: " + s.error().message());
    }
  };
  read("probes", kDefaultProbeSchedule, c.probe_schedule);
  read("report", kDefaultReportSchedule, c.report_schedule);
}

void read_report(Reader& r, const toml::table& root, Config& c) {
  const toml::table* t = r.table(root, "report");
  if (t == nullptr) return;
  r.check_keys(*t, {"dir", "formats"}, "[report]");
  if (auto p = r.path(*t, "dir")) c.report_dir = *p;
  auto formats = r.strings(*t, "formats");
  if (!formats) return;
  if (formats->empty()) {
    r.error(*t->get("formats"), "'formats' must list at least one of md, html and json");
    return;
  }
  std::vector<std::string> chosen;
  for (const auto& item : *formats) {
    if (std::find(kReportFormats.begin(), kReportFormats.end(), item.value) ==
        kReportFormats.end()) {
      r.error(*item.node, "unknown report format '" + item.value + "' in 'formats' (known: md, "
                          "html and json)");
    } else if (std::find(chosen.begin(), chosen.end(), item.value) != chosen.end()) {
      r.error(*item.node, "report format '" + item.value + "' is listed twice in 'formats'");
    } else {
      chosen.push_back(item.value);
    }
  }
  c.report_formats = chosen;
}

// Empty when text is HOST:PORT (an IPv6 host in brackets); otherwise why not.
std::string check_listen(std::string_view text) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return "has no ':PORT'";
  std::string_view host = text.substr(0, colon);
  std::string_view port = text.substr(colon + 1);
  if (host.empty()) return "has no host (use 0.0.0.0 or [::] to listen on every address)";
  bool bracketed = host.front() == '[' && host.back() == ']' && host.size() > 2;
  if (!bracketed && host.find_first_of(":[] ") != std::string_view::npos) {
    return "has an invalid host (write an IPv6 address in brackets, e.g. [::1]:9464)";
  }
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string_view::npos) {
    return "has an invalid port";
  }
  int n = std::stoi(std::string(port));
  if (n < 1 || n > 65535) return "has a port outside 1-65535";
  return {};
}

void read_metrics(Reader& r, const toml::table& root, Config& c) {
  const toml::table* t = r.table(root, "metrics");
  if (t == nullptr) return;
  r.check_keys(*t, {"listen"}, "[metrics]");
  auto listen = r.nonempty_string(*t, "listen");
  if (!listen) {
    if (!t->contains("listen")) r.error(*t, "missing required key 'listen' in [metrics]");
    return;
  }
  if (std::string why = check_listen(*listen); !why.empty()) {
    r.error(*t->get("listen"), "'listen' must be HOST:PORT such as \"127.0.0.1:9464\"; '" +
                                   *listen + "' " + why);
    return;
  }
  c.metrics_listen = *listen;
}

void read_classifier(Reader& r, const toml::table& root, Config& c) {
  const toml::table* t = r.table(root, "classifier");
  if (t == nullptr) return;
  r.check_keys(*t, {"rules"}, "[classifier]");
  if (auto p = r.path(*t, "rules")) {
    c.rules_dir = *p;
    c.rules_dir_given = true;
  }
}

void read_detection(Reader& r, const toml::table& root, Config& c) {
  const toml::table* t = r.table(root, "detection");
  if (t == nullptr) return;
  r.check_keys(*t, {"baseline", "recent_runs", "alpha", "min_effect", "new_normal_runs"},
               "[detection]");
  Detection& d = c.detection;
  using std::chrono::days;
  if (auto v = r.duration(*t, "baseline", days(1), days(365))) d.baseline_window = *v;
  if (auto v = r.integer(*t, "recent_runs", 1, 20)) d.recent_runs = static_cast<int>(*v);
  if (auto v = r.number(*t, "alpha", 0.0001, 0.5)) d.alpha = *v;
  if (auto v = r.number(*t, "min_effect", 0.01, 1)) d.min_effect = *v;
  if (auto v = r.integer(*t, "new_normal_runs", 0, 100000)) d.new_normal_runs = static_cast<int>(*v);
}

void read_endpoints(Reader& r, const toml::table& root, Config& c) {
  const toml::node* node = root.get("endpoint");
  if (node == nullptr) {
    r.error(r.file_only(), "no [[endpoint]] tables: add at least one model endpoint to ask");
    return;
  }
  const toml::array* array = node->as_array();
  if (array == nullptr || !array->is_array_of_tables()) {
    r.error(*node, "'endpoint' must be an array of tables: write each one as [[endpoint]]");
    return;
  }
  std::map<std::string, Location> seen;
  int index = 0;
  for (const toml::node& element : *array) {
    const toml::table& t = *element.as_table();
    ++index;
    if (auto name = t.get("name"); name != nullptr && name->is_string()) {
      std::string n = *name->value_exact<std::string>();
      auto [it, inserted] = seen.emplace(n, r.where(*name));
      if (!inserted) {
        r.error(*name, "duplicate endpoint name '" + n + "' (first defined at line " +
                           std::to_string(it->second.line) + ")");
      }
    }
    if (auto e = detail::read_endpoint(r, t, index)) c.endpoints.push_back(std::move(*e));
  }
}

constexpr std::array<std::pair<Judge::When, std::string_view>, 3> kWhens{{
    {Judge::When::uncertain, "uncertain"},
    {Judge::When::all, "all"},
    {Judge::When::never, "never"},
}};

void read_judge(Reader& r, const toml::table& root, Config& c) {
  const toml::table* t = r.table(root, "judge");
  if (t == nullptr) return;
  std::vector<std::string_view> keys(detail::kEndpointKeys.begin(), detail::kEndpointKeys.end());
  keys.insert(keys.end(), {"when", "max_per_run"});
  r.check_keys(*t, keys, "[judge]", {"api_key"});
  size_t errors_before = r.error_count();
  Judge judge;
  judge.where = r.where(*t);
  if (auto when = r.nonempty_string(*t, "when")) {
    auto found = std::find_if(kWhens.begin(), kWhens.end(),
                              [&](const auto& w) { return w.second == *when; });
    if (found == kWhens.end()) {
      r.error(*t->get("when"), "'when' in [judge] must be \"uncertain\", \"all\" or \"never\", "
                               "not '" + *when + "'");
    } else {
      judge.when = found->first;
    }
  }
  if (auto v = r.integer(*t, "max_per_run", 1, 100000)) judge.max_per_run = static_cast<int>(*v);
  auto endpoint = detail::read_judge_endpoint(r, *t);
  if (!endpoint || r.error_count() != errors_before) return;
  judge.endpoint = std::move(*endpoint);
  c.judge = std::move(judge);
}

}  // namespace

std::string_view when_name(Judge::When when) {
  for (const auto& [w, name] : kWhens) {
    if (w == when) return name;
  }
  return "unknown";
}

std::chrono::seconds default_run_deadline(const schedule::Schedule& probes) {
  using std::chrono::seconds;
  if (probes.empty()) return kLongestDefaultDeadline;
  const Time from = std::chrono::sys_days{std::chrono::days{20089}};  // 2025-01-01T00:00:00Z
  std::optional<seconds> shortest;
  Time at = probes.next_after(from - seconds(1));
  // A minute is the shortest gap cron can make: nothing shorter is left to find.
  for (int n = 0; n < 1000 && at - from < std::chrono::days(366); ++n) {
    if (shortest && *shortest <= std::chrono::minutes(1)) break;
    const Time next = probes.next_after(at);
    if (next == Time::max()) break;
    shortest = std::min(shortest.value_or(next - at), next - at);
    at = next;
  }
  if (!shortest) return kLongestDefaultDeadline;
  return std::clamp(*shortest / 2, seconds(1), kLongestDefaultDeadline);
}

Result<Config, Errors> load(const std::filesystem::path& file) {
  // A folder opens as a stream that reads nothing: it would be parsed as an empty config.
  if (std::error_code ec; std::filesystem::is_directory(file, ec)) {
    return Errors{Error("cannot read config file: it is a folder", Location{file.string(), 0, 0})};
  }
  errno = 0;
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::string why = errno != 0 ? std::strerror(errno) : "cannot open";
    return Errors{Error("cannot read config file: " + why, Location{file.string(), 0, 0})};
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse(text.str(), file);
}

Result<Config, Errors> parse(std::string_view text, const std::filesystem::path& file) {
  Errors errors;
  const std::string name = file.string();
  auto parsed = input::parse_toml(text, name);
  if (!parsed) return Errors{parsed.error()};
  toml::table root = std::move(parsed).value();

  Config c;
  std::error_code ec;
  c.file = std::filesystem::absolute(file, ec).lexically_normal();
  Reader r(name, c.file.parent_path(), errors);
  c.database = r.resolve(c.database);
  c.report_dir = r.resolve(c.report_dir);
  c.rules_dir = r.resolve(c.rules_dir);

  r.check_keys(root,
               {"storage", "probes", "schedule", "report", "metrics", "classifier", "detection",
                "endpoint", "notify", "judge", "fleet"},
               "the file");
  read_storage(r, root, c);
  const bool deadline_given = read_probes(r, root, c);
  read_schedule(r, root, c);
  if (!deadline_given) c.run_deadline = default_run_deadline(c.probe_schedule);
  read_report(r, root, c);
  read_metrics(r, root, c);
  read_classifier(r, root, c);
  read_detection(r, root, c);
  read_endpoints(r, root, c);
  detail::read_notify(r, root, c);
  read_judge(r, root, c);
  detail::read_fleet(r, root, c);

  if (errors.empty()) return c;
  // In file order, as a compiler reports: the sections above are read in a fixed order.
  std::stable_sort(errors.begin(), errors.end(), [](const Error& a, const Error& b) {
    return std::pair(a.where().line, a.where().column) <
           std::pair(b.where().line, b.where().column);
  });
  return errors;
}

}  // namespace dw::config
