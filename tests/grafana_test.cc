// The shipped Grafana dashboard (config/grafana/driftwatch.json) against the metrics the daemon
// exports: every metric name and label its PromQL uses is one a dw::daemon::Metrics with every
// series present renders, and Prometheus' own engine (promtool test rules) finds data for every
// query over those series.
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <cctype>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "child.h"
#include "common/time.h"
#include "daemon/metrics.h"
#include "scratch.h"

namespace grafana_test {

namespace fs = std::filesystem;
using dw::daemon::Metrics;

namespace {

const fs::path kDashboard = fs::path(DW_SOURCE_DIR) / "config/grafana/driftwatch.json";

// One metric selector in a query: the name and the label names its matchers use.
struct Selector {
  std::string metric;
  std::vector<std::string> labels;
};

bool ident_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':'; }
bool ident_char(char c) { return ident_start(c) || std::isdigit(static_cast<unsigned char>(c)); }

// Index just past the string literal opening at i ("...", '...' or `...`).
size_t skip_string(std::string_view s, size_t i) {
  const char quote = s[i++];
  while (i < s.size() && s[i] != quote) i += (s[i] == '\\' && quote != '`') ? 2 : 1;
  return i + 1;
}

// Index just past the bracket that closes the one opening at i; strings inside are skipped.
size_t skip_group(std::string_view s, size_t i, char open, char close) {
  int depth = 0;
  for (; i < s.size(); ++i) {
    if (s[i] == '"' || s[i] == '\'' || s[i] == '`') {
      i = skip_string(s, i) - 1;
    } else if (s[i] == open) {
      ++depth;
    } else if (s[i] == close && --depth == 0) {
      return i + 1;
    }
  }
  return s.size();
}

size_t skip_space(std::string_view s, size_t i) {
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return i;
}

// The label names of the matcher block {a="x",b=~"y"} opening at i.
std::vector<std::string> matcher_labels(std::string_view s, size_t i, size_t end) {
  std::vector<std::string> labels;
  for (++i; i < end;) {
    if (s[i] == '"' || s[i] == '\'' || s[i] == '`') {
      i = skip_string(s, i);
    } else if (ident_start(s[i])) {
      size_t from = i;
      while (i < end && ident_char(s[i])) ++i;
      labels.emplace_back(s.substr(from, i - from));
    } else {
      ++i;
    }
  }
  return labels;
}

// The metric selectors of a PromQL expression with Grafana's $variables in it. Names followed by
// '(' are functions; aggregation operators, keywords and the label lists after by / without /
// on / ignoring / group_left / group_right are not metrics; ranges, durations, numbers and
// strings are skipped.
std::vector<Selector> selectors(std::string_view q) {
  static const std::set<std::string, std::less<>> kNotMetrics{
      "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
      "bottomk", "topk", "quantile", "limitk", "limit_ratio", "by", "without", "on",
      "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset",
      "atan2", "inf", "Inf", "nan", "NaN"};
  static const std::set<std::string, std::less<>> kLabelLists{
      "by", "without", "on", "ignoring", "group_left", "group_right"};
  std::vector<Selector> out;
  for (size_t i = 0; i < q.size();) {
    const char c = q[i];
    if (c == '"' || c == '\'' || c == '`') {
      i = skip_string(q, i);
    } else if (c == '$') {  // $name, ${name} or ${name:format}
      i = q.substr(i + 1, 1) == "{" ? skip_group(q, i + 1, '{', '}') : i + 1;
      while (i < q.size() && ident_char(q[i])) ++i;
    } else if (c == '[') {
      i = skip_group(q, i, '[', ']');
    } else if (c == '{') {  // a selector without a name: nothing to check by name
      i = skip_group(q, i, '{', '}');
    } else if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
      while (i < q.size() && (std::isalnum(static_cast<unsigned char>(q[i])) || q[i] == '.')) ++i;
    } else if (ident_start(c)) {
      size_t from = i;
      while (i < q.size() && ident_char(q[i])) ++i;
      std::string word(q.substr(from, i - from));
      size_t next = skip_space(q, i);
      if (kLabelLists.count(word) && next < q.size() && q[next] == '(') {
        i = skip_group(q, next, '(', ')');
      } else if (kNotMetrics.count(word) || (next < q.size() && q[next] == '(')) {
        // a function, an aggregation or a keyword
      } else {
        Selector sel{word, {}};
        if (next < q.size() && q[next] == '{') {
          size_t end = skip_group(q, next, '{', '}');
          sel.labels = matcher_labels(q, next, end);
          i = end;
        }
        out.push_back(std::move(sel));
      }
    } else {
      ++i;
    }
  }
  return out;
}

// One series line of an exposition: its name, its labels and the series text as written.
struct Series {
  std::string name;
  std::set<std::string> labels;
  std::string text;
};

std::vector<Series> series_of(const std::string& exposition) {
  std::vector<Series> out;
  std::istringstream lines(exposition);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    Series s;
    s.text = line.substr(0, line.rfind(' '));
    size_t brace = s.text.find('{');
    s.name = s.text.substr(0, brace);
    if (brace != std::string::npos) {
      for (const auto& label : matcher_labels(s.text, brace, s.text.size())) s.labels.insert(label);
    }
    out.push_back(std::move(s));
  }
  return out;
}

// A daemon's metrics with every series present: runs of both statuses, samples of several
// verdicts (errors among them) on two endpoints, open events, judge requests of each outcome.
std::string full_exposition() {
  Metrics m("1.2.3");
  m.record_run(*dw::parse_time("2026-01-15T12:00:00Z"), "incomplete",
               {{"deepseek-sim", "tiananmen", "refused", 0.5}}, true);
  // The last run sets the verdict ratios: it has every verdict the dashboard picks out.
  m.record_run(*dw::parse_time("2026-01-15T18:00:00Z"), "complete",
               {{"deepseek-sim", "tiananmen", "answered", 0.4},
                {"deepseek-sim", "tiananmen", "deflected", 1.2},
                {"qwen-sim", "tiananmen", "filtered", 0.3},
                {"qwen-sim", "control", "error", 30}},
               true);
  for (const char* outcome : {"verdict", "unusable", "failed"}) m.record_judge_request(outcome);
  m.set_open_events({{{"deepseek-sim", "verdict_shift"}, 2}, {{"qwen-sim", "canned_template"}, 1}});
  m.set_open_incidents({{"deepseek-sim", 1}, {"qwen-sim", 1}});
  m.set_last_run_duration(42.5);
  return m.render();
}

nlohmann::json load_dashboard() {
  std::string text = dw::test::slurp(kDashboard);
  REQUIRE_MESSAGE(!text.empty(), kDashboard.string());
  auto doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  REQUIRE_MESSAGE(!doc.is_discarded(), ("not JSON: " + kDashboard.string()));
  return doc;
}

// Every PromQL expression of the panels' targets.
std::vector<std::string> expressions(const nlohmann::json& dashboard) {
  std::vector<std::string> out;
  for (const auto& panel : dashboard.at("panels")) {
    for (const auto& target : panel.value("targets", nlohmann::json::array())) {
      out.push_back(target.at("expr").get<std::string>());
    }
  }
  return out;
}

// The query of a template variable of type query, label_values(METRIC, LABEL) as a selector.
std::vector<Selector> variable_selectors(const nlohmann::json& dashboard) {
  static const std::regex kLabelValues(R"(^label_values\(\s*(\w+)\s*,\s*(\w+)\s*\)$)");
  std::vector<Selector> out;
  for (const auto& var : dashboard.at("templating").at("list")) {
    if (var.at("type") != "query") continue;
    const auto& query = var.at("query");
    std::string text = query.is_string() ? query.get<std::string>() : query.at("query").get<std::string>();
    std::smatch m;
    REQUIRE_MESSAGE(std::regex_match(text, m, kLabelValues), text);
    out.push_back({m[1], {m[2]}});
  }
  return out;
}

// expr with Grafana's variables replaced by what Prometheus can evaluate over the test series.
std::string evaluable(std::string expr) {
  for (const auto& [from, to] : {std::pair<std::string, std::string>{"$endpoint", ".*"},
                                 {"$__range", "1h"}, {"$window", "1h"}}) {
    for (size_t at; (at = expr.find(from)) != std::string::npos;) expr.replace(at, from.size(), to);
  }
  return expr;
}

}  // namespace

TEST_CASE("the PromQL reader finds metric names and matcher labels, and nothing else") {
  auto sel = selectors(
      "histogram_quantile(0.95, sum by (le, endpoint) (rate(a_bucket{endpoint=~\"$endpoint\","
      "x!=\"b{c}\"}[$window]))) / on (endpoint) group_left sum without (z) (b offset 1d) * 3600 "
      "+ time() - c_seconds");
  REQUIRE(sel.size() == 3);
  CHECK(sel[0].metric == "a_bucket");
  CHECK(sel[0].labels == std::vector<std::string>{"endpoint", "x"});
  CHECK(sel[1].metric == "b");
  CHECK(sel[1].labels.empty());
  CHECK(sel[2].metric == "c_seconds");
  CHECK(selectors("sum(increase(d[${__range}])) by (status)").size() == 1);
}

TEST_CASE("the dashboard is a Grafana dashboard with a panel per query and a data source variable") {
  const auto dashboard = load_dashboard();
  CHECK(dashboard.at("uid") == "driftwatch");
  CHECK(dashboard.at("title") == "driftwatch");
  CHECK(dashboard.at("schemaVersion").is_number_integer());
  std::set<int> ids;
  bool has_datasource_variable = false;
  for (const auto& var : dashboard.at("templating").at("list")) {
    has_datasource_variable |= var.at("type") == "datasource" && var.at("query") == "prometheus";
  }
  CHECK(has_datasource_variable);
  for (const auto& panel : dashboard.at("panels")) {
    CAPTURE(panel.value("title", ""));
    CHECK(ids.insert(panel.at("id").get<int>()).second);
    const auto& grid = panel.at("gridPos");
    CHECK(grid.at("x").get<int>() + grid.at("w").get<int>() <= 24);
    if (panel.at("type") == "row") continue;
    REQUIRE(panel.contains("targets"));
    CHECK_FALSE(panel.at("targets").empty());
    for (const auto& target : panel.at("targets")) {
      CHECK_FALSE(target.at("expr").get<std::string>().empty());
      CHECK(target.at("datasource").at("uid") == "${datasource}");
    }
  }
}

TEST_CASE("every metric and label the dashboard queries is one the daemon exports") {
  const auto dashboard = load_dashboard();
  const std::string exposition = full_exposition();
  CAPTURE(exposition);
  std::map<std::string, std::set<std::string>> exported;  // name -> its labels
  for (const auto& s : series_of(exposition)) exported[s.name].insert(s.labels.begin(), s.labels.end());

  std::vector<Selector> used = variable_selectors(dashboard);
  for (const auto& expr : expressions(dashboard)) {
    auto found = selectors(expr);
    CHECK_MESSAGE(!found.empty(), expr);
    used.insert(used.end(), found.begin(), found.end());
  }
  std::set<std::string> queried;
  for (const auto& sel : used) {
    CAPTURE(sel.metric);
    REQUIRE(exported.count(sel.metric));
    for (const auto& label : sel.labels) {
      CAPTURE(label);
      CHECK(exported[sel.metric].count(label));
    }
    queried.insert(sel.metric);
  }
  // What the dashboard is for: runs, samples by verdict and endpoint, open events, errors
  // (samples with the verdict error, incomplete runs, the judge), request latency.
  for (const char* metric :
       {"driftwatch_runs_total", "driftwatch_samples_total", "driftwatch_verdict_ratio",
        "driftwatch_events_open", "driftwatch_request_duration_seconds_bucket",
        "driftwatch_request_duration_seconds_sum", "driftwatch_request_duration_seconds_count",
        "driftwatch_last_run_timestamp_seconds", "driftwatch_judge_requests_total"}) {
    CAPTURE(metric);
    CHECK(queried.count(metric));
  }
}

TEST_CASE("Prometheus finds data for every query of the dashboard over the daemon's series") {
  const auto dashboard = load_dashboard();
  // Two hours of every exported series, every 5 minutes; each query evaluated at the end must
  // return at least one sample (absent() of it returns none).
  std::ostringstream yaml;
  yaml << "rule_files: []\nevaluation_interval: 1m\ntests:\n  - interval: 5m\n"
       << "    input_series:\n";
  for (const auto& s : series_of(full_exposition())) {
    REQUIRE(s.text.find('\'') == std::string::npos);
    yaml << "      - series: '" << s.text << "'\n        values: '1+1x24'\n";
  }
  yaml << "    promql_expr_test:\n";
  for (const auto& expr : expressions(dashboard)) {
    std::string e = evaluable(expr);
    REQUIRE(e.find('\'') == std::string::npos);
    yaml << "      - expr: 'absent(" << e << ")'\n        eval_time: 2h\n        exp_samples: []\n";
  }
  dw::test::Scratch scratch;
  fs::path file = scratch.write("dashboard_test.yml", yaml.str());
  auto o = dw::test::run_tool(scratch, {"promtool", "test", "rules", file.string()});
  CHECK_MESSAGE(o.code == 0, (o.out + o.err + "\n" + yaml.str()));
}

}  // namespace grafana_test
