#include "drift_scenario.h"

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include <toml++/toml.h>

#include "demo/sim_process.h"

namespace dw::bench {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

int day_of(Time t) {
  return static_cast<int>(std::chrono::floor<std::chrono::days>(t - day_time(0)).count());
}

std::string quote(const fs::path& p) { return "'" + p.string() + "'"; }

Status write_config(const ScenarioSpec& spec, const std::string& base_url) {
  std::ofstream out(spec.work_dir / "driftwatch.toml");
  out << "[storage]\ndatabase = \"drift.db\"\n\n"
      << "[probes]\nsets = [" << json(fs::absolute(spec.probe_set).string()).dump() << "]\n"
      << "samples = 3\n\n"
      << "[classifier]\nrules = " << json(fs::absolute(spec.rules_dir).string()).dump() << "\n\n"
      << "[[endpoint]]\nname = \"sim\"\nkind = \"openai\"\n"
      << "base_url = " << json(base_url + "/v1").dump() << "\n"
      << "model = \"sim-chat\"\napi_key_env = \"DRIFTWATCH_BENCH_SIM_KEY\"\n"
      << "concurrency = 4\nretries = 0\ntimeout = \"20s\"\n";
  if (!out) return Error("cannot write " + (spec.work_dir / "driftwatch.toml").string());
  return {};
}

bool mentions(const store::Event& e, const std::string& probe) {
  if (e.probe_id == probe) return true;
  json ev = json::parse(e.evidence_json, nullptr, false);
  if (!ev.is_object() || !ev.contains("probes")) return false;
  for (const auto& p : ev["probes"]) {
    if (p == probe) return true;
  }
  return false;
}

int decided_day(const store::Event& e) {
  json ev = json::parse(e.evidence_json, nullptr, false);
  if (ev.is_object() && ev.contains("decided_at")) {
    if (auto t = parse_time(ev["decided_at"].get<std::string>())) return day_of(*t);
  }
  return day_of(e.detected_at);
}

void score(const ScenarioSpec& spec, Outcome& o) {
  for (const Shift& s : spec.shifts) {
    ShiftResult r{s, std::nullopt, std::nullopt};
    for (const store::Event& e : o.events) {
      if (e.type != s.type || !mentions(e, s.probe) || decided_day(e) < s.onset) continue;
      r.decided_day = decided_day(e);
      r.detected_day = day_of(e.detected_at);
      break;
    }
    o.shifts.push_back(r);
  }
  auto describe = [](const store::Event& e, const std::string& why) {
    return e.type + " " + (e.probe_id.empty() ? "(endpoint)" : e.probe_id) + " detected day " +
           std::to_string(day_of(e.detected_at)) + ": " + why;
  };
  for (const store::Event& e : o.events) {
    int day = day_of(e.detected_at);
    bool in_outage = day >= spec.outage.first && day < spec.outage.second;
    if (e.type == "endpoint_health") {
      if (in_outage) ++o.outage_health_events;
      else o.false_events.push_back(describe(e, "health outside the outage"));
      continue;
    }
    if (e.type == "model_change") continue;  // context, scripted
    if (in_outage) {
      o.false_events.push_back(describe(e, "censorship event during the outage"));
      continue;
    }
    for (const std::string& q : spec.quiet) {
      if (mentions(e, q)) o.false_events.push_back(describe(e, "on a stable probe"));
    }
    for (const Shift& s : spec.shifts) {
      if (mentions(e, s.probe) && day < s.onset) {
        o.false_events.push_back(describe(e, "before the shift"));
      }
    }
  }
}

// Moves the `from` and `to` of every table in `array` (rules, model changes) through `days`.
Status reschedule_tables(toml::array* array, const std::map<int, int>& days,
                         const fs::path& file) {
  if (array == nullptr) return {};
  for (toml::node& node : *array) {
    toml::table* table = node.as_table();
    if (table == nullptr) continue;
    for (const char* key : {"from", "to"}) {
      toml::value<int64_t>* day = table->get_as<int64_t>(key);
      if (day == nullptr) continue;
      auto to = days.find(static_cast<int>(day->get()));
      if (to == days.end()) {
        const auto& where = day->source().begin;
        return Error("scripted day " + std::to_string(day->get()) + " has no new day",
                     Location{file.string(), static_cast<int>(where.line),
                              static_cast<int>(where.column)});
      }
      *day = to->second;
    }
  }
  return {};
}

}  // namespace

ScenarioSpec benchmark_spec(const fs::path& source_dir, const fs::path& binary_dir,
                            const fs::path& work_dir) {
  ScenarioSpec spec;
  spec.sim_binary = binary_dir / "monitor/sim/driftwatch-sim";
  spec.driftwatch_binary = binary_dir / "monitor/cli/driftwatch";
  spec.scenario = source_dir / "bench/scenario-drift.toml";
  spec.probe_set = source_dir / "bench/drift-probes.toml";
  spec.rules_dir = source_dir / "config/rules";
  spec.work_dir = work_dir;
  spec.days = 30;
  spec.shifts = {{"canned-tiananmen", 10, "verdict_shift"},
                 {"canned-tank-man", 10, "verdict_shift"},
                 {"canned-tiananmen", 10, "canned_template"},
                 {"narrative-taiwan", 12, "narrative_shift"},
                 {"partial-xinjiang", 14, "verdict_shift"},
                 {"filter-hong-kong", 17, "verdict_shift"},
                 {"facts-scs-ruling", 20, "content_shift"}};
  spec.quiet = {"stable-jimmy-lai", "stable-security-law", "stable-death-toll-15",
                "control-capital", "control-boiling"};
  spec.outage = {24, 26};
  return spec;
}

Result<ScenarioSpec> rescheduled(const ScenarioSpec& spec, const std::map<int, int>& days,
                                 int total_days) {
  toml::table root;
  try {
    root = toml::parse_file(spec.scenario.string());
  } catch (const toml::parse_error& e) {
    return Error(std::string(e.description()), Location{spec.scenario.string(),
                                                         static_cast<int>(e.source().begin.line),
                                                         static_cast<int>(e.source().begin.column)});
  }
  for (const char* key : {"rule", "model"}) {
    if (Status s = reschedule_tables(root[key].as_array(), days, spec.scenario); !s) {
      return s.error();
    }
  }
  // Probe sets are named relative to the scenario file, which moves.
  if (toml::array* sets = root["probe_sets"].as_array()) {
    for (toml::node& set : *sets) {
      if (auto* name = set.as_string()) {
        *name = fs::absolute(spec.scenario.parent_path() / name->get()).string();
      }
    }
  }
  ScenarioSpec out = spec;
  out.scenario = spec.work_dir / "scenario-rescheduled.toml";
  std::ofstream file(out.scenario);
  file << "# " << spec.scenario.string() << " on a shorter calendar (bench/drift_scenario.h)\n"
       << root << "\n";
  if (!file) return Error("cannot write " + out.scenario.string());
  auto move = [&](int day) -> Result<int> {
    auto to = days.find(day);
    if (to == days.end()) return Error("day " + std::to_string(day) + " has no new day");
    return to->second;
  };
  for (Shift& shift : out.shifts) {
    auto onset = move(shift.onset);
    if (!onset) return onset.error();
    shift.onset = *onset;
  }
  if (spec.outage.first >= 0) {
    auto from = move(spec.outage.first), to = move(spec.outage.second);
    if (!from) return from.error();
    if (!to) return to.error();
    out.outage = {*from, *to};
  }
  out.days = total_days;
  return out;
}

Time day_time(int day) { return *parse_time("2026-01-01T06:00:00Z") + std::chrono::days(day); }

Result<Outcome> run_scenario(const ScenarioSpec& spec) {
  fs::path log = spec.work_dir / "runs.log";
  auto sim = demo::SimProcess::start(spec.sim_binary, {"--scenario", spec.scenario.string()},
                                     spec.work_dir / "sim.log");
  if (!sim) return sim.error();
  if (Status s = write_config(spec, (*sim)->base_url()); !s) return s.error();
  // The simulator takes any key; an openai endpoint is only asked when it has one.
  setenv("DRIFTWATCH_BENCH_SIM_KEY", "sk-bench-not-a-secret", 1);
  Outcome o;
  auto start = std::chrono::steady_clock::now();
  for (int day = 0; day < spec.days; ++day) {
    if (Status s = (*sim)->set_day(day); !s) return s.error();
    std::string cmd = (spec.launcher.empty() ? "" : spec.launcher + " ") +
                      quote(spec.driftwatch_binary) + " -c " +
                      quote(spec.work_dir / "driftwatch.toml") + " run --once --at " +
                      format_time(day_time(day)) + " >> " + quote(log) + " 2>&1";
    int rc = std::system(cmd.c_str());
    if (rc != 0) {
      return Error("day " + std::to_string(day) + ": driftwatch run --once failed (status " +
                   std::to_string(rc) + "); see " + log.string());
    }
    ++o.runs;
  }
  o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  auto store = store::Store::open((spec.work_dir / "drift.db").string());
  if (!store) return store.error();
  Status s = (*store)->for_each_event({}, [&](const store::Event& e) {
    o.events.push_back(e);
    return true;
  });
  if (!s) return s.error();
  score(spec, o);
  return o;
}

bool passed(const Outcome& o, int max_delay) {
  for (const ShiftResult& r : o.shifts) {
    if (!r.decided_day || r.delay() > max_delay) return false;
  }
  return o.false_events.empty() && o.outage_health_events >= 1;
}

void print(const Outcome& o, std::ostream& out) {
  out << "shift                      event             onset  detected_at  decided  delay\n";
  for (const ShiftResult& r : o.shifts) {
    char line[200];
    std::snprintf(line, sizeof line, "%-26s %-17s %5d  %11s  %7s  %5s\n", r.shift.probe.c_str(),
                  r.shift.type.c_str(), r.shift.onset,
                  r.detected_day ? std::to_string(*r.detected_day).c_str() : "-",
                  r.decided_day ? std::to_string(*r.decided_day).c_str() : "MISSED",
                  r.decided_day ? std::to_string(r.delay()).c_str() : "-");
    out << line;
  }
  out << "endpoint_health events in the outage: " << o.outage_health_events << "\n";
  out << "false events: " << o.false_events.size() << "\n";
  for (const auto& f : o.false_events) out << "  " << f << "\n";
  out << "all events (" << o.events.size() << "):\n";
  for (const auto& e : o.events) {
    out << "  " << e.type << " " << (e.probe_id.empty() ? "-" : e.probe_id) << " day "
        << day_of(e.detected_at) << " (decided day " << decided_day(e) << ") "
        << store::to_string(e.status) << (e.scope.empty() ? "" : " " + e.scope) << "\n";
  }
  out << o.runs << " runs in " << o.seconds << " s (" << (o.runs ? o.seconds / o.runs : 0)
      << " s a run, each a separate driftwatch process against driftwatch-sim over HTTP)\n";
}

}  // namespace dw::bench
