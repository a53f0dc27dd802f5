// Telling people: on new drift events and on each report, every [[notify]] target that asked
// for that topic gets a message (a webhook POST or an e-mail, see deliver.h). A report's mail
// carries the report itself as its HTML part, so it reads where people read mail.
//
// Delivery is best effort and never fatal: a failure is logged (the target's name and the
// reason, never the secret) and the message is kept, in memory, for the next delivery round,
// which happens after every job. At most kMaxPending messages wait per target; older ones are
// dropped (and the drop is logged), so a target that is down for a month does not grow memory
// or flood its channel when it returns. Kept messages are lost when the daemon stops: the
// events and reports they announce stay in the database and the report folder.
//
// Threads: used by one thread at a time (the daemon's job thread).
#pragma once

#include <atomic>
#include <cstddef>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/time.h"
#include "config/config.h"
#include "daemon/log.h"

namespace dw::daemon {

enum class Topic { events, reports };

// The largest HTML part a mail carries. A bigger report goes without it: the mail's text then
// says so and names html_file.
inline constexpr size_t kMaxMailHtmlBytes = 2 << 20;

struct Message {
  Topic topic = Topic::events;
  std::string subject;  // one line
  std::string text;     // plain text, lines separated by '\n'; all a webhook sends besides subject
  // For e-mail only: with html, the mail is multipart/alternative, text as text/plain and html
  // as text/html (at most kMaxMailHtmlBytes, see above). Shared, not copied, between targets.
  // (Braced defaults: a message written {topic, subject, text} initialises every member.)
  std::shared_ptr<const std::string> html{};
  std::filesystem::path html_file{};  // where that HTML lies on the monitor; may be empty
};

class Notifier {
 public:
  static constexpr size_t kMaxPending = 20;

  // targets are copied; log, clock and cancel are borrowed and must outlive the Notifier.
  // cancel (may be null), once true, aborts deliveries in progress: the daemon is stopping.
  Notifier(std::vector<config::Notify> targets, const Logger& log, const Clock& clock,
           const std::atomic<bool>* cancel);

  // Queues message for every target subscribed to its topic; deliver() sends it.
  void queue(const Message& message);

  // Tries every queued message, oldest first per target; a target stops at its first failure
  // (the rest wait for the next round, in order). Returns how many were delivered.
  int deliver();

  // Messages waiting across all targets.
  size_t pending() const;

  // Takes over old's waiting messages for targets that have the same name here (a reload).
  void adopt(Notifier& old);

 private:
  struct Target {
    config::Notify config;
    std::deque<Message> queue;
  };
  // One attempt; the error says why, without secrets.
  Status deliver_one(const config::Notify& target, const Message& message);

  std::vector<Target> targets_;
  const Logger& log_;
  const Clock& clock_;
  const std::atomic<bool>* cancel_;
};

}  // namespace dw::daemon
