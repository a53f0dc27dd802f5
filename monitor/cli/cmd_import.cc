// driftwatch import FILE: historical samples as JSON Lines become stored, classified history
// (a baseline from earlier studies or other tools), then every event is recomputed.
//
// One object a line: "probe" (an id of the configured probe sets), "endpoint" (a configured
// endpoint), "at" (ISO 8601: when it was asked), optional "model", and the answer as "response"
// or the raw fields "http_status", "body", "finish_reason", "error" (as `classify` reads
// them); optional "prompt" (when it differs from the probe's current prompt the samples are
// stored as the version of that prompt, never compared with the current one), "lang",
// "system_fingerprint", "id" (ignored) and "run" (lines with the same "run" label, or without
// one the same "at", form one run). Every bad line is reported as FILE:LINE:COLUMN; if any is
// bad, or storing fails, nothing is kept.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <nlohmann/json.hpp>

#include "analysis/classifier.h"
#include "cli/commands.h"
#include "cli/setup.h"
#include "common/strings.h"
#include "common/time.h"
#include "drift/detector.h"
#include "input/json.h"
#include "input/lines.h"
#include "probes/expect.h"
#include "runner/runner.h"
#include "store/store.h"

namespace dw::cli {
namespace {

using nlohmann::json;

const std::vector<std::string> kKeys = {
    "probe", "endpoint", "at",  "model",  "response", "prompt", "lang", "http_status",
    "body",  "finish_reason", "error", "system_fingerprint", "id", "run"};

struct Line {
  int number = 0;
  const probes::Probe* probe = nullptr;
  std::string prompt;  // as asked
  std::string endpoint;
  Time at;
  std::string run;  // grouping label
  providers::Sample sample;
};

// Reads and checks every line; returns every error found.
Result<std::vector<Line>, Errors> read_lines(const std::string& file, const Setup& setup) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return Errors{
        Error(std::string("cannot read file: ") + std::strerror(errno), Location{file, 0, 0})};
  }
  std::map<std::string, const probes::Probe*> probes;
  std::vector<std::string> probe_ids, endpoint_names;
  for (const auto& set : setup.sets) {
    for (const auto& p : set.probes) probes[p.id] = &p, probe_ids.push_back(p.id);
  }
  for (const auto& e : setup.config.endpoints) endpoint_names.push_back(e.name);

  std::vector<Line> lines;
  Errors errors;
  std::string text;
  bool too_long = false;
  for (int number = 1; input::read_line(in, text, too_long); ++number) {
    auto fail = [&](std::string message, int column = 1) {
      errors.emplace_back(std::move(message), Location{file, number, column});
    };
    if (too_long) {
      fail("line longer than " + std::to_string(input::kMaxLineBytes >> 20) + " MiB");
      continue;
    }
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto parsed = input::parse_json(text);
    if (!parsed) {
      fail("invalid JSON: " + parsed.error().message,
           static_cast<int>(std::max<size_t>(parsed.error().column, 1)));
      continue;
    }
    json j = std::move(parsed).value();
    if (!j.is_object()) {
      fail("each line must be a JSON object");
      continue;
    }
    bool bad = false, misspelt = false;
    for (const auto& [key, value] : j.items()) {
      if (std::find(kKeys.begin(), kKeys.end(), key) != kKeys.end()) continue;
      auto near = closest_match(key, kKeys);
      fail("unknown key '" + key + "'" + (near ? "; did you mean '" + *near + "'?" : ""));
      bad = misspelt = true;
    }
    auto str = [&](const char* key, bool required) -> std::optional<std::string> {
      if (!j.contains(key) || j[key].is_null()) {
        if (required) fail(std::string("missing required key '") + key + "'"), bad = true;
        return std::nullopt;
      }
      if (!j[key].is_string()) {
        fail(std::string("'") + key + "' must be a string, not " + j[key].type_name());
        bad = true;
        return std::nullopt;
      }
      return j[key].get<std::string>();
    };
    Line line;
    line.number = number;
    auto probe = str("probe", true), endpoint = str("endpoint", true), at = str("at", true);
    auto model = str("model", false), response = str("response", false);
    auto prompt = str("prompt", false), body = str("body", false);
    auto finish = str("finish_reason", false), error = str("error", false);
    auto fingerprint = str("system_fingerprint", false);
    if (probe && !probes.count(*probe)) {
      auto near = closest_match(*probe, probe_ids);
      fail("unknown probe '" + *probe + "' (not in the configured probe sets)" +
           (near ? "; did you mean '" + *near + "'?" : ""));
      bad = true;
    }
    if (endpoint && std::find(endpoint_names.begin(), endpoint_names.end(), *endpoint) ==
                        endpoint_names.end()) {
      auto near = closest_match(*endpoint, endpoint_names);
      fail("unknown endpoint '" + *endpoint + "' (not in the config)" +
           (near ? "; did you mean '" + *near + "'?" : ""));
      bad = true;
    }
    if (at) {
      if (auto t = parse_time(*at)) {
        line.at = *t;
      } else {
        fail("'at': " + t.error().message());
        bad = true;
      }
    }
    if (j.contains("http_status") &&
        (!j["http_status"].is_number_integer() || j["http_status"].get<int64_t>() < 0 ||
         j["http_status"].get<int64_t>() > 999)) {
      // An integer past int would wrap: 4294967496 read as 200, a success.
      fail(j["http_status"].is_number_integer() ? "'http_status' must be from 0 to 999"
                                                : "'http_status' must be an integer");
      bad = true;
    }
    bool has_status = j.contains("http_status") && j["http_status"].is_number_integer() &&
                      j["http_status"].get<int64_t>() >= 0 && j["http_status"].get<int64_t>() <= 999;
    // Only when no answer field is there at all: a wrongly typed or misspelt one was reported.
    auto present = [&](const char* key) { return j.contains(key) && !j[key].is_null(); };
    if (!present("response") && !present("error") && !present("http_status") && !misspelt) {
      fail("a sample needs 'response', or the raw fields 'http_status' / 'error'");
      bad = true;
    }
    if (bad) continue;
    line.probe = probes[*probe];
    line.prompt = prompt.value_or(line.probe->prompt);
    line.endpoint = *endpoint;
    line.run = j.contains("run") ? j["run"].dump() : *at;
    providers::Sample& s = line.sample;
    s.text = response.value_or("");
    s.http_status = has_status ? j["http_status"].get<int>() : response ? 200 : 0;
    s.finish_reason = finish.value_or("");
    s.error = error.value_or("");
    s.error_body = body.value_or("");
    s.model = model.value_or("");
    s.system_fingerprint = fingerprint.value_or("");
    lines.push_back(std::move(line));
  }
  if (!errors.empty()) return errors;
  if (lines.empty()) return Errors{Error("no samples in the file", Location{file, 0, 0})};
  return lines;
}

// Stores the lines run by run (oldest first) and classifies them; inside the caller's
// transaction.
Status store_lines(store::Store& store, const Setup& setup, std::vector<Line>& lines) {
  std::map<std::string, probes::Probe> versions;  // "id\nversion" -> the probe as asked
  for (const Line& l : lines) {
    probes::Probe p = *l.probe;
    p.prompt = l.prompt;
    p.version = probes::prompt_version(l.prompt);
    versions.emplace(p.id + "\n" + p.version, std::move(p));
  }
  std::vector<probes::Probe> all;
  for (const auto& [key, p] : versions) all.push_back(p);
  if (Status s = store.upsert_probes(all); !s) return s;
  for (const auto& e : setup.config.endpoints) {
    if (Status s = store.upsert_endpoint(e.name, config::kind_name(e.kind), e.base_url, e.model); !s)
      return s;
  }
  std::map<std::string, Time> run_at;  // a run stands at its earliest line
  for (const Line& l : lines) {
    auto [it, fresh] = run_at.emplace(l.run, l.at);
    if (!fresh) it->second = std::min(it->second, l.at);
  }
  std::stable_sort(lines.begin(), lines.end(), [&](const Line& a, const Line& b) {
    return std::pair(run_at[a.run], a.run) < std::pair(run_at[b.run], b.run);
  });
  std::map<std::string, probes::ExpectMatcher> expects;
  for (size_t i = 0; i < lines.size();) {
    auto run = store.begin_run(run_at[lines[i].run], run_at[lines[i].run]);
    if (!run) return run.error();
    std::map<std::string, int> seq;
    size_t end = i;
    for (; end < lines.size() && lines[end].run == lines[i].run; ++end) {
      const Line& l = lines[end];
      std::string version = probes::prompt_version(l.prompt);
      int n = ++seq[l.endpoint + "\n" + l.probe->id + "\n" + version];
      store::SampleKey key{*run, l.probe->id, version, l.endpoint, n, l.sample.model, l.at};
      auto id = store.add_sample(key, l.sample);
      if (!id) return Error("line " + std::to_string(l.number) + ": " + id.error().message());
      auto ex = expects.find(l.probe->id);
      if (ex == expects.end() && !l.probe->expect.empty()) {
        auto compiled = probes::ExpectMatcher::create(*l.probe);
        if (compiled) ex = expects.emplace(l.probe->id, std::move(*compiled)).first;
      }
      analysis::ClassifyInput in = analysis::from_sample(l.sample, l.prompt);
      in.lang = l.probe->lang;
      auto c = analysis::classify(setup.rules, in, ex == expects.end() ? nullptr : &ex->second);
      store::Classification stored = runner::to_stored(c, setup.rules);
      store::Explanation why = runner::explanation_of(c);
      if (Status s = store.set_classification(*id, stored, &why); !s) return s;
    }
    if (Status s = store.finish_run(*run, run_at[lines[i].run], store::RunStatus::complete); !s)
      return s;
    i = end;
  }
  return store.flush();
}

int import_file(const Context& ctx, const std::string& file) {
  auto setup = load_setup(ctx.config_path());
  if (!setup) {
    print_errors(setup.error());
    return kExitInvalid;
  }
  auto lines = read_lines(file, *setup);
  if (!lines) {
    print_errors(lines.error());
    // File-level errors (unreadable, empty) carry no line number; line errors are counted.
    std::set<int> bad_lines;
    for (const Error& e : lines.error()) {
      if (e.where().line > 0) bad_lines.insert(e.where().line);
    }
    size_t bad = bad_lines.size();
    std::cerr << "nothing imported";
    if (bad > 0) std::cerr << ": " << bad << (bad == 1 ? " bad line" : " bad lines");
    std::cerr << "\n";
    return kExitInvalid;
  }
  auto store = open_store(setup->config);
  if (!store) return store.error();
  auto tx = (*store)->transaction();
  if (!tx) {
    std::cerr << tx.error().to_string() << "\n";
    return kExitRuntime;
  }
  Status s = store_lines(**store, *setup, *lines);
  Result<drift::Summary> events = s ? drift::recompute_all(**store, drift::options_from(setup->config),
                                                          drift::Atomicity::callers_transaction)
                                    : Result<drift::Summary>(s.error());
  if (events) s = (*tx)->commit();
  if (!events || !s) {
    std::cerr << file << ": " << (events ? s.error() : events.error()).to_string()
              << "; nothing imported\n";
    return kExitRuntime;
  }
  std::set<std::string> runs;
  for (const Line& l : *lines) runs.insert(l.run);
  std::cout << "imported " << lines->size() << " samples in " << runs.size() << " runs; events "
            << "recomputed: " << events->opened << " opened, " << events->resolved
            << " resolved\n";
  return kExitOk;
}

}  // namespace

void register_import(CLI::App& app, Context& ctx) {
  CLI::App* cmd = app.add_subcommand(
      "import", "store historical samples (JSON Lines), classify them, recompute the events");
  auto file = std::make_shared<std::string>();
  cmd->add_option("FILE", *file, "JSON Lines: probe, endpoint, model, at, response (or raw fields)")
      ->required();
  cmd->callback([&ctx, file] { ctx.exit_code = import_file(ctx, *file); });
}

}  // namespace dw::cli
