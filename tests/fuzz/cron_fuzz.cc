// Schedule expressions through dw::schedule::Schedule::parse, and every parsed one asked for
// its next firings: the first byte picks a time zone (some with daylight saving, odd offsets or
// half-hour shifts), the rest is the expression. A parsed schedule fires, strictly later each
// time (schedule.h: parse refuses an expression that can never fire).
#include <array>
#include <chrono>
#include <string_view>

#include "fuzz.h"
#include "schedule/schedule.h"

using dw::fuzz::require;

namespace {

constexpr std::array<std::string_view, 8> kZones = {
    "UTC",           "Europe/Berlin",  "America/New_York",    "Australia/Lord_Howe",
    "Asia/Kathmandu", "Pacific/Chatham", "America/Santiago", "Pacific/Apia"};

// Around daylight-saving changes and a leap day, and the epoch: where the searches turn.
constexpr std::array<int64_t, 5> kStarts = {
    0,           // 1970-01-01
    1711846800,  // 2024-03-31T01:00Z, Europe springs forward
    1730595600,  // 2024-11-03T01:00Z, New York falls back
    1709164800,  // 2024-02-29
    1767225599,  // 2025-12-31T23:59:59Z
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > 4096) return 0;  // an expression is a line; longer only slows
  const std::string_view zone = kZones[data[0] % kZones.size()];
  auto schedule = dw::schedule::Schedule::parse(dw::fuzz::text(data + 1, size - 1), zone);
  if (!schedule) {
    (void)schedule.error().to_string();
    return 0;
  }
  require(!schedule->empty(), "a parsed schedule is not the empty one");
  for (int64_t start : kStarts) {
    dw::Time t = dw::Time(std::chrono::seconds(start));
    for (int i = 0; i < 3; ++i) {
      const dw::Time next = schedule->next_after(t);
      require(next != dw::Time::max(), "a parsed schedule fires");
      require(next > t, "the next firing is strictly after the time asked");
      t = next;
    }
  }
  return 0;
}
