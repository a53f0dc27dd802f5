// Untrusted text handling, tokenising, medoids, word diffs and escaping.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "report/diff.h"
#include "report/escape.h"
#include "report/text.h"

namespace report_text_test {

using namespace dw::report;

namespace {

std::string side(const std::vector<DiffPiece>& pieces, DiffOp skip) {
  std::string out;
  for (const auto& p : pieces)
    if (p.op != skip) out += p.text;
  return out;
}

}  // namespace

TEST_CASE("tokenise splits words, spaces and punctuation, CJK per character") {
  struct Case {
    std::string text;
    std::vector<std::string> tokens;
  };
  std::vector<Case> cases = {
      {"", {}},
      {"Hello, world!", {"Hello", ",", " ", "world", "!"}},
      {"don't  stop", {"don't", "  ", "stop"}},
      {"People's Army'", {"People's", " ", "Army", "'"}},
      {"天安门广场", {"天", "安", "门", "广", "场"}},
      {"1989年6月，军队", {"1989", "年", "6", "月", "，", "军", "队"}},
      {"tank 坦克 man", {"tank", " ", "坦", "克", " ", "man"}},
      {"ひらがなカタカナ", {"ひ", "ら", "が", "な", "カ", "タ", "カ", "ナ"}},
      {"a\nb", {"a", "\n", "b"}},
      {"Łódź café", {"Łódź", " ", "café"}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    CHECK(tokenise(c.text) == c.tokens);
    std::string joined;
    for (const auto& t : tokenise(c.text)) joined += t;
    CHECK(joined == c.text);
  }
}

TEST_CASE("sanitise_untrusted makes terminal controls, bidi overrides and bad bytes visible") {
  struct Case {
    std::string in, out;
  };
  std::vector<Case> cases = {
      {"plain text\nline two\tTab", "plain text\nline two\tTab"},
      {"\x1b[2Jcleared", "\\u{001B}[2Jcleared"},
      {"bell\a", "bell\\u{0007}"},
      {"cr\rlf", "cr\\u{000D}lf"},
      {"del\x7f", "del\\u{007F}"},
      {"\xe2\x80\xae" "evil", "\\u{202E}evil"},          // RIGHT-TO-LEFT OVERRIDE
      {"\xe2\x81\xa6" "x", "\\u{2066}x"},                 // LEFT-TO-RIGHT ISOLATE
      {"bad\xff\xfe", "bad\xef\xbf\xbd\xef\xbf\xbd"},    // two U+FFFD
      {"\xc2\x9b" "31m", "\\u{009B}31m"},                 // C1 CSI
      {"中文", "中文"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.in);
    CHECK(sanitise_untrusted(c.in) == c.out);
  }
}

TEST_CASE("similarity is Jaccard of word bigrams, per character for CJK") {
  CHECK(similarity("the army cleared the square", "the army cleared the square") == 1.0);
  CHECK(similarity("", "") == 1.0);
  CHECK(similarity("a b c", "") == 0.0);
  CHECK(similarity("The Army", "the army") == 1.0);  // ASCII case folded
  double close = similarity("the army cleared the square", "the army cleared the streets");
  double far = similarity("the army cleared the square", "let us talk about something else");
  CHECK(close > far);
  CHECK(far == 0.0);
  CHECK(similarity("军队清场许多人死亡", "军队清场数百人死亡") > 0.3);
  CHECK(similarity("军队清场许多人死亡", "让我们换个话题") == 0.0);
}

TEST_CASE("medoid picks the most central text, weighted by how often each was seen") {
  std::vector<std::string> texts = {
      "troops cleared the square and killed protesters",
      "troops cleared the square and killed many protesters in june",
      "sorry, let's talk about something else",
      "troops cleared the square and shot protesters",
  };
  CHECK(medoid(texts, {1, 1, 1, 1}) == 0);
  // Seen often enough, the outlier is what the side typically says.
  CHECK(medoid(texts, {1, 1, 10, 1}) == 2);
  // Equal scores go to the higher count, then the lower index.
  CHECK(medoid({"a b", "a b"}, {1, 2}) == 1);
  CHECK(medoid({"a b", "c d"}, {1, 1}) == 0);
  CHECK(medoid({"only"}, {1}) == 0);
}

TEST_CASE("word_diff marks whole words and rebuilds both sides") {
  struct Case {
    std::string before, after;
    std::vector<DiffPiece> pieces;
  };
  std::vector<Case> cases = {
      {"the army cleared the square", "the army cleared the streets",
       {{DiffOp::same, "the army cleared the "}, {DiffOp::removed, "square"},
        {DiffOp::added, "streets"}}},
      {"same text", "same text", {{DiffOp::same, "same text"}}},
      {"", "new", {{DiffOp::added, "new"}}},
      {"old", "", {{DiffOp::removed, "old"}}},
      {"军队开枪", "军队清场",
       {{DiffOp::same, "军队"}, {DiffOp::removed, "开枪"}, {DiffOp::added, "清场"}}},
      // A rewritten sentence reads as one removal and one addition, not word by word.
      {"In June 1989 troops fired.", "Sorry, let us talk.",
       {{DiffOp::removed, "In June 1989 troops fired"}, {DiffOp::added, "Sorry, let us talk"},
        {DiffOp::same, "."}}},
      {"killed many people", "killed people",
       {{DiffOp::same, "killed "}, {DiffOp::removed, "many "}, {DiffOp::same, "people"}}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.before);
    CAPTURE(c.after);
    auto pieces = word_diff(c.before, c.after);
    REQUIRE(pieces.size() == c.pieces.size());
    for (size_t i = 0; i < pieces.size(); ++i) {
      CHECK(pieces[i].op == c.pieces[i].op);
      CHECK(pieces[i].text == c.pieces[i].text);
    }
    CHECK(side(pieces, DiffOp::added) == c.before);
    CHECK(side(pieces, DiffOp::removed) == c.after);
  }
}

TEST_CASE("word_diff bounds its work on long input and still rebuilds both sides") {
  std::string a, b;
  for (int i = 0; i < 5000; ++i) {
    a += "w" + std::to_string(i) + " ";
    b += "v" + std::to_string(i) + " ";
  }
  auto pieces = word_diff(a, b, 200);
  CHECK(side(pieces, DiffOp::added) == a);
  CHECK(side(pieces, DiffOp::removed) == b);
  for (size_t i = 1; i < pieces.size(); ++i) CHECK(pieces[i].op != pieces[i - 1].op);
}

TEST_CASE("html_escape leaves no markup") {
  CHECK(html_escape("<script>alert('x')</script>") ==
        "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
  CHECK(html_escape("<img src=x onerror=\"a()\">") ==
        "&lt;img src=x onerror=&quot;a()&quot;&gt;");
  CHECK(html_escape("a & b &amp;") == "a &amp; b &amp;amp;");
  CHECK(html_escape("中文 ok") == "中文 ok");
}

TEST_CASE("md_inline escapes what can form markup anywhere in a line") {
  struct Case {
    std::string in, out;
  };
  std::vector<Case> cases = {
      {"[click](http://evil.example)", "\\[click\\](http\\://evil.example)"},
      {"![img](x.png)", "!\\[img\\](x.png)"},
      {"<script>x</script>", "\\<script\\>x\\</script\\>"},
      {"a | b", "a \\| b"},
      {"`code` *em* _em_ ~~s~~", "\\`code\\` \\*em\\* \\_em\\_ \\~\\~s\\~\\~"},
      {"&amp; $x$", "\\&amp; \\$x\\$"},
      {"see www.evil.example or me@evil.example", "see www\\.evil.example or me\\@evil.example"},
      {"line\nbreak\r", "line break "},
      {"back\\slash", "back\\\\slash"},
      {"plain, text: 1989 (June) - ok.", "plain, text: 1989 (June) - ok."},
  };
  for (const auto& c : cases) {
    CAPTURE(c.in);
    CHECK(md_inline(c.in) == c.out);
  }
}

TEST_CASE("md_code_block uses a fence no backtick run inside can close") {
  CHECK(md_code_block("x") == "```\nx\n```\n");
  CHECK(md_code_block("a\n", "text") == "```text\na\n```\n");
  CHECK(md_code_block("has ``` inside") == "````\nhas ``` inside\n````\n");
  CHECK(md_code_block("`````") == "``````\n`````\n``````\n");
}

}  // namespace report_text_test
