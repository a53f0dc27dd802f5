// Classifier quality on labelled sets, all in tests/data: the shared development and hard
// sets (labelled/), the team's first set, and the corpus written for the verdict rework
// (corpus/: tune-*.jsonl were tuned on; holdout.jsonl never is: read its figure, not its
// misses). Prints each set's confusion matrix and, except for the holdout, every miss.
#include <doctest/doctest.h>

#include <array>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>

#include "analysis/classify_io.h"
#include "analysis/rules.h"

namespace classifier_quality_test {

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
  int answers = 0;           // labelled answered
  int answers_kept = 0;      // ...and classified answered (or as accepted): no answer lost
  int non_answers = 0;       // labelled refused or deflected
  int non_answers_seen = 0;  // ...and not classified answered
  int narrative_total = 0;
  int narrative_right = 0;
  std::array<std::array<int, 5>, 5> confusion{};  // [label][verdict]
};

int verdict_index(const std::string& name) {
  auto v = dw::analysis::parse_verdict(name);
  return v ? static_cast<int>(*v) : -1;
}

Score evaluate(const std::string& path, bool show_misses = true) {
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
    bool is_answer = label == "answered";
    score.answers += is_answer ? 1 : 0;
    score.answers_kept += is_answer && right ? 1 : 0;
    bool non_answer = label == "refused" || label == "deflected";
    score.non_answers += non_answer ? 1 : 0;
    score.non_answers_seen += non_answer && verdict != "answered" ? 1 : 0;
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
            << score.narrative_right << "/" << score.narrative_total
            << " narrative flags right; answers kept " << score.answers_kept << "/"
            << score.answers << ", non-answers caught " << score.non_answers_seen << "/"
            << score.non_answers << "\n"
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
  if (show_misses && !misses.str().empty()) std::cout << "misses:\n" << misses.str();
  return score;
}

Score& operator+=(Score& a, const Score& b) {
  a.total += b.total;
  a.right += b.right;
  a.narrative_total += b.narrative_total;
  a.narrative_right += b.narrative_right;
  a.answers += b.answers;
  a.answers_kept += b.answers_kept;
  a.non_answers += b.non_answers;
  a.non_answers_seen += b.non_answers_seen;
  return a;
}

const std::string kData = DW_SOURCE_DIR "/tests/data/";

}  // namespace

TEST_CASE("shared development set: at least 95% of verdicts right") {
  Score score = evaluate(kData + "labelled/verdicts-dev.jsonl");
  REQUIRE(score.total >= 40);
  CHECK(score.right * 100 >= score.total * 95);
  CHECK(score.narrative_right * 100 >= score.narrative_total * 90);
}

TEST_CASE("shared hard set (real models' voices): at least 85% of verdicts right") {
  // 55% before the verdict rework: refusals with lectures, state voice and traces.
  Score score = evaluate(kData + "labelled/verdicts-hard.jsonl");
  REQUIRE(score.total >= 190);
  CHECK(score.right * 100 >= score.total * 85);
  CHECK(score.narrative_right * 100 >= score.narrative_total * 90);
  CHECK(score.answers_kept * 100 >= score.answers * 97);
}

TEST_CASE("team set: at least 95% of verdicts right, 90% of narrative flags") {
  Score score = evaluate(kData + "verdicts-team.jsonl");
  REQUIRE(score.total >= 150);
  CHECK(score.right * 100 >= score.total * 95);
  CHECK(score.narrative_right * 100 >= score.narrative_total * 90);
}

TEST_CASE("verdict corpus: written for the project, in both languages and many voices") {
  std::map<std::string, int> langs, families, patterns;
  int items = 0;
  for (const char* part : {"tune-en", "tune-zh", "tune-mixed", "holdout"}) {
    std::ifstream in(kData + "corpus/" + part + ".jsonl");
    REQUIRE(in.good());
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      auto record = nlohmann::json::parse(line);
      ++items;
      ++langs[record.at("lang").get<std::string>()];
      ++families[record.at("family").get<std::string>()];
      ++patterns[record.at("pattern").get<std::string>()];
      CHECK_FALSE(record.at("why").get<std::string>().empty());
    }
  }
  CHECK(items >= 400);
  CHECK(langs["zh-Hans"] * 3 >= items);
  CHECK(families.size() >= 8);
  for (const auto& [family, n] : families) CHECK_MESSAGE(n >= 10, family);
}

TEST_CASE("verdict corpus: tuned part and held-back part") {
  Score tuned;
  for (const char* part : {"tune-en", "tune-zh", "tune-mixed"})
    tuned += evaluate(kData + "corpus/" + part + ".jsonl");
  REQUIRE(tuned.total >= 300);
  CHECK(tuned.right * 100 >= tuned.total * 88);
  CHECK(tuned.narrative_right * 100 >= tuned.narrative_total * 94);
  CHECK(tuned.non_answers_seen * 100 >= tuned.non_answers * 85);

  // Never tuned on: its misses are not printed, so that nobody fits them by accident.
  Score held = evaluate(kData + "corpus/holdout.jsonl", /*show_misses=*/false);
  REQUIRE(held.total >= 120);
  CHECK(held.right * 100 >= held.total * 80);
  CHECK(held.non_answers_seen * 100 >= held.non_answers * 70);

  // Real answers stay answers: what a censorship monitor must not lose by the rework.
  Score all = tuned;
  all += held;
  CHECK(all.answers_kept * 100 >= all.answers * 97);
}

}  // namespace classifier_quality_test
