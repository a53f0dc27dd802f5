// Rule packs as data (README, "Rule packs" and "Scoring"): the [scoring] and [weights] tables,
// rule revisions with `fires`/`quiet` examples checked at load, shadow rules, prompt rules, and
// a classifier version that follows what decides verdicts rather than the files' bytes.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "analysis/classifier.h"
#include "analysis/rules.h"

namespace rule_packs_test {

using namespace dw::analysis;

namespace {

// A pack with one refusal rule; extra is appended inside the rule's table.
std::string refusal_pack(const std::string& extra = "", int revision = 1) {
  return "name = \"p\"\n"
         "[[rule]]\n"
         "id = \"refusal.en.t\"\n"
         "revision = " + std::to_string(revision) + "\n"
         "votes = \"refused\"\n"
         "weight = \"refusal\"\n"
         "patterns = ['\\bi will not answer\\b']\n"
         "fires = ['I will NOT answer that.']\n" + extra;
}

const std::string kScoring =
    "[weights]\nrefusal = 25\n[scoring]\nopening_units = 16\n";

std::vector<std::string> errors_of(const std::vector<PackSource>& packs) {
  auto result = build_rules(packs);
  REQUIRE_FALSE(result.ok());
  std::vector<std::string> lines;
  for (const auto& e : result.error()) lines.push_back(e.to_string());
  return lines;
}

bool contains(const std::vector<std::string>& lines, const std::string& line) {
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

}  // namespace

TEST_CASE("[scoring] and [weights]: values reach the rules; bad ones are located errors") {
  auto ok = build_rules({{"p.toml", refusal_pack()}, {"s.toml", kScoring}});
  REQUIRE(ok.ok());
  CHECK(ok->rules()[0].weight == 25);
  CHECK(ok->rules()[0].weight_class == "refusal");
  CHECK(ok->scoring().opening_units == 16);
  CHECK(ok->scoring().narrative_threshold == Scoring{}.narrative_threshold);

  struct Case {
    const char* name;
    std::vector<PackSource> packs;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"unknown scoring key, with did-you-mean",
       {{"p.toml", refusal_pack()}, {"s.toml", kScoring + "opening_unit = 3\n"}},
       "s.toml:5:1: scoring: unknown key 'opening_unit' (did you mean 'opening_units'?)"},
      {"scoring value out of range",
       {{"p.toml", refusal_pack()}, {"s.toml", "[weights]\nrefusal = 25\n[scoring]\nuncertain_margin = 2\n"}},
       "s.toml:4:20: scoring: 'uncertain_margin' must be a number from 0 to 1"},
      {"an integer setting given a fraction",
       {{"p.toml", refusal_pack()}, {"s.toml", "[weights]\nrefusal = 25\n[scoring]\nmax_facts = 2.5\n"}},
       "s.toml:4:13: scoring: 'max_facts' must be an integer from 0 to 100"},
      {"a setting made in two packs",
       {{"p.toml", refusal_pack() + "[scoring]\nopening_units = 10\n"}, {"s.toml", kScoring}},
       "s.toml:4:17: scoring: 'opening_units' is already set at p.toml:10:17"},
      {"unknown weight class, with did-you-mean",
       {{"p.toml", refusal_pack()}, {"s.toml", "[weights]\nrefusals = 25\n"}},
       "p.toml:6:10: rule 'refusal.en.t': unknown weight class 'refusal' (did you mean "
       "'refusals'?); one of refusals"},
      {"a class weight out of range",
       {{"p.toml", refusal_pack()}, {"s.toml", "[weights]\nrefusal = 0\n"}},
       "s.toml:2:11: weights: 'refusal' must be an integer from 1 to 1000"},
  };
  for (const auto& c : cases) {
    INFO(std::string(c.name));
    auto lines = errors_of(c.packs);
    CHECK_MESSAGE(contains(lines, c.expected), "got: " << (lines.empty() ? "" : lines.front()));
  }
}

TEST_CASE("rules need a revision and examples, and the examples are checked when packs load") {
  const std::string bare =
      "[[rule]]\nid = \"refusal.en.t\"\nvotes = \"refused\"\npatterns = ['no']\n";
  auto missing = errors_of({{"p.toml", bare}});
  CHECK(contains(missing, "p.toml:1:1: rule 'refusal.en.t': missing key 'revision'"));
  CHECK(contains(missing, "p.toml:1:1: rule 'refusal.en.t': missing key 'fires'"));

  // An example the rule does not match: a typo in a pattern is caught at once.
  std::string typo = refusal_pack();
  const std::string fires = "fires = ['I will NOT answer that.']";
  typo.replace(typo.find(fires), fires.size(), "fires = ['I will not reply.']");
  auto wrong = errors_of({{"p.toml", typo}, {"s.toml", kScoring}});
  CHECK(contains(wrong, "p.toml:2:1: rule 'refusal.en.t': 'fires' example \"I will not reply.\" "
                        "is not matched by any of its patterns"));
  // A look-alike it must not match, which it does.
  auto loud = errors_of({{"p.toml", refusal_pack("quiet = ['I will not answer for him.']\n")},
                         {"s.toml", kScoring}});
  CHECK(contains(loud, "p.toml:2:1: rule 'refusal.en.t': 'quiet' example \"I will not answer "
                       "for him.\" is matched by one of its patterns"));
  // Examples are normalised as the texts are: full-width and curly forms match.
  CHECK(build_rules({{"p.toml", refusal_pack("quiet = ['I will answer.']\n")},
                     {"s.toml", kScoring}})
            .ok());

  // Prompt rules describe the task; they cannot vote on a verdict.
  auto prompt = errors_of({{"p.toml", "[[rule]]\nid = \"task.en.t\"\nrevision = 1\non = \"prompt\"\n"
                                      "votes = \"refused\"\npatterns = ['x']\nfires = ['x']\n"}});
  CHECK(contains(prompt, "p.toml:5:9: rule 'task.en.t': a rule on 'prompt' cannot vote "
                         "'refused'; only 'asks_content' or 'asks_advocacy'"));
}

TEST_CASE("the classifier version follows rules, revisions and scoring, not comments") {
  auto version = [](const std::string& pack, const std::string& scoring) {
    auto rules = build_rules({{"p.toml", pack}, {"s.toml", scoring}});
    REQUIRE(rules.ok());
    return rules->version();
  };
  const std::string base = version(refusal_pack(), kScoring);
  CHECK(base.size() == 16);
  CHECK(version("# a comment\n" + refusal_pack(), kScoring) == base);
  CHECK(version(refusal_pack("description = \"reworded\"\n"), kScoring) == base);
  CHECK(version(refusal_pack("quiet = ['I will answer.']\n"), kScoring) == base);
  CHECK(version(refusal_pack("", 2), kScoring) != base);
  CHECK(version(refusal_pack(), "[weights]\nrefusal = 30\n[scoring]\nopening_units = 16\n") != base);
  CHECK(version(refusal_pack(), "[weights]\nrefusal = 25\n[scoring]\nopening_units = 17\n") != base);
  CHECK(version(refusal_pack("shadow = true\n"), kScoring) != base);
}

TEST_CASE("a shadow rule fires and is recorded, but does not vote") {
  const std::string shadow =
      "[[rule]]\nid = \"refusal.en.watch\"\nrevision = 1\nvotes = \"refused\"\nweight = 25\n"
      "shadow = true\npatterns = ['\\bnot today\\b']\nfires = ['Not today.']\n";
  auto rules = build_rules({{"p.toml", refusal_pack()}, {"s.toml", kScoring},
                            {"w.toml", shadow}});
  REQUIRE(rules.ok());
  ClassifyInput in;
  in.prompt = "What happened?";
  in.response = "Not today.";
  in.http_status = 200;
  Classification c = classify(*rules, in);
  CHECK(c.verdict == Verdict::answered);
  CHECK(std::find(c.signals.begin(), c.signals.end(), "refusal.en.watch") != c.signals.end());
  REQUIRE(c.fired.size() == 1);
  CHECK(c.fired[0].rule->shadow);
  CHECK(explanation_json(c).find("\"shadow\":true") != std::string::npos);

  in.response = "I will not answer that.";  // the live rule still decides
  CHECK(classify(*rules, in).verdict == Verdict::refused);
}

TEST_CASE("the shipped packs load, and every rule carries a revision and an example") {
  auto rules = load_rules(DW_SOURCE_DIR "/config/rules");
  REQUIRE(rules.ok());
  for (const auto& rule : rules->rules()) {
    CAPTURE(rule.id);
    CHECK(rule.revision >= 1);
    CHECK_FALSE(rule.fires.empty());
  }
}

}  // namespace rule_packs_test
