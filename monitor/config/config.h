// The driftwatch configuration file (driftwatch.toml), read into plain typed structs.
//
//   auto config = dw::config::load("/etc/driftwatch/driftwatch.toml");
//   if (!config) for (const auto& e : config.error()) std::cerr << e.to_string() << '\n';
//
// Every problem is reported as "FILE:LINE:COLUMN: message" naming the key; unknown keys are
// errors (with the closest valid key suggested), never silently ignored. A config that does not
// load runs nothing. Relative paths are resolved against the config file's own folder.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/duration.h"
#include "common/error.h"
#include "schedule/schedule.h"

namespace dw::config {

enum class EndpointKind { openai, anthropic, ollama, gemini };

// "openai", "anthropic", "ollama", "gemini".
std::string_view kind_name(EndpointKind kind);
std::optional<EndpointKind> parse_kind(std::string_view name);

// The vendor's own API root for a kind: "https://api.openai.com/v1",
// "https://api.anthropic.com", "http://127.0.0.1:11434",
// "https://generativelanguage.googleapis.com".
std::string default_base_url(EndpointKind kind);

// Where an API key lives. The key itself is never held in the config, so it cannot leak through
// anything that prints or stores the config.
struct SecretRef {
  enum class Source { none, env, file, credential };
  Source source = Source::none;
  std::string name;  // variable name, file path (resolved), or systemd credential name
  std::string what = "API key";  // what the secret is, for messages ("SMTP password")
};

// Reads the key now: from the environment, the file (trailing newline dropped) or
// $CREDENTIALS_DIRECTORY/name. The error names the source but never contains the key.
// Source::none yields an empty string (local endpoints such as Ollama need no key).
Result<std::string> read_secret(const SecretRef& ref);

struct Endpoint {
  std::string name;
  EndpointKind kind = EndpointKind::openai;
  std::string base_url;  // without a trailing slash; the kind's default when not given
  std::string model;
  SecretRef api_key;
  double temperature = 0.0;                  // 0 .. 2
  int max_tokens = 512;                      // 1 .. 1,000,000
  int concurrency = 2;                       // requests in flight, 1 .. 64
  double rate = 0;                           // requests per minute; 0 = no limit
  int retries = 2;                           // retries after the first attempt, 0 .. 10
  std::chrono::seconds timeout{60};          // whole request
  std::chrono::seconds connect_timeout{10};  // TCP + TLS handshake
  std::optional<std::string> system;         // optional system prompt
  std::vector<std::pair<std::string, std::string>> headers;  // extra request headers
  Location where;                            // of the [[endpoint]] table

  // base_url with the kind's path appended as the vendor's SDK does: openai
  // "/chat/completions", anthropic "/v1/messages", ollama "/api/chat", gemini
  // "/v1beta/models/{model}:generateContent".
  std::string request_url() const;
};

// [detection]: how drift events are decided (monitor/drift/detector.h says how each is used).
struct Detection {
  std::chrono::seconds baseline_window{std::chrono::days(30)};  // baseline = "30d", 1d .. 365d
  int recent_runs = 3;       // recent_runs: the last 1..N runs are tested against it, 1 .. 20
  double alpha = 0.05;       // alpha: false discovery rate over the pairs of a run, 0.0001 .. 0.5
  double min_effect = 0.3;   // min_effect: minimum total variation distance, 0.01 .. 1
  int new_normal_runs = 28;  // new_normal_runs: open this long, a shift is the baseline; 0 = never
};

// One [[notify]] table: where the daemon tells people about new drift events and new reports.
// Like API keys, the secrets (a webhook URL carries its token; an SMTP password) are never held
// here, only where they live; they are read at the moment of sending and never logged.
struct Notify {
  enum class Kind { webhook, email };
  std::string name;                  // unique; letters, digits, '-', '_', '.'
  Kind kind = Kind::webhook;         // kind = "webhook" | "email" (required)
  bool on_events = true;             // on = ["events", "reports"] (default both)
  bool on_reports = true;
  std::chrono::seconds timeout{30};  // one delivery attempt, 1s .. 10m
  // webhook: url_env | url_file | url_credential (required). JSON POST {"text": ...}.
  SecretRef url;
  // email: smtp_url "smtp://HOST[:PORT]" (STARTTLS) or "smtps://HOST[:PORT]" (required).
  std::string smtp_url;
  bool starttls = true;          // over smtp://, refuse to send without STARTTLS (false: plain)
  std::string from;              // sender address (required)
  std::vector<std::string> to;   // recipients, at least one
  std::string username;          // SMTP login, "" for none
  SecretRef password;            // password_env | password_file | password_credential
  Location where;                // of the [[notify]] table
};

// [judge]: an optional second opinion on verdicts (monitor/judge/judge.h). Its endpoint has the
// keys of an [[endpoint]] (its name defaults to "judge") and is never probed.
struct Judge {
  enum class When { uncertain, all, never };
  Endpoint endpoint;
  When when = When::uncertain;  // when = "uncertain" | "all" | "never": which verdicts to check
  int max_per_run = 100;        // max_per_run, 1 .. 100000: distinct texts asked about per run
                                // (a retry of an unusable reply aside); the rest wait
  Location where;               // of the [judge] table
};

// "uncertain", "all", "never".
std::string_view when_name(Judge::When when);

// [fleet]: this monitor is one vantage point of several and pushes every finished run to a
// central PostgreSQL (monitor/fleet/push.h; the daemon after each run, `driftwatch push` by
// hand). Like API keys, the database password is never held here, only where it lives.
struct Fleet {
  // server (required): a libpq connection string, "host=db.example.org dbname=driftwatch
  // user=monitor_hk sslmode=verify-full", or URI, "postgresql://monitor_hk@db.example.org/
  // driftwatch"; TLS client certificates go in it (sslcert, sslkey, sslrootcert). Never a
  // password (check_server): that comes from `password`.
  std::string server;
  // password_env | password_file | password_credential, at most one; none: libpq's own ways
  // apply ($PGPASSWORD, ~/.pgpass, a client certificate).
  SecretRef password;
  std::string vantage;  // vantage (required): 1-64 letters, digits, '-', '_', '.'
  std::string country;  // country: two capital letters (ISO 3166-1, "HK"); "" when not declared
  std::string asn;      // asn: "AS" and 1-10 digits ("AS4134"); "" when not declared
  // retry, 1s .. 1h: the daemon's wait after a failed push; it doubles with each further
  // failure up to 1h, each wait drawn within +-20% of that (daemon/pusher.h).
  std::chrono::seconds retry{60};
  Location where;  // of the [fleet] table
};

// Checks a libpq connection string (keyword = value pairs, or a postgresql:// or postgres://
// URI) for what driftwatch refuses in one: a password ("password=...", a URI's
// "user:password@" or "?password=..."), which would show in the config file or on a command
// line; and what libpq could never parse (a keyword without '=', an unterminated quote). Ok
// otherwise: libpq judges the rest (keywords, hosts) when connecting. The error's message
// is a phrase to follow the thing checked ("holds a password (password=...)") and never
// contains the connection string itself, so it can be shown safely.
Status check_server(std::string_view conninfo);

struct Config {
  std::filesystem::path file;  // the config file itself (absolute)

  std::filesystem::path database = "driftwatch.db";  // [storage] database
  // [storage] keep, 1d .. 100y ("730d", "2y": a year is 365 days): the daemon removes samples
  // of runs older than this after each run (store.h: remove_samples_before); absent keeps all.
  std::optional<std::chrono::seconds> keep;

  std::vector<std::filesystem::path> probe_sets;  // [probes] sets: required, each file exists
  int samples = 3;                                // [probes] samples, 1 .. 100
  // [probes] deadline, 1s .. 7d: how long one run may take; what is not answered by then is
  // stored as an error sample (transport.h says exactly what is cut when). When the key is
  // absent, load() sets default_run_deadline(probe_schedule).
  std::chrono::seconds run_deadline{std::chrono::minutes(20)};

  // load() always sets both; in a Config built by hand they are empty and never fire.
  schedule::Schedule probe_schedule;   // [schedule] probes, default "0 */6 * * *"
  schedule::Schedule report_schedule;  // [schedule] report, default "30 6 * * *"
  std::chrono::seconds jitter{300};    // [schedule] jitter
  std::string timezone = "UTC";        // [schedule] timezone (IANA name)

  std::filesystem::path report_dir = "reports";                // [report] dir
  std::vector<std::string> report_formats{"md", "html", "json"};  // [report] formats

  std::optional<std::string> metrics_listen;  // [metrics] listen, "HOST:PORT"

  // [classifier] rules: the folder of rule packs (*.toml). Without the key load() leaves
  // "rules" beside the config file here and rules_dir_given false; cli::load_setup then takes
  // that folder when it exists, else the shipped packs (cli/setup.h: default_rules_dir).
  std::filesystem::path rules_dir = "rules";
  bool rules_dir_given = false;  // [classifier] rules is in the file

  Detection detection;  // [detection], every key optional

  std::vector<Endpoint> endpoints;

  std::vector<Notify> notify;  // [[notify]], optional, in file order

  std::optional<Judge> judge;  // [judge], optional: without it the rules' verdicts are final

  std::optional<Fleet> fleet;  // [fleet], optional: without it nothing leaves this machine
};

// The run deadline when [probes] deadline is not given: 20 minutes, or half the shortest gap
// between two firings of the probe schedule when that is shorter (never below 1s). With the
// daemon's jitter also at most half the gap to the next slot (daemon/scheduler.h), a run then
// ends before its next slot is due. The gap is looked for over the firings in the year from
// 2025-01-01 (at most 1000 of them), so that a file always means the same; a schedule that
// fires fewer than twice in that span, or an empty one, gets 20 minutes.
std::chrono::seconds default_run_deadline(const schedule::Schedule& probes);

// Reads and checks a config file. On failure returns every error found (at least one), in file
// order. Required: [probes] sets (files that exist) and at least one [[endpoint]] with name, kind
// and model. Every path in the result is absolute; schedules are parsed in the config's time
// zone. The rule packs and the probe sets' contents are not read here (see dw::probes).
Result<Config, Errors> load(const std::filesystem::path& file);

// The same from text already in memory; file names the errors and anchors relative paths.
Result<Config, Errors> parse(std::string_view text, const std::filesystem::path& file);

// "90s", "5m", "6h", "1d", or combinations such as "1h30m", in whole seconds: the one parser
// in common/duration.h, so schedules ("@every 6h") and config keys read durations alike.
using dw::parse_duration;

}  // namespace dw::config
