#include "input/lines.h"

namespace dw::input {

bool read_line(std::istream& in, std::string& line, bool& too_long, size_t max) {
  line.clear();
  too_long = false;
  std::streambuf* buffer = in.rdbuf();
  if (buffer == nullptr) return false;
  bool any = false;
  for (;;) {
    int c = buffer->sbumpc();
    if (c == std::char_traits<char>::eof()) {
      in.setstate(std::ios::eofbit);
      return any;
    }
    any = true;
    if (c == '\n') return true;
    if (line.size() < max) line.push_back(static_cast<char>(c));
    else too_long = true;
  }
}

}  // namespace dw::input
