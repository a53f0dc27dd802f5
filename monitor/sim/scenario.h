// The simulator's script: what each probe gets from each simulated day on, read from a TOML
// scenario file (the format is documented at the top of config/demo-scenario.toml and in the
// README under "The simulator").
//
//   auto scenario = dw::sim::load_scenario("config/demo-scenario.toml");
//   if (!scenario) for (const auto& e : scenario.error()) std::cerr << e.to_string() << '\n';
//   dw::sim::Director director(std::move(*scenario), /*seed=*/1);
//   dw::sim::Choice c = director.choose({ApiKind::openai, "deepseek-chat", prompt, /*day=*/10});
//
// Outcomes are chosen deterministically: the same seed, scenario and sequence of requests per
// (kind, model, probe, day) give the same outcomes, so runs against the simulator reproduce.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace dw::sim {

// The four wire protocols the simulator speaks (SPEC.md endpoint kinds).
enum class ApiKind { openai, anthropic, ollama, gemini };

std::string_view api_kind_name(ApiKind kind);
std::optional<ApiKind> parse_api_kind(std::string_view name);

enum class OutcomeKind {
  answer,     // 200 with a text from the pool: the model engages
  deflect,    // 200 with a canned topic change
  refuse,     // 200 with a plain refusal
  narrative,  // 200 with a state-narrative text
  filter,     // 200 where the provider's filter stopped it: finish_reason "content_filter",
              // Anthropic stop_reason "refusal", Gemini finishReason or promptFeedback.blockReason
  status,     // an HTTP error: provider filter errors (400 DataInspectionFailed, 451), 429, 5xx
  malformed,  // 200 whose body is not valid JSON (a complete HTTP message)
  truncated,  // 200 whose Content-Length promises more than is sent before the socket closes
  drop,       // the connection is closed without a single byte of response
  reset,      // the connection is aborted with a TCP RST before a single byte of response
  drip,       // 200 whose body is sent a few bytes at a time with pauses between them
  gzip_bomb,  // 200 with Content-Encoding: gzip, ~200 KiB that inflate to 200 MiB
  redirect,   // a 3xx whose Location is given by the scenario (another host, typically)
  judge,      // 200 answering a driftwatch judge prompt as a judge would (see judge_reply)
};

std::string_view outcome_kind_name(OutcomeKind kind);
std::optional<OutcomeKind> parse_outcome_kind(std::string_view name);

// One possible outcome of a rule. Fields a kind does not use are rejected when parsing.
struct Outcome {
  OutcomeKind kind = OutcomeKind::answer;
  double weight = 1.0;             // relative to the rule's other outcomes; > 0
  std::vector<std::string> texts;  // the pool one text is drawn from (text kinds; filter: the
                                   // partial text, may be empty)
  std::string finish_reason;       // verbatim override of the kind's usual finish/stop reason
  std::string block_reason;        // filter on gemini: promptFeedback.blockReason, no candidate
  int status = 0;                  // status: 400 .. 599; redirect: 301, 302, 303, 307, 308
  std::string body;                // status, malformed: the body; "" = a provider-shaped default
  std::string content_type;        // status, malformed; "" = application/json
  std::optional<int> retry_after;  // status: Retry-After seconds
  std::string location;            // redirect: the Location header, verbatim
  int drip_bytes = 16;             // drip: bytes a write
  int drip_ms = 500;               // drip: pause between writes
  int delay_ms = 0;                // any kind: wait this long before answering
  Location where;                  // of the outcome table
};

// A rule applies to a request when every condition given holds; the first applicable rule in
// file order decides. With neither probes nor prompt_contains, any prompt matches.
struct Rule {
  std::string name;                          // for the request log; "rule N" when not given
  std::vector<std::string> probes;           // probe ids (via the scenario's probe sets)
  std::vector<std::string> prompt_contains;  // substrings, ASCII case-insensitive
  std::optional<std::string> model;          // requested model, exact
  std::optional<ApiKind> kind;
  int from = 0;                              // first simulated day (0-based)
  int to = std::numeric_limits<int>::max();  // first day no longer covered
  bool cycle = false;  // pick = "cycle": outcomes in order by request counter, not by weight
  double share = 1.0;  // the rule applies to this share of otherwise matching requests (drawn
                       // per request); the rest fall through to later rules: transient noise
  std::vector<Outcome> outcomes;  // at least one
  Location where;
};

// What the API reports as model and fingerprint: scripted model changes.
struct ModelRule {
  std::optional<std::string> model;  // requested model, exact
  std::optional<ApiKind> kind;
  int from = 0;
  int to = std::numeric_limits<int>::max();
  std::string report;       // reported model id, "{model}" standing for the requested one;
                            // "" = the requested one
  std::string fingerprint;  // system_fingerprint; "" = the default one
  Location where;
};

struct Scenario {
  std::filesystem::path file;
  std::string description;
  // Trimmed prompt text -> probe id, from the probe sets the scenario names.
  std::map<std::string, std::string, std::less<>> probe_by_prompt;
  std::vector<Rule> rules;
  std::vector<ModelRule> models;
  // For requests no rule applies to: [default] outcomes, else a built-in pool of generic
  // plausible answers (English, or Chinese for prompts in Chinese).
  std::vector<Outcome> default_outcomes;
};

// Reads and checks a scenario file and the probe sets it names (paths relative to the file).
// On failure returns every error found, each "FILE:LINE:COLUMN: message" naming the key.
Result<Scenario, Errors> load_scenario(const std::filesystem::path& file);

// The same from text in memory; file names errors and anchors relative paths.
Result<Scenario, Errors> parse_scenario(std::string_view text, const std::filesystem::path& file);

// What the simulator knows about a request when choosing its outcome.
struct RequestFacts {
  ApiKind kind = ApiKind::openai;
  std::string model;   // requested model
  std::string prompt;  // text of the last user message
  int day = 0;
};

// The decided outcome of one request. Pointers refer into the Director's scenario (or a static
// built-in pool) and stay valid as long as the Director.
struct Choice {
  std::string probe;  // probe id, "" when the prompt is not a known probe
  std::string rule;   // rule name, or "default"
  const Outcome* outcome = nullptr;
  std::string text;  // drawn from the outcome's pool; "" when it has none
  std::string reported_model;
  std::string fingerprint;
  std::uint64_t draw = 0;  // the deterministic draw; also seeds response ids
};

// The simulated judge. A request whose prompt is driftwatch's judge prompt (it names "a careful
// reviewer for driftwatch") and that no scenario rule applies to gets a `judge` outcome: a JSON
// verdict read from a marker in the judged reply, "[judge:answered]", "[judge:refused]" or
// "[judge:deflected]" ("answered" when there is none), or, for "[judge:garbage]", a reply
// that is not JSON. Rules can still aim at judge requests (prompt_contains = ["careful
// reviewer for driftwatch"]) for delays, outages and malformed replies.
bool is_judge_prompt(std::string_view prompt);
std::string judge_reply(std::string_view prompt);

// Chooses outcomes. Thread-safe: counts requests per (kind, model, probe, day) under a mutex.
class Director {
 public:
  Director(Scenario scenario, std::uint64_t seed);

  // Decides the next request's outcome and counts it.
  Choice choose(const RequestFacts& request);

  // The probe id of a prompt (exact after trimming), "" when unknown.
  std::string probe_for_prompt(std::string_view prompt) const;

  const Scenario& scenario() const { return scenario_; }

 private:
  Scenario scenario_;  // constant after construction
  std::uint64_t seed_;
  std::mutex mutex_;
  std::map<std::string, std::uint64_t> counters_;  // guarded by mutex_
};

// The pure part of Director::choose: the outcome for the counter-th request (0-based) with the
// given facts. Same inputs, same choice.
Choice choose_outcome(const Scenario& scenario, std::uint64_t seed, const RequestFacts& request,
                      std::string_view probe, std::uint64_t counter);

}  // namespace dw::sim
