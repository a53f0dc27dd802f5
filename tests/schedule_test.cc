#include <doctest/doctest.h>

#include <string>

#include "common/duration.h"
#include "common/time.h"
#include "schedule/schedule.h"

namespace schedule_test {

using dw::format_time;
using dw::parse_time;
using dw::Time;
using dw::schedule::Schedule;

namespace {

Time at(const char* text) {
  auto t = parse_time(text);
  REQUIRE(t.ok());
  return *t;
}

Schedule must_parse(const char* text, const char* zone = "UTC") {
  auto s = Schedule::parse(text, zone);
  INFO(text, " in ", zone);
  REQUIRE_MESSAGE(s.ok(), (s.ok() ? "" : s.error().to_string()));
  return *s;
}

struct NextCase {
  const char* expr;
  const char* zone;
  const char* from;
  const char* expected;
};

void check_cases(const NextCase* begin, const NextCase* end) {
  for (auto c = begin; c != end; ++c) {
    CAPTURE(c->expr);
    CAPTURE(c->zone);
    CAPTURE(c->from);
    CHECK(format_time(must_parse(c->expr, c->zone).next_after(at(c->from))) == c->expected);
  }
}

}  // namespace

TEST_CASE("cron fields: steps, ranges, lists and names") {
  // 2026-01-15 is a Thursday.
  const NextCase cases[] = {
      {"0 */6 * * *", "UTC", "2026-01-15T06:00:00Z", "2026-01-15T12:00:00Z"},  // strictly after
      {"0 */6 * * *", "UTC", "2026-01-15T05:59:59Z", "2026-01-15T06:00:00Z"},
      {"0 */6 * * *", "UTC", "2026-01-15T18:00:00Z", "2026-01-16T00:00:00Z"},
      {"*/15 * * * *", "UTC", "2026-01-15T10:07:00Z", "2026-01-15T10:15:00Z"},
      {"10-50/20 * * * *", "UTC", "2026-01-15T10:30:00Z", "2026-01-15T10:50:00Z"},
      {"10-50/20 * * * *", "UTC", "2026-01-15T10:50:00Z", "2026-01-15T11:10:00Z"},
      {"5/20 * * * *", "UTC", "2026-01-15T10:45:00Z", "2026-01-15T11:05:00Z"},
      {"0 9,17 * * *", "UTC", "2026-01-15T09:00:00Z", "2026-01-15T17:00:00Z"},
      {"0 9,17 * * *", "UTC", "2026-01-15T17:00:00Z", "2026-01-16T09:00:00Z"},
      {"0 1-3,22 * * *", "UTC", "2026-01-15T03:00:00Z", "2026-01-15T22:00:00Z"},
      {"0 9 * * mon-fri", "UTC", "2026-01-16T10:00:00Z", "2026-01-19T09:00:00Z"},
      {"0 9 * * MON-Fri", "UTC", "2026-01-15T10:00:00Z", "2026-01-16T09:00:00Z"},
      {"0 0 * * 7", "UTC", "2026-01-15T00:00:00Z", "2026-01-18T00:00:00Z"},  // 7 = Sunday
      {"0 0 * * 0", "UTC", "2026-01-15T00:00:00Z", "2026-01-18T00:00:00Z"},
      {"0 0 * * 5-7", "UTC", "2026-01-17T00:00:00Z", "2026-01-18T00:00:00Z"},
      {"0 0 1 jan,jul *", "UTC", "2026-01-15T00:00:00Z", "2026-07-01T00:00:00Z"},
      {"0 0 1 */3 *", "UTC", "2026-01-15T00:00:00Z", "2026-04-01T00:00:00Z"},
      {"59 23 31 12 *", "UTC", "2026-12-31T23:59:00Z", "2027-12-31T23:59:00Z"},
      {"  0 0 * * *  ", "UTC", "2026-01-15T12:00:00Z", "2026-01-16T00:00:00Z"},
  };
  check_cases(std::begin(cases), std::end(cases));
}

TEST_CASE("day of month and day of week: either when both are restricted, both otherwise") {
  const NextCase cases[] = {
      // Both restricted: the 13th or any Friday.
      {"0 0 13 * fri", "UTC", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"},
      {"0 0 13 * fri", "UTC", "2026-01-10T00:00:00Z", "2026-01-13T00:00:00Z"},
      // Day of month starts with '*': odd days that are also Mondays.
      {"0 0 */2 * mon", "UTC", "2026-01-01T00:00:00Z", "2026-01-05T00:00:00Z"},
      {"0 0 */2 * mon", "UTC", "2026-01-05T00:00:00Z", "2026-01-19T00:00:00Z"},
      // Day of week starts with '*': only the day of month matters.
      {"0 0 13 * *", "UTC", "2026-01-01T00:00:00Z", "2026-01-13T00:00:00Z"},
  };
  check_cases(std::begin(cases), std::end(cases));
}

TEST_CASE("month ends and leap days") {
  const NextCase cases[] = {
      {"0 12 29 2 *", "UTC", "2024-03-01T00:00:00Z", "2028-02-29T12:00:00Z"},
      {"0 12 29 2 *", "UTC", "2024-02-28T13:00:00Z", "2024-02-29T12:00:00Z"},
      {"0 0 31 * *", "UTC", "2026-01-31T00:00:00Z", "2026-03-31T00:00:00Z"},
      {"0 0 31 * *", "UTC", "2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z"},
      {"0 0 30 * *", "UTC", "2026-01-30T00:00:00Z", "2026-03-30T00:00:00Z"},
      {"0 0 1 * *", "UTC", "2026-12-15T00:00:00Z", "2027-01-01T00:00:00Z"},
      // 2100 is not a leap year: 2096 is followed by 2104.
      {"0 0 29 feb *", "UTC", "2096-03-01T00:00:00Z", "2104-02-29T00:00:00Z"},
  };
  check_cases(std::begin(cases), std::end(cases));
}

TEST_CASE("shorthands and @every") {
  const NextCase cases[] = {
      {"@hourly", "UTC", "2026-01-15T10:00:00Z", "2026-01-15T11:00:00Z"},
      {"@daily", "UTC", "2026-01-15T10:00:00Z", "2026-01-16T00:00:00Z"},
      {"@midnight", "UTC", "2026-01-15T10:00:00Z", "2026-01-16T00:00:00Z"},
      {"@weekly", "UTC", "2026-01-15T10:00:00Z", "2026-01-18T00:00:00Z"},
      {"@monthly", "UTC", "2026-01-15T10:00:00Z", "2026-02-01T00:00:00Z"},
      {"@yearly", "UTC", "2026-01-15T10:00:00Z", "2027-01-01T00:00:00Z"},
      {"@every 6h", "UTC", "2026-01-15T07:00:00Z", "2026-01-15T12:00:00Z"},
      {"@every 6h", "UTC", "2026-01-15T12:00:00Z", "2026-01-15T18:00:00Z"},
      {"@every 90m", "UTC", "2026-01-15T00:00:00Z", "2026-01-15T01:30:00Z"},
      {"@every 1d", "UTC", "2026-01-15T00:00:01Z", "2026-01-16T00:00:00Z"},
      // Aligned to the epoch, so the zone plays no part.
      {"@every 6h", "Asia/Kolkata", "2026-01-15T01:00:00Z", "2026-01-15T06:00:00Z"},
      {"@every 6h", "UTC", "1969-12-31T20:00:00Z", "1970-01-01T00:00:00Z"},
  };
  check_cases(std::begin(cases), std::end(cases));
  CHECK(must_parse("@every 1h30m").text() == "@every 1h30m");
}

TEST_CASE("time zones and daylight saving") {
  const NextCase cases[] = {
      {"30 6 * * *", "Europe/Berlin", "2026-01-15T00:00:00Z", "2026-01-15T05:30:00Z"},
      {"30 6 * * *", "Europe/Berlin", "2026-07-15T00:00:00Z", "2026-07-15T04:30:00Z"},
      {"0 9 * * *", "Asia/Kolkata", "2026-01-15T00:00:00Z", "2026-01-15T03:30:00Z"},
      // Berlin springs forward on 2026-03-29 at 02:00 CET (01:00Z): 02:30 does not exist and a
      // fixed-hour schedule fires when the clocks jump, then at 02:30 CEST the day after.
      {"30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z"},
      {"30 2 * * *", "Europe/Berlin", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"},
      // Berlin falls back on 2026-10-25 at 03:00 CEST (01:00Z): 02:30 happens twice.
      {"30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", "2026-10-25T00:30:00Z"},
      {"30 2 * * *", "Europe/Berlin", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"},
      // New York springs forward on 2026-03-08 at 02:00 EST (07:00Z).
      {"30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", "2026-03-08T07:00:00Z"},
      {"30 2 * * *", "America/New_York", "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"},
      {"30 * * * *", "America/New_York", "2026-03-08T06:30:00Z", "2026-03-08T07:30:00Z"},
      {"*/15 * * * *", "America/New_York", "2026-03-08T06:45:00Z", "2026-03-08T07:00:00Z"},
      // New York falls back on 2026-11-01 at 02:00 EDT (06:00Z): 01:30 is 05:30Z and 06:30Z.
      {"30 1 * * *", "America/New_York", "2026-11-01T00:00:00Z", "2026-11-01T05:30:00Z"},
      {"30 1 * * *", "America/New_York", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"},
      {"30 * * * *", "America/New_York", "2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z"},
      {"30 * * * *", "America/New_York", "2026-11-01T06:30:00Z", "2026-11-01T07:30:00Z"},
      {"0 * * * *", "America/New_York", "2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z"},
  };
  check_cases(std::begin(cases), std::end(cases));
}

TEST_CASE("a wall-clock schedule fires every quarter hour of real time across a fall-back") {
  auto s = must_parse("*/15 * * * *", "America/New_York");
  Time t = at("2026-11-01T04:00:00Z");
  for (int i = 0; i < 16; ++i) {
    Time next = s.next_after(t);
    CAPTURE(format_time(t));
    CHECK((next - t) == std::chrono::minutes(15));
    t = next;
  }
  CHECK(format_time(t) == "2026-11-01T08:00:00Z");
}

TEST_CASE("a fixed-hour schedule fires once a day across a whole year in Berlin") {
  auto s = must_parse("30 2 * * *", "Europe/Berlin");
  Time t = at("2026-01-01T00:00:00Z");
  int fires = 0;
  while (t < at("2027-01-01T00:00:00Z")) {
    Time next = s.next_after(t);
    REQUIRE(next > t);
    t = next;
    ++fires;
  }
  CHECK(fires == 366);  // 365 days of 2026, plus the first fire of 2027
}

TEST_CASE("invalid expressions say what is wrong") {
  struct Case {
    const char* expr;
    const char* zone;
    const char* fragment;
  };
  const Case cases[] = {
      {"", "UTC", "invalid schedule '': empty"},
      {"0 */6 * *", "UTC", "expected five fields (minute hour day-of-month month day-of-week) or \"@every DURATION\", found 4"},
      {"0 0 * * * *", "UTC", "found 6"},
      {"61 * * * *", "UTC", "invalid schedule '61 * * * *': minute 61 is out of range 0-59"},
      {"0 24 * * *", "UTC", "hour 24 is out of range 0-23"},
      {"0 0 0 * *", "UTC", "day of month 0 is out of range 1-31"},
      {"0 0 * 13 *", "UTC", "month 13 is out of range 1-12"},
      {"0 0 * * 8", "UTC", "day of week 8 is out of range 0-7"},
      {"0 0 * foo *", "UTC", "invalid month 'foo' (expected 1-12 or a name such as 'jan')"},
      {"0 0 * * funday", "UTC", "invalid day of week 'funday'"},
      {"*/0 * * * *", "UTC", "invalid step '0' in minute (expected a number 1-60)"},
      {"*/x * * * *", "UTC", "invalid step 'x' in minute"},
      {"5-1 * * * *", "UTC", "minute range '5-1' runs backwards"},
      {"1,,2 * * * *", "UTC", "empty item in minute list"},
      {"0 0 * * mon-", "UTC", "empty day of week value"},
      {"0 0 30 2 *", "UTC", "never fires"},
      {"0 0 31 4,6 *", "UTC", "never fires"},
      {"@every", "UTC", "expected \"@every DURATION\""},
      {"@every 6x", "UTC", "invalid duration '6x': unknown unit 'x'"},
      {"@every 0s", "UTC", "the interval must be longer than zero"},
      {"@dayly", "UTC", "unknown shorthand; did you mean '@daily'?"},
      {"0 0 * * *", "Europe/Berln", "unknown time zone 'Europe/Berln'; did you mean 'Europe/Berlin'?"},
      {"0 0 * * *", "", "unknown time zone ''"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.expr);
    auto s = Schedule::parse(c.expr, c.zone);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().message().find(c.fragment) != std::string::npos);
    CHECK(s.error().where().file.empty());
  }
}

TEST_CASE("a default schedule never fires; a parsed one remembers its text and zone") {
  Schedule none;
  CHECK(none.empty());
  CHECK(none.next_after(at("2026-01-15T00:00:00Z")) == Time::max());
  auto s = must_parse(" 0 */6 * * * ", "Europe/Berlin");
  CHECK(s.text() == "0 */6 * * *");
  CHECK(s.timezone() == "Europe/Berlin");
  CHECK_FALSE(s.empty());
  CHECK(dw::schedule::check_timezone("America/New_York").ok());
  CHECK_FALSE(dw::schedule::check_timezone("Mars/Olympus").ok());
}

TEST_CASE("parse_duration and format_duration") {
  struct Case {
    const char* text;
    long seconds;
    const char* formatted;
  };
  const Case good[] = {{"90s", 90, "1m30s"}, {"5m", 300, "5m"},     {"6h", 21600, "6h"},
                       {"1d", 86400, "1d"},  {"1h30m", 5400, "1h30m"}, {"0s", 0, "0s"},
                       {"30m1h", 5400, "1h30m"}};
  for (const auto& c : good) {
    CAPTURE(c.text);
    auto d = dw::parse_duration(c.text);
    REQUIRE(d.ok());
    CHECK(d->count() == c.seconds);
    CHECK(dw::format_duration(*d) == c.formatted);
  }
  struct Bad {
    const char* text;
    const char* fragment;
  };
  const Bad bad[] = {{"", "empty"},
                     {"90", "missing unit after 90"},
                     {"5x", "unknown unit 'x'"},
                     {"-5m", "expected a whole number"},
                     {"1.5h", "unknown unit '.'"},
                     {"1h1h", "unit 'h' repeated"},
                     {"h", "expected a whole number"},
                     {"99999999999d", "too long"},
                     {"5 m", "unknown unit ' '"}};
  for (const auto& c : bad) {
    CAPTURE(c.text);
    auto d = dw::parse_duration(c.text);
    REQUIRE_FALSE(d.ok());
    CHECK(d.error().message().find(c.fragment) != std::string::npos);
    CHECK(d.error().message().find("'" + std::string(c.text) + "'") != std::string::npos);
  }
}

}  // namespace schedule_test
