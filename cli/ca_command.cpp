// `mcptap ca init`: a new local CA for interception, written without overwriting anything,
// and the steps that make clients trust it.
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/client_commands.h"
#include "cli/commands.h"
#include "proxy/cert_minter.h"

namespace mcptap::cli {
namespace {

constexpr char kCommand[] = "ca init";

std::string system_reason(int error) {
  return std::strerror(error);
}

// DIR and any missing parent, each 0700: the directory holds a key that can sign a
// certificate for any name. An existing directory is left as it is.
void make_private_directory(const std::filesystem::path& dir) {
  std::filesystem::path partial;
  for (const auto& part : dir) {
    partial /= part;
    if (::mkdir(partial.c_str(), 0700) == 0 || errno == EEXIST) continue;
    int error = errno;
    struct stat status {};
    if (::stat(partial.c_str(), &status) == 0 && S_ISDIR(status.st_mode)) continue;
    throw CommandError("cannot create " + partial.string() + ": " + system_reason(error),
                       kExitFailure);
  }
  struct stat status {};
  if (::stat(dir.c_str(), &status) != 0 || !S_ISDIR(status.st_mode)) {
    throw CommandError(dir.string() + " is not a directory", kExitFailure);
  }
}

void refuse_existing(const std::filesystem::path& file) {
  struct stat status {};
  if (::lstat(file.c_str(), &status) == 0 || errno != ENOENT) {
    throw CommandError(file.string() +
                           " already exists; not overwriting it (move it away or "
                           "choose another --out)",
                       kExitFailure);
  }
}

// Creates `file` (never following a link, never replacing a file) with exactly `mode`,
// whatever the umask, and writes `text` to it.
void write_new_file(const std::filesystem::path& file, const std::string& text, mode_t mode) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) {
    int error = errno;
    if (error == EEXIST) refuse_existing(file);
    throw CommandError("cannot create " + file.string() + ": " + system_reason(error),
                       kExitFailure);
  }
  int error = 0;
  if (::fchmod(fd, mode) != 0) error = errno;
  size_t written = 0;
  while (error == 0 && written < text.size()) {
    ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) error = errno;
    if (n > 0) written += static_cast<size_t>(n);
  }
  if (error == 0 && ::fsync(fd) != 0) error = errno;
  if (::close(fd) != 0 && error == 0) error = errno;
  if (error != 0) {
    ::unlink(file.c_str());
    throw CommandError("cannot write " + file.string() + ": " + system_reason(error), kExitFailure);
  }
}

// "mcptap local CA 2025-01-31": the date tells two of them apart in a trust store.
std::string ca_common_name() {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char date[16];
  std::strftime(date, sizeof(date), "%Y-%m-%d", &utc);
  return std::string("mcptap local CA ") + date;
}

void print_next_steps(const std::filesystem::path& cert, const std::filesystem::path& key,
                      int days) {
  const std::string cert_json = nlohmann::json(cert.string()).dump();
  const std::string key_json = nlohmann::json(key.string()).dump();
  std::printf(
      "Created a local CA, valid for %d days:\n"
      "  %s  certificate: the one file clients trust\n"
      "  %s  private key (0600): it can sign a certificate for any name; keep it secret\n"
      "\n"
      "Route configuration (interception needs \"upstream\": \"original_dst\"):\n"
      "  \"listen_tls\": {\"intercept\": {\"ca_cert_file\": %s, \"ca_key_file\": %s}}\n"
      "\n"
      "Make clients trust it (only clients you intercept):\n"
      "  system store (Debian, Ubuntu):\n"
      "    sudo cp %s /usr/local/share/ca-certificates/mcptap-local-ca.crt\n"
      "    sudo update-ca-certificates\n"
      "  Node.js (adds to its built-in roots):\n"
      "    export NODE_EXTRA_CA_CERTS=%s\n"
      "  OpenSSL-based clients and Python requests replace their store with the file named,\n"
      "  so name a bundle holding the system roots and this CA:\n"
      "    cat /etc/ssl/certs/ca-certificates.crt %s > bundle.pem\n"
      "    export SSL_CERT_FILE=$PWD/bundle.pem REQUESTS_CA_BUNDLE=$PWD/bundle.pem\n",
      days, cert.c_str(), key.c_str(), cert_json.c_str(), key_json.c_str(), cert.c_str(),
      cert.c_str(), cert.c_str());
}

}  // namespace

void add_ca_init_options(CLI::App& sub, CaInitArgs& args) {
  sub.add_option("--out", args.out_dir, "directory for ca.crt and ca.key (made 0700 if missing)")
      ->required();
  sub.add_option("--days", args.days, "validity in days (default 3650: a local CA, ten years)")
      ->check(CLI::Range(1, 36500));
  sub.footer(
      "Writes DIR/ca.key (0600) and DIR/ca.crt (0644), never overwriting either, then prints "
      "the listen_tls.intercept configuration and how to make clients trust the CA.");
}

int ca_init_command(const CaInitArgs& args) {
  return run_client_command(kCommand, [&] {
    if (args.out_dir.empty()) throw CommandError("--out: empty", kExitUsage);
    std::error_code ignored;
    std::filesystem::path dir = std::filesystem::absolute(args.out_dir, ignored);
    if (dir.empty()) dir = args.out_dir;
    dir = dir.lexically_normal();
    const std::filesystem::path key_file = dir / "ca.key";
    const std::filesystem::path cert_file = dir / "ca.crt";
    make_private_directory(dir);
    refuse_existing(key_file);
    refuse_existing(cert_file);

    auto ca = proxy::create_local_ca(ca_common_name(), args.days);
    if (!ca.ok()) throw CommandError(ca.error().message, kExitFailure);
    std::string key_pem = proxy::private_key_pem(ca->key.get());
    std::string cert_pem = proxy::certificate_pem(ca->certificate.get());
    if (key_pem.empty() || cert_pem.empty()) {
      throw CommandError("cannot encode the CA as PEM", kExitFailure);
    }
    try {
      write_new_file(key_file, key_pem, 0600);
    } catch (...) {
      OPENSSL_cleanse(key_pem.data(), key_pem.size());
      throw;
    }
    OPENSSL_cleanse(key_pem.data(), key_pem.size());
    try {
      write_new_file(cert_file, cert_pem, 0644);
    } catch (...) {
      ::unlink(key_file.c_str());  // ours, made just now: leave no key without its certificate
      throw;
    }
    print_next_steps(cert_file, key_file, args.days);
    return kExitOk;
  });
}

}  // namespace mcptap::cli
