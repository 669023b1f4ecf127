// The configuration loader's reader of one JSON object: typed reads, the key path in every
// message, and unknown keys named with the known key they most resemble. Internal to the
// loader (config_loader.cpp and config_tls.cpp): errors are exceptions here, and
// parse_config turns them into the Error it returns, so nothing outside sees one.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "base/host_port.h"
#include "cli/spelling.h"

namespace mcptap::cli::config_detail {

using nlohmann::json;

// "upstream" in "routes[0].upstream": the key a message explains.
inline std::string_view key_of(std::string_view where) {
  size_t dot = where.rfind('.');
  return dot == std::string_view::npos ? where : where.substr(dot + 1);
}

// The reader stops at the first problem by throwing one of these.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A required key that is absent. Told apart from other errors so that readers can look
// for unknown keys first: "upsteam" is a typo to name, not a missing "upstream".
class MissingKeyError : public ConfigError {
 public:
  using ConfigError::ConfigError;
};

// Reads one JSON object, remembering which keys were used so leftovers can be named.
class ObjectReader {
 public:
  ObjectReader(const json& object, std::string path) : object_(object), path_(std::move(path)) {
    if (!object_.is_object()) fail(path_.empty() ? "configuration" : path_, "expected an object");
  }

  const json* find(const std::string& key) {
    used_.insert(key);
    auto it = object_.find(key);
    return it == object_.end() ? nullptr : &*it;
  }

  // A key the object must have: nullptr when absent, and reject_unknown_keys will say
  // "missing" unless the object has an unknown key (likely the same key misspelt).
  const json* require(const std::string& key) {
    const json* value = find(key);
    if (!value && missing_.empty()) missing_ = key;
    return value;
  }

  std::string path_of(const std::string& key) const {
    return path_.empty() ? key : path_ + "." + key;
  }

  void read_bool(const std::string& key, bool& out) {
    if (const json* value = find(key)) {
      if (!value->is_boolean()) fail(path_of(key), "expected true or false");
      out = value->get<bool>();
    }
  }

  void read_string(const std::string& key, std::string& out) {
    if (const json* value = find(key)) {
      if (!value->is_string()) fail(path_of(key), "expected a string");
      out = value->get<std::string>();
    }
  }

  template <typename Integer>
  void read_integer(const std::string& key, Integer& out, int64_t min, int64_t max) {
    if (const json* value = find(key)) {
      if (!value->is_number_integer()) fail(path_of(key), "expected an integer");
      int64_t number = value->get<int64_t>();
      if (number < min || number > max) {
        fail(path_of(key), "must be between " + std::to_string(min) + " and " +
                               std::to_string(max) + ", got " + std::to_string(number));
      }
      out = static_cast<Integer>(number);
    }
  }

  // A rate per second: a number, 0 (no limit) or more.
  void read_rate(const std::string& key, double& out, double max) {
    if (const json* value = find(key)) {
      if (!value->is_number()) fail(path_of(key), "expected a number per second (0 = unlimited)");
      double number = value->get<double>();
      if (!(number >= 0) || number > max) {
        fail(path_of(key), "must be between 0 (unlimited) and " +
                               std::to_string(static_cast<long long>(max)) + ", got " +
                               value->dump());
      }
      out = number;
    }
  }

  void read_string_list(const std::string& key, std::vector<std::string>& out) {
    if (const json* value = find(key)) {
      if (!value->is_array()) fail(path_of(key), "expected an array of strings");
      out.clear();
      for (const json& item : *value) {
        if (!item.is_string()) fail(path_of(key), "expected an array of strings");
        out.push_back(item.get<std::string>());
      }
    }
  }

  void read_host_port(const std::string& key, base::HostPort& out) {
    if (const json* value = find(key)) {
      if (!value->is_string()) fail(path_of(key), "expected a string \"host:port\"");
      base::Result<base::HostPort> parsed =
          base::parse_host_port(value->get<std::string>(), key_of(path_of(key)));
      if (!parsed) fail(path_of(key), parsed.error().message);
      out = std::move(parsed).value();
    }
  }

  // Called last, once every known key was asked for: any other key is a typo or an
  // unsupported option, named with the known key it most resembles. Only then is a
  // required key reported missing.
  void reject_unknown_keys() const {
    std::vector<std::string> known(used_.begin(), used_.end());
    for (auto it = object_.begin(); it != object_.end(); ++it) {
      if (used_.count(it.key())) continue;
      std::string what = "unknown key";
      if (std::optional<std::string> meant = closest_spelling(it.key(), known)) {
        what += " (did you mean \"" + *meant + "\"?)";
      }
      fail(path_of(it.key()), what);
    }
    if (!missing_.empty()) throw MissingKeyError(path_of(missing_) + ": missing");
  }

  [[noreturn]] static void fail(const std::string& where, const std::string& what) {
    throw ConfigError(where + ": " + what);
  }

 private:
  const json& object_;
  std::string path_;
  std::set<std::string> used_;
  std::string missing_;  // the first required key found absent
};

}  // namespace mcptap::cli::config_detail
