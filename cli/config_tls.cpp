// The TLS keys of a route, each rule with an error that names the key.
#include "cli/config_tls.h"

#include <utility>
#include <vector>

#include "base/resolver.h"
#include "cli/config_object_reader.h"

namespace mcptap::cli::config_detail {
namespace {

// A file path: a non-empty string. Whether the file is there and usable is checked when
// the route's TLS contexts are loaded, at start and at every reload.
void read_path(ObjectReader& reader, const std::string& key, std::string& out) {
  if (const json* value = reader.find(key)) {
    if (!value->is_string()) ObjectReader::fail(reader.path_of(key), "expected a file path");
    out = value->get<std::string>();
    if (out.empty()) ObjectReader::fail(reader.path_of(key), "expected a file path, got \"\"");
    if (out.find('\0') != std::string::npos) {
      ObjectReader::fail(reader.path_of(key), "a path cannot contain a NUL byte");
    }
  }
}

void read_tls_version(ObjectReader& reader, const std::string& key, proxy::TlsVersion& out) {
  const json* value = reader.find(key);
  if (!value) return;
  if (value->is_string() && *value == "1.2") {
    out = proxy::TlsVersion::V1_2;
  } else if (value->is_string() && *value == "1.3") {
    out = proxy::TlsVersion::V1_3;
  } else if (value->is_string() && (*value == "1.0" || *value == "1.1")) {
    ObjectReader::fail(reader.path_of(key), "TLS 1.2 is the minimum; use \"1.2\" or \"1.3\"");
  } else {
    ObjectReader::fail(reader.path_of(key), "expected \"1.2\" or \"1.3\", got " + value->dump());
  }
}

// Why `name` cannot be sent as SNI and verified as a DNS name, or "" when it can: letters,
// digits and '-' in dot-separated labels of 1..63, at most 253 in all.
std::string server_name_problem(const std::string& name) {
  if (name.empty()) return "expected a DNS name, got \"\"";
  if (base::is_ip_literal(name)) {
    return "an IP address is not a server name; leave server_name out and an IP upstream is "
           "verified by its address";
  }
  if (name.size() > 253) return "a DNS name is at most 253 characters";
  if (name.find(':') != std::string::npos) {
    return "\"" + name +
           "\" has a port; server_name is a DNS name only (the port is the "
           "upstream's)";
  }
  size_t label = 0;
  for (size_t i = 0; i <= name.size(); ++i) {
    char c = i < name.size() ? name[i] : '.';
    if (c == '.') {
      if (label == 0 || label > 63 || name[i - 1] == '-' || name[i - label] == '-') {
        return "\"" + name +
               "\" is not a DNS name (labels of 1-63 letters, digits or '-', "
               "not starting or ending with '-')";
      }
      label = 0;
      continue;
    }
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) {
      return "\"" + name + "\" is not a DNS name (letters, digits, '-' and '.' only)";
    }
    ++label;
  }
  return "";
}

constexpr size_t kMaxAlpnProtocols = 8;

// ALPN protocol names as offered in the ClientHello. "h2" is refused: an upstream that
// picked it would speak HTTP/2, which passes uncaptured.
void read_alpn(ObjectReader& reader, std::vector<std::string>& out) {
  const json* value = reader.find("alpn");
  if (!value) return;
  const std::string where = reader.path_of("alpn");
  if (!value->is_array() || value->empty() || value->size() > kMaxAlpnProtocols) {
    ObjectReader::fail(where,
                       "expected an array of 1 to 8 protocol names, such as "
                       "[\"http/1.1\"]");
  }
  out.clear();
  for (const json& item : *value) {
    if (!item.is_string()) ObjectReader::fail(where, "expected an array of strings");
    std::string protocol = item.get<std::string>();
    if (protocol.empty() || protocol.size() > 255) {
      ObjectReader::fail(where, "a protocol name is 1 to 255 characters");
    }
    for (unsigned char c : protocol) {
      if (c < 0x21 || c > 0x7e) {
        ObjectReader::fail(where, item.dump() + ": printable ASCII without spaces only");
      }
    }
    if (protocol == "h2") {
      ObjectReader::fail(where,
                         "\"h2\" is not supported: HTTP/2 would pass uncaptured; offer "
                         "\"http/1.1\"");
    }
    for (const std::string& earlier : out) {
      if (earlier == protocol) ObjectReader::fail(where, item.dump() + " is listed twice");
    }
    out.push_back(std::move(protocol));
  }
}

}  // namespace

proxy::ListenTls read_listen_tls(const json& value, const std::string& path) {
  ObjectReader reader(value, path);
  proxy::ListenTls tls;
  read_path(reader, "cert_file", tls.cert_file);
  read_path(reader, "key_file", tls.key_file);
  read_path(reader, "client_ca_file", tls.client_ca_file);
  read_tls_version(reader, "min_version", tls.min_version);
  if (const json* intercept = reader.find("intercept")) {
    ObjectReader ca_reader(*intercept, path + ".intercept");
    proxy::InterceptCa ca;
    if (ca_reader.require("ca_cert_file")) read_path(ca_reader, "ca_cert_file", ca.ca_cert_file);
    if (ca_reader.require("ca_key_file")) read_path(ca_reader, "ca_key_file", ca.ca_key_file);
    ca_reader.reject_unknown_keys();
    tls.intercept = std::move(ca);
  }
  reader.reject_unknown_keys();
  if (tls.intercept) {
    if (!tls.cert_file.empty() || !tls.key_file.empty()) {
      ObjectReader::fail(path,
                         "cert_file/key_file and intercept exclude each other: intercept "
                         "mints a certificate for each name the clients ask for");
    }
    if (!tls.client_ca_file.empty()) {
      ObjectReader::fail(path + ".client_ca_file",
                         "not supported with intercept (the clients are not authenticated)");
    }
  } else if (tls.cert_file.empty() && tls.key_file.empty()) {
    ObjectReader::fail(path, "needs cert_file and key_file, or intercept");
  } else if (tls.key_file.empty()) {
    ObjectReader::fail(path + ".key_file", "missing (cert_file needs its key)");
  } else if (tls.cert_file.empty()) {
    ObjectReader::fail(path + ".cert_file", "missing (key_file needs its certificate)");
  }
  return tls;
}

proxy::UpstreamTls read_upstream_tls(const json& value, const std::string& path) {
  ObjectReader reader(value, path);
  proxy::UpstreamTls tls;
  if (const json* name = reader.find("server_name")) {
    if (!name->is_string()) ObjectReader::fail(path + ".server_name", "expected a DNS name");
    tls.server_name = name->get<std::string>();
    std::string problem = server_name_problem(tls.server_name);
    if (!problem.empty()) ObjectReader::fail(path + ".server_name", problem);
  }
  read_path(reader, "ca_file", tls.ca_file);
  reader.read_bool("verify", tls.verify);
  read_path(reader, "client_cert_file", tls.client_cert_file);
  read_path(reader, "client_key_file", tls.client_key_file);
  read_alpn(reader, tls.alpn);
  reader.reject_unknown_keys();
  if (!tls.verify && !tls.ca_file.empty()) {
    ObjectReader::fail(path + ".verify",
                       "false with ca_file: ca_file is only used to verify; remove one of them");
  }
  if (!tls.client_cert_file.empty() && tls.client_key_file.empty()) {
    ObjectReader::fail(path + ".client_key_file", "missing (client_cert_file needs its key)");
  }
  if (tls.client_cert_file.empty() && !tls.client_key_file.empty()) {
    ObjectReader::fail(path + ".client_cert_file",
                       "missing (client_key_file needs its certificate)");
  }
  return tls;
}

// How TLS on the two sides fits the route's upstream: interception needs original_dst and
// takes the server name from each client; an original_dst route originates TLS only when it
// intercepts (it has no name to verify otherwise).
void check_route_tls(proxy::RouteConfig& route, const std::string& path) {
  bool intercept = route.listen_tls && route.listen_tls->intercept;
  if (intercept && !route.upstream_original_dst) {
    ObjectReader::fail(path + ".listen_tls.intercept",
                       "needs \"upstream\": \"original_dst\" (each connection goes where its "
                       "client sent it)");
  }
  if (!intercept && route.upstream_original_dst && route.upstream_tls) {
    ObjectReader::fail(path + ".upstream_tls",
                       "on an \"original_dst\" route only with listen_tls.intercept (the "
                       "server name comes from the client's SNI)");
  }
  if (intercept && route.upstream_tls && !route.upstream_tls->server_name.empty()) {
    ObjectReader::fail(path + ".upstream_tls.server_name",
                       "not with listen_tls.intercept: the name comes from the client's SNI");
  }
  // Intercepted traffic was TLS to begin with: it goes on as TLS, verified against the
  // system store unless upstream_tls says otherwise.
  if (intercept && !route.upstream_tls) route.upstream_tls = proxy::UpstreamTls{};
}

}  // namespace mcptap::cli::config_detail
