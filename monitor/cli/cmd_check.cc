// driftwatch check: loads the config and everything it points to (probe sets, rule packs),
// reports every located error, or prints what would run and when.
#include <algorithm>
#include <iomanip>
#include <iostream>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "analysis/rules.h"
#include "cli/commands.h"
#include "cli/setup.h"
#include "common/duration.h"
#include "common/time.h"
#include "config/config.h"
#include "probes/probe.h"

namespace dw::cli {
namespace {

// Counts in order of first appearance: a set lists its topics in the order its author chose.
class Tally {
 public:
  void add(const std::string& key) {
    for (auto& [k, n] : counts_) {
      if (k == key) {
        ++n;
        return;
      }
    }
    counts_.emplace_back(key, 1);
  }
  std::string to_string() const {
    std::string out;
    for (const auto& [k, n] : counts_) {
      if (!out.empty()) out += ", ";
      out += k + " " + std::to_string(n);
    }
    return out;
  }

 private:
  std::vector<std::pair<std::string, int>> counts_;
};

// Where the key lives and whether it can be read now. Never the key itself.
std::string describe_key(const config::SecretRef& ref) {
  using Source = config::SecretRef::Source;
  std::string where;
  switch (ref.source) {
    case Source::none: return "none";
    case Source::env: where = "$" + ref.name; break;
    case Source::file: where = "file " + ref.name; break;
    case Source::credential: where = "credential " + ref.name; break;
  }
  auto secret = config::read_secret(ref);
  return where + (secret ? " (readable)" : " (not readable now: " + secret.error().message() + ")");
}

void print_endpoints(const config::Config& c, std::ostream& out) {
  out << "endpoints (" << c.endpoints.size() << "):\n";
  int name_width = 0, kind_width = 0, model_width = 0;
  for (const auto& e : c.endpoints) {
    name_width = std::max(name_width, static_cast<int>(e.name.size()));
    kind_width = std::max(kind_width, static_cast<int>(config::kind_name(e.kind).size()));
    model_width = std::max(model_width, static_cast<int>(e.model.size()));
  }
  bool env_key = false;
  for (const auto& e : c.endpoints) {
    out << "  " << std::left << std::setw(name_width) << e.name << "  " << std::setw(kind_width)
        << config::kind_name(e.kind) << "  " << std::setw(model_width) << e.model << "  "
        << e.request_url() << "\n    key: " << describe_key(e.api_key) << "\n";
    env_key = env_key || e.api_key.source == config::SecretRef::Source::env;
  }
  if (c.judge) {
    const config::Endpoint& e = c.judge->endpoint;
    out << "judge: " << e.name << "  " << config::kind_name(e.kind) << "  " << e.model << "  "
        << e.request_url() << "\n    when: " << config::when_name(c.judge->when)
        << ", at most " << c.judge->max_per_run << " texts a run\n    key: "
        << describe_key(e.api_key) << "\n";
    env_key = env_key || e.api_key.source == config::SecretRef::Source::env;
  }
  if (env_key) {
    out << "  note: a key from the environment stays readable in /proc/PID/environ for as long "
           "as the daemon runs; under systemd use api_key_credential (LoadCredential=) or "
           "api_key_file\n";
  }
}

void print_probe_sets(const std::vector<probes::ProbeSet>& sets, std::ostream& out) {
  size_t total = 0;
  for (const auto& s : sets) total += s.probes.size();
  out << "probe sets (" << sets.size() << ", " << total << " probes):\n";
  for (const auto& s : sets) {
    Tally categories;
    Tally languages;
    int controls = 0;
    for (const auto& p : s.probes) {
      categories.add(p.category);
      languages.add(p.lang);
      controls += p.control ? 1 : 0;
    }
    out << "  " << s.name << ": " << s.probes.size() << " probes";
    if (controls > 0) out << " (" << controls << " control)";
    out << ", " << s.file.string() << "\n"
        << "    categories: " << categories.to_string() << "\n"
        << "    languages: " << languages.to_string() << "\n";
  }
}

// Why check loaded the rules from where it did: a minimal config falls back silently otherwise.
std::string_view rules_reason(RulesOrigin origin) {
  switch (origin) {
    case RulesOrigin::config_key: return "named by [classifier] rules";
    case RulesOrigin::beside_config:
      return "the rules folder beside the config ([classifier] rules is not set)";
    case RulesOrigin::installed:
      return "the installed rule packs ([classifier] rules is not set and no rules folder is "
             "beside the config)";
    case RulesOrigin::source_tree:
      return "the source tree's rule packs, none are installed ([classifier] rules is not set "
             "and no rules folder is beside the config)";
  }
  return "";
}

void print_rules(const analysis::RuleSet& rules, const std::filesystem::path& dir,
                 RulesOrigin origin, std::ostream& out) {
  out << "rules (" << rules.packs().size() << " packs, " << rules.rules().size()
      << " rules, classifier " << rules.version() << "): " << dir.string() << "\n"
      << "  from: " << rules_reason(origin) << "\n";
  for (const auto& pack : rules.packs()) {
    Tally votes;
    size_t count = 0;
    for (const auto& rule : rules.rules()) {
      if (rule.pack != pack) continue;
      ++count;
      votes.add(std::string(analysis::vote_name(rule.vote)));
    }
    out << "  " << pack << ": " << count << " rules (" << votes.to_string() << ")\n";
  }
}

void print_schedule(const config::Config& c, Time now, std::ostream& out) {
  out << "schedule (" << c.timezone << ", jitter " << format_duration(c.jitter)
      << ", run deadline " << format_duration(c.run_deadline) << "):\n";
  out << "  probes \"" << c.probe_schedule.text() << "\": next";
  Time t = now;
  for (int i = 0; i < 3; ++i) {
    t = c.probe_schedule.next_after(t);
    out << (i == 0 ? " " : ", ") << format_time(t);
  }
  out << "\n  report \"" << c.report_schedule.text()
      << "\": next " << format_time(c.report_schedule.next_after(now)) << "\n";
}

int run_check(const Context& ctx, const std::string& at) {
  Time now = SystemClock().now();
  if (!at.empty()) {
    auto t = parse_time(at);
    if (!t) {
      std::cerr << "--at: " << t.error().to_string() << "\n";
      return kExitInvalid;
    }
    now = *t;
  }
  auto setup = load_setup(ctx.config_path());
  if (!setup) {
    print_errors(setup.error());
    return kExitInvalid;
  }
  const config::Config& config = setup->config;
  const std::vector<probes::ProbeSet>& sets = setup->sets;
  std::ostream& out = std::cout;
  out << "config " << config.file.string() << ": ok\n"
      << "database: " << config.database.string() << "\n"
      << "reports: " << config.report_dir.string() << " (";
  for (size_t i = 0; i < config.report_formats.size(); ++i) {
    out << (i ? ", " : "") << config.report_formats[i];
  }
  out << ")\n";
  if (config.metrics_listen) out << "metrics: http://" << *config.metrics_listen << "/metrics\n";
  print_endpoints(config, out);
  print_probe_sets(sets, out);
  print_rules(setup->rules, config.rules_dir, setup->rules_origin, out);
  print_schedule(config, now, out);
  return kExitOk;
}

}  // namespace

void register_check(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand(
      "check", "validate the config, its probe sets and rule packs; print a summary; exit 1 "
               "with every located error");
  auto at = std::make_shared<std::string>();
  cmd->add_option("--at", *at, "show the schedule's next times as from TIME (ISO 8601)")
      ->type_name("TIME");
  cmd->callback([&ctx, at] { ctx.exit_code = run_check(ctx, *at); });
}

}  // namespace dw::cli
