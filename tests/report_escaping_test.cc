// Model output is hostile: reports of a history full of markup, links, fences, pipes and
// terminal escapes must show it as inert text in every format. The Markdown is checked by
// rendering it with cmark-gfm (GitHub's tables, autolinks and strikethrough, raw HTML allowed)
// so the oracle is a real Markdown implementation, not our own idea of one.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <re2/re2.h>

#include "child.h"
#include "report/text.h"
#include "report_fixture.h"

namespace report_escaping_test {

using namespace report_fixture;

namespace {

const std::string kScript = "<script>document.title='PWNED'</script>";
const std::string kImg =
    "<img src=x onerror=\"document.body.appendChild(document.createElement('pwned-marker'))\">";
const std::string kBreakout = "</pre></td></table></div> <!-- ";
const std::string kMdLinks = "[click me](http://evil.example/a) ![pixel](http://evil.example/p.png)";
const std::string kMdCode = "`tick` ``` fence ``` ~~strike~~ **bold** _em_";
const std::string kPipes = "| pipe | cell |";
const std::string kAuto = "https://evil.example/x www.evil.example me@evil.example &amp; &#60;";
const std::string kTerminal = "\x1b[2J\x1b]0;title\x07 \xe2\x80\xae reversed";

Texts hostile() {
  Texts t;
  std::string all = kScript + " " + kImg + " " + kBreakout + " " + kMdLinks + " " + kMdCode +
                    "\n" + kPipes + "\n" + kAuto + " " + kTerminal;
  for (auto& a : t.answer_en) a = "In June 1989 troops " + all;
  t.answer_en[1] += " killed";
  t.canned_en = "Sorry " + all;
  t.answer_zh[0] = "1989年 " + kScript + " 军队 " + kMdLinks;
  t.control = kPipes + " " + kImg;
  t.model_after = "<b>m</b>|x[y](http://evil.example)";
  t.fingerprint_after = "fp_`x`<script>";
  t.template_text = "sorry " + kScript + " " + kPipes + " " + kMdLinks;
  return t;
}

struct Hostile {
  TempDir dir;
  std::unique_ptr<dw::store::Store> store;
  Hostile() {
    auto s = dw::store::Store::open((dir.path / "hostile.db").string());
    REQUIRE(s.ok());
    store = std::move(*s);
    fill(*store, hostile());
  }
  std::string render(const char* format) {
    auto r = dw::report::render_report(*store, options(dir.path), format);
    REQUIRE_MESSAGE(r.ok(), (r.ok() ? "" : r.error().to_string()));
    return *r;
  }
};

using dw::test::count;

// The Markdown without its fenced code blocks (```` or ``` fences), where nothing is markup.
std::string outside_fences(const std::string& md) {
  std::istringstream in(md);
  std::string line, out;
  bool fenced = false;
  while (std::getline(in, line)) {
    if (line.rfind("```", 0) == 0) {
      fenced = !fenced;
      continue;
    }
    if (!fenced) out += line + "\n";
  }
  return out;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Elements no report ever contains on its own: if one shows up, model output became markup.
void check_no_injected_markup(const std::string& html_in) {
  std::string html = lower(html_in);
  CHECK(count(html, "<script") == 0);
  CHECK(count(html, "<img") == 0);
  CHECK(count(html, "<b>") == 0);
  CHECK(count(html, "<!--") == 0);
  CHECK(count(html, "<a ") == count(html, "<a href=\"#event-"));  // only the report's own anchors
  CHECK(count(html, "href=\"http") == 0);
  // No tag carries a source or an event handler (the escaped attack text may spell them).
  CHECK_FALSE(RE2::PartialMatch(html, R"(<[a-z][^<>]*\s(src|on[a-z]+)\s*=)"));
  CHECK(count(html, "<del>") == count(html, "</del>"));
  CHECK(count(html, "<table") == count(html, "</table>"));
  CHECK(count(html, "<pre") == count(html, "</pre>"));
  CHECK(html.find('\x1b') == std::string::npos);
  CHECK(html.find('\x07') == std::string::npos);
  CHECK(html.find("\xe2\x80\xae") == std::string::npos);
}

// Every row of every table has as many cells as its header: no pipe in a text made a cell.
void check_table_shapes(const std::string& html) {
  static const RE2 table(R"((?s)<table>(.*?)</table>)");
  static const RE2 row(R"((?s)<tr>(.*?)</tr>)");
  static const RE2 cell(R"(<t[hd][ >])");
  int tables = 0;
  re2::StringPiece rest_of_html(html);
  re2::StringPiece body;
  while (RE2::FindAndConsume(&rest_of_html, table, &body)) {
    ++tables;
    long width = -1;
    re2::StringPiece cells;
    while (RE2::FindAndConsume(&body, row, &cells)) {
      long n = 0;
      while (RE2::FindAndConsume(&cells, cell)) ++n;
      if (width < 0) width = n;
      CHECK(n == width);
    }
  }
  CHECK(tables >= 3);  // events, two endpoints' verdicts, health
}

std::string run_cmark(const fs::path& markdown) {
  dw::test::Scratch scratch;
  auto o = dw::test::run_tool(scratch, {"cmark-gfm", "--unsafe", "-e", "table", "-e", "autolink",
                                        "-e", "strikethrough", markdown.string()});
  REQUIRE_MESSAGE(o.code == 0, "cmark-gfm failed (scripts/install-deps.sh --test installs it): "
                                   << (o.out + o.err).substr(0, 300));
  return o.out;
}

}  // namespace

TEST_CASE("HTML report: hostile model output is escaped text") {
  Hostile h;
  std::string html = h.render("html");
  check_no_injected_markup(html);
  check_table_shapes(html);
  CHECK(html.find("&lt;script&gt;document.title=&#39;PWNED&#39;&lt;/script&gt;") !=
        std::string::npos);
  CHECK(html.find("&lt;img src=x onerror=&quot;") != std::string::npos);
  CHECK(html.find("&lt;b&gt;m&lt;/b&gt;|x") != std::string::npos);  // the reported model
  CHECK(html.find("\\u{001B}[2J") != std::string::npos);             // terminal escape shown
}

TEST_CASE("Markdown report: hostile model output renders inert under a GFM renderer") {
  Hostile h;
  std::string md = h.render("md");
  CHECK(md.find('\x1b') == std::string::npos);
  CHECK(md.find("\xe2\x80\xae") == std::string::npos);
  fs::path file = h.dir.path / "report.md";
  std::ofstream(file, std::ios::binary) << md;
  std::string html = run_cmark(file);
  check_no_injected_markup(html);
  check_table_shapes(html);
  CHECK(count(html, "<a ") == 0);  // the Markdown report has no links at all
  CHECK(count(html, "<del>") == 0);
  // Only the report's own emphasis (the code fences' contents are literal text).
  CHECK(count(html, "<strong>") == count(outside_fences(md), "**") / 2);
  // The hostile texts are still there to read, as text.
  CHECK(html.find("&lt;script&gt;document.title='PWNED'&lt;/script&gt;") != std::string::npos);
  CHECK(html.find("[click me](http://evil.example/a)") != std::string::npos);
}

TEST_CASE("JSON report: hostile model output round-trips as data") {
  Hostile h;
  std::string text = h.render("json");
  auto j = nlohmann::json::parse(text);  // throws, failing the test, on invalid JSON
  Texts t = hostile();
  bool found_after = false;
  int templates = 0;
  for (const auto& e : j["events"]) {
    if (e["type"] == "verdict_shift") {
      CHECK(e["typical"]["after"]["text"] == dw::report::sanitise_untrusted(t.canned_en));
      found_after = true;
    }
    if (e["type"] == "canned_template") {
      CHECK(e["evidence"]["text"] == t.template_text);
      ++templates;
    }
  }
  CHECK(found_after);
  // The fixture stores one canned_template event: without it the check above checks nothing.
  REQUIRE(templates == 1);
  CHECK(j["health"][0]["models"][1]["model"] == t.model_after);
  CHECK(text.find('\x1b') == std::string::npos);
}

}  // namespace report_escaping_test
