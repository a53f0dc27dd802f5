// Reading a scenario file: every problem becomes a located error naming the key, and keys a
// kind does not use are rejected rather than silently ignored.

#include <algorithm>
#include <array>
#include <fstream>
#include <sstream>

#include "common/strings.h"
#include "input/toml.h"
#include "sim/scenario.h"

namespace dw::sim {
namespace {

constexpr int kMaxDelayMs = 600'000;

struct KindKeys {
  OutcomeKind kind;
  std::vector<std::string> keys;  // besides kind, weight and delay_ms
};

const std::vector<std::string>& keys_for(OutcomeKind kind) {
  static const std::array<KindKeys, 14> table{{
      {OutcomeKind::answer, {"texts", "finish_reason"}},
      {OutcomeKind::deflect, {"texts", "finish_reason"}},
      {OutcomeKind::refuse, {"texts", "finish_reason"}},
      {OutcomeKind::narrative, {"texts", "finish_reason"}},
      {OutcomeKind::filter, {"texts", "finish_reason", "block_reason"}},
      {OutcomeKind::status, {"status", "body", "content_type", "retry_after"}},
      {OutcomeKind::malformed, {"body", "content_type"}},
      {OutcomeKind::truncated, {"texts"}},
      {OutcomeKind::drop, {}},
      {OutcomeKind::reset, {}},
      {OutcomeKind::drip, {"texts", "drip_bytes", "drip_ms"}},
      {OutcomeKind::gzip_bomb, {}},
      {OutcomeKind::redirect, {"status", "location"}},
      {OutcomeKind::judge, {}},
  }};
  for (const auto& k : table)
    if (k.kind == kind) return k.keys;
  return table[0].keys;
}

bool is_text_kind(OutcomeKind kind) {
  return kind == OutcomeKind::answer || kind == OutcomeKind::deflect ||
         kind == OutcomeKind::refuse || kind == OutcomeKind::narrative;
}

class Parser {
 public:
  explicit Parser(std::filesystem::path file) : file_(std::move(file)) {}

  Errors errors;

  Location at(const toml::source_region& r) const {
    return {r.path ? std::string(*r.path) : file_.string(), static_cast<int>(r.begin.line),
            static_cast<int>(r.begin.column)};
  }
  Location at(const toml::node& n) const { return at(n.source()); }

  void fail(Location where, std::string message) {
    errors.emplace_back(std::move(message), std::move(where));
  }

  // Reports every key of t not in allowed, suggesting the closest allowed one.
  void check_keys(const toml::table& t, const std::vector<std::string>& allowed,
                  std::string_view context) {
    for (const auto& [key, node] : t) {
      std::string k(key.str());
      if (std::find(allowed.begin(), allowed.end(), k) != allowed.end()) continue;
      std::string message = "unknown key '" + k + "' in " + std::string(context);
      if (auto near = closest_match(k, allowed)) message += " (did you mean '" + *near + "'?)";
      fail(at(key.source()), message);
    }
  }

  std::optional<std::string> string(const toml::table& t, std::string_view key) {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    if (auto s = n->value_exact<std::string>()) return *s;
    fail(at(*n), "'" + std::string(key) + "' must be a string");
    return std::nullopt;
  }

  std::optional<std::int64_t> integer(const toml::table& t, std::string_view key, std::int64_t min,
                                      std::int64_t max) {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    auto v = n->value_exact<std::int64_t>();
    if (!v || *v < min || *v > max) {
      fail(at(*n), "'" + std::string(key) + "' must be an integer from " + std::to_string(min) +
                       " to " + std::to_string(max));
      return std::nullopt;
    }
    return *v;
  }

  std::optional<std::vector<std::string>> strings(const toml::table& t, std::string_view key) {
    const toml::node* n = t.get(key);
    if (!n) return std::nullopt;
    const toml::array* a = n->as_array();
    std::vector<std::string> out;
    bool ok = a != nullptr;
    if (a) {
      for (const auto& item : *a) {
        if (auto s = item.value_exact<std::string>())
          out.push_back(*s);
        else
          ok = false;
      }
    }
    if (!ok) {
      fail(at(*n), "'" + std::string(key) + "' must be an array of strings");
      return std::nullopt;
    }
    return out;
  }

  // Reads the from/to day range keys into from and to.
  void days(const toml::table& t, int& from, int& to) {
    if (auto v = integer(t, "from", 0, 1'000'000)) from = static_cast<int>(*v);
    if (auto v = integer(t, "to", 1, 1'000'000)) to = static_cast<int>(*v);
    if (to <= from) fail(at(*t.get("to")), "'to' must be after 'from' (days are [from, to))");
  }

  std::optional<ApiKind> kind(const toml::table& t) {
    auto name = string(t, "kind");
    if (!name) return std::nullopt;
    if (auto k = parse_api_kind(*name)) return k;
    fail(at(*t.get("kind")),
         "'kind' must be one of openai, anthropic, ollama, gemini, not '" + *name + "'");
    return std::nullopt;
  }

  std::optional<Outcome> outcome(const toml::node& node, std::string_view context);
  void redirect(const toml::table& t, Outcome& o, std::string_view context);
  std::vector<Outcome> outcomes(const toml::table& t, std::string_view context,
                                std::string_view outcome_context);
  void rule(const toml::node& node, Scenario& s, size_t index);
  void model_rule(const toml::node& node, Scenario& s);
  void probe_set(const toml::node& entry, Scenario& s);

 private:
  std::filesystem::path file_;
};

std::optional<Outcome> Parser::outcome(const toml::node& node, std::string_view context) {
  const toml::table* t = node.as_table();
  if (!t) {
    fail(at(node), std::string(context) + " must be a table");
    return std::nullopt;
  }
  Outcome o;
  o.where = at(node);
  auto kind_name = string(*t, "kind");
  if (!kind_name) {
    if (!t->get("kind"))
      fail(o.where, std::string(context) +
                        " needs 'kind' (answer, deflect, refuse, narrative, filter, status, "
                        "malformed, truncated, drop, reset, drip, gzip_bomb, redirect or judge)");
    return std::nullopt;
  }
  auto kind = parse_outcome_kind(*kind_name);
  if (!kind) {
    std::vector<std::string> names{"answer", "deflect",   "refuse",    "narrative", "filter",
                                   "status", "malformed", "truncated", "drop",      "reset",
                                   "drip",   "gzip_bomb", "redirect",  "judge"};
    std::string message = "unknown outcome kind '" + *kind_name + "'";
    if (auto near = closest_match(*kind_name, names)) message += " (did you mean '" + *near + "'?)";
    fail(at(*t->get("kind")), message);
    return std::nullopt;
  }
  o.kind = *kind;
  std::vector<std::string> allowed{"kind", "weight", "delay_ms"};
  for (const auto& k : keys_for(o.kind)) allowed.push_back(k);
  size_t before = errors.size();
  check_keys(*t, allowed, std::string(context) + " of kind '" + *kind_name + "'");

  if (const toml::node* w = t->get("weight")) {
    auto v = w->value<double>();  // integers are fine weights too
    if (!v || !(*v > 0) || *v > 1e9)
      fail(at(*w), "'weight' must be a positive number");
    else
      o.weight = *v;
  }
  if (auto v = integer(*t, "delay_ms", 0, kMaxDelayMs)) o.delay_ms = static_cast<int>(*v);
  if (auto v = strings(*t, "texts")) {
    o.texts = std::move(*v);
    if (o.texts.empty() && is_text_kind(o.kind))
      fail(at(*t->get("texts")), "'texts' must hold at least one text");
  } else if (is_text_kind(o.kind) && !t->get("texts")) {
    fail(o.where, std::string(context) + " of kind '" + *kind_name + "' needs 'texts'");
  }
  if (auto v = string(*t, "finish_reason")) o.finish_reason = *v;
  if (auto v = string(*t, "block_reason")) o.block_reason = *v;
  if (o.kind == OutcomeKind::redirect) {
    redirect(*t, o, context);
  } else if (auto v = integer(*t, "status", 400, 599)) {
    o.status = static_cast<int>(*v);
  } else if (o.kind == OutcomeKind::status && !t->get("status")) {
    fail(o.where, std::string(context) + " of kind 'status' needs 'status'");
  }
  if (auto v = integer(*t, "drip_bytes", 1, 65'536)) o.drip_bytes = static_cast<int>(*v);
  if (auto v = integer(*t, "drip_ms", 1, 60'000)) o.drip_ms = static_cast<int>(*v);
  if (auto v = string(*t, "body")) o.body = *v;
  if (auto v = string(*t, "content_type")) o.content_type = *v;
  if (auto v = integer(*t, "retry_after", 0, 86'400)) o.retry_after = static_cast<int>(*v);
  if (errors.size() != before) return std::nullopt;
  return o;
}

// A redirect's status (only the codes that carry a Location to follow; 302 when not given) and
// its Location, sent as a header and so kept to one line of visible characters.
void Parser::redirect(const toml::table& t, Outcome& o, std::string_view context) {
  o.status = 302;
  if (const toml::node* n = t.get("status")) {
    auto v = n->value_exact<std::int64_t>();
    if (v && (*v == 301 || *v == 302 || *v == 303 || *v == 307 || *v == 308))
      o.status = static_cast<int>(*v);
    else
      fail(at(*n), "'status' of a redirect must be 301, 302, 303, 307 or 308");
  }
  auto location = string(t, "location");
  if (!location) {
    if (!t.get("location"))
      fail(o.where, std::string(context) + " of kind 'redirect' needs 'location'");
    return;
  }
  bool visible = !location->empty() && std::all_of(location->begin(), location->end(), [](char c) {
    return static_cast<unsigned char>(c) > 0x20 && c != 0x7f;
  });
  if (!visible)
    fail(at(*t.get("location")), "'location' must be a URL without spaces or control characters");
  o.location = *location;
}

// The outcome tables of a rule or of [default]; at least one is required.
std::vector<Outcome> Parser::outcomes(const toml::table& t, std::string_view context,
                                      std::string_view outcome_context) {
  std::vector<Outcome> out;
  const toml::node* n = t.get("outcome");
  if (!n) {
    fail(at(t), std::string(context) + " needs at least one " + std::string(outcome_context));
    return out;
  }
  const toml::array* a = n->as_array();
  if (!a || a->empty()) {
    fail(at(*n), "'outcome' must be a non-empty array of tables");
    return out;
  }
  for (const auto& item : *a)
    if (auto o = outcome(item, outcome_context)) out.push_back(std::move(*o));
  return out;
}

void Parser::rule(const toml::node& node, Scenario& s, size_t index) {
  const toml::table* t = node.as_table();
  if (!t) {
    fail(at(node), "'rule' must be an array of tables ([[rule]])");
    return;
  }
  Rule r;
  r.where = at(node);
  check_keys(*t,
             {"name", "probes", "prompt_contains", "model", "kind", "from", "to", "pick", "share",
              "outcome"},
             "[[rule]]");
  r.name = string(*t, "name").value_or("rule " + std::to_string(index + 1));
  if (auto v = strings(*t, "probes")) {
    r.probes = std::move(*v);
    std::vector<std::string> known;
    for (const auto& [prompt, id] : s.probe_by_prompt) known.push_back(id);
    for (const auto& id : r.probes) {
      if (std::find(known.begin(), known.end(), id) != known.end()) continue;
      std::string message =
          s.probe_by_prompt.empty()
              ? "probe '" + id + "' cannot be recognised: name the probe sets in 'probe_sets'"
              : "unknown probe '" + id + "' in 'probes' (not in the scenario's probe_sets)";
      if (auto near = closest_match(id, known)) message += " (did you mean '" + *near + "'?)";
      fail(at(*t->get("probes")), message);
    }
  }
  if (auto v = strings(*t, "prompt_contains")) r.prompt_contains = std::move(*v);
  for (const auto& sub : r.prompt_contains)
    if (sub.empty()) fail(at(*t->get("prompt_contains")), "'prompt_contains' has an empty string");
  r.model = string(*t, "model");
  r.kind = kind(*t);
  days(*t, r.from, r.to);
  if (auto pick = string(*t, "pick")) {
    if (*pick == "cycle")
      r.cycle = true;
    else if (*pick != "weighted")
      fail(at(*t->get("pick")), "'pick' must be \"weighted\" or \"cycle\", not '" + *pick + "'");
  }
  if (const toml::node* share = t->get("share")) {
    auto v = share->value<double>();
    if (!v || !(*v > 0) || *v > 1)
      fail(at(*share), "'share' must be a number in (0, 1]");
    else
      r.share = *v;
  }
  r.outcomes = outcomes(*t, "[[rule]]", "[[rule.outcome]]");
  if (!r.outcomes.empty()) s.rules.push_back(std::move(r));
}

void Parser::model_rule(const toml::node& node, Scenario& s) {
  const toml::table* t = node.as_table();
  if (!t) {
    fail(at(node), "'model' must be an array of tables ([[model]])");
    return;
  }
  ModelRule m;
  m.where = at(node);
  check_keys(*t, {"model", "kind", "from", "to", "report", "fingerprint"}, "[[model]]");
  m.model = string(*t, "model");
  m.kind = kind(*t);
  days(*t, m.from, m.to);
  if (auto v = string(*t, "report")) m.report = *v;
  if (auto v = string(*t, "fingerprint")) m.fingerprint = *v;
  if (!t->get("report") && !t->get("fingerprint"))
    fail(m.where, "[[model]] needs 'report' or 'fingerprint'");
  s.models.push_back(std::move(m));
}

// Reads only what the simulator needs from a probe set (id and prompt of each [[probe]]); the
// probes module checks the rest.
void Parser::probe_set(const toml::node& entry, Scenario& s) {
  auto name = entry.value_exact<std::string>();
  if (!name) {
    fail(at(entry), "'probe_sets' must be an array of file paths");
    return;
  }
  std::filesystem::path path = *name;
  if (path.is_relative()) path = file_.parent_path() / path;
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec)) {
    // /dev/zero, a FIFO: read without end.
    fail(at(entry), "probe set '" + *name + "' is not a file (" + path.string() + ")");
    return;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    fail(at(entry), "probe set '" + *name + "' cannot be read (" + path.string() + ")");
    return;
  }
  std::stringstream text;
  text << in.rdbuf();
  auto parsed = input::parse_toml(text.str(), path.string());
  if (!parsed) {
    errors.push_back(parsed.error());
    return;
  }
  toml::table set = std::move(parsed).value();
  const toml::array* probes = set["probe"].as_array();
  if (!probes) {
    fail(at(entry), "probe set '" + *name + "' has no [[probe]] tables");
    return;
  }
  for (const auto& p : *probes) {
    const toml::table* t = p.as_table();
    auto id = t ? t->get("id") : nullptr;
    auto prompt = t ? t->get("prompt") : nullptr;
    if (!id || !prompt || !id->is_string() || !prompt->is_string()) {
      fail(at(p), "probe without a string 'id' and 'prompt'");
      continue;
    }
    s.probe_by_prompt.emplace(std::string(trim(*prompt->value_exact<std::string>())),
                              *id->value_exact<std::string>());
  }
}

}  // namespace

Result<Scenario, Errors> parse_scenario(std::string_view text, const std::filesystem::path& file) {
  Parser p(file);
  auto parsed = input::parse_toml(text, file.string());
  if (!parsed) return Errors{parsed.error()};
  toml::table root = std::move(parsed).value();
  Scenario s;
  s.file = file;
  p.check_keys(root, {"description", "probe_sets", "rule", "model", "default"}, "the scenario");
  if (auto v = p.string(root, "description")) s.description = *v;
  if (const toml::node* sets = root.get("probe_sets")) {
    if (const toml::array* a = sets->as_array())
      for (const auto& entry : *a) p.probe_set(entry, s);
    else
      p.fail(p.at(*sets), "'probe_sets' must be an array of file paths");
  }
  if (const toml::node* rules = root.get("rule")) {
    if (const toml::array* a = rules->as_array())
      for (size_t i = 0; i < a->size(); ++i) p.rule(*a->get(i), s, i);
    else
      p.fail(p.at(*rules), "'rule' must be an array of tables ([[rule]])");
  }
  if (const toml::node* models = root.get("model")) {
    if (const toml::array* a = models->as_array())
      for (const auto& m : *a) p.model_rule(m, s);
    else
      p.fail(p.at(*models), "'model' must be an array of tables ([[model]])");
  }
  if (const toml::node* d = root.get("default")) {
    if (const toml::table* t = d->as_table()) {
      p.check_keys(*t, {"outcome"}, "[default]");
      s.default_outcomes = p.outcomes(*t, "[default]", "[[default.outcome]]");
    } else {
      p.fail(p.at(*d), "'default' must be a table ([default])");
    }
  }
  if (!p.errors.empty()) return p.errors;
  return s;
}

Result<Scenario, Errors> load_scenario(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return Errors{Error("cannot read the scenario file", {file.string()})};
  std::stringstream text;
  text << in.rdbuf();
  return parse_scenario(text.str(), file);
}

}  // namespace dw::sim
