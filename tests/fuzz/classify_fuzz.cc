// `driftwatch classify` input lines through dw::analysis::classify_record, with the shipped
// rule packs loaded once: a verdict or a one-line error, never a crash or an exception; the
// verdict does not depend on --explain, and the output prints as the command prints it.
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "analysis/classify_io.h"
#include "analysis/rules.h"
#include "fuzz.h"

using dw::fuzz::require;

namespace {

const dw::analysis::RuleSet& shipped_rules() {
  static const dw::analysis::RuleSet rules = [] {
    auto loaded = dw::analysis::load_rules(DW_SOURCE_DIR "/config/rules");
    if (!loaded) {
      for (const auto& e : loaded.error()) std::fprintf(stderr, "%s\n", e.to_string().c_str());
      std::abort();
    }
    return std::move(loaded).value();
  }();
  return rules;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)shipped_rules();  // before the first input, so its time is not counted against one
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > dw::fuzz::kMaxInput) return 0;
  const std::string_view line = dw::fuzz::text(data, size);
  auto plain = dw::analysis::classify_record(shipped_rules(), line, false);
  auto explained = dw::analysis::classify_record(shipped_rules(), line, true);
  require(plain.ok() == explained.ok(), "--explain does not change whether a line is read");
  if (!plain) {
    require(plain.error().message() == explained.error().message(),
            "--explain does not change the error");
    require(plain.error().message().find('\n') == std::string::npos, "errors are one line");
    return 0;
  }
  const auto& verdict = (*plain)["verdict"];
  require(verdict.is_string() && dw::analysis::parse_verdict(verdict.get<std::string>()),
          "the verdict is one of the five names");
  require(verdict == (*explained)["verdict"], "--explain does not change the verdict");
  require((*plain)["signals"] == (*explained)["signals"], "--explain does not change the signals");
  // As cmd_classify.cc prints a result.
  using Json = nlohmann::ordered_json;
  (void)explained->dump(-1, ' ', false, Json::error_handler_t::replace);
  return 0;
}
