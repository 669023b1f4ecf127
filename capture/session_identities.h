// Which protocol revision and client each message comes from. 2026-07-28 requests say so in
// their own _meta; earlier revisions say it once, in initialize, for the whole session. This
// remembers the latter per session (bounded, least recently used forgotten first) and
// shares equal identities so that pending requests hold a pointer, not three strings.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/string_hash.h"
#include "capture/operation_facts.h"

namespace mcptap::capture {

class SessionIdentities {
 public:
  explicit SessionIdentities(size_t max_sessions = 10000);

  // The shared copy of an identity (null for an empty one).
  std::shared_ptr<const ClientIdentity> intern(const ClientIdentity& identity);
  // An initialize request (provisional) or its answer (the negotiated version) names the
  // session's identity; `update` fills only what it has.
  void remember(std::string_view session_id, const ClientIdentity& update);
  // The session's identity, null when none was seen.
  std::shared_ptr<const ClientIdentity> find(std::string_view session_id);
  void forget(std::string_view session_id);
  size_t sessions() const { return by_session_.size(); }

 private:
  using Lru = std::list<std::string>;
  struct Entry {
    std::shared_ptr<const ClientIdentity> identity;
    Lru::iterator used;
  };
  size_t max_sessions_;
  Lru lru_;  // most recently used first
  std::unordered_map<std::string, Entry, base::StringHash, std::equal_to<>> by_session_;
  // Interned identities; a few distinct ones in practice, capped all the same.
  std::unordered_map<std::string, std::weak_ptr<const ClientIdentity>> interned_;
};

// meta.protocol_version and meta.client from an identity.
void write_identity_meta(const ClientIdentity& identity, nlohmann::json& meta);

}  // namespace mcptap::capture
