// Certificate and key files: read through one opened descriptor (so the mode checked is the
// mode of the file read), parsed from memory, and checked before any SSL_CTX sees them.
#include "proxy/tls_files.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace mcptap::proxy {
namespace {

constexpr size_t kMaxFileBytes = 1u << 20;  // far above any real chain or key
constexpr long kExpiryWarningSeconds = 7L * 24 * 3600;

// A key only its owner can read, as ssh wants; or, as PostgreSQL also accepts, a key owned
// by root that its group may read (0640, 0440): what a Kubernetes Secret mounted with a
// pod fsGroup looks like, the group being the one mcptap runs in.
bool private_enough(const struct stat& status) {
  if ((status.st_mode & 077) == 0) return true;
  return status.st_uid == 0 && (status.st_mode & 037) == 0;
}

// The file's bytes; `private_key` also refuses a mode that lets group or others read it.
// The caller wipes the bytes of a key.
base::Result<std::string> read_file(const TlsFileRef& file, bool private_key) {
  if (file.path.empty()) return base::fail(file.describe() + ": no path given");
  int fd = ::open(file.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return base::fail(file.describe() + ": cannot open (" + std::strerror(errno) + ")");
  }
  struct stat status {};
  if (::fstat(fd, &status) != 0 || !S_ISREG(status.st_mode)) {
    ::close(fd);
    return base::fail(file.describe() + ": not a regular file");
  }
  if (private_key && !private_enough(status)) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(status.st_mode & 07777));
    return base::fail(file.describe() + " is readable by group or others (mode " + mode +
                      "); chmod 600 it");
  }
  if (static_cast<size_t>(status.st_size) > kMaxFileBytes) {
    ::close(fd);
    return base::fail(file.describe() + ": larger than 1 MiB, not a PEM file");
  }
  std::string bytes(static_cast<size_t>(status.st_size), '\0');
  size_t filled = 0;
  while (filled < bytes.size()) {
    ssize_t got = ::read(fd, bytes.data() + filled, bytes.size() - filled);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      int error = errno;
      ::close(fd);
      OPENSSL_cleanse(bytes.data(), bytes.size());
      return base::fail(file.describe() + ": cannot read (" + std::strerror(error) + ")");
    }
    if (got == 0) break;  // shrank while being read
    filled += static_cast<size_t>(got);
  }
  ::close(fd);
  bytes.resize(filled);
  return bytes;
}

using UniqueBio = std::unique_ptr<BIO, OpenSslDeleter<BIO, BIO_free_all>>;

// A passphrase callback that only notes it was asked: an encrypted key is refused, never
// decrypted with a guessed passphrase.
int note_passphrase_asked(char* /*buffer*/, int /*size*/, int /*writing*/, void* asked) {
  *static_cast<bool*>(asked) = true;
  return -1;
}

}  // namespace

std::string TlsFileRef::describe() const {
  return "route " + route + ": " + key + " " + path;
}

std::string name_text(const X509_NAME* name) {
  if (name == nullptr) return {};
  UniqueBio bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) return {};
  char* data = nullptr;
  long length = BIO_get_mem_data(bio.get(), &data);
  std::string text(data, static_cast<size_t>(length > 0 ? length : 0));
  if (text.size() > 512) text.resize(512);
  return text;
}

std::string time_text(const ASN1_TIME* time) {
  struct tm parts {};
  if (time == nullptr || ASN1_TIME_to_tm(time, &parts) != 1) return "?";
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
  return text;
}

base::Result<std::vector<UniqueX509>> load_certificate_chain(const TlsFileRef& file,
                                                             std::vector<std::string>* warnings) {
  auto bytes = read_file(file, false);
  if (!bytes) return bytes.error();
  UniqueBio bio(BIO_new_mem_buf(bytes->data(), static_cast<int>(bytes->size())));
  if (!bio) return base::fail(file.describe() + ": out of memory");
  std::vector<UniqueX509> chain;
  while (X509* certificate = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    chain.emplace_back(certificate);
  }
  ERR_clear_error();  // the loop ends on "no start line"
  if (chain.empty()) return base::fail(file.describe() + ": holds no PEM certificate");
  const ASN1_TIME* not_after = X509_get0_notAfter(chain.front().get());
  if (X509_cmp_current_time(not_after) <= 0) {
    return base::fail(file.describe() + ": the certificate expired on " + time_text(not_after));
  }
  time_t soon = std::time(nullptr) + kExpiryWarningSeconds;
  if (X509_cmp_time(not_after, &soon) <= 0) {
    warnings->push_back(file.describe() + ": the certificate expires on " + time_text(not_after) +
                        ", in less than 7 days");
  }
  if (X509_cmp_current_time(X509_get0_notBefore(chain.front().get())) > 0) {
    warnings->push_back(file.describe() + ": the certificate is not valid before " +
                        time_text(X509_get0_notBefore(chain.front().get())));
  }
  return chain;
}

base::Result<UniqueEvpPkey> load_private_key(const TlsFileRef& file) {
  auto bytes = read_file(file, true);
  if (!bytes) return bytes.error();
  bool asked = false;
  EVP_PKEY* key = nullptr;
  {
    UniqueBio bio(BIO_new_mem_buf(bytes->data(), static_cast<int>(bytes->size())));
    if (bio) key = PEM_read_bio_PrivateKey(bio.get(), nullptr, note_passphrase_asked, &asked);
  }
  OPENSSL_cleanse(bytes->data(), bytes->size());
  ERR_clear_error();  // the library's reason could quote the file; the message says enough
  if (key == nullptr && asked) {
    return base::fail(file.describe() +
                      " is encrypted; mcptap needs an unencrypted key (openssl pkey -in KEY "
                      "-out PLAIN, then chmod 600 PLAIN)");
  }
  if (key == nullptr) return base::fail(file.describe() + ": holds no PEM private key");
  return UniqueEvpPkey(key);
}

base::Status check_key_matches(const TlsFileRef& certificate_file, X509* certificate,
                               const TlsFileRef& key_file, EVP_PKEY* key) {
  bool matches = X509_check_private_key(certificate, key) == 1;
  ERR_clear_error();
  if (!matches) {
    return base::fail(key_file.describe() + " does not match the certificate in " +
                      certificate_file.key + " " + certificate_file.path);
  }
  return {};
}

base::Status check_readable(const TlsFileRef& file) {
  auto bytes = read_file(file, false);
  if (!bytes) return bytes.error();
  return {};
}

}  // namespace mcptap::proxy
