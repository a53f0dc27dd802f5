// Sending one notification: a webhook POST or an e-mail through SMTP, both with libcurl.
// Internal to the daemon's Notifier, public for its tests.
//
// Error messages name what failed ("HTTP 404", libcurl's generic reason "Couldn't connect to
// server") but never the URL, the password or the server's reply: a webhook URL carries its
// token in the path, and a reply may echo it.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/time.h"
#include "config/config.h"

namespace dw::daemon {

// POSTs body (JSON) to url, an http:// or https:// URL. Ok on a 2xx answer. cancel, when set
// and true, aborts the transfer (within about a second).
Status post_webhook(const std::string& url, const std::string& body, std::chrono::seconds timeout,
                    const std::atomic<bool>* cancel);

// {"text": TEXT} as Slack (and Mattermost, Rocket.Chat, Discord's /slack endpoint) read it, with
// '&', '<' and '>' escaped as Slack asks so that no text can form a link or a mention.
std::string webhook_body(const std::string& text);

// The message as it goes over SMTP: Date, From, To, Subject (RFC 2047-encoded when not
// ASCII), Message-ID, MIME-Version, then the body, every line ending in CRLF:
// - without html: Content-Type text/plain; charset=utf-8, 8bit, a blank line and the text;
// - with html: Content-Type multipart/alternative; boundary="=_dw.<message id's local part>"
//   (lengthened with '_' until no line of text starts with "--" and it), then two parts, the
//   text as text/plain (utf-8, 8bit) and html as text/html (utf-8, base64 in lines of 76), and
//   the closing "--<boundary>--". A reader shows the HTML and falls back to the text.
std::string format_mail(const config::Notify& target, const std::string& subject,
                        const std::string& text, Time now, const std::string& message_id,
                        std::string_view html = {});

// Sends the message (format_mail, html as its HTML part when not empty) to target.to through
// target.smtp_url, logging in with target.username and password when a username is given.
// Over smtp:// with target.starttls, refuses to send unless the server upgrades to TLS. Ok when
// the server accepted the message for every recipient.
Status send_mail(const config::Notify& target, const std::string& password,
                 const std::string& subject, const std::string& text, Time now,
                 const std::atomic<bool>* cancel, std::string_view html = {});

}  // namespace dw::daemon
