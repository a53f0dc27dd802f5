// The decisions of one run (internal to the drift module): given the history up to and
// including a run and the events known at that point, which events open and which resolve.
// detect_run and recompute_all both drive this, which is what makes them agree.
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "drift/detector.h"
#include "drift/history.h"
#include "drift/measures.h"

namespace dw::drift {

// The answered signatures of one pair in one run, read from the store when history no longer
// holds them (a similarity event's baseline, checked long after it opened).
using SignatureLoader =
    std::function<Result<std::vector<Signature>>(const PairKey& pair, int64_t run_id)>;

// The normalised text of the stored response with this hash: a new canned template's words,
// read only for its evidence (history keeps hashes, not texts).
using TextLoader = std::function<Result<std::string>(const std::string& response_hash)>;

struct Decisions {
  std::vector<size_t> inserted;  // indices into the events vector of new events (id 0)
  std::vector<size_t> updated;   // indices of known events that changed
  long pairs_tested = 0;
};

// The earliest run time the decisions of a run at run_at may look at: 2 x baseline_window
// back, or further to the detection of an open event while new_normal_runs counts its runs.
Time horizon(Time run_at, const std::vector<store::Event>& events, const Options& options);

// How far back the decisions of a run read older runs, from `recent`: a history holding at
// least the run and the runs of the texts' window before it (with their texts), and the events
// as decide() takes them. A pair's recent windows start at one of its last recent_runs eligible
// cells, none before run.at - baseline_window, and its baseline and the controls compared with
// the window reach baseline_window further back; a canned template's window is among the last
// recent_runs runs with texts; an endpoint's health windows, like a pair's, start at one of its
// last recent_runs eligible cells and their baselines reach baseline_window further back, and a
// model change compares with the baseline_window before the run; an open event reads back to
// its detection. So for pairs and endpoints seen every run this is about baseline_window +
// recent_runs runs back, not 2 x baseline_window. Never before horizon().
struct Reach {
  Time pairs;      // the earliest run time any pair's counts are read from
  Time endpoints;  // ... any endpoint's
};
// With `folding`, also where the older runs' cells may be folded into spans (History::fold):
// from run.at - baseline_window (no baseline starts later) until the start of the pair's own
// recent windows (for a control, of any pair's), never across its events' times.
Reach reach(const History& recent, const RunRef& run, const std::vector<store::Event>& events,
            const Options& options, Folding* folding = nullptr);

// Decides the run. events: every event open before this run plus those resolved at or after
// horizon(); new events are appended and changed ones rewritten in place (indices returned).
Result<Decisions> decide(const History& history, const RunRef& run,
                         std::vector<store::Event>& events, const Options& options,
                         const SignatureLoader& loader, const TextLoader& text);

// --- shared by the decision files --------------------------------------------------------------

nlohmann::json side_json(const Cells& cells);
nlohmann::json ids_json(std::span<const int64_t> ids, size_t limit = 5);
nlohmann::json parse_json(const std::string& text);  // {} when text is not valid JSON
std::string dump(const nlohmann::json& j);
bool is_open(const store::Event& e);
// The top-level strings of an event's evidence that decisions read at every run; "" (nullopt)
// for one that is absent, not a string, or (decided_at) not a time, and for all of them when
// the evidence is not JSON.
struct EvidenceFacts {
  std::string resolution;     // of a resolved event: "returned", "new_normal", "point"
  std::string measure;        // of a pair's shift: "verdicts", "narrative", ...
  std::string template_hash;  // of a canned template
  std::optional<Time> decided_at;
};
EvidenceFacts evidence_facts(const std::string& evidence_json);
// A resolved event's "resolution" in its evidence ("returned", "new_normal"); "" when open or
// not recorded.
std::string resolution_of(const store::Event& e);
// When the event was decided: its evidence's decided_at when recorded, else detected_at.
Time decided_at(const store::Event& e);

// Marks e resolved at `at` by run `run_id`, for `resolution` ("returned" or "new_normal").
void resolve(store::Event& e, Time at, int64_t run_id, std::string_view resolution,
             const nlohmann::json& resolved_after);

// Endpoint-wide decisions: endpoint_health, model_change, canned_template. `moved_controls`
// answers the scope question for an endpoint over a set of runs.
struct EndpointContext {
  const History& history;
  const RunRef& run;
  std::vector<store::Event>& events;
  const Options& options;
  Decisions& out;
  std::function<nlohmann::json(const std::string& endpoint, const std::vector<RunRef>& runs)>
      controls;
  const TextLoader& text;
};
void decide_health(EndpointContext& ctx);
void decide_models(EndpointContext& ctx);
Status decide_templates(EndpointContext& ctx);  // fails when reading a template's text does

}  // namespace dw::drift
