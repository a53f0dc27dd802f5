// driftwatch-sim: the simulated model endpoint for the demo and the integration tests.
// Prints "listening on http://HOST:PORT" once it accepts connections; stops on SIGTERM/SIGINT.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdlib>
#include <iostream>

#include "common/version.h"
#include "sim/server.h"

int main(int argc, char** argv) {
  CLI::App app{
      "driftwatch-sim: a simulated OpenAI, Anthropic, Ollama and Gemini endpoint on "
      "loopback, scripted by a scenario file.",
      "driftwatch-sim"};
  app.set_version_flag("--version", std::string("driftwatch-sim ") + dw::kVersion);
  std::string scenario_file;
  dw::sim::ServerOptions options;
  std::string api_key;
  std::string log_file;
  app.add_option("--scenario", scenario_file, "scenario file (TOML)")->required();
  app.add_option("--port", options.port, "port to listen on; 0 picks a free one")->default_val(0);
  app.add_option("--host", options.host, "loopback address to bind")->default_val("127.0.0.1");
  app.add_option("--api-key", api_key,
                 "the API key requests must carry (default: $DRIFTWATCH_SIM_KEY; none = any)");
  app.add_option("--log", log_file, "append a JSON Lines request log to this file");
  app.add_option("--seed", options.seed, "seed of the outcome draws")
      ->default_val(dw::sim::kDefaultSeed);
  app.add_option("--day", options.day, "simulated day to start at (0-based)")
      ->default_val(0)
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--compress", options.compress,
               "compress answers (Brotli or gzip) for clients that accept them");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 1;
  }

  if (!dw::sim::is_loopback_host(options.host)) {
    std::cerr << "driftwatch-sim: --host " << options.host
              << ": binds loopback only (127.0.0.1, ::1 or localhost)\n";
    return 1;
  }
  if (api_key.empty())
    if (const char* env = std::getenv("DRIFTWATCH_SIM_KEY"); env && *env) api_key = env;
  if (!api_key.empty()) options.api_key = api_key;
  options.log_file = log_file;

  auto scenario = dw::sim::load_scenario(scenario_file);
  if (!scenario) {
    for (const auto& e : scenario.error()) std::cerr << e.to_string() << '\n';
    return 1;
  }

  // Each connection holds a descriptor, and a client may hold a thousand at once.
  dw::sim::raise_open_file_limit();

  // Signals are taken synchronously by sigwait below; every server thread inherits this mask,
  // so none of them is interrupted by SIGTERM or killed by SIGPIPE.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigset_t blocked = signals;
  sigaddset(&blocked, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &blocked, nullptr);

  auto server = dw::sim::Server::start(std::move(*scenario), options);
  if (!server) {
    std::cerr << "driftwatch-sim: " << server.error().to_string() << '\n';
    return 2;
  }
  std::string shown_host =
      options.host.find(':') != std::string::npos ? "[" + options.host + "]" : options.host;
  std::cout << "listening on http://" << shown_host << ':' << (*server)->port() << std::endl;

  int received = 0;
  sigwait(&signals, &received);
  (*server)->stop();
  return 0;
}
