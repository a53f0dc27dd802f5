#include <doctest/doctest.h>

#include "common/error.h"
#include "common/hash.h"
#include "common/memory.h"
#include "common/strings.h"
#include "common/time.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace common_test {

using namespace dw;

TEST_CASE("Error::to_string drops the parts of the location that are unknown") {
  CHECK(Error("boom").to_string() == "boom");
  CHECK(Error("boom", {"a.toml", 0, 0}).to_string() == "a.toml: boom");
  CHECK(Error("boom", {"a.toml", 3, 0}).to_string() == "a.toml:3: boom");
  CHECK(Error("boom", {"a.toml", 3, 7}).to_string() == "a.toml:3:7: boom");
}

TEST_CASE("Error::to_string escapes control characters: one line, nothing for a terminal") {
  CHECK(Error("got 'x\r\nInjected: y'", {"a\nb.toml", 1, 2}).to_string() ==
        "a\\nb.toml:1:2: got 'x\\r\\nInjected: y'");
  CHECK(Error("tab\there, bell\a, esc\x1b[31m, del\x7f").to_string() ==
        "tab\\there, bell\\x07, esc\\x1b[31m, del\\x7f");
  CHECK(Error("中文 stays").to_string() == "中文 stays");
}

TEST_CASE("shorten_at_word cuts between words or not at all") {
  CHECK(shorten_at_word("short", 60) == "short");
  CHECK(shorten_at_word("UPDATE samples SET verdict = ?, signals = ? WHERE id = ?", 30) ==
        "UPDATE samples SET verdict =...");
  CHECK(shorten_at_word(std::string(80, 'x'), 60) == std::string(80, 'x'));
}

TEST_CASE("repair_utf8 keeps what can be kept and replaces the rest with U+FFFD") {
  struct Case {
    std::string in, out;
    size_t replaced;
  };
  const std::string r = "\xEF\xBF\xBD";
  const std::vector<Case> cases = {
      {"plain ascii", "plain ascii", 0},
      {"中文 ok", "中文 ok", 0},
      {"bad \xff byte", "bad " + r + " byte", 1},
      {std::string("nul\0inside", 10), "nul" + r + "inside", 1},
      {"overlong \xC0\xAF", "overlong " + r + r, 2},
      {"surrogate \xED\xA0\x80", "surrogate " + r + r + r, 3},
      {"past U+10FFFF \xF4\x90\x80\x80", "past U+10FFFF " + r + r + r + r, 4},
      {"cut \xE4\xB8", "cut " + r + r, 2},
  };
  for (auto c : cases) {
    CAPTURE(c.out);
    CHECK(repair_utf8(c.in) == c.replaced);
    CHECK(c.in == c.out);
  }
}

TEST_CASE("repair_json_surrogates replaces lone surrogate escapes only") {
  std::string json = R"({"a":"x\ud800y","b":"\ud83d\ude00","c":"\udc00","d":"\\ud800"})";
  CHECK(repair_json_surrogates(json) == 2);
  CHECK(json == R"({"a":"x\uFFFDy","b":"\ud83d\ude00","c":"\uFFFD","d":"\\ud800"})");
  std::string plain = R"({"a":"no escapes"})";
  CHECK(repair_json_surrogates(plain) == 0);
}

TEST_CASE("parse_time accepts the ISO 8601 forms users type") {
  struct Case {
    const char* text;
    const char* expected;
  };
  Case cases[] = {
      {"2026-01-15T06:30:00Z", "2026-01-15T06:30:00Z"},
      {"2026-01-15T06:30Z", "2026-01-15T06:30:00Z"},
      {"2026-01-15 06:30:00", "2026-01-15T06:30:00Z"},
      {"2026-01-15", "2026-01-15T00:00:00Z"},
      {"2026-01-15T06:30:00.123Z", "2026-01-15T06:30:00Z"},
      {"2026-01-15T08:30:00+02:00", "2026-01-15T06:30:00Z"},
      {"2026-01-15T01:30:00-0500", "2026-01-15T06:30:00Z"},
      {"2024-02-29T23:59:59Z", "2024-02-29T23:59:59Z"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    auto t = parse_time(c.text);
    REQUIRE(t.ok());
    CHECK(format_time(*t) == c.expected);
  }
}

TEST_CASE("parse_time rejects malformed and impossible times") {
  for (const char* text : {"", "2026", "2026-13-01", "2025-02-29", "2026-01-15T24:00Z",
                           "2026-01-15T06:30:00Q", "15/01/2026", "2026-01-15T06:30:00Zjunk"}) {
    CAPTURE(text);
    auto t = parse_time(text);
    REQUIRE_FALSE(t.ok());
    CHECK(t.error().message().find(text) != std::string::npos);
  }
}

TEST_CASE("sha256_hex matches the published test vector") {
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("").size() == 64);
}

TEST_CASE("closest_match suggests plausible misspellings only") {
  std::vector<std::string> keys{"temperature", "max_tokens", "model", "timeout"};
  CHECK(closest_match("temprature", keys) == "temperature");
  CHECK(closest_match("modle", keys) == "model");
  CHECK(closest_match("alfa", {"alpha", "recent_runs"}) == "alpha");
  CHECK_FALSE(closest_match("zzzzzzzz", keys).has_value());
  CHECK(join_words({"a", "b", "c"}) == "a, b and c");
  CHECK(join_words({"a"}) == "a");
}

TEST_CASE("ManualClock moves only when told") {
  ManualClock clock(*parse_time("2026-01-01"));
  clock.advance(std::chrono::hours(25));
  CHECK(format_time(clock.now()) == "2026-01-02T01:00:00Z");
}

namespace {

[[maybe_unused]] long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

[[maybe_unused]] long resident_kib() {
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  statm >> size >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

// 16 MiB in blocks of 16 KiB, each written (faulted in), then all freed: what a run or a
// detection does with its buffers, in miniature. (These helpers go unused where the test
// below cannot look: under AddressSanitizer or an emulator.)
[[maybe_unused]] void burst() {
  std::vector<char*> blocks;
  for (int i = 0; i < 1024; ++i) {
    auto* b = static_cast<char*>(std::malloc(16 << 10));
    if (b == nullptr) FAIL("out of memory");
    std::memset(b, i, 16 << 10);
    blocks.push_back(b);
  }
  volatile char sink = 0;
  for (char* b : blocks) sink = sink + b[4096];
  for (char* b : blocks) std::free(b);
}

}  // namespace

// glibc's own policy gave the burst's memory back as it was freed, and the next burst took it
// again a page fault at a time (all 4,096 pages here; a thousand a detection, half its CPU on a
// virtual machine).
TEST_CASE("keep_freed_memory: a second burst reuses the first's memory; release gives it back") {
#if defined(__SANITIZE_ADDRESS__) || defined(DW_TEST_EMULATOR)
  // AddressSanitizer replaces malloc (and quarantines what is freed), and qemu's user mode
  // neither gives back what the guest's heap returns nor faults it in again: glibc's policy is
  // not to be seen there. The normal build runs this test.
  MESSAGE("glibc's heap policy cannot be seen under AddressSanitizer or an emulator: the "
          "normal build checks it");
#else
  const long pages = (16 << 20) / sysconf(_SC_PAGESIZE);
  keep_freed_memory();
  burst();
  const long faults = minor_faults();
  burst();
  CHECK(minor_faults() - faults < pages / 8);
  const long kept = resident_kib();
  release_freed_memory();
  CHECK(resident_kib() < kept - 8 * 1024);  // most of the 16 MiB given back
#endif
}

}  // namespace common_test
