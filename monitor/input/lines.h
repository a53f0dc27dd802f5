// Lines of untrusted input (classify's stdin, import files), read with a bound: one line of a
// few gigabytes would otherwise be held whole before anything could refuse it.
#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <fstream>
#include <istream>
#include <memory>
#include <string>

#include "common/error.h"

namespace dw::input {

inline constexpr size_t kMaxLineBytes = size_t{16} << 20;

// Reads the next line of in into line, without its '\n'. A line longer than max is consumed
// whole but only its first max bytes are kept, and too_long is set. Returns false at the end
// of input (no more lines).
bool read_line(std::istream& in, std::string& line, bool& too_long,
               size_t max = kMaxLineBytes);

// The lines of a file read twice and never held whole: a first reading that checks every
// line, then a second that does the work (import).
//
//   auto file = dw::input::TwoPassFile::open(path);
//   while (file->next(line, too_long)) ...           // check
//   if (auto s = file->rewind(); !s) ...
//   while (file->next(line, too_long)) ...           // the same lines again
//   if (!file->unchanged()) ...                      // edited meanwhile
//
// A regular file is opened again for the second reading. Anything else (a FIFO, a pipe such
// as bash's <(zcat history.jsonl.gz)) cannot be read twice: the first reading copies each line
// to a temporary file in $TMPDIR (else /tmp), which costs as much disk as the input. The copy
// is removed from its folder as soon as it is open, so it vanishes with the process, even
// after a crash.
class TwoPassFile {
 public:
  // Fails, with an error naming path, when the file cannot be read or is a folder, or when a
  // pipe's temporary copy cannot be made.
  static Result<std::unique_ptr<TwoPassFile>> open(const std::string& path);

  // The next line of the current reading, as read_line() gives it; false at its end.
  bool next(std::string& line, bool& too_long);

  // Starts the second reading at the first line (call once, after the first reading reached
  // its end). Fails when the file cannot be opened again or its copy could not be written
  // whole (a full disk).
  Status rewind();

  // Whether the file is still what the first reading opened: the same file, size and
  // modification time (an edit between the readings may keep every line valid, yet change
  // what was checked). Always true for a pipe's copy, which nobody else writes.
  bool unchanged() const;

 private:
  explicit TwoPassFile(std::string path) : path_(std::move(path)) {}
  std::string path_;
  struct stat seen_ {};
  std::ifstream in_;
  std::ofstream copy_;    // open during the first reading of a pipe
  std::ifstream copied_;  // what the second reading of a pipe reads
  std::istream* reading_ = &in_;
};

}  // namespace dw::input
