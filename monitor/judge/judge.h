// The judge: a second opinion from a language model on the verdicts the rules are unsure of.
// Optional ([judge] in the config); without it the rules' verdicts are final.
//
//   dw::judge::Judge judge(*config.judge, store, transport, clock);
//   auto counts = judge.run({.since = run_at - config.detection.baseline_window});
//   if (!counts) ...            // the store failed, or the judge's key cannot be read
//   counts->asked, counts->judged, counts->failed, counts->waiting
//
// What it does, in order:
//   1. Finds the samples waiting for this judge (Store::for_each_unjudged: replies the rules
//      called answered, refused or deflected, only the uncertain ones unless when = "all"),
//      newest first. A text this judge (model, prompt version) has already judged is linked to
//      that judgement without asking again; each distinct new text is asked once, for every
//      sample that carries it, up to max_per_run texts. The rest wait for the next run.
//   2. Asks through the transport, with the judge endpoint's limits and retries, the prompt of
//      judge/prompt.h with the probe's question and the reply.
//   3. A reply read as a verdict is stored as the text's judgement and linked to its samples:
//      their final verdict is now the judge's (Store SampleRow). A reply that is not the JSON
//      asked for is asked once more, then stored as an unusable judgement (no verdict: the
//      rules' stands; the text is not asked again); so is, at once, a request the judge's
//      endpoint refuses (a 4xx other than 408 and 429) or its provider filters, which asking
//      again would not change. A request that got no answer (a timeout, a 5xx, a 429, a cut
//      connection, the deadline) stores nothing, nor does a reply cut at max_tokens: the
//      samples wait for the next run. Each judgement is committed as it arrives, so no write
//      lock is held while waiting for the judge.
// Drift events are not recomputed here: the caller detects after judging, or recomputes (see
// Counts::changed_earlier).
#pragma once

#include <functional>
#include <optional>
#include <string_view>

#include "common/error.h"
#include "common/time.h"
#include "config/config.h"
#include "store/store.h"
#include "transport/transport.h"

namespace dw::judge {

struct Scope {
  std::optional<Time> since{};  // only samples of runs at or after this
  // For all of the call's requests, counted from its start (transport.h says what is cut).
  std::optional<transport::Millis> deadline{};
  std::optional<int64_t> run_id{};  // the run just made, when judging after one
};

struct Counts {
  long asked = 0;      // distinct texts sent to the judge (retries of unusable replies aside)
  long cached = 0;     // samples linked to a judgement stored before (no request)
  long judged = 0;     // samples given a verdict by the judge in this call
  long changed = 0;    // of those (and of cached), samples whose final verdict is not the rules'
  long changed_earlier = 0;  // of changed, samples of runs other than Scope::run_id
  long unusable = 0;   // texts whose judge reply was not a verdict, twice: recorded as such
  long failed = 0;     // texts whose request got no answer: their samples wait
  long waiting = 0;    // samples over the budget or the deadline: they wait for the next run
  std::string note;    // why the last unusable or unanswered request was, one line ("" if none)
};

// Outcomes of judge requests, for metrics: "verdict", "unusable" (a reply that is not the JSON
// asked for, counted at each attempt) or "failed" (no answer).
using OnRequest = std::function<void(std::string_view outcome)>;

class Judge {
 public:
  // Everything is borrowed and must outlive the Judge.
  Judge(const config::Judge& config, store::Store& store, transport::Transport& transport,
        const Clock& clock, OnRequest on_request = {});

  // One pass as described above. With when = "never" it does nothing. Fails when the store
  // does, or when the judge's key cannot be read or sent (nothing is asked then).
  Result<Counts> run(const Scope& scope);

 private:
  struct Pass;  // one call's requests and what they record (judge.cc)
  void tell(std::string_view outcome) const;

  const config::Judge& config_;
  store::Store& store_;
  transport::Transport& transport_;
  const Clock& clock_;
  OnRequest on_request_;
};

// The pass after probe run run_id at run_at, before its drift detection: samples of runs within
// the detection's baseline window (older history is `driftwatch judge`'s, which recomputes the
// events it changes), in the time left of the run's deadline (nothing is asked when none is).
// When it changed verdicts of earlier runs (Counts::changed_earlier), the caller recomputes the
// events rather than detecting on this run alone. nullopt when the config has no judge.
Result<std::optional<Counts>> after_run(const config::Config& config, store::Store& store,
                                        transport::Transport& transport, const Clock& clock,
                                        int64_t run_id, Time run_at, transport::Millis time_left,
                                        OnRequest on_request = {});

// "judged 12 samples (3 from earlier judgements, 2 changed) after asking about 9 texts; 1 text
// unusable, 0 unanswered, 4 samples waiting" and, when there was one, " (last problem: ...)":
// one line for logs and the command line.
std::string describe(const Counts& counts);

}  // namespace dw::judge
