// The simulated endpoint: an HTTP server on loopback answering as OpenAI, Anthropic, Ollama and
// Gemini do, at their real paths, with outcomes chosen by a scenario (scenario.h).
//
//   auto server = dw::sim::Server::start(std::move(scenario), options);
//   if (!server) ...;                       // not loopback, port taken, log not writable
//   std::cout << (*server)->port();         // the port actually bound (options.port 0 = any)
//   (*server)->set_day(10);                 // what POST /sim/day does
//   (*server)->stop();                      // also done by the destructor
//
// Paths: POST /v1/chat/completions and /chat/completions (openai), POST /v1/messages
// (anthropic), POST /api/chat (ollama), POST /v1beta/models/{model}:generateContent (gemini).
// Control: GET/POST /sim/day ({"day": N}), GET /sim/health, GET /sim/requests[?since=N] (the
// request log as JSON Lines, from entry N on).
//
// Connections: each open connection has a thread of its own (connection_threads.h), up to
// ServerOptions::max_connections, so a client holding many keep-alive connections, or opening
// one per request, is not kept waiting behind idle ones; an idle keep-alive connection waits
// for its next request in one poll() (http_server.h) and ends at once on stop(). Answers are
// not compressed unless ServerOptions::compress.
//
// Every request is logged as one JSON object: time (UTC, ms), start_ms and end_ms (Unix ms),
// in_flight (requests being handled when it arrived, itself included), kind, path, probe, rule,
// model, day, outcome ("rejected" when admission refused it), status (0 when the connection was
// dropped or reset) and key (ok, wrong, missing, unchecked, not_required). The key itself is
// never logged. Faults that send a body over time (truncated, drip) are logged once the response
// is handed to the connection, before the body has left.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "sim/scenario.h"

namespace dw::sim {

inline constexpr std::uint64_t kDefaultSeed = 20260101;

// True for 127.0.0.0/8, ::1 and "localhost": the only hosts the simulator binds.
bool is_loopback_host(const std::string& host);

// Raises this process's soft limit on open files (RLIMIT_NOFILE) to its hard limit, so that
// a thousand connections fit where the soft limit is the usual 1,024; best effort. Returns
// the soft limit in force afterwards.
std::uint64_t raise_open_file_limit();

struct ServerOptions {
  std::string host = "127.0.0.1";      // must be a loopback address (127.0.0.0/8, ::1, localhost)
  int port = 0;                        // 0 = a free port chosen by the system
  std::optional<std::string> api_key;  // when set, requests with another key get 401
  std::filesystem::path log_file;      // JSON Lines request log, appended; empty = none
  std::uint64_t seed = kDefaultSeed;   // of the outcome draws
  int day = 0;                         // simulated day at start, 0-based
  // Connections served at once, each on a thread of its own while it stays open (keep-alive
  // included); a connection beyond the cap waits, unanswered, until one closes.
  int max_connections = 4096;
  // Compress answers with Brotli or gzip for clients that accept them (Accept-Encoding), as
  // cpp-httplib does by default. Off, every answer leaves as rendered: compressing took most of
  // the simulator's CPU, and a loopback test tool gains nothing from it. The gzip_bomb outcome
  // sends its gzip body either way.
  bool compress = false;
  // Wall clock for log times and response timestamps (injected so tests can fix it).
  std::function<std::chrono::system_clock::time_point()> now = [] {
    return std::chrono::system_clock::now();
  };
};

class Server {
 public:
  // Binds and starts serving on a background thread; connections are accepted as soon as this
  // returns. Fails when the host is not loopback, the port cannot be bound, or the log file
  // cannot be opened.
  static Result<std::unique_ptr<Server>> start(Scenario scenario, ServerOptions options);

  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  int port() const;

  // Stops accepting, closes connections waiting for their next request, cuts short any
  // scripted delays and drips, waits for requests in progress and the server thread. Safe to
  // call more than once.
  void stop();

  int day() const;
  void set_day(int day);

  // The request log entries so far (each one JSON object, no newline).
  std::vector<std::string> request_log() const;

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dw::sim
