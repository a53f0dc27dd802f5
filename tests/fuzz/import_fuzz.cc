// What `driftwatch import` does with the lines of a file before it touches the store. Its
// per-line reading (cmd_import.cc, read_lines) is private to the command and needs a file and a
// loaded setup, so this target makes the calls it makes, on the values it makes them on:
// input::parse_json on each line, closest_match for unknown keys, probe ids and endpoint
// names, parse_time for "at", http_status read as an int and "run" dumped as its label. The
// input is a file: one line per '\n'.
#include <algorithm>
#include <string>
#include <vector>
#include <nlohmann/json.hpp>

#include "common/strings.h"
#include "common/time.h"
#include "fuzz.h"
#include "input/json.h"

using dw::fuzz::require;
using nlohmann::json;

namespace {

// cmd_import.cc's kKeys.
const std::vector<std::string> kKeys = {
    "probe", "endpoint", "at",  "model",  "response", "prompt", "lang", "http_status",
    "body",  "finish_reason", "error", "system_fingerprint", "id", "run"};
const std::vector<std::string> kProbeIds = {"control-capital-australia-en",
                                            "control-multiplication-zh", "tiananmen-1989-en"};
const std::vector<std::string> kEndpoints = {"local", "deepseek", "openai-4o"};

// The instants format_time writes as four-digit years, which parse_time must read back.
const dw::Time kFirst = dw::Time(std::chrono::seconds(-62135596800));  // 0001-01-01
const dw::Time kLast = dw::Time(std::chrono::seconds(253402300799));   // 9999-12-31T23:59:59

void check_line(std::string_view text) {
  if (text.find_first_not_of(" \t\r") == std::string::npos) return;  // skipped as blank
  auto parsed = dw::input::parse_json(text);
  if (!parsed) {
    require(!parsed.error().message.empty(), "a JSON error says what is wrong");
    require(parsed.error().column <= text.size() + 1, "a JSON error's column is in the line");
    return;
  }
  json j = std::move(parsed).value();
  // A parsed value prints strictly (no invalid UTF-8 got in) and reads back the same.
  auto again = dw::input::parse_json(j.dump());
  require(again.ok() && *again == j, "a parsed value dumps and parses back to itself");
  if (!j.is_object()) return;
  for (const auto& [key, value] : j.items()) {
    if (std::find(kKeys.begin(), kKeys.end(), key) == kKeys.end()) {
      if (auto near = dw::closest_match(key, kKeys))
        require(std::find(kKeys.begin(), kKeys.end(), *near) != kKeys.end(),
                "closest_match returns a candidate");
    }
  }
  if (j.contains("probe") && j["probe"].is_string())
    (void)dw::closest_match(j["probe"].get<std::string>(), kProbeIds);
  if (j.contains("endpoint") && j["endpoint"].is_string())
    (void)dw::closest_match(j["endpoint"].get<std::string>(), kEndpoints);
  if (j.contains("at") && j["at"].is_string()) {
    auto t = dw::parse_time(j["at"].get<std::string>());
    if (t && *t >= kFirst && *t <= kLast) {
      auto back = dw::parse_time(dw::format_time(*t));
      require(back.ok() && *back == *t, "format_time writes what parse_time reads back");
    }
  }
  if (j.contains("http_status") && j["http_status"].is_number_integer())
    (void)j["http_status"].get<int>();
  if (j.contains("run")) (void)j["run"].dump();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > dw::fuzz::kMaxInput) return 0;
  std::string_view file = dw::fuzz::text(data, size);
  while (!file.empty()) {
    size_t end = std::min(file.find('\n'), file.size());
    check_line(file.substr(0, end));
    file.remove_prefix(std::min(end + 1, file.size()));
  }
  return 0;
}
