// `driftwatch demo`: the whole job on this machine, with no network and no keys. Starts the
// bundled simulator with the demo scenario on a free loopback port, points a config with
// several endpoints of different kinds at it, runs a simulated month (one run a day, each
// stored, classified and run through drift detection), writes the daily reports, and says
// what it found.
//
//   dw::demo::Options o = dw::demo::default_options(argv0_dir);
//   o.out = "driftwatch-demo";
//   auto result = dw::demo::run(o, [](std::string_view line) { std::cerr << line << '\n'; });
//   if (result) std::cout << result->newest_html.string() << '\n';
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "analysis/rules.h"
#include "common/error.h"
#include "common/time.h"
#include "config/config.h"
#include "demo/sim_process.h"
#include "probes/probe.h"
#include "store/store.h"
#include "transport/transport.h"

namespace dw::demo {

struct Options {
  std::filesystem::path out = "driftwatch-demo";  // config, database and reports go here
  std::filesystem::path sim_binary;   // driftwatch-sim
  std::filesystem::path scenario;     // config/demo-scenario.toml (it names the probe sets)
  std::filesystem::path probes_dir;   // the shipped probe sets (probes/*.toml)
  std::filesystem::path rules_dir;    // the shipped rule packs
  int days = 30;                      // simulated days, one run each
  int samples = 3;                    // samples per probe per endpoint per run
  Time start = *parse_time("2026-01-01T06:00:00Z");  // run_at of day 0
};

// The shipped files, looked for beside the driftwatch binary in self_dir (a build tree or an
// install prefix's bin/), then in the installed share/driftwatch, then in the source tree this
// binary was built from. Fields stay empty when nothing is found; run() then says what is
// missing.
Options default_options(const std::filesystem::path& self_dir);

struct EventLine {
  std::string type, endpoint, probe, scope, status;
  Time detected_at;
};

struct Outcome {
  long runs = 0;
  long samples = 0;
  long events = 0;  // every event stored at the end
  std::vector<EventLine> open_events;
  // Every incident at the end (report/incidents.h: the events that are one change), by
  // detected_at: its one-line description (describe(), sanitised, not escaped) and whether it
  // is still open.
  struct IncidentLine {
    std::string line;
    bool open = true;
  };
  std::vector<IncidentLine> incidents;
  std::vector<std::filesystem::path> reports;  // every file written, oldest day first
  std::filesystem::path newest_html;           // empty when html was not among the formats
  std::filesystem::path config;                // the config the demo wrote and used
  std::filesystem::path database;
};

// What a run of the demo needs, without its month: the simulator started on the demo scenario,
// the config that points the demo's endpoints at it (written in options.out, which is
// created; an earlier demo's database and reports there are removed), and what that config
// loads. For a caller that runs on its own: bench_history times whole runs in it. Fails with a
// located error when a shipped file is missing, the folder or config cannot be written, the
// simulator does not start, or the config, probe sets, rule packs or database do not load;
// the simulator is then stopped.
struct Setting {
  std::unique_ptr<SimProcess> sim;  // declared first: stopped after everything below is gone
  std::filesystem::path config_file;
  config::Config config;
  std::vector<probes::ProbeSet> sets;
  analysis::RuleSet rules;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<transport::Transport> transport;
};
Result<Setting> start(const Options& options);

// Runs the demo. progress receives one short line per simulated day. The folder out is
// created; a database and reports left there by an earlier demo are replaced. Fails with a
// located error when a shipped file is missing, the simulator does not start, or a run,
// detection or report fails; the simulator is stopped in every case.
Result<Outcome> run(const Options& options, const std::function<void(std::string_view)>& progress);

}  // namespace dw::demo
