#include "daemon/notifier.h"

#include <cstdio>
#include <string_view>

#include "daemon/deliver.h"

namespace dw::daemon {
namespace {

// "2.0 MiB", one decimal.
std::string mebibytes(size_t bytes) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buffer;
}

}  // namespace

Notifier::Notifier(std::vector<config::Notify> targets, const Logger& log, const Clock& clock,
                   const std::atomic<bool>* cancel)
    : log_(log), clock_(clock), cancel_(cancel) {
  for (auto& t : targets) targets_.push_back({std::move(t), {}});
}

void Notifier::queue(const Message& message) {
  for (Target& t : targets_) {
    bool wanted = message.topic == Topic::events ? t.config.on_events : t.config.on_reports;
    if (!wanted) continue;
    t.queue.push_back(message);
    if (t.queue.size() > kMaxPending) {
      log_.warning("notify '" + t.config.name + "': " + std::to_string(kMaxPending) +
                   " messages are waiting; dropping the oldest: " + t.queue.front().subject);
      t.queue.pop_front();
    }
  }
}

int Notifier::deliver() {
  int delivered = 0;
  for (Target& t : targets_) {
    while (!t.queue.empty()) {
      if (cancel_ != nullptr && cancel_->load()) return delivered;
      Status s = deliver_one(t.config, t.queue.front());
      if (!s) {
        log_.warning("notify '" + t.config.name + "': not delivered, will retry after the next "
                     "job (" + std::to_string(t.queue.size()) + " waiting): " +
                     s.error().message());
        break;
      }
      log_.info("notify '" + t.config.name + "': sent \"" + t.queue.front().subject + "\"");
      t.queue.pop_front();
      ++delivered;
    }
  }
  return delivered;
}

Status Notifier::deliver_one(const config::Notify& target, const Message& message) {
  if (target.kind == config::Notify::Kind::webhook) {
    auto url = config::read_secret(target.url);
    if (!url) return url.error();
    return post_webhook(*url, webhook_body(message.subject + "\n" + message.text), target.timeout,
                        cancel_);
  }
  std::string password;
  if (!target.username.empty()) {
    auto p = config::read_secret(target.password);
    if (!p) return p.error();
    password = std::move(*p);
  }
  std::string text = message.text;
  std::string_view html;
  if (message.html && message.html->size() <= kMaxMailHtmlBytes) {
    html = *message.html;
  } else if (message.html) {
    if (!text.empty()) text += text.back() == '\n' ? "\n" : "\n\n";
    text += "The HTML report (" + mebibytes(message.html->size()) +
            ") is too large to mail (at most " + mebibytes(kMaxMailHtmlBytes) + ")";
    text += message.html_file.empty() ? "." : "; it is on the monitor at " +
                                                  message.html_file.string() + ".";
  }
  return send_mail(target, password, message.subject, text, clock_.now(), cancel_, html);
}

size_t Notifier::pending() const {
  size_t n = 0;
  for (const Target& t : targets_) n += t.queue.size();
  return n;
}

void Notifier::adopt(Notifier& old) {
  for (Target& t : targets_) {
    for (Target& o : old.targets_) {
      if (o.config.name != t.config.name) continue;
      for (auto& m : o.queue) t.queue.push_back(std::move(m));
      o.queue.clear();
      while (t.queue.size() > kMaxPending) t.queue.pop_front();
    }
  }
}

}  // namespace dw::daemon
