#include "report/model.h"

namespace dw::report {

int verdict_index(std::string_view verdict) {
  for (size_t i = 0; i < kVerdicts.size(); ++i)
    if (kVerdicts[i] == verdict) return static_cast<int>(i);
  return -1;
}

void VerdictCounts::add(int index) {
  if (index < 0 || index >= static_cast<int>(n.size())) {
    ++unclassified;
    return;
  }
  ++n[static_cast<size_t>(index)];
}

long VerdictCounts::total() const {
  long sum = unclassified;
  for (long x : n) sum += x;
  return sum;
}

long VerdictCounts::valid() const { return total() - unclassified - n[kError]; }

std::optional<double> VerdictCounts::share(int i) const {
  if (i < 0 || i >= kError || valid() == 0) return std::nullopt;
  return static_cast<double>(n[static_cast<size_t>(i)]) / static_cast<double>(valid());
}

std::optional<double> VerdictCounts::error_share() const {
  long classified = total() - unclassified;
  if (classified == 0) return std::nullopt;
  return static_cast<double>(n[kError]) / static_cast<double>(classified);
}

std::optional<double> VerdictCounts::censored_share() const {
  if (valid() == 0) return std::nullopt;
  return static_cast<double>(n[1] + n[2] + n[3]) / static_cast<double>(valid());
}

std::string_view to_string(Lifecycle l) {
  return l == Lifecycle::new_event ? "new" : "ongoing";
}

}  // namespace dw::report
