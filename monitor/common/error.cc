#include "common/error.h"

namespace dw {

std::string Error::to_string() const {
  if (where_.file.empty()) return message_;
  std::string out = where_.file;
  if (where_.line > 0) {
    out += ':' + std::to_string(where_.line);
    if (where_.column > 0) out += ':' + std::to_string(where_.column);
  }
  return out + ": " + message_;
}

}  // namespace dw
