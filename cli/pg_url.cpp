// PostgreSQL connection strings checked with libpq's own parser, passwords kept out of the
// messages.
#include "cli/pg_url.h"

#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <memory>
#include <vector>

#include "cli/commands.h"
#include "cli/spelling.h"

namespace mcptap::cli {
namespace {

struct ConninfoDeleter {
  void operator()(PQconninfoOption* options) const { PQconninfoFree(options); }
};
using ConninfoOptions = std::unique_ptr<PQconninfoOption, ConninfoDeleter>;

// "postgress" in "postgress://...", or empty when the text does not start with a scheme.
std::string_view scheme_of(std::string_view url) {
  size_t end = url.find("://");
  if (end == std::string_view::npos || end == 0) return {};
  if (!std::isalpha(static_cast<unsigned char>(url[0]))) return {};
  for (char c : url.substr(0, end)) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
    if (!ok) return {};
  }
  return url.substr(0, end);
}

// The value after each "password" keyword ("password=x" in a DSN, "?password=x" in a URL).
void add_keyword_passwords(std::string_view text, std::vector<std::string>& secrets) {
  for (size_t at = text.find("password"); at != std::string_view::npos;
       at = text.find("password", at + 1)) {
    size_t i = at + 8;
    while (i < text.size() && text[i] == ' ') ++i;
    if (i >= text.size() || text[i] != '=') continue;
    ++i;
    while (i < text.size() && text[i] == ' ') ++i;
    bool quoted = i < text.size() && text[i] == '\'';
    size_t start = quoted ? i + 1 : i;
    size_t end = start;
    while (end < text.size() && (quoted ? text[end] != '\'' : text[end] != ' ' && text[end] != '&'))
      end += quoted && text[end] == '\\' ? 2 : 1;
    secrets.emplace_back(text.substr(start, std::min(end, text.size()) - start));
  }
}

// Whatever in `url` may be a password, as it is written there: libpq's error messages quote
// pieces of the input, and none of them may reach a log.
std::vector<std::string> passwords_in(std::string_view url) {
  std::vector<std::string> secrets;
  add_keyword_passwords(url, secrets);
  // "user:password@host", also when a mistyped scheme ("postgresql//") hides it from libpq:
  // before each '@', the word back to a '/', a blank or another '@', after its first ':'.
  for (size_t at = url.find('@'); at != std::string_view::npos; at = url.find('@', at + 1)) {
    size_t start = url.find_last_of("/ @", at == 0 ? 0 : at - 1);
    start = start == std::string_view::npos || at == 0 ? 0 : start + 1;
    std::string_view userinfo = url.substr(start, at - start);
    if (size_t colon = userinfo.find(':'); colon != std::string_view::npos) {
      secrets.emplace_back(userinfo.substr(colon + 1));
    }
  }
  return secrets;
}

std::string without_passwords(std::string text, std::string_view url) {
  for (const std::string& secret : passwords_in(url)) {
    if (secret.empty()) continue;
    for (size_t at = text.find(secret); at != std::string::npos; at = text.find(secret, at + 3)) {
      text.replace(at, secret.size(), "***");
    }
  }
  return text;
}

std::string unknown_scheme(std::string_view scheme) {
  std::string message = "unknown scheme \"" + std::string(scheme) + "://\"";
  if (closest_spelling(scheme, {"postgresql", "postgres"})) {
    return message + " (did you mean postgresql://?)";
  }
  return message + " (expected postgresql://, postgres:// or key=value pairs)";
}

bool valid_port(std::string_view port) {
  if (port.empty() || port.size() > 5) return false;
  unsigned number = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
    number = number * 10 + static_cast<unsigned>(c - '0');
  }
  return number >= 1 && number <= 65535;
}

// libpq takes any text for a port and fails only when connecting.
base::Status check_ports(const PQconninfoOption* options) {
  for (const PQconninfoOption* option = options; option->keyword; ++option) {
    if (std::string_view(option->keyword) != "port" || !option->val) continue;
    std::string_view ports = option->val;  // one per host, "5432,5433"; empty: the default
    for (size_t start = 0; start <= ports.size();) {
      size_t comma = std::min(ports.find(',', start), ports.size());
      std::string_view port = ports.substr(start, comma - start);
      if (!port.empty() && !valid_port(port)) {
        return base::fail("port \"" + std::string(port) + "\" is not a number from 1 to 65535");
      }
      start = comma + 1;
    }
  }
  return {};
}

}  // namespace

base::Status validate_pg_url(std::string_view url) {
  if (url.empty()) return {};
  std::string_view scheme = scheme_of(url);
  const char* kind = scheme.empty() ? "invalid PostgreSQL DSN: " : "invalid PostgreSQL URL: ";
  // libpq reads any other scheme as a malformed key=value string and says so cryptically.
  if (!scheme.empty() && scheme != "postgresql" && scheme != "postgres") {
    return base::fail(kind + unknown_scheme(scheme));
  }
  std::string text(url);
  char* error = nullptr;
  ConninfoOptions options(PQconninfoParse(text.c_str(), &error));
  if (!options) {
    std::string why = error ? error : "out of memory";
    if (error) PQfreemem(error);
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    return base::fail(kind + without_passwords(why, url));
  }
  if (base::Status ports = check_ports(options.get()); !ports) {
    return base::fail(kind + ports.error().message);
  }
  return {};
}

int check_pg_url_option(std::string_view command, const std::string& flag) {
  std::string source = "--pg";
  std::string url = flag;
  if (url.empty()) {
    const char* env = std::getenv("MCPTAP_PG_URL");
    if (!env || !*env) return kExitOk;
    source = "MCPTAP_PG_URL";
    url = env;
  }
  if (base::Status valid = validate_pg_url(url); !valid) {
    print_error(std::string(command) + ": " + source + ": " + valid.error().message);
    return kExitUsage;
  }
  return kExitOk;
}

}  // namespace mcptap::cli
