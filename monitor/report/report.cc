#include "report/report.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <system_error>

#include "report/archive.h"
#include "report/gather.h"
#include "report/render.h"

namespace dw::report {
namespace {

namespace fs = std::filesystem;

Error io_error(const fs::path& path, const std::string& what, int err) {
  return Error(what + ": " + std::strerror(err), Location{path.string()});
}

Status write_all(int fd, std::string_view content, const fs::path& path) {
  while (!content.empty()) {
    ssize_t n = ::write(fd, content.data(), content.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error(path, "cannot write", errno);
    }
    content.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

std::string render(const Report& report, const std::string& format) {
  if (format == "md") return render_markdown(report);
  if (format == "html") return render_html(report);
  return render_json(report);
}

}  // namespace

// Writes content to path so that a reader sees the old file or the new one, never a part:
// a temporary file in the same folder (same file system, so rename is atomic), fsync, rename,
// then fsync of the folder so the rename itself survives a power cut.
Status write_atomically(const fs::path& path, std::string_view content) {
  std::string tmp_template = (path.parent_path() / ("." + path.filename().string() + ".XXXXXX"));
  int fd = ::mkstemp(tmp_template.data());
  if (fd < 0) return io_error(path.parent_path(), "cannot create a temporary file", errno);
  fs::path tmp = tmp_template;
  auto fail = [&](Error e) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return Status(std::move(e));
  };
  if (::fchmod(fd, 0644) != 0) return fail(io_error(tmp, "cannot set permissions", errno));
  if (auto s = write_all(fd, content, tmp); !s) return fail(s.error());
  if (::fsync(fd) != 0) return fail(io_error(tmp, "cannot sync", errno));
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return io_error(tmp, "cannot close", err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return io_error(path, "cannot rename the temporary file into place", err);
  }
  int dir = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);  // best effort: some file systems refuse fsync on folders
    ::close(dir);
  }
  return {};
}

Status check_options(const ReportOptions& options) {
  if (options.since >= options.until)
    return Error("the report period is empty: since " + format_time(options.since) +
                 " is not before until " + format_time(options.until));
  if (options.formats.empty()) return Error("no report format given (md, html, json)");
  std::set<std::string> seen;
  for (const auto& f : options.formats) {
    if (f != "md" && f != "html" && f != "json")
      return Error("unknown report format '" + f + "' (md, html, json)");
    if (!seen.insert(f).second) return Error("report format '" + f + "' given twice");
  }
  if (options.trend_days < 1 || options.trend_days > 366)
    return Error("trend_days " + std::to_string(options.trend_days) + " is outside 1..366");
  if (options.baseline.count() < 0) return Error("the baseline window is negative");
  if (!(options.unhealthy_error_share >= 0 && options.unhealthy_error_share <= 1))
    return Error("unhealthy_error_share is outside 0..1");
  return {};
}

Result<std::string> render_report(store::Store& store, const ReportOptions& options,
                                  const std::string& format) {
  ReportOptions one = options;
  one.formats = {format};
  if (auto s = check_options(one); !s) return s.error();
  auto report = gather(store, one);
  if (!report) return report.error();
  return render(*report, format);
}

Result<ReportFiles> write_reports(store::Store& store, const ReportOptions& options) {
  if (auto s = check_options(options); !s) return s.error();
  auto report = gather(store, options);
  if (!report) return report.error();
  return write_reports(*report, options);
}

Result<ReportFiles> write_reports(const Report& report, const ReportOptions& options) {
  std::error_code ec;
  fs::create_directories(options.dir, ec);
  if (ec) return Error("cannot create the report folder: " + ec.message(),
                       Location{options.dir.string()});
  ReportFiles files;
  for (const auto& format : options.formats) {
    fs::path path = options.dir / ("driftwatch-" + report.date + "." + format);
    if (auto s = write_atomically(path, render(report, format)); !s) return s.error();
    files.paths.push_back(path);
  }
  // The folder's index and feed (archive.h), after the report files so that they list them.
  auto archive = update_archive(report, options.dir);
  if (!archive) return archive.error();
  for (const auto& f : *archive)
    if (auto s = write_atomically(f.path, f.content); !s) return s.error();
  return files;
}

}  // namespace dw::report
