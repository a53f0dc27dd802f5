// The report's "Rules and judge disagree" section: the fixed history of report_fixture.h with
// judgements linked to samples of its last day (the report's period), some hostile. Counts per
// endpoint and verdict pair, the examples chosen, escaping in every format, unusable replies,
// and a report without judgements that is exactly what it was before the judge existed.
#include <doctest/doctest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "child.h"
#include "report/text.h"
#include "report_fixture.h"

namespace report_judge_test {

using namespace report_fixture;
using nlohmann::json;

namespace {

const std::string kReason =
    "<script>document.title='PWNED'</script> [click](http://evil.example/a) | cell | "
    "**bold** _em_ `code`\nsecond line";
const std::string kHostileReply =
    "1989年 <script>alert(1)</script> <img src=x onerror=\"alert(2)\"> [x](http://evil.example) "
    "| pipe | `tick` **bold**\n\x1b[2J then a long tail of words that goes on and on and on so "
    "that the excerpt has to be cut somewhere before its end, well before this last sentence.";

struct Sampled {
  int64_t id = 0;
  std::string hash;
};

struct History {
  TempDir dir;
  std::unique_ptr<dw::store::Store> store;

  explicit History(const Texts& texts = {}) {
    auto s = dw::store::Store::open((dir.path / "judge.db").string());
    REQUIRE(s.ok());
    store = std::move(*s);
    fill(*store, texts);
  }

  // The fixture's sample of day d (its one run, at 06:00) for endpoint, probe and seq.
  Sampled sample(int d, const char* endpoint, const char* probe_id, int seq) {
    Sampled found;
    dw::store::SampleFilter f{.endpoint = endpoint, .probe_id = probe_id, .since = day(d),
                              .until = day(d) + std::chrono::hours(1), .with_text = false};
    REQUIRE(store->for_each_sample(f, [&](const dw::store::SampleRow& row) {
      if (row.key.seq == seq) found = {row.id, row.response_hash};
      return true;
    }).ok());
    REQUIRE(found.id != 0);
    return found;
  }

  // Stores the judge's opinion of the text with hash (verdict "" for an unusable reply) and
  // links each sample to it; returns its id.
  int64_t judge(const std::string& hash, const std::string& verdict, const std::string& reason,
             const std::vector<int64_t>& samples) {
    dw::store::Judgement j{.verdict = verdict, .reason = reason, .model = "judge-m",
                           .prompt_version = "p1", .judged_at = day(9)};
    auto id = store->add_judgement(hash, j);
    REQUIRE(id.ok());
    for (int64_t s : samples) REQUIRE(store->link_judgement(s, *id).ok());
    REQUIRE(store->flush().ok());
    return *id;
  }

  std::string render(const char* format) {
    auto r = dw::report::render_report(*store, options(dir.path / "reports"), format);
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().to_string()));
    return *r;
  }
};

using dw::test::count;

size_t code_points(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// Day 9 of alpha (the period): tiananmen-1989-en seq 1..3 are one deflecting text; zh seq 1..3
// answer with three texts (seq 1 hostile); capital-australia seq 1..3 answer with one text.
// Probes stream in id order (capital, en, zh), so zh seq 1 is the newest disagreement.
struct Judged {
  History h;
  Sampled en[3], zh[3], capital, beta_error, old_en;

  static Texts texts() {
    Texts t;
    t.answer_zh[1] = kHostileReply;  // (9 + seq) % 3 == 1: zh seq 1 of day 9
    return t;
  }

  Judged() : h(texts()) {
    for (int seq = 1; seq <= 3; ++seq) {
      en[seq - 1] = h.sample(9, "alpha", "tiananmen-1989-en", seq);
      zh[seq - 1] = h.sample(9, "alpha", "tiananmen-1989-zh", seq);
    }
    capital = h.sample(9, "alpha", "capital-australia", 1);
    beta_error = h.sample(9, "beta", "capital-australia", 1);
    old_en = h.sample(8, "alpha", "tiananmen-1989-en", 1);

    // deflected -> refused, three samples of one text.
    int64_t refused =
        h.judge(en[0].hash, "refused", "It declines outright.", {en[0].id, en[1].id, en[2].id});
    // answered -> deflected, twice; once with a hostile reason on a hostile reply.
    h.judge(zh[0].hash, "deflected", kReason, {zh[0].id});
    h.judge(capital.hash, "deflected", "Talks around it.", {capital.id});
    // Unusable, and agreeing: judged, but no disagreement.
    h.judge(zh[1].hash, "", "the judge's reply was not JSON", {zh[1].id});
    h.judge(zh[2].hash, "answered", "It answers.", {zh[2].id});
    // Not counted: an error (the judge never replaces one) and a sample before the period.
    REQUIRE(h.store->link_judgement(beta_error.id, refused).ok());
    REQUIRE(h.store->link_judgement(old_en.id, refused).ok());
    REQUIRE(h.store->flush().ok());
  }
};

}  // namespace

TEST_CASE("JSON: counts per endpoint and verdict pair, unusable replies apart, examples") {
  Judged f;
  json r = json::parse(f.h.render("json"));
  REQUIRE(r.contains("judge"));
  REQUIRE(r["judge"].size() == 1);  // beta's only judged sample is an error
  const json& alpha = r["judge"][0];
  CHECK(alpha["endpoint"] == "alpha");
  CHECK(alpha["judged"] == 7);     // 3 en + 3 zh + 1 capital
  CHECK(alpha["unusable"] == 1);   // not a disagreement
  CHECK(alpha["disagreed"] == 5);  // 3 en + zh seq 1 + capital

  // By the rules' verdict, then the judge's, in report order; each with its newest example.
  REQUIRE(alpha["pairs"].size() == 2);
  CHECK(alpha["pairs"][0] == json{{"rules", "answered"}, {"judge", "deflected"},
                                  {"samples", 2}, {"example", f.zh[0].id}});
  CHECK(alpha["pairs"][1] == json{{"rules", "deflected"}, {"judge", "refused"},
                                  {"samples", 3}, {"example", f.en[2].id}});

  // The newest of each pair, then the newest of the rest; shown newest first.
  std::vector<int64_t> ids;
  for (const auto& e : alpha["examples"]) ids.push_back(e["sample_id"]);
  CHECK(ids == std::vector<int64_t>{f.zh[0].id, f.en[2].id, f.en[1].id});

  const json& hostile = alpha["examples"][0];
  CHECK(hostile["probe"] == "tiananmen-1989-zh");
  CHECK(hostile["run_at"] == dw::format_time(day(9)));
  CHECK(hostile["rules_verdict"] == "answered");
  CHECK(hostile["judge_verdict"] == "deflected");
  CHECK(hostile["judge_model"] == "judge-m");
  // Data in JSON: the reason whole, on one line; the reply sanitised, on one line, cut short.
  CHECK(hostile["reason"] == dw::report::sanitise_untrusted(
                                 kReason.substr(0, kReason.find('\n')) + " second line"));
  std::string excerpt = hostile["excerpt"];
  CHECK(excerpt.rfind("1989年 <script>alert(1)</script>", 0) == 0);
  CHECK(excerpt.find('\n') == std::string::npos);
  CHECK(excerpt.find('\x1b') == std::string::npos);
  CHECK(excerpt.find("\\u{001B}[2J") != std::string::npos);
  CHECK(excerpt.size() > 3);
  CHECK(excerpt.substr(excerpt.size() - 3) == "…");
  CHECK(code_points(excerpt) <= 161);
  CHECK(excerpt.find("last sentence") == std::string::npos);
  CHECK(alpha["examples"][1]["excerpt"] == Texts{}.canned_en);  // short: whole
}

TEST_CASE("HTML: examples anchored as sample-N, counts linked to them, model text escaped") {
  Judged f;
  std::string html = f.h.render("html");
  CHECK(html.find("<details class=\"section\" id=\"judge\"><summary><h2>Rules and judge "
                  "disagree</h2></summary>") != std::string::npos);
  for (int64_t id : {f.zh[0].id, f.en[2].id, f.en[1].id})
    CHECK(count(html, "id=\"sample-" + std::to_string(id) + "\"") == 1);
  CHECK(html.find("<a href=\"#sample-" + std::to_string(f.zh[0].id) + "\">2</a>") !=
        std::string::npos);
  CHECK(html.find("<a href=\"#sample-" + std::to_string(f.en[2].id) + "\">3</a>") !=
        std::string::npos);
  // Every link of the report is to an anchor of its own.
  CHECK(count(html, "<a ") ==
        count(html, "<a href=\"#sample-") + count(html, "<a href=\"#event-"));
  CHECK(count(html, "<script") == 0);
  CHECK(count(html, "<img") == 0);
  CHECK(html.find("&lt;script&gt;document.title=&#39;PWNED&#39;&lt;/script&gt;") !=
        std::string::npos);
  CHECK(html.find("1989年 &lt;script&gt;alert(1)&lt;/script&gt; &lt;img src=x onerror=") !=
        std::string::npos);
  CHECK(html.find('\x1b') == std::string::npos);
}

TEST_CASE("Markdown: the section renders inert under a GFM renderer") {
  Judged f;
  std::string md = f.h.render("md");
  size_t section = md.find("## Rules and judge disagree\n");
  REQUIRE(section != std::string::npos);
  std::string part = md.substr(section);
  CHECK(part.find("| alpha | 7 | 1 | 1 | 5 |") != std::string::npos);
  CHECK(part.find("| answered | deflected | 2 | sample " + std::to_string(f.zh[0].id) + " |") !=
        std::string::npos);
  CHECK(part.find("- sample " + std::to_string(f.zh[0].id) + ", tiananmen-1989-zh, run ") !=
        std::string::npos);
  CHECK(part.find("beta") == std::string::npos);
  CHECK(md.find('\x1b') == std::string::npos);

  fs::path file = f.h.dir.scratch.write("section.md", part);
  auto o = dw::test::run_tool(f.h.dir.scratch, {"cmark-gfm", "--unsafe", "-e", "table", "-e",
                                                "autolink", "-e", "strikethrough", file.string()});
  REQUIRE_MESSAGE(o.code == 0, "cmark-gfm failed (scripts/install-deps.sh --test installs it): "
                                   << o.err.substr(0, 300));
  const std::string& html = o.out;
  CHECK(count(html, "<script") == 0);
  CHECK(count(html, "<img") == 0);
  CHECK(count(html, "<a ") == 0);
  CHECK(count(html, "<code>") == 0);
  CHECK(count(html, "<strong>") == 0);
  CHECK(count(html, "<em>") == 0);
  // Both tables kept their shape: no pipe in a text made a cell.
  CHECK(count(html, "<tr>") == 2 + 1 + 2);  // header and alpha; header and two pairs
  CHECK(count(html, "<td") == 5 + 2 * 4);
  // The texts are still there to read, as text.
  CHECK(html.find("&lt;script&gt;document.title='PWNED'&lt;/script&gt;") != std::string::npos);
  CHECK(html.find("[click](http://evil.example/a) | cell |") != std::string::npos);
}

TEST_CASE("judged samples without a disagreement: counts, no pair tables, no examples") {
  History h;
  auto zh2 = h.sample(9, "alpha", "tiananmen-1989-zh", 2);
  auto zh3 = h.sample(9, "alpha", "tiananmen-1989-zh", 3);
  h.judge(zh2.hash, "", "timed out twice", {zh2.id});
  h.judge(zh3.hash, "answered", "It answers.", {zh3.id});
  json r = json::parse(h.render("json"));
  REQUIRE(r["judge"].size() == 1);
  CHECK(r["judge"][0]["judged"] == 2);
  CHECK(r["judge"][0]["unusable"] == 1);
  CHECK(r["judge"][0]["disagreed"] == 0);
  CHECK(r["judge"][0]["pairs"].empty());
  CHECK(r["judge"][0]["examples"].empty());
  std::string md = h.render("md");
  size_t section = md.find("## Rules and judge disagree\n");
  REQUIRE(section != std::string::npos);
  CHECK(md.find("| alpha | 2 | 1 | 1 | 0 |", section) != std::string::npos);
  CHECK(md.find("### ", section) == std::string::npos);
  CHECK(h.render("html").find("id=\"sample-") == std::string::npos);
}

TEST_CASE("without judgements in the period the report is byte for byte what it was") {
  History h;
  // A judgement before the period, agreeing with the rules: it changes no verdict, and the
  // period has none.
  auto old_en = h.sample(8, "alpha", "tiananmen-1989-en", 1);
  h.judge(old_en.hash, "deflected", "Talks around it.", {old_en.id});
  fs::path golden = fs::path(DW_SOURCE_DIR) / "tests/data/golden/report";
  CHECK(h.render("md") == dw::test::slurp(golden / "driftwatch-2026-01-10.md"));
  CHECK(h.render("json") == dw::test::slurp(golden / "driftwatch-2026-01-10.json"));
  std::string html = h.render("html");
  CHECK(html.find("Rules and judge disagree") == std::string::npos);
  CHECK(html.find("id=\"judge\"") == std::string::npos);
  CHECK_FALSE(json::parse(h.render("json")).contains("judge"));
}

}  // namespace report_judge_test
