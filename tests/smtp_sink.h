// A tiny SMTP server on loopback for tests of code that sends mail: it speaks just enough
// ESMTP (EHLO, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT) to accept messages and records
// each one. No TLS: it does not offer STARTTLS, so a client that insists on TLS must refuse.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace dw::testing {

class SmtpSink {
 public:
  struct Mail {
    std::string auth;  // the AUTH PLAIN response, base64 as sent ("" without AUTH)
    std::string from;  // MAIL FROM argument, "<a@b>"
    std::vector<std::string> to;
    std::string data;  // the message as sent, dot-stuffing undone, CRLF kept
  };

  // reject_rcpt: answer every RCPT with 550, so no message can be delivered.
  explicit SmtpSink(bool reject_rcpt = false) : reject_rcpt_(reject_rcpt) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 8) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("smtp sink: cannot listen on loopback");
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }

  ~SmtpSink() {
    stop_.store(true);
    thread_.join();
    ::close(fd_);
  }
  SmtpSink(const SmtpSink&) = delete;
  SmtpSink& operator=(const SmtpSink&) = delete;

  std::string url() const { return "smtp://127.0.0.1:" + std::to_string(port_); }

  std::vector<Mail> mails() const {
    std::lock_guard lock(mutex_);
    return mails_;
  }

 private:
  void serve() {
    while (!stop_.load()) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      session(client);
      ::close(client);
    }
  }

  // One line without its CRLF; false when the client is gone (or the sink is stopping).
  bool read_line(int fd, std::string& buffer, std::string& line) {
    for (;;) {
      size_t end = buffer.find("\r\n");
      if (end != std::string::npos) {
        line = buffer.substr(0, end);
        buffer.erase(0, end + 2);
        return true;
      }
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) == 0) {
        if (stop_.load()) return false;
        continue;
      }
      char chunk[4096];
      ssize_t n = ::read(fd, chunk, sizeof chunk);
      if (n <= 0) return false;
      buffer.append(chunk, static_cast<size_t>(n));
    }
  }

  static void say(int fd, const std::string& text) {
    (void)!::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
  }

  static bool starts(const std::string& line, const char* prefix) {
    return line.size() >= std::char_traits<char>::length(prefix) &&
           strncasecmp(line.c_str(), prefix, std::char_traits<char>::length(prefix)) == 0;
  }

  void session(int fd) {
    std::string buffer, line;
    Mail mail;
    say(fd, "220 sink ESMTP test\r\n");
    while (read_line(fd, buffer, line)) {
      if (starts(line, "EHLO")) {
        say(fd, "250-sink\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n");
      } else if (starts(line, "HELO")) {
        say(fd, "250 sink\r\n");
      } else if (starts(line, "AUTH PLAIN")) {
        std::string response = line.size() > 11 ? line.substr(11) : "";
        if (response.empty()) {
          say(fd, "334 \r\n");
          if (!read_line(fd, buffer, response)) return;
        }
        mail.auth = response;
        say(fd, "235 2.7.0 accepted\r\n");
      } else if (starts(line, "MAIL FROM:")) {
        mail.from = line.substr(10);
        say(fd, "250 ok\r\n");
      } else if (starts(line, "RCPT TO:")) {
        if (reject_rcpt_) {
          say(fd, "550 5.1.1 no such mailbox\r\n");
        } else {
          mail.to.push_back(line.substr(8));
          say(fd, "250 ok\r\n");
        }
      } else if (starts(line, "DATA")) {
        say(fd, "354 go ahead\r\n");
        std::string data;
        while (read_line(fd, buffer, line) && line != ".") {
          if (!line.empty() && line[0] == '.') line.erase(0, 1);
          data += line + "\r\n";
        }
        mail.data = data;
        {
          std::lock_guard lock(mutex_);
          mails_.push_back(mail);
        }
        mail = Mail{mail.auth, {}, {}, {}};
        say(fd, "250 queued\r\n");
      } else if (starts(line, "QUIT")) {
        say(fd, "221 bye\r\n");
        return;
      } else if (starts(line, "RSET") || starts(line, "NOOP")) {
        say(fd, "250 ok\r\n");
      } else {
        say(fd, "502 not implemented\r\n");
      }
    }
  }

  const bool reject_rcpt_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mutex_;
  std::vector<Mail> mails_;
};

}  // namespace dw::testing
