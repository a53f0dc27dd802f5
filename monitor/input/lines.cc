#include "input/lines.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

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

Result<std::unique_ptr<TwoPassFile>> TwoPassFile::open(const std::string& path) {
  std::unique_ptr<TwoPassFile> f(new TwoPassFile(path));
  auto fail = [&](const std::string& what, int e) {
    return Error(what + ": " + std::strerror(e), Location{path, 0, 0});
  };
  if (::stat(path.c_str(), &f->seen_) != 0) return fail("cannot read file", errno);
  if (S_ISDIR(f->seen_.st_mode)) return fail("cannot read file", EISDIR);
  f->in_.open(path, std::ios::binary);
  if (!f->in_) return fail("cannot read file", errno);
  if (S_ISREG(f->seen_.st_mode)) return f;

  std::error_code ec;
  std::filesystem::path dir = std::filesystem::temp_directory_path(ec);
  if (ec) dir = "/tmp";
  std::string copy = (dir / "driftwatch-copy-XXXXXX").string();
  int fd = ::mkstemp(copy.data());
  if (fd < 0) return fail("cannot make a temporary copy of it in " + dir.string(), errno);
  ::close(fd);
  f->copy_.open(copy, std::ios::binary | std::ios::trunc);
  f->copied_.open(copy, std::ios::binary);
  int e = errno;
  ::unlink(copy.c_str());
  if (!f->copy_ || !f->copied_) {
    return fail("cannot make a temporary copy of it in " + dir.string(), e);
  }
  return f;
}

bool TwoPassFile::next(std::string& line, bool& too_long) {
  if (!read_line(*reading_, line, too_long)) return false;
  if (copy_.is_open()) copy_.write(line.data(), static_cast<std::streamsize>(line.size())).put('\n');
  return true;
}

Status TwoPassFile::rewind() {
  if (copy_.is_open()) {
    copy_.flush();
    bool whole = copy_.good();
    copy_.close();
    in_.close();
    if (!whole) return Error("cannot write its temporary copy (is the disk full?)", {path_});
    reading_ = &copied_;
    return Status::Ok();
  }
  in_.close();
  in_.clear();
  in_.open(path_, std::ios::binary);
  if (!in_) return Error(std::string("cannot read file again: ") + std::strerror(errno), {path_});
  return Status::Ok();
}

bool TwoPassFile::unchanged() const {
  if (reading_ == &copied_) return true;
  struct stat now {};
  return ::stat(path_.c_str(), &now) == 0 && now.st_dev == seen_.st_dev &&
         now.st_ino == seen_.st_ino && now.st_size == seen_.st_size &&
         now.st_mtim.tv_sec == seen_.st_mtim.tv_sec &&
         now.st_mtim.tv_nsec == seen_.st_mtim.tv_nsec;
}

}  // namespace dw::input
