// One run: every probe x endpoint that is due, each sample its own request, stored and
// classified as it arrives. Used by `driftwatch run --once`, the daemon and the demo.
//
//   dw::runner::Runner runner{config, sets, store, transport, clock, &rules};
//   auto summary = runner.run(run_at, [](const dw::runner::Progress& p) { draw(p); });
//   if (!summary) ...            // storage failed: nothing more can be trusted
//   summary->complete, summary->sent, summary->endpoints
//
// Failed requests are data, not failures of the run: they are stored as samples whose verdict
// is `error` (or `filtered`). run() fails only when the store (or the transport itself) does;
// the run row then stays 'incomplete'.
//
// A run has a deadline, the config's [probes] deadline counted from the start of the requests:
// every probe x sample not answered by then (waiting for a retry the server asked for, in
// flight, or never sent) is stored as a sample whose verdict is `error` and whose error starts
// "run deadline of 20m" and says what was cut (transport.h). Such a run is still 'complete':
// every planned sample is stored; Summary::past_deadline counts the ones the deadline ended.
//
// A run cut short (the transport's cancel flag, or Transport::stop()) keeps the samples that
// arrived whole and is marked 'incomplete'; requests still in flight or waiting for a retry at
// that moment are not stored (a cancelled request says nothing about the endpoint) but counted
// in Summary::cancelled. A run is 'complete' only when every planned request of every endpoint
// that was not skipped came back.
//
// Samples are written as they arrive: each joins the store's open batch, which is committed
// when full (Store Options::batch_size), every Options::commit_every (the transport's
// heartbeat: also while no answer comes), and at the end. A crash loses at most the samples of
// the last commit_every, never half a sample; the write lock is never held longer.
// Memory: only the requests in flight exist at once; nothing grows with the number of samples.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "analysis/classifier.h"
#include "analysis/rules.h"
#include "common/error.h"
#include "common/time.h"
#include "config/config.h"
#include "probes/probe.h"
#include "store/store.h"
#include "transport/transport.h"

namespace dw::runner {

// Counts of one endpoint's samples by HTTP outcome.
struct EndpointTally {
  std::string endpoint;
  long samples = 0;      // stored
  long ok = 0;           // 2xx with an answer
  long client = 0;       // 4xx (429 included)
  long server = 0;       // 5xx
  long no_response = 0;  // no HTTP response: timeouts, refused connections, body cap
  long malformed = 0;    // 2xx whose body was not an answer
  long filtered = 0;     // of all the above, classified `filtered`
  std::string skipped;   // why the endpoint was not asked at all (its key is missing), or ""
};

struct Progress {
  long done = 0;
  long total = 0;
  long errors = 0;  // samples without an answer
};

struct Summary {
  int64_t run_id = 0;
  Time run_at;
  long total = 0;      // samples planned (endpoints skipped for a missing key plan none)
  long stored = 0;     // samples stored
  long sent = 0;       // of those, samples for which an HTTP response arrived
  long cancelled = 0;  // requests cut short by a cancel: neither stored nor counted elsewhere
  long past_deadline = 0;  // of stored, samples ended by the run's deadline (stored as errors)
  bool complete = false;
  std::vector<EndpointTally> endpoints;  // in config order
};

struct Options {
  // Pending samples are committed at least this often (of the steady clock, whether answers
  // come or not), so that a slow run's answers reach readers, and survive a crash, while the
  // run goes on, and other writers wait no longer for the database.
  std::chrono::seconds commit_every{2};
};

class Runner {
 public:
  // Everything is borrowed and must outlive the Runner. rules may be null: samples are then
  // stored unclassified (classify later with reclassify).
  Runner(const config::Config& config, const std::vector<probes::ProbeSet>& sets,
         store::Store& store, transport::Transport& transport, const Clock& clock,
         const analysis::RuleSet* rules, Options options = {});

  // Runs every probe x endpoint once, recorded as happening at run_at (received, started and
  // finished times come from the clock). An endpoint whose key cannot be read, or cannot be
  // sent in a header, is skipped with the reason in its tally. on_progress is called after each
  // stored sample, on the calling thread.
  Result<Summary> run(Time run_at, const std::function<void(const Progress&)>& on_progress = {});

 private:
  const config::Config& config_;
  const std::vector<probes::ProbeSet>& sets_;
  store::Store& store_;
  transport::Transport& transport_;
  const Clock& clock_;
  const analysis::RuleSet* rules_;
  Options options_;
};

// What the store keeps of a classification made with rules: the verdict, and why.
store::Classification to_stored(const analysis::Classification& c, const analysis::RuleSet& rules);
store::Explanation explanation_of(const analysis::Classification& c);

}  // namespace dw::runner
