// Classifier quality on labelled sets: the shared development set (kept outside the repo,
// beside the clone) and the team's own set. Prints the confusion matrix and every miss.
#include <doctest/doctest.h>

#include <array>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "analysis/classify_io.h"
#include "analysis/rules.h"

namespace {

using dw::analysis::RuleSet;

const RuleSet& shipped_rules() {
  static const RuleSet rules = [] {
    auto loaded = dw::analysis::load_rules(DW_SOURCE_DIR "/config/rules");
    if (!loaded) {
      for (const auto& e : loaded.error()) std::cerr << e.to_string() << '\n';
      std::abort();
    }
    return std::move(loaded).value();
  }();
  return rules;
}

struct Score {
  int total = 0;
  int right = 0;
  int narrative_total = 0;
  int narrative_right = 0;
  std::array<std::array<int, 5>, 5> confusion{};  // [label][verdict]
};

int verdict_index(const std::string& name) {
  auto v = dw::analysis::parse_verdict(name);
  return v ? static_cast<int>(*v) : -1;
}

Score evaluate(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot read " << path);
  Score score;
  std::string line;
  std::ostringstream misses;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto record = nlohmann::ordered_json::parse(line);
    std::string label = record.at("label").get<std::string>();
    std::vector<std::string> accept = record.value("accept", std::vector<std::string>{});
    bool narrative = record.value("narrative", false);
    auto result = dw::analysis::classify_object(shipped_rules(), record, /*explain=*/true);
    REQUIRE_MESSAGE(result.ok(), record.value("id", "?") << ": " << result.error().message());
    std::string verdict = (*result)["verdict"].get<std::string>();
    bool right = verdict == label ||
                 std::find(accept.begin(), accept.end(), verdict) != accept.end();
    ++score.total;
    score.right += right ? 1 : 0;
    int l = verdict_index(label), v = verdict_index(verdict);
    REQUIRE(l >= 0);
    ++score.confusion[static_cast<size_t>(l)][static_cast<size_t>(v)];
    ++score.narrative_total;
    bool narrative_right = (*result)["narrative"].get<bool>() == narrative;
    score.narrative_right += narrative_right ? 1 : 0;
    if (!right || !narrative_right) {
      misses << "  " << record.value("id", "?") << ": label " << label
             << (narrative ? "+narrative" : "") << ", got " << verdict
             << ((*result)["narrative"].get<bool>() ? "+narrative" : "") << " -- "
             << (*result)["why"].get<std::string>() << " " << (*result)["signals"].dump()
             << "\n";
    }
  }
  std::cout << path << ": " << score.right << "/" << score.total << " verdicts right, "
            << score.narrative_right << "/" << score.narrative_total << " narrative flags right\n"
            << "  label \\ verdict  answered  refused deflected filtered   error\n";
  for (size_t l = 0; l < 5; ++l) {
    std::cout << "  " << std::string(dw::analysis::verdict_name(static_cast<dw::analysis::Verdict>(l)));
    std::cout << std::string(16 - dw::analysis::verdict_name(static_cast<dw::analysis::Verdict>(l)).size(), ' ');
    for (size_t v = 0; v < 5; ++v) {
      std::string cell = std::to_string(score.confusion[l][v]);
      std::cout << std::string(9 - cell.size(), ' ') << cell;
    }
    std::cout << "\n";
  }
  if (!misses.str().empty()) std::cout << "misses:\n" << misses.str();
  return score;
}

}  // namespace

TEST_CASE("shared development set: at least 95% of verdicts right") {
  // CI lays shared/ beside the clone; the data is read there, never copied into the repo.
  Score score = evaluate(DW_SOURCE_DIR "/../shared/data/verdicts-dev.jsonl");
  REQUIRE(score.total >= 40);
  CHECK(score.right * 100 >= score.total * 95);
  CHECK(score.narrative_right * 100 >= score.narrative_total * 90);
}

TEST_CASE("team set: at least 92% of verdicts right, 90% of narrative flags") {
  Score score = evaluate(DW_SOURCE_DIR "/tests/data/verdicts-team.jsonl");
  REQUIRE(score.total >= 150);
  CHECK(score.right * 100 >= score.total * 92);
  CHECK(score.narrative_right * 100 >= score.narrative_total * 90);
}
