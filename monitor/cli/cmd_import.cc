// driftwatch import FILE: historical samples as JSON Lines become stored, classified history
// (a baseline from earlier studies or other tools), then every event is recomputed.
//
// One object a line: "probe" (an id of the configured probe sets), "endpoint" (a configured
// endpoint), "at" (ISO 8601: when it was asked), optional "model", and the answer as "response"
// or the raw fields "http_status", "body", "finish_reason", "error" (as `classify` reads
// them); optional "prompt" (when it differs from the probe's current prompt the samples are
// stored as the version of that prompt, never compared with the current one), "lang",
// "system_fingerprint", "id" and "verdict" (both ignored: `export` writes them, and import
// classifies anew) and "run" (lines with the same "run" label, or without
// one the same "at", form one run). Every bad line is reported as FILE:LINE:COLUMN; if any is
// bad, or storing fails, nothing is kept.
//
// The file is read twice and never held whole: the first reading checks every line (printing
// each error as it is found) and keeps only what creating the runs needs (each run's earliest
// time and line count, each prompt version); the second, only when every line was good, stores
// and classifies each line as it is read, inside one transaction. Memory therefore grows with
// the number of runs and prompt versions, not of lines. A pipe (a FIFO, <(zcat ...)), which
// cannot be read twice, is copied to a temporary file by the first reading (input::TwoPassFile).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

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
    "body",  "finish_reason", "error", "system_fingerprint", "id", "run", "verdict"};

struct Line {
  const probes::Probe* probe = nullptr;
  std::string prompt;   // as asked
  std::string version;  // of prompt
  std::string endpoint;
  Time at;
  std::string run;  // grouping label
  providers::Sample sample;
};

enum class Checked { blank, good, bad };

// Checks lines against the configured probe sets and endpoints.
class LineChecker {
 public:
  LineChecker(std::string file, const Setup& setup) : file_(std::move(file)) {
    for (const auto& set : setup.sets) {
      for (const auto& p : set.probes) probes_[p.id] = &p, probe_ids_.push_back(p.id);
    }
    for (const auto& e : setup.config.endpoints) endpoint_names_.push_back(e.name);
  }

  // Fills line from text, line `number` of the file (too_long: as input::read_line says). A
  // bad line appends every error it has, located, to errors.
  Checked check(const std::string& text, bool too_long, int number, Line& line,
                Errors& errors) const;

 private:
  std::string file_;
  std::map<std::string, const probes::Probe*> probes_;
  std::vector<std::string> probe_ids_, endpoint_names_;
};

Checked LineChecker::check(const std::string& text, bool too_long, int number, Line& line,
                           Errors& errors) const {
  auto fail = [&](std::string message, int column = 1) {
    errors.emplace_back(std::move(message), Location{file_, number, column});
  };
  // Lines are counted in an int, as every location is (common/error.h): the last one it holds
  // ends the file's first reading.
  if (number == std::numeric_limits<int>::max()) {
    fail("more than " + std::to_string(number - 1) + " lines: import the file in parts");
    return Checked::bad;
  }
  if (too_long) {
    fail("line longer than " + std::to_string(input::kMaxLineBytes >> 20) + " MiB");
    return Checked::bad;
  }
  if (text.find_first_not_of(" \t\r") == std::string::npos) return Checked::blank;
  auto parsed = input::parse_json(text);
  if (!parsed) {
    fail("invalid JSON: " + parsed.error().message,
         static_cast<int>(std::max<size_t>(parsed.error().column, 1)));
    return Checked::bad;
  }
  json j = std::move(parsed).value();
  if (!j.is_object()) {
    fail("each line must be a JSON object");
    return Checked::bad;
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
  auto probe = str("probe", true), endpoint = str("endpoint", true), at = str("at", true);
  auto model = str("model", false), response = str("response", false);
  auto prompt = str("prompt", false), body = str("body", false);
  auto finish = str("finish_reason", false), error = str("error", false);
  auto fingerprint = str("system_fingerprint", false);
  auto known = probe ? probes_.find(*probe) : probes_.end();
  if (probe && known == probes_.end()) {
    auto near = closest_match(*probe, probe_ids_);
    fail("unknown probe '" + *probe + "' (not in the configured probe sets)" +
         (near ? "; did you mean '" + *near + "'?" : ""));
    bad = true;
  }
  if (endpoint && std::find(endpoint_names_.begin(), endpoint_names_.end(), *endpoint) ==
                      endpoint_names_.end()) {
    auto near = closest_match(*endpoint, endpoint_names_);
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
  if (bad) return Checked::bad;
  line.probe = known->second;
  line.prompt = prompt.value_or(line.probe->prompt);
  line.version = prompt ? probes::prompt_version(*prompt) : line.probe->version;
  line.endpoint = *endpoint;
  line.run = j.contains("run") ? j["run"].dump() : *at;
  providers::Sample& s = line.sample;
  s = providers::Sample{};
  s.text = response.value_or("");
  s.http_status = has_status ? j["http_status"].get<int>() : response ? 200 : 0;
  s.finish_reason = finish.value_or("");
  s.error = error.value_or("");
  s.error_body = body.value_or("");
  s.model = model.value_or("");
  s.system_fingerprint = fingerprint.value_or("");
  return Checked::good;
}

// "checked 120000 lines", "imported 1200/4000 samples" on stderr, redrawn at most ten times a
// second, only on a terminal; an error printed meanwhile clears it first.
class Progress {
 public:
  explicit Progress(bool enabled) : enabled_(enabled) {}
  void update(const char* what, long done, long total = 0) {
    if (!enabled_) return;
    auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    if (total > 0) std::fprintf(stderr, "\r%s %ld/%ld\x1b[K", what, done, total);
    else std::fprintf(stderr, "\r%s %ld\x1b[K", what, done);
    drawn_ = true;
  }
  void say(const char* text) {
    if (!enabled_) return;
    std::fprintf(stderr, "\r%s\x1b[K", text);
    drawn_ = true;
  }
  void print(const Error& e) {
    clear();
    std::fprintf(stderr, "%s\n", e.to_string().c_str());
  }
  void clear() {
    if (drawn_) std::fputs("\r\x1b[K", stderr);
    drawn_ = false;
  }

 private:
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_{};
};

// What the first reading learns, for the second.
struct Plan {
  struct Run {
    Time at;                // its earliest line's: a run stands there
    int64_t lines = 0;      // in the file
    int64_t remaining = 0;  // not yet stored
    int64_t id = 0;
  };
  std::map<std::string, Run> runs;                // by grouping label
  std::map<std::string, probes::Probe> versions;  // "id\nversion" -> the probe as asked
  int64_t samples = 0;
  int64_t bad_lines = 0;
};

// The first reading: checks every line, printing each error as it is found.
Plan check_file(input::TwoPassFile& source, const LineChecker& checker, Progress& progress) {
  Plan plan;
  Line line;
  Errors errors;
  std::string text;
  bool too_long = false;
  for (int number = 1; source.next(text, too_long); ++number) {
    errors.clear();
    Checked checked = checker.check(text, too_long, number, line, errors);
    progress.update("checked lines:", number);
    if (checked == Checked::blank) continue;
    if (checked == Checked::bad) {
      for (const Error& e : errors) progress.print(e);
      ++plan.bad_lines;
      if (number == std::numeric_limits<int>::max()) break;
      continue;
    }
    ++plan.samples;
    auto [run, fresh] = plan.runs.try_emplace(line.run, Plan::Run{line.at});
    if (!fresh) run->second.at = std::min(run->second.at, line.at);
    ++run->second.lines;
    std::string key = line.probe->id + "\n" + line.version;
    if (!plan.versions.contains(key)) {
      probes::Probe p = *line.probe;
      p.prompt = line.prompt;
      p.version = line.version;
      plan.versions.emplace(std::move(key), std::move(p));
    }
  }
  progress.clear();
  return plan;
}

// The second reading: stores and classifies each line as it is read; inside the caller's
// transaction. A line that no longer matches the first reading fails it.
Status store_file(store::Store& store, const Setup& setup, const std::string& file,
                  input::TwoPassFile& source, const LineChecker& checker, Plan& plan, Progress& progress) {
  std::vector<probes::Probe> versions;
  for (const auto& [key, p] : plan.versions) versions.push_back(p);
  if (Status s = store.upsert_probes(versions); !s) return s;
  for (const auto& e : setup.config.endpoints) {
    if (Status s = store.upsert_endpoint(e.name, config::kind_name(e.kind), e.base_url, e.model); !s)
      return s;
  }
  // Every run is created before any sample, oldest first: run ids then follow time, as they do
  // for live runs, and detection breaks ties of run_at by id.
  std::vector<std::pair<const std::string, Plan::Run>*> order;
  for (auto& run : plan.runs) order.push_back(&run);
  std::sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
    return std::tie(a->second.at, a->first) < std::tie(b->second.at, b->first);
  });
  for (auto* run : order) {
    auto id = store.begin_run(run->second.at, run->second.at);
    if (!id) return id.error();
    run->second.id = *id;
    run->second.remaining = run->second.lines;
  }
  if (Status s = source.rewind(); !s) return s;

  std::map<std::string, analysis::PromptFeatures> features;  // by "id\nversion"
  std::map<std::string, probes::ExpectMatcher> expects;      // by probe id
  std::map<int64_t, std::map<std::string, int>> seqs;  // of runs not yet stored whole
  analysis::ClassifyScratch scratch;
  auto changed = [&](const Error& e) {
    return Error("the file changed while it was imported: " + e.message(), e.where());
  };
  Line l;
  Errors errors;
  std::string text;
  bool too_long = false;
  int64_t stored = 0;
  for (int number = 1; source.next(text, too_long); ++number) {
    errors.clear();
    Checked checked = checker.check(text, too_long, number, l, errors);
    if (checked == Checked::blank) continue;
    if (checked == Checked::bad) return changed(errors.front());
    std::string key = l.probe->id + "\n" + l.version;
    auto run = plan.runs.find(l.run);
    if (run == plan.runs.end() || run->second.remaining == 0 || !plan.versions.contains(key)) {
      return changed(Error("this line was not in the file when it was checked",
                           Location{file, number, 1}));
    }
    Plan::Run& r = run->second;
    int n = ++seqs[r.id][l.endpoint + "\n" + key];
    store::SampleKey sample_key{r.id, l.probe->id, l.version, l.endpoint, n, l.sample.model, l.at};
    auto ex = expects.find(l.probe->id);
    if (ex == expects.end() && !l.probe->expect.empty()) {
      auto compiled = probes::ExpectMatcher::create(*l.probe);
      if (compiled) ex = expects.emplace(l.probe->id, std::move(*compiled)).first;
    }
    auto prompt = features.try_emplace(key, setup.rules, l.prompt).first;
    analysis::ClassifyInput in = analysis::from_sample(l.sample, l.prompt);
    in.lang = l.probe->lang;
    auto c = analysis::classify(setup.rules, in, prompt->second,
                                ex == expects.end() ? nullptr : &ex->second, &scratch);
    store::Classification verdict = runner::to_stored(c, setup.rules);
    store::Explanation why = runner::explanation_of(c);
    auto id = store.add_sample(sample_key, l.sample, &verdict, &why);
    if (!id) return Error("line " + std::to_string(number) + ": " + id.error().message());
    if (--r.remaining == 0) {
      seqs.erase(r.id);
      if (Status s = store.finish_run(r.id, r.at, store::RunStatus::complete); !s) return s;
    }
    progress.update("imported samples:", ++stored, plan.samples);
  }
  progress.clear();
  if (stored != plan.samples || !source.unchanged()) {
    return Error("the file changed while it was imported", Location{file, 0, 0});
  }
  return store.flush();
}

int import_file(const Context& ctx, const std::string& file) {
  auto setup = load_setup(ctx.config_path());
  if (!setup) {
    print_errors(setup.error());
    return kExitInvalid;
  }
  auto refuse = [](const Error& e) {
    std::cerr << e.to_string() << "\nnothing imported\n";
    return kExitInvalid;
  };
  auto source = input::TwoPassFile::open(file);
  if (!source) return refuse(source.error());
  LineChecker checker(file, *setup);
  Progress progress(isatty(STDERR_FILENO) == 1);
  Plan plan = check_file(**source, checker, progress);
  if (plan.bad_lines > 0) {
    std::cerr << "nothing imported: " << plan.bad_lines
              << (plan.bad_lines == 1 ? " bad line" : " bad lines") << "\n";
    return kExitInvalid;
  }
  if (plan.samples == 0) return refuse(Error("no samples in the file", Location{file, 0, 0}));

  auto store = open_store(setup->config);
  if (!store) return store.error();
  auto tx = (*store)->transaction();
  if (!tx) {
    std::cerr << tx.error().to_string() << "\n";
    return kExitRuntime;
  }
  Status s = store_file(**store, *setup, file, **source, checker, plan, progress);
  if (s) progress.say("recomputing the events...");
  Result<drift::Summary> events = s ? drift::recompute_all(**store, drift::options_from(setup->config),
                                                          drift::Atomicity::callers_transaction)
                                    : Result<drift::Summary>(s.error());
  if (events) s = (*tx)->commit();
  progress.clear();
  if (!events || !s) {
    const Error& e = events ? s.error() : events.error();
    std::cerr << (e.where().file == file ? "" : file + ": ") << e.to_string()
              << "; nothing imported\n";
    return kExitRuntime;
  }
  std::cout << "imported " << plan.samples << " samples in " << plan.runs.size()
            << " runs; events recomputed: " << events->opened << " opened, " << events->resolved
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
