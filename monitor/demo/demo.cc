#include "demo/demo.h"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <optional>

#include "analysis/rules.h"
#include "common/install_paths.h"
#include "config/config.h"
#include "demo/sim_process.h"
#include "drift/detector.h"
#include "probes/probe.h"
#include "report/incidents.h"
#include "report/report.h"
#include "runner/runner.h"
#include "store/store.h"
#include "transport/transport.h"

namespace dw::demo {
namespace {

namespace fs = std::filesystem;

// The endpoints the demo asks: one of each wire format the simulator speaks, so the month
// exercises every provider path. The scenario's rules pick each by its model name and tell
// each its own story (config/demo-scenario.toml, THIS MONTH): a hosted DeepSeek with canned
// deflections, the state narrative and an input filter; a local Qwen behind Ollama with partial
// refusals, a stock reply and an outage; a Claude whose new snapshot rewords the controls too
// (a broad change).
struct DemoEndpoint {
  const char* name;
  const char* kind;
  const char* model;
  const char* path;  // appended to the simulator's base URL
};
constexpr DemoEndpoint kEndpoints[] = {
    {"deepseek-sim", "openai", "deepseek-chat", "/v1"},
    {"claude-sim", "anthropic", "claude-sonnet-4-5", ""},
    {"qwen-sim", "ollama", "qwen2.5:7b", ""},
};
constexpr const char* kSimKey = "driftwatch-demo-key";  // a loopback simulator's, not a secret

std::optional<fs::path> first_existing(const std::vector<fs::path>& candidates) {
  for (const auto& c : candidates) {
    std::error_code ec;
    if (!c.empty() && fs::exists(c, ec)) return fs::weakly_canonical(c, ec);
  }
  return std::nullopt;
}

std::string toml_string(const fs::path& p) {
  std::string out = "\"";
  for (char c : p.string()) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

Result<fs::path> write_config(const Options& o, const SimProcess& sim) {
  fs::path key = o.out / "sim.key";
  std::ofstream(key) << kSimKey << "\n";
  fs::path file = o.out / "driftwatch.toml";
  std::ofstream out(file);
  out << "# Written by `driftwatch demo`: the simulated endpoints of this demo run.\n"
      << "[storage]\ndatabase = \"driftwatch.db\"\n\n[probes]\nsets = ["
      << toml_string(o.probes_dir / "china-sensitive.toml") << ", "
      << toml_string(o.probes_dir / "us-politics.toml") << ", "
      << toml_string(o.probes_dir / "controls.toml") << "]\nsamples = " << o.samples << "\n\n"
      << "[report]\ndir = \"reports\"\nformats = [\"md\", \"html\", \"json\"]\n\n"
      << "[classifier]\nrules = " << toml_string(o.rules_dir) << "\n";
  for (const auto& e : kEndpoints) {
    out << "\n[[endpoint]]\nname = \"" << e.name << "\"\nkind = \"" << e.kind
        << "\"\nbase_url = \"" << sim.base_url() << e.path << "\"\nmodel = \"" << e.model
        << "\"\napi_key_file = \"sim.key\"\nconcurrency = 8\nretries = 0\ntimeout = \"10s\"\n"
        // Loopback needs no compression, and brotli-compressing every answer would cost the
        // simulator half the demo's CPU.
        << "headers = { \"Accept-Encoding\" = \"identity\" }\n";
  }
  out.close();
  if (!out) return Error("cannot write the demo config", Location{file.string()});
  return file;
}

Error joined(const Errors& errors) {
  std::string text;
  for (const auto& e : errors) text += (text.empty() ? "" : "\n") + e.to_string();
  return Error(text);
}

Status check_shipped(const Options& o) {
  struct Need {
    const fs::path& path;
    const char* what;
  };
  for (const Need& n : {Need{o.sim_binary, "driftwatch-sim"}, Need{o.scenario, "the demo scenario"},
                        Need{o.probes_dir, "the probe sets"}, Need{o.rules_dir, "the rule packs"}}) {
    std::error_code ec;
    if (n.path.empty() || !fs::exists(n.path, ec))
      return Error(std::string("cannot find ") + n.what +
                   (n.path.empty() ? "" : " at " + n.path.string()) +
                   "; build the whole project or install it");
  }
  return {};
}

// Removes what an earlier demo left in out, so the month starts from an empty history.
void clear_previous(const fs::path& out) {
  std::error_code ec;
  for (const char* name : {"driftwatch.db", "driftwatch.db-wal", "driftwatch.db-shm",
                           "driftwatch.db-runlock", "sim.log"})
    fs::remove(out / name, ec);
  fs::remove_all(out / "reports", ec);
}

}  // namespace

Options default_options(const fs::path& self_dir) {
  Options o;
  fs::path source = source_dir();
  fs::path share = installed_share_dir();
  fs::path prefix_share = self_dir.parent_path() / "share" / "driftwatch";
  o.sim_binary = first_existing({self_dir / "driftwatch-sim", self_dir.parent_path() / "sim" / "driftwatch-sim",
                                 installed_bin_dir() / "driftwatch-sim"})
                     .value_or(fs::path());
  o.scenario = first_existing({prefix_share / "config" / "demo-scenario.toml",
                               share / "config" / "demo-scenario.toml",
                               source / "config" / "demo-scenario.toml"})
                   .value_or(fs::path());
  o.probes_dir = first_existing({prefix_share / "probes", share / "probes", source / "probes"})
                     .value_or(fs::path());
  o.rules_dir = first_existing({prefix_share / "rules", share / "rules", source / "config" / "rules"})
                    .value_or(fs::path());
  return o;
}

Result<Setting> start(const Options& o) {
  if (auto s = check_shipped(o); !s) return s.error();
  std::error_code ec;
  fs::create_directories(o.out, ec);
  if (ec) return Error("cannot create the demo folder: " + ec.message(), Location{o.out.string()});
  clear_previous(o.out);

  auto sim = SimProcess::start(o.sim_binary, {"--scenario", o.scenario.string(), "--api-key", kSimKey},
                               o.out / "sim.log");
  if (!sim) return sim.error();
  auto config_file = write_config(o, **sim);
  if (!config_file) return config_file.error();
  auto config = config::load(*config_file);
  if (!config) return joined(config.error());
  auto sets = probes::load_sets(config->probe_sets);
  if (!sets) return joined(sets.error());
  auto rules = analysis::load_rules(config->rules_dir);
  if (!rules) return joined(rules.error());
  auto store = store::Store::open(config->database.string());
  if (!store) return store.error();
  auto transport = transport::Transport::create();
  if (!transport) return transport.error();
  return Setting{std::move(*sim),   *config_file,       std::move(*config),   std::move(*sets),
                 std::move(*rules), std::move(*store), std::move(*transport)};
}

Result<Outcome> run(const Options& o, const std::function<void(std::string_view)>& progress) {
  auto setting = start(o);
  if (!setting) return setting.error();
  auto& [sim, config_file, config, sets, rules, store, transport] = *setting;

  ManualClock clock(o.start);
  runner::Runner runner(config, sets, *store, *transport, clock, &rules);
  drift::Options detection = drift::options_from(config);
  Outcome outcome;
  outcome.config = config_file;
  outcome.database = config.database;
  for (int day = 0; day < o.days; ++day) {
    if (auto s = sim->set_day(day); !s) return s.error();
    Time run_at = o.start + std::chrono::days(day);
    clock.set(run_at);
    auto summary = runner.run(run_at);
    if (!summary) return summary.error();
    auto detected = drift::detect_run(*store, summary->run_id, detection);
    if (!detected) return detected.error();
    // The daily report, written as the daemon would at 06:30.
    report::ReportOptions ro;
    ro.until = run_at + std::chrono::minutes(30);
    ro.since = ro.until - std::chrono::hours(24);
    ro.dir = config.report_dir;
    ro.formats = config.report_formats;
    auto files = report::write_reports(*store, ro);
    if (!files) return files.error();
    for (const auto& f : files->paths) {
      outcome.reports.push_back(f);
      if (f.extension() == ".html") outcome.newest_html = f;
    }
    ++outcome.runs;
    outcome.samples += summary->total;
    if (progress)
      progress("day " + std::to_string(day + 1) + "/" + std::to_string(o.days) + " " +
               format_date(run_at) + ": " + std::to_string(summary->total) + " samples, " +
               std::to_string(detected->opened) + " events opened, " +
               std::to_string(detected->resolved) + " resolved");
  }
  auto listed = store->for_each_event({}, [&](const store::Event& e) {
    ++outcome.events;
    if (e.status == store::EventStatus::open)
      outcome.open_events.push_back({e.type, e.endpoint, e.probe_id, e.scope, "open", e.detected_at});
    return true;
  });
  if (!listed) return listed.error();
  auto incidents = report::incidents_from_store(*store, {});
  if (!incidents) return incidents.error();
  for (const auto& i : *incidents) outcome.incidents.push_back({report::describe(i), i.open});
  return outcome;
}

}  // namespace dw::demo
