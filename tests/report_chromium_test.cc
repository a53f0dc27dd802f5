// The HTML report in a real browser: headless Chromium loads the report of a history whose
// answers hold scripts and event handlers that would change the page if they ran, and dumps
// the DOM after loading. The test first shows, on a page of its own, that this setup does run
// scripts and would catch one. Then the report's layout at a laptop's and a phone's width.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "child.h"
#include "report_fixture.h"

namespace report_chromium_test {

using namespace report_fixture;

namespace {

// The DOM of file after Chromium loaded it, isolated from any profile (its own, in dir),
// network or update. extra: more switches, before the page.
std::string dump_dom(const TempDir& dir, const fs::path& file,
                     const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv = {
      "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--user-data-dir=" + (dir.path / "profile").string()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back("--dump-dom");
  argv.push_back("file://" + file.string());
  auto o = dw::test::run_tool(dir.scratch, argv);
  REQUIRE_MESSAGE(o.code == 0, "chromium failed (scripts/install-deps.sh --test installs it): "
                                   << o.err.substr(0, 300));
  return o.out;
}

using dw::test::count;

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
  // One trend chart per endpoint x category (2 x 2), a heatmap and a language-gap chart per
  // endpoint, all inline SVG.
  CHECK(count(dom, "class=\"trend\"") == 4);
  CHECK(count(dom, "<figure class=\"heatmap\">") == 2);
  CHECK(count(dom, "class=\"gap\"") == 2);
  CHECK(count(dom, "<rect") > 40);
}

namespace {

// A page that loads each of pages in an iframe of the given width (its viewport: Chromium's
// own window has a minimum width above a phone's) and writes what it measured into its own
// DOM, as <output id="m<N>">: the document's scrollWidth, its clientWidth, and the first few
// elements that reach past clientWidth outside a table's scroll box, first as loaded and then
// with every <details> opened. The report itself may run no script (its CSP says so); the
// parent reads the frame's DOM, which needs --allow-file-access-from-files.
std::string measuring_page(const std::vector<std::pair<fs::path, int>>& pages) {
  std::string page = R"(<!DOCTYPE html><html><body style="margin:0"><script>
function measure(doc) {
  var root = doc.documentElement, limit = root.clientWidth, culprits = [];
  doc.body.querySelectorAll('*').forEach(function (el) {
    if (culprits.length >= 3) return;
    var box = el.parentElement && el.parentElement.closest('.scroll');
    if (box) return;  // inside a table's own scroll area: the box itself is what counts
    if (el.closest('details:not([open]) > :not(summary)')) return;  // not shown
    if (el.getBoundingClientRect().right > limit + 0.5)
      culprits.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : ''));
  });
  return root.scrollWidth + ' ' + limit + ' ' + (culprits.join(',') || '-');
}
function load(src, width, id) {
  var frame = document.createElement('iframe');
  frame.style.cssText = 'display:block;border:0;height:900px;width:' + width + 'px';
  frame.addEventListener('load', function () {
    var doc = frame.contentDocument, text;
    try {
      text = measure(doc);
      doc.querySelectorAll('details').forEach(function (d) { d.open = true; });
      text += ' ' + measure(doc);
    } catch (e) { text = 'error ' + e; }
    var out = document.createElement('output');
    out.id = id;
    out.textContent = text;
    document.body.appendChild(out);
  });
  frame.src = src;
  document.body.appendChild(frame);
}
)";
  for (size_t i = 0; i < pages.size(); ++i)
    page += "load('file://" + pages[i].first.string() + "', " + std::to_string(pages[i].second) +
            ", 'm" + std::to_string(i) + "');\n";
  return page + "</script></body></html>\n";
}

struct Measured {
  long scroll = -1, client = -1;  // as loaded
  std::string culprits;
  long scroll_open = -1, client_open = -1;  // with every <details> open
  std::string culprits_open;
  std::string text;  // as written, for messages
};

Measured measured(const std::string& dom, size_t i) {
  std::string open = "<output id=\"m" + std::to_string(i) + "\">";
  size_t at = dom.find(open);
  REQUIRE_MESSAGE(at != std::string::npos, "no measurement " << i << " in " << dom.substr(0, 400));
  at += open.size();
  std::string text = dom.substr(at, dom.find("</output>", at) - at);
  Measured m;
  m.text = text;
  std::istringstream in(text);
  in >> m.scroll >> m.client >> m.culprits >> m.scroll_open >> m.client_open >> m.culprits_open;
  REQUIRE_MESSAGE(m.client_open > 0, "measurement " << i << ": " << text);
  return m;
}

}  // namespace

TEST_CASE("the HTML report fits 1280 px and 390 px: no sideways scrolling outside its tables") {
  TempDir dir;
  auto s = dw::store::Store::open((dir.path / "h.db").string());
  REQUIRE(s.ok());
  // Long words that cannot break at a space, where model output lands: answers (typical
  // answers, diffs), the stock reply (evidence, incident lines) and the reported model id.
  Texts t;
  std::string word(300, 'w');
  for (auto& a : t.answer_en) a += " " + word;
  t.canned_en = "Sorry " + word;
  t.template_text = word;
  t.model_after = std::string(120, 'm');
  fill(**s, t);
  auto o = options(dir.path / "reports");
  o.formats = {"html"};
  o.trend_days = 30;  // the default: the widest heatmap
  auto files = dw::report::write_reports(**s, o);
  REQUIRE(files.ok());

  // A control: a page wider than the phone is caught, so the measurement can fail.
  fs::path wide = dir.path / "wide.html";
  std::ofstream(wide) << "<!DOCTYPE html><html><body><div style=\"width:600px\">wide</div>"
                         "</body></html>";
  fs::path page = dir.path / "measure.html";
  std::ofstream(page) << measuring_page(
      {{files->paths.at(0), 1280}, {files->paths.at(0), 390}, {wide, 390}});
  std::string dom =
      dump_dom(dir, page, {"--allow-file-access-from-files", "--window-size=1400,1000"});

  Measured control = measured(dom, 2);
  CHECK(control.scroll > control.client);
  CHECK(control.culprits != "-");

  for (size_t i : {0, 1}) {
    int width = i == 0 ? 1280 : 390;
    CAPTURE(width);
    Measured m = measured(dom, i);
    CAPTURE(m.text);
    // The frame is the viewport: its width less a vertical scrollbar, if one is drawn.
    CHECK(m.client <= width);
    CHECK(m.client >= width - 20);
    CHECK(m.scroll <= m.client);
    CHECK(m.culprits == "-");
    CHECK(m.scroll_open <= m.client_open);
    CHECK(m.culprits_open == "-");
  }
}

}  // namespace report_chromium_test
