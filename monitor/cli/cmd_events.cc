// driftwatch events [--json] [--since TIME] [--open] [--incidents]: the drift events in the
// database, or the incidents they group into (report/incidents.h).
#include <iomanip>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/commands.h"
#include "cli/setup.h"
#include "common/time.h"
#include "config/config.h"
#include "drift/detector.h"
#include "report/incidents.h"
#include "store/store.h"

namespace dw::cli {
namespace {

using nlohmann::json;

struct EventsArgs {
  bool as_json = false;
  bool only_open = false;
  bool incidents = false;
  std::string since;
};

json parse_object(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  return j.is_discarded() ? json::object() : j;
}

json to_json(const store::Event& e) {
  auto text_or_null = [](const std::string& s) { return s.empty() ? json() : json(s); };
  return {{"id", e.id},
          {"type", e.type},
          {"probe", text_or_null(e.probe_id)},
          {"probe_version", text_or_null(e.probe_version)},
          {"endpoint", text_or_null(e.endpoint)},
          {"scope", text_or_null(e.scope)},
          {"detected_at", format_time(e.detected_at)},
          {"status", std::string(store::to_string(e.status))},
          {"resolved_at", e.resolved_at ? json(format_time(*e.resolved_at)) : json()},
          {"before", parse_object(e.before_json)},
          {"after", parse_object(e.after_json)},
          {"evidence", parse_object(e.evidence_json)}};
}

// "answered 30/30 -> deflected 6/6", the largest verdict share on each side.
std::string verdict_change(const json& before, const json& after) {
  auto top = [](const json& side) -> std::string {
    if (!side.contains("verdicts") || !side["verdicts"].is_object()) return "";
    std::string best;
    long n = -1, total = 0;
    for (const auto& [k, v] : side["verdicts"].items()) {
      long c = v.get<long>();
      total += c;
      if (c > n) best = k, n = c;
    }
    return best + " " + std::to_string(n) + "/" + std::to_string(total);
  };
  std::string a = top(before), b = top(after);
  return a.empty() || b.empty() ? "" : a + " -> " + b;
}

// One line for a person: what moved and how sure.
std::string summary(const store::Event& e) {
  json before = parse_object(e.before_json), after = parse_object(e.after_json);
  json ev = parse_object(e.evidence_json);
  std::ostringstream out;
  if (e.type == drift::kEndpointHealth) {
    out << std::fixed << std::setprecision(0) << "errors "
        << 100 * before.value("error_share", 0.0) << "% -> " << 100 * after.value("error_share", 0.0)
        << "%";
  } else if (e.type == drift::kModelChange) {
    out << "new " << ev.value("new_models", json::array()).dump() << " "
        << ev.value("new_fingerprints", json::array()).dump();
  } else if (e.type == drift::kCannedTemplate) {
    // Model output: printed as a JSON string (C0 controls escaped; the rest of the line's by
    // escape_controls where it is printed).
    out << ev.value("probes", json::array()).size() << " probes: " << json(ev.value("text", "")).dump();
  } else {
    std::string measure = ev.value("measure", "");
    if (measure == "verdicts") {
      out << verdict_change(before, after);
    } else if (measure == "narrative") {
      out << "narrative " << before.value("narrative", 0L) << "/" << before.value("samples", 0L)
          << " -> " << after.value("narrative", 0L) << "/" << after.value("samples", 0L);
    } else {
      out << measure;
    }
  }
  if (ev.contains("q")) {
    out << std::setprecision(2) << std::scientific << "  q=" << ev["q"].get<double>()
        << std::fixed << " effect=" << ev.value("effect", 0.0);
  }
  return out.str();
}

// One line per incident: id, open or resolved, the incident's line and its events' ids.
int list_incidents(store::Store& store, const store::EventFilter& filter, bool as_json) {
  auto incidents = report::incidents_from_store(store, filter, filter.since);
  if (!incidents) {
    std::cerr << incidents.error().to_string() << "\n";
    return kExitRuntime;
  }
  for (const auto& i : *incidents) {
    if (as_json) {
      std::cout << report::incident_json(i).dump(-1, ' ', false, json::error_handler_t::replace)
                << "\n";
      continue;
    }
    std::string ids;
    for (int64_t id : i.event_ids) ids += (ids.empty() ? "" : ", ") + std::to_string(id);
    std::cout << std::left << std::setw(6) << i.id << std::setw(9)
              << (i.open ? "open" : "resolved") << report::describe(i) << " [events " << ids
              << "]\n";
  }
  if (!as_json && incidents->empty()) std::cout << "no incidents\n";
  return kExitOk;
}

int list_events(const Context& ctx, const EventsArgs& args) {
  store::EventFilter filter;
  filter.only_open = args.only_open;
  if (!args.since.empty()) {
    auto t = parse_time(args.since);
    if (!t) {
      std::cerr << "--since: " << t.error().message() << "\n";
      return kExitInvalid;
    }
    filter.since = *t;
  }
  auto config = load_config(ctx.config_path());
  if (!config) return config.error();
  auto store = open_store_readonly(*config);
  if (!store) return store.error();
  if (args.incidents) return list_incidents(**store, filter, args.as_json);
  long n = 0;
  Status s = (*store)->for_each_event(filter, [&](const store::Event& e) {
    ++n;
    if (args.as_json) {
      std::cout << to_json(e).dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
      return true;
    }
    std::cout << std::left << std::setw(6) << e.id << std::setw(17) << e.type << std::setw(9)
              << store::to_string(e.status) << format_time(e.detected_at) << "  "
              << std::setw(12) << (e.endpoint.empty() ? "-" : e.endpoint) << " "
              << std::setw(28) << (e.probe_id.empty() ? "-" : e.probe_id) << " "
              << std::setw(9) << (e.scope.empty() ? "-" : e.scope) << " "
              << escape_controls(summary(e)) << "\n";
    return true;
  });
  if (!s) {
    std::cerr << s.error().to_string() << "\n";
    return kExitRuntime;
  }
  if (!args.as_json && n == 0) std::cout << "no events\n";
  return kExitOk;
}

}  // namespace

void register_events(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand("events", "drift events: what changed, when, with evidence");
  auto args = std::make_shared<EventsArgs>();
  cmd->add_flag("--json", args->as_json, "one JSON object a line (for machines)");
  cmd->add_option("--since", args->since, "only events open at some point since TIME (ISO 8601)")
      ->type_name("TIME");
  cmd->add_flag("--open", args->only_open, "only events still open");
  cmd->add_flag("--incidents", args->incidents,
                "one line per incident: events that are one change (same endpoint and category "
                "or stock reply, same or adjacent runs); new = detected since --since");
  cmd->callback([&ctx, args] { ctx.exit_code = list_events(ctx, *args); });
}

}  // namespace dw::cli
