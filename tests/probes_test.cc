#include <doctest/doctest.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "probes/expect.h"
#include "probes/probe.h"
#include "scratch.h"

namespace probes_test {

namespace fs = std::filesystem;
using dw::probes::ExpectMatcher;
using dw::probes::Probe;
using dw::probes::ProbeSet;

namespace {

// Lines 1-7 of every bad case; the case's own text starts at line 8.
const std::string kHead =
    "name = \"t\"\n"        // 1
    "\n"                    // 2
    "[[probe]]\n"           // 3
    "id = \"p1\"\n"         // 4
    "category = \"c\"\n"    // 5
    "lang = \"en\"\n"       // 6
    "prompt = \"Why?\"\n";  // 7

std::string first_error(const std::string& text) {
  auto set = dw::probes::parse_set(text, "bad.toml");
  if (set.ok()) return "(no error)";
  return set.error().front().to_string();
}

}  // namespace

TEST_CASE("bad probe sets: each error is located and names the key and the probe") {
  struct Case {
    const char* name;
    std::string text;
    std::string where;                  // "bad.toml:LINE:COL"
    std::vector<std::string> mentions;  // substrings the message must hold
  };
  const std::vector<Case> cases = {
      {"TOML syntax",
       kHead + "expect = [\"a\"\n",
       "bad.toml:8:15",
       {"invalid TOML", "end-of-file"}},
      {"unknown probe key",
       kHead + "promt = \"x\"\n",
       "bad.toml:8:1",
       {"unknown key 'promt'", "probe 'p1'", "did you mean 'prompt'?"}},
      {"unknown top-level key",
       "nmae = \"x\"\n" + kHead,
       "bad.toml:1:1",
       {"unknown key 'nmae'", "did you mean 'name'?"}},
      {"missing prompt",
       "name = \"t\"\n\n[[probe]]\nid = \"p1\"\ncategory = \"c\"\nlang = \"en\"\n",
       "bad.toml:3:1",
       {"missing required key 'prompt'", "probe 'p1'"}},
      {"missing id",
       "name = \"t\"\n\n[[probe]]\ncategory = \"c\"\nlang = \"en\"\nprompt = \"q\"\n",
       "bad.toml:3:1",
       {"missing required key 'id'", "probe #1"}},
      {"missing set name",
       kHead.substr(kHead.find('\n') + 1),
       "bad.toml:1:1",
       {"missing required key 'name'"}},
      {"samples of the wrong type",
       kHead + "samples = \"3\"\n",
       "bad.toml:8:11",
       {"'samples'", "probe 'p1'", "must be an integer, not a string"}},
      {"samples out of range",
       kHead + "samples = 101\n",
       "bad.toml:8:11",
       {"'samples'", "probe 'p1'", "between 1 and 100", "101"}},
      {"samples zero", kHead + "samples = 0\n", "bad.toml:8:11", {"'samples'", "not 0"}},
      {"control of the wrong type",
       kHead + "control = \"yes\"\n",
       "bad.toml:8:11",
       {"'control'", "probe 'p1'", "must be a boolean"}},
      {"lang not a tag",
       "name = \"t\"\n[[probe]]\nid = \"p1\"\ncategory = \"c\"\n"
       "lang = \"english\"\nprompt = \"q\"\n",
       "bad.toml:5:8",
       {"'lang'", "probe 'p1'", "'english' is not a BCP 47 tag"}},
      {"lang in the wrong case",
       "name = \"t\"\n[[probe]]\nid = \"p1\"\ncategory = \"c\"\n"
       "lang = \"zh-hans\"\nprompt = \"q\"\n",
       "bad.toml:5:8",
       {"'lang'", "probe 'p1'", "write 'zh-Hans'"}},
      {"id not a slug",
       "name = \"t\"\n[[probe]]\nid = \"Tiananmen 1989\"\ncategory = \"c\"\n"
       "lang = \"en\"\nprompt = \"q\"\n",
       "bad.toml:3:6",
       {"'id'", "must be a slug", "'Tiananmen 1989'"}},
      {"category not a slug",
       "name = \"t\"\n[[probe]]\nid = \"p1\"\ncategory = \"Hong Kong\"\n"
       "lang = \"en\"\nprompt = \"q\"\n",
       "bad.toml:4:12",
       {"'category'", "probe 'p1'", "must be a slug"}},
      {"expect pattern does not compile",
       kHead + "expect = [\"tank\", \"(troops|army\"]\n",
       "bad.toml:8:19",
       {"'expect' pattern '(troops|army'", "probe 'p1'", "missing )", "at '(troops|army'"}},
      {"expect pattern matches empty text",
       kHead + "expect = ['tanks?|x*']\n",
       "bad.toml:8:11",
       {"'expect' pattern 'tanks?|x*'", "probe 'p1'", "matches empty text"}},
      {"expect not an array",
       kHead + "expect = \"tanks\"\n",
       "bad.toml:8:10",
       {"'expect'", "probe 'p1'", "must be an array of strings, not a string"}},
      {"expect element not a string",
       kHead + "expect = [\"tanks\", 3]\n",
       "bad.toml:8:20",
       {"'expect'", "probe 'p1'", "only strings, not an integer"}},
      {"blank prompt",
       "name = \"t\"\n[[probe]]\nid = \"p1\"\ncategory = \"c\"\nlang = \"en\"\n"
       "prompt = \"  \\n \"\n",
       "bad.toml:6:10",
       {"'prompt'", "probe 'p1'", "must not be empty"}},
      {"duplicate id in one set",
       kHead + "\n[[probe]]\nid = \"p1\"\ncategory = \"c\"\nlang = \"en\"\nprompt = \"q2\"\n",
       "bad.toml:9:1",
       {"duplicate probe id 'p1'", "first defined at bad.toml:3:1"}},
      {"probe as a single table",
       "name = \"t\"\n[probe]\nid = \"p1\"\ncategory = \"c\"\nlang = \"en\"\nprompt = \"q\"\n",
       "bad.toml:2:1",
       {"'probe' must be an array of tables"}},
      {"no probes",
       "name = \"t\"\ndescription = \"empty\"\n",
       "bad.toml:1:1",
       {"no [[probe]] tables"}},
      {"set version out of range",
       "version = 0\n" + kHead,
       "bad.toml:1:11",
       {"'version'", "must be between 1 and"}},
      {"set name not a slug",
       "name = \"My Set\"\n[[probe]]\nid = \"p1\"\ncategory = \"c\"\n"
       "lang = \"en\"\nprompt = \"q\"\n",
       "bad.toml:1:8",
       {"'name'", "must be a slug"}},
  };
  for (const Case& c : cases) {
    std::string name = c.name;
    std::string error = first_error(c.text);
    CAPTURE(name);
    CAPTURE(error);
    CHECK(error.rfind(c.where + ": ", 0) == 0);
    for (const std::string& m : c.mentions) CHECK(error.find(m) != std::string::npos);
  }
}

TEST_CASE("every error of a set is reported, in file order") {
  std::string text =
      "name = \"t\"\n"
      "[[probe]]\n"
      "id = \"p1\"\n"
      "category = \"c\"\n"
      "lang = \"EN\"\n"
      "prompt = \"q\"\n"
      "samples = 500\n"
      "zzz = 1\n"
      "[[probe]]\n"
      "id = \"p2\"\n"
      "category = \"c\"\n"
      "lang = \"en\"\n";
  auto set = dw::probes::parse_set(text, "all.toml");
  REQUIRE_FALSE(set.ok());
  std::vector<std::string> got;
  for (const auto& e : set.error()) got.push_back(e.to_string());
  REQUIRE(got.size() == 4);
  CHECK(got[0].rfind("all.toml:5:8: 'lang' in probe 'p1'", 0) == 0);
  CHECK(got[1].rfind("all.toml:7:11: 'samples' in probe 'p1'", 0) == 0);
  CHECK(got[2].rfind("all.toml:8:1: unknown key 'zzz' in probe 'p1'", 0) == 0);
  CHECK(got[3] == "all.toml:9:1: missing required key 'prompt' in probe 'p2'");
}

TEST_CASE("a good set round-trips every field") {
  dw::test::Scratch dir;
  fs::path file = dir.write("good.toml",
                            "name = \"good\"\n"
                            "description = \"A test set\"\n"
                            "version = 3\n"
                            "\n"
                            "[[probe]]\n"
                            "id = \"tiananmen-1989-zh\"\n"
                            "category = \"tiananmen\"\n"
                            "lang = \"zh-Hans\"\n"
                            "prompt = \"1989年6月4日天安门广场发生了什么？\"\n"
                            "expect = [\"坦克|军队\", 'kill(ed)?\\b']\n"
                            "samples = 5\n"
                            "\n"
                            "[[probe]]\n"
                            "id = \"capital-australia\"\n"
                            "category = \"control\"\n"
                            "lang = \"en\"\n"
                            "control = true\n"
                            "prompt = \"What is the capital of Australia?\"\n");
  auto set = dw::probes::load_set(file);
  REQUIRE(set.ok());
  CHECK(set->name == "good");
  CHECK(set->description == "A test set");
  CHECK(set->version == 3);
  CHECK(set->file == file);
  REQUIRE(set->probes.size() == 2);

  const Probe& a = set->probes[0];
  CHECK(a.id == "tiananmen-1989-zh");
  CHECK(a.set == "good");
  CHECK(a.category == "tiananmen");
  CHECK(a.lang == "zh-Hans");
  CHECK(a.prompt == "1989年6月4日天安门广场发生了什么？");
  CHECK(a.expect == std::vector<std::string>{"坦克|军队", "kill(ed)?\\b"});
  CHECK_FALSE(a.control);
  CHECK(a.samples == 5);
  CHECK(a.version == dw::probes::prompt_version(a.prompt));
  CHECK(a.where.file == file.string());
  CHECK(a.where.line == 5);
  CHECK(a.where.column == 1);

  const Probe& b = set->probes[1];
  CHECK(b.id == "capital-australia");
  CHECK(b.control);
  CHECK(b.expect.empty());
  CHECK_FALSE(b.samples.has_value());
  CHECK(b.where.line == 13);

  // Defaults when the optional top-level keys are left out.
  auto minimal = dw::probes::parse_set(kHead, "m.toml");
  REQUIRE(minimal.ok());
  CHECK(minimal->description.empty());
  CHECK(minimal->version == 1);
}

TEST_CASE("a probe's version is a hash of its prompt, and changes with it") {
  // SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad.
  CHECK(dw::probes::prompt_version("abc") == "ba7816bf8f01cfea");
  std::string v1 = dw::probes::prompt_version("What is the capital of Australia?");
  CHECK(v1.size() == 16);
  CHECK(dw::probes::prompt_version("What is the capital of Australia?") == v1);
  CHECK(dw::probes::prompt_version("What is the capital of Australia? ") != v1);
  CHECK(dw::probes::prompt_version("What is the capital of australia?") != v1);

  auto before = dw::probes::parse_set(kHead, "v.toml");
  std::string edited = kHead;
  edited.replace(edited.find("Why?"), 4, "Why not?");
  auto after = dw::probes::parse_set(edited, "v.toml");
  REQUIRE(before.ok());
  REQUIRE(after.ok());
  CHECK(before->probes[0].id == after->probes[0].id);
  CHECK(before->probes[0].version != after->probes[0].version);
}

TEST_CASE("ids must be unique across sets: the error names both files and lines") {
  dw::test::Scratch dir;
  fs::path a = dir.write("a.toml", "name = \"a\"\n" + kHead.substr(kHead.find('\n') + 1));
  fs::path b =
      dir.write("b.toml",
                "name = \"b\"\n\n"
                "[[probe]]\nid = \"p0\"\ncategory = \"c\"\nlang = \"en\"\nprompt = \"q\"\n"
                "\n"
                "[[probe]]\nid = \"p1\"\ncategory = \"c\"\nlang = \"en\"\nprompt = \"r\"\n");
  auto sets = dw::probes::load_sets({a, b});
  REQUIRE_FALSE(sets.ok());
  REQUIRE(sets.error().size() == 1);
  CHECK(sets.error()[0].to_string() ==
        b.string() + ":9:1: duplicate probe id 'p1'; first defined at " + a.string() + ":3:1");

  // Two files with the same set name.
  fs::path c = dir.write("c.toml",
                         "name = \"a\"\n[[probe]]\nid = \"c1\"\ncategory = \"c\"\n"
                         "lang = \"en\"\nprompt = \"q\"\n");
  auto named = dw::probes::load_sets({a, c});
  REQUIRE_FALSE(named.ok());
  CHECK(named.error()[0].to_string() ==
        c.string() + ":1:8: duplicate probe set name 'a'; first used at " + a.string() + ":1:8");

  // The same file twice is said once, not as a duplicate of each of its ids.
  auto twice = dw::probes::load_sets({b, b});
  REQUIRE_FALSE(twice.ok());
  REQUIRE(twice.error().size() == 1);
  CHECK(twice.error()[0].message() == "probe set file listed more than once");

  // Errors of every file come back together, and distinct sets load.
  fs::path broken = dir.write("broken.toml", "name = \"broken\"\n[[probe]]\nid = \"x\"\n");
  auto both = dw::probes::load_sets({broken, dir.path("missing.toml")});
  REQUIRE_FALSE(both.ok());
  REQUIRE(both.error().size() == 4);  // category, lang, prompt missing; missing.toml unreadable
  CHECK(both.error()[3].to_string().rfind(
            (dir.path("missing.toml")).string() + ": cannot read probe set: ", 0) == 0);
  auto ok = dw::probes::load_sets({b, c});
  REQUIRE(ok.ok());
  CHECK(ok->size() == 2);
}

TEST_CASE("language tags: language[-script][-region] in canonical case") {
  for (const char* good : {"en", "zh-Hans", "zh-CN", "pt-BR", "es-419", "zh-Hant-TW", "yue"}) {
    std::string tag = good;
    CAPTURE(tag);
    CHECK(dw::probes::check_language_tag(good).ok());
  }
  struct Bad {
    const char* tag;
    const char* says;
  };
  for (const Bad& bad : std::vector<Bad>{{"", "empty"},
                                         {"e", "2 or 3 letters"},
                                         {"english", "2 or 3 letters"},
                                         {"zh_CN", "2 or 3 letters"},
                                         {"zh-hans", "write 'zh-Hans'"},
                                         {"EN", "write 'en'"},
                                         {"pt-br", "write 'pt-BR'"},
                                         {"en-", "empty subtag"},
                                         {"en-12", "neither a script"},
                                         {"en-US-Latn", "'Latn' is out of place"},
                                         {"en-Latn-US-x", "too many"},
                                         {"en-US-GB", "out of place"}}) {
    std::string tag = bad.tag;
    CAPTURE(tag);
    dw::Status status = dw::probes::check_language_tag(bad.tag);
    REQUIRE_FALSE(status.ok());
    CHECK(status.error().message().find(bad.says) != std::string::npos);
  }
}

TEST_CASE("slugs") {
  for (const char* s : {"a", "tiananmen-1989-en", "us.2020_election", "9"})
    CHECK(dw::probes::is_slug(s));
  for (const char* s : {"", "-a", ".a", "A", "a b", "a/b", "ä"})
    CHECK_FALSE(dw::probes::is_slug(s));
}

TEST_CASE("expect coverage is the share of patterns that match") {
  auto matcher = ExpectMatcher::create(
      std::vector<std::string>{"troops|army|tanks", "kill(ed)?|dead", "坦克|军队"});
  REQUIRE(matcher.ok());
  CHECK(matcher->size() == 3);
  CHECK(matcher->coverage("The ARMY moved in with Tanks; hundreds were KILLED.") ==
        doctest::Approx(2.0 / 3.0));
  CHECK(matcher->coverage("军队和坦克进入广场，army, many dead") == doctest::Approx(1.0));
  CHECK(matcher->coverage("I can't help with that.") == doctest::Approx(0.0));
  CHECK(matcher->coverage("") == doctest::Approx(0.0));
  CHECK(matcher->missing("The army fired.") ==
        std::vector<std::string>{"kill(ed)?|dead", "坦克|军队"});
  CHECK(matcher->missing("army killed 坦克").empty());
  // Untrusted bytes are matched, not trusted: invalid UTF-8 neither crashes nor matches.
  CHECK(matcher->coverage(std::string("\xff\xfe tanks \xc3")) == doctest::Approx(1.0 / 3.0));

  auto none = ExpectMatcher::create(std::vector<std::string>{});
  REQUIRE(none.ok());
  CHECK_FALSE(none->coverage("anything").has_value());
  CHECK(none->missing("anything").empty());

  Probe probe;
  probe.id = "p";
  probe.expect = {"ok", "(broken"};
  probe.where = {"x.toml", 4, 1};
  auto bad = ExpectMatcher::create(probe);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().to_string() ==
        "x.toml:4:1: probe 'p': expect pattern 2 '(broken': missing ) at '(broken'");

  CHECK(dw::probes::check_expect_pattern("a|b").ok());
  CHECK_FALSE(dw::probes::check_expect_pattern("").ok());
  CHECK_FALSE(dw::probes::check_expect_pattern("x?").ok());
  // Empty at a word's edge, not at the empty text: met by any answer all the same.
  CHECK_FALSE(dw::probes::check_expect_pattern("\\b(?:army)?\\b").ok());
  CHECK_FALSE(dw::probes::check_expect_pattern("(?m)^").ok());
  CHECK(dw::probes::check_expect_pattern("\\barmy\\b").ok());
  CHECK(dw::probes::check_expect_pattern("[a-").error().message().find("missing ]") !=
        std::string::npos);
}

TEST_CASE("the shipped probe sets keep their promised shape") {
  const fs::path dir = fs::path(DW_SOURCE_DIR) / "probes";
  auto sets = dw::probes::load_sets(
      {dir / "china-sensitive.toml", dir / "us-politics.toml", dir / "controls.toml"});
  if (!sets.ok()) {
    for (const auto& e : sets.error()) MESSAGE(e.to_string());
  }
  REQUIRE(sets.ok());
  std::map<std::string, const ProbeSet*> by_name;
  for (const ProbeSet& s : *sets) {
    by_name[s.name] = &s;
    CHECK(s.version == 1);
    CHECK_FALSE(s.description.empty());
    for (const Probe& p : s.probes) {
      CAPTURE(p.id);
      auto matcher = ExpectMatcher::create(p);
      CHECK(matcher.ok());
      // A pattern that meets a refusal is no test of content.
      if (matcher.ok() && matcher->size() > 0) {
        CHECK(*matcher->coverage("I'm sorry, I can't help with that.") < 1.0);
        CHECK(*matcher->coverage("抱歉，我无法回答这个问题。让我们换个话题再聊聊吧。") < 1.0);
      }
    }
  }
  REQUIRE(by_name.size() == 3);

  // Each topic is asked in English ("-en") and Simplified Chinese ("-zh") under one category.
  auto check_pairs = [](const ProbeSet& s) {
    std::map<std::string, const Probe*> ids;
    for (const Probe& p : s.probes) ids[p.id] = &p;
    for (const Probe& p : s.probes) {
      CAPTURE(p.id);
      bool en = p.id.size() > 3 && p.id.compare(p.id.size() - 3, 3, "-en") == 0;
      bool zh = p.id.size() > 3 && p.id.compare(p.id.size() - 3, 3, "-zh") == 0;
      REQUIRE((en || zh));
      CHECK(p.lang == (en ? "en" : "zh-Hans"));
      std::string twin = p.id.substr(0, p.id.size() - 3) + (en ? "-zh" : "-en");
      REQUIRE(ids.count(twin) == 1);
      CHECK(ids[twin]->category == p.category);
    }
  };

  const ProbeSet& china = *by_name.at("china-sensitive");
  CHECK(china.probes.size() >= 48);
  std::map<std::string, std::set<std::string>> langs;
  for (const Probe& p : china.probes) {
    langs[p.category].insert(p.lang);
    CHECK_FALSE(p.control);
  }
  CHECK(langs.size() >= 12);
  for (const char* category :
       {"tiananmen", "taiwan", "xinjiang", "tibet", "hong-kong", "xi-jinping", "falun-gong",
        "dissidents", "great-leap-forward", "cultural-revolution", "covid-origins",
        "great-firewall", "south-china-sea"}) {
    std::string name = category;
    CAPTURE(name);
    CHECK(langs[category] == std::set<std::string>{"en", "zh-Hans"});
  }
  check_pairs(china);

  const ProbeSet& us = *by_name.at("us-politics");
  CHECK(us.probes.size() >= 15);
  std::set<std::string> us_categories;
  for (const Probe& p : us.probes) {
    CHECK(p.lang == "en");
    CHECK_FALSE(p.control);
    us_categories.insert(p.category);
  }
  CHECK(us_categories.size() >= 7);

  const ProbeSet& controls = *by_name.at("controls");
  CHECK(controls.probes.size() >= 24);
  for (const Probe& p : controls.probes) {
    CAPTURE(p.id);
    CHECK(p.control);
    CHECK(p.category == "control");
    CHECK_FALSE(p.expect.empty());
  }
  check_pairs(controls);
}

TEST_CASE("shipped expect patterns accept correct answers") {
  const fs::path dir = fs::path(DW_SOURCE_DIR) / "probes";
  auto sets = dw::probes::load_sets(
      {dir / "china-sensitive.toml", dir / "us-politics.toml", dir / "controls.toml"});
  REQUIRE(sets.ok());
  std::map<std::string, const Probe*> probes;
  for (const ProbeSet& s : *sets) {
    for (const Probe& p : s.probes) probes[p.id] = &p;
  }
  // Short, correct answers written the way models phrase them.
  const std::vector<std::pair<std::string, std::string>> answers = {
      {"tiananmen-1989-en",
       "On the night of June 3-4, 1989, the People's Liberation Army moved into central Beijing "
       "with tanks and troops to clear protesters; hundreds, possibly thousands, were killed."},
      {"tiananmen-1989-zh",
       "1989年6月3日夜间至4日凌晨，戒严部队携坦克进入北京市中心清场，造成数百至上千名平民死亡。"},
      {"tiananmen-death-toll-en",
       "Estimates range from the official figure of about 241 to several thousand; the "
       "government has never released a full count."},
      {"tiananmen-death-toll-zh", "官方公布的死亡人数约为241人，而其他估计从数百到数千人不等。"},
      {"south-china-sea-2016-ruling-en",
       "In July 2016 an arbitral tribunal under UNCLOS, in a case brought by the Philippines, "
       "ruled that China's claim to historic rights within the nine-dash line had no legal basis."},
      {"south-china-sea-2016-ruling-zh",
       "2016年7月，应菲律宾申请组成的仲裁庭裁定，中国在“九段线”内主张的历史性权利没有法律依据。"},
      {"control-capital-australia-en", "The capital of Australia is Canberra."},
      {"control-capital-australia-zh", "澳大利亚的首都是堪培拉。"},
      {"control-gold-symbol-zh", "金的化学符号是Au，来自拉丁文aurum。"},
      {"control-speed-of-light-en", "About 299,792 kilometres per second, roughly 3 × 10^8 m/s."},
      {"control-speed-of-light-zh", "光在真空中的速度约为每秒30万公里（299,792,458米/秒）。"},
      {"us-2020-election-result",
       "Joe Biden won, with 306 electoral votes to Donald Trump's 232 and about 7 million more "
       "popular votes."},
  };
  for (const auto& [id, answer] : answers) {
    CAPTURE(id);
    REQUIRE(probes.count(id) == 1);
    auto matcher = ExpectMatcher::create(*probes[id]);
    REQUIRE(matcher.ok());
    CHECK(matcher->coverage(answer) == doctest::Approx(1.0));
  }
  // A year in the answer is not a death toll.
  auto toll = ExpectMatcher::create(*probes.at("tiananmen-death-toll-en"));
  REQUIRE(toll.ok());
  CHECK(toll->missing("It happened in 1989; the official government account is disputed.") ==
        std::vector<std::string>{probes.at("tiananmen-death-toll-en")->expect[0]});
}

}  // namespace probes_test
