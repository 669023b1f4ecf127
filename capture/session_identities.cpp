#include "capture/session_identities.h"

namespace mcptap::capture {
namespace {

constexpr size_t kMaxInterned = 1024;

std::string intern_key(const ClientIdentity& identity) {
  std::string key;
  for (const std::string* field :
       {&identity.protocol_version, &identity.client_name, &identity.client_version}) {
    key += std::to_string(field->size());
    key += ':';
    key += *field;
  }
  return key;
}

}  // namespace

SessionIdentities::SessionIdentities(size_t max_sessions) : max_sessions_(max_sessions) {}

std::shared_ptr<const ClientIdentity> SessionIdentities::intern(const ClientIdentity& identity) {
  if (identity.empty()) return nullptr;
  std::string key = intern_key(identity);
  auto found = interned_.find(key);
  if (found != interned_.end()) {
    if (auto shared = found->second.lock()) return shared;
  }
  auto shared = std::make_shared<const ClientIdentity>(identity);
  if (interned_.size() >= kMaxInterned) {
    // Expired entries go first; past that, identities are still shared per request, just
    // not across requests.
    std::erase_if(interned_, [](const auto& entry) { return entry.second.expired(); });
    if (interned_.size() >= kMaxInterned) return shared;
  }
  interned_.insert_or_assign(std::move(key), shared);
  return shared;
}

void SessionIdentities::remember(std::string_view session_id, const ClientIdentity& update) {
  if (update.empty() || max_sessions_ == 0) return;
  auto found = by_session_.find(session_id);
  ClientIdentity merged;
  if (found != by_session_.end()) {
    if (found->second.identity) merged = *found->second.identity;
    lru_.erase(found->second.used);
    by_session_.erase(found);
  }
  if (!update.protocol_version.empty()) merged.protocol_version = update.protocol_version;
  if (!update.client_name.empty()) merged.client_name = update.client_name;
  if (!update.client_version.empty()) merged.client_version = update.client_version;
  while (by_session_.size() >= max_sessions_) {
    by_session_.erase(lru_.back());
    lru_.pop_back();
  }
  lru_.emplace_front(session_id);
  by_session_.emplace(std::string(session_id), Entry{intern(merged), lru_.begin()});
}

std::shared_ptr<const ClientIdentity> SessionIdentities::find(std::string_view session_id) {
  if (by_session_.empty()) return nullptr;
  auto found = by_session_.find(session_id);
  if (found == by_session_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, found->second.used);
  return found->second.identity;
}

void SessionIdentities::forget(std::string_view session_id) {
  if (by_session_.empty()) return;
  auto found = by_session_.find(session_id);
  if (found == by_session_.end()) return;
  lru_.erase(found->second.used);
  by_session_.erase(found);
}

void write_identity_meta(const ClientIdentity& identity, nlohmann::json& meta) {
  if (!identity.protocol_version.empty()) meta["protocol_version"] = identity.protocol_version;
  if (identity.client_name.empty() && identity.client_version.empty()) return;
  nlohmann::json client = nlohmann::json::object();
  if (!identity.client_name.empty()) client["name"] = identity.client_name;
  if (!identity.client_version.empty()) client["version"] = identity.client_version;
  meta["client"] = std::move(client);
}

}  // namespace mcptap::capture
