// The HTML report in a real browser: headless Chromium loads the report of a history whose
// answers hold scripts and event handlers that would change the page if they ran, and dumps
// the DOM after loading. The test first shows, on a page of its own, that this setup does run
// scripts and would catch one.
#include <doctest/doctest.h>

#include <fstream>

#include "child.h"
#include "report_fixture.h"

using namespace report_fixture;

namespace {

// The DOM of file after Chromium loaded it, isolated from any profile (its own, in dir),
// network or update.
std::string dump_dom(const TempDir& dir, const fs::path& file) {
  auto o = dw::test::run_tool(
      dir.scratch,
      {"chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
       "--disable-background-networking", "--disable-component-update", "--disable-sync",
       "--user-data-dir=" + (dir.path / "profile").string(), "--dump-dom",
       "file://" + file.string()});
  REQUIRE_MESSAGE(o.code == 0, "chromium failed (scripts/install-deps.sh --test installs it): "
                                   << o.err.substr(0, 300));
  return o.out;
}

size_t count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + 1))
    ++n;
  return n;
}

const std::string kAttack =
    "<script>document.title='PWNED';document.body.appendChild("
    "document.createElement('pwned-script'))</script>"
    "<img src=x onerror=\"document.body.appendChild(document.createElement('pwned-img'))\">"
    "<svg onload=\"document.body.appendChild(document.createElement('pwned-svg'))\"></svg>";

}  // namespace

TEST_CASE("Chromium runs scripts in this setup, so the report test below can fail") {
  TempDir dir;
  fs::path page = dir.path / "control.html";
  std::ofstream(page) << "<!DOCTYPE html><html><head><title>control</title></head><body>"
                      << kAttack << "</body></html>";
  std::string dom = dump_dom(dir, page);
  CHECK(dom.find("<pwned-script>") != std::string::npos);
  CHECK(dom.find("<title>PWNED</title>") != std::string::npos);
}

TEST_CASE("the HTML report runs no script in Chromium and shows its charts") {
  TempDir dir;
  auto s = dw::store::Store::open((dir.path / "h.db").string());
  REQUIRE(s.ok());
  Texts t;
  for (auto& a : t.answer_en) a += " " + kAttack;
  t.canned_en = "Sorry " + kAttack;
  t.model_after = kAttack;
  t.template_text = kAttack;
  fill(**s, t);
  auto o = options(dir.path / "reports");
  o.formats = {"html"};
  auto files = dw::report::write_reports(**s, o);
  REQUIRE(files.ok());
  std::string dom = dump_dom(dir, files->paths.at(0));

  CHECK(dom.find("<title>driftwatch report 2026-01-10</title>") != std::string::npos);
  CHECK(dom.find("<title>PWNED</title>") == std::string::npos);
  CHECK(dom.find("<pwned-") == std::string::npos);
  // The attack is on the page as text, where the reader can see it.
  CHECK(dom.find("&lt;script&gt;document.title='PWNED'") != std::string::npos);
  // One trend chart per endpoint x category (2 x 2) and the legend, all inline SVG.
  CHECK(count(dom, "<svg") == 5);
  CHECK(count(dom, "class=\"trend\"") == 4);
  CHECK(count(dom, "<rect") > 40);
}
