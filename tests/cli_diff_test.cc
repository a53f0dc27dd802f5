// `driftwatch diff` end to end: the real binary over a database filled by `run --once --at`
// against driftwatch-sim (tests/cli_history.h): the typical answers then and now with their
// verdict distributions, its errors, and hostile model output kept inert on a terminal or not.
#include "cli_history.h"

namespace cli_diff_test {

using namespace dw::test;

namespace {

struct Setup {
  Scratch scratch;
  fs::path config = history().write_config(scratch, scratch.path("reports"), {"md"});
};

// The bytes a terminal would act on, that model output must never bring along.
bool has_raw_controls(const std::string& s, bool allow_sgr) {
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == 0x07 || c == 0x9b || c == 0x9d) return true;
    if (s.compare(i, 3, "\u202e") == 0) return true;  // right-to-left override
    if (c == 0x1b) {
      // Ours: SGR colour codes (ESC [ digits ; m); anything else is not.
      size_t j = i + 1;
      if (!allow_sgr || j >= s.size() || s[j] != '[') return true;
      for (++j; j < s.size() && (isdigit(static_cast<unsigned char>(s[j])) || s[j] == ';'); ++j) {
      }
      if (j >= s.size() || s[j] != 'm') return true;
    }
  }
  return false;
}

}  // namespace

TEST_CASE("diff: typical answer then and now, with the verdicts of each side") {
  Setup s;
  auto o = driftwatch(s.scratch, s.config, {"diff", "square-1989", "--endpoint", "gpt"});
  INFO(o.out << o.err);
  REQUIRE(o.code == 0);
  CHECK(o.err.empty());
  CHECK(o.out.starts_with("square-1989 on gpt\n"));
  // Then: the day from the first run (day 0); now: the day up to the last run (day 4).
  CHECK(contains(o.out, "then  " + history_date(0, "T06:00:00Z") + " – " +
                            history_date(1, "T06:00:00Z") + ": 2 samples: answered 2 (100%)"));
  CHECK(contains(o.out, ": 2 samples: deflected 2 (100%)\n"));
  CHECK(contains(o.out, "(answered); typical now: sample "));
  CHECK(contains(o.out, " (deflected)\n"));
  // Not a terminal: no colour, the changes marked in plain text.
  CHECK_FALSE(contains(o.out, "\x1b"));
  CHECK(contains(o.out, "[-"));
  CHECK(contains(o.out, "{+"));
  CHECK(contains(o.out, "troops"));
  CHECK(contains(o.out, "something else"));
  CHECK_FALSE(contains(o.out, "claude"));
}

TEST_CASE("diff: every endpoint by default; --from and --to choose the two days") {
  Setup s;
  auto all = driftwatch(s.scratch, s.config, {"diff", "square-1989"});
  INFO(all.out << all.err);
  REQUIRE(all.code == 0);
  CHECK(contains(all.out, "square-1989 on claude\n"));
  CHECK(contains(all.out, "square-1989 on gpt\n"));

  // Days 1 and 2 are both before the drift: same verdicts, nothing changed.
  auto early = driftwatch(s.scratch, s.config,
                          {"diff", "square-1989", "--endpoint", "claude", "--from",
                           history_date(1, "T00:00:00Z"), "--to", history_date(2, "T12:00:00Z")});
  INFO(early.out << early.err);
  REQUIRE(early.code == 0);
  CHECK(contains(early.out, "then  " + history_date(1, "T00:00:00Z") + " – " +
                                history_date(2, "T00:00:00Z") + ": 2 samples: answered 2 (100%)"));
  CHECK(contains(early.out, "now   " + history_date(1, "T12:00:00Z") + " – " +
                                history_date(2, "T12:00:00Z") + ": 2 samples: answered 2 (100%)"));
  CHECK_FALSE(contains(early.out, "[-"));
  CHECK_FALSE(contains(early.out, "{+"));
}

TEST_CASE("diff: unknown probe or endpoint and bad times are one clear line, exit 1") {
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> mentions;
  };
  const Case cases[] = {
      {{"no-such-probe"}, {"unknown probe", "no-such-probe"}},
      {{"squar-1989"}, {"squar-1989", "did you mean", "square-1989"}},
      {{"square-1989", "--endpoint", "claud"}, {"unknown endpoint", "claud", "did you mean", "claude"}},
      {{"square-1989", "--endpoint", "nowhere"}, {"unknown endpoint", "nowhere"}},
      {{"square-1989", "--from", "yesterday"}, {"--from"}},
      {{"square-1989", "--to", "2026-02-30T00:00:00Z"}, {"--to"}},
  };
  Setup s;
  for (const auto& c : cases) {
    std::vector<std::string> args{"diff"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    auto o = driftwatch(s.scratch, s.config, args);
    CAPTURE(c.args.back());
    check_rejected(o);
    INFO(o.err);
    for (const auto& m : c.mentions) CHECK(contains(o.err, m));
  }
}

TEST_CASE("diff: hostile model output is shown inert, in a pipe and on a terminal") {
  Setup s;
  auto piped = driftwatch(s.scratch, s.config, {"diff", "hostile-echo", "--endpoint", "gpt"});
  INFO(piped.out << piped.err);
  REQUIRE(piped.code == 0);
  CHECK_FALSE(has_raw_controls(piped.out, false));
  // The texts are still there to read, their controls made visible.
  CHECK(contains(piped.out, "pwned-early"));
  CHECK(contains(piped.out, "pwned-later"));
  CHECK(contains(piped.out, "gnp.exe"));

  auto tty = on_terminal(s.config, {"diff", "hostile-echo", "--endpoint", "gpt"});
  INFO(tty.out);
  REQUIRE(tty.code == 0);
  CHECK(contains(tty.out, "\x1b["));  // colour on a terminal
  CHECK_FALSE(has_raw_controls(tty.out, true));
  CHECK(contains(tty.out, "pwned-later"));

  // https://no-color.org: no colour even on a terminal.
  auto plain = on_terminal(s.config, {"diff", "square-1989"}, {"NO_COLOR=1"});
  REQUIRE(plain.code == 0);
  CHECK_FALSE(contains(plain.out, "\x1b"));
  CHECK(contains(plain.out, "[-"));
}

}  // namespace cli_diff_test
