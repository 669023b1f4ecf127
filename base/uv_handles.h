// libuv's handle types share a common prefix, so a uv_tcp_t is a uv_stream_t is a
// uv_handle_t; these casts say so in one place instead of reinterpret_cast at every call.
#pragma once

#include <uv.h>

namespace mcptap::base {

template <typename Stream>
uv_stream_t* as_stream(Stream* stream) {
  return reinterpret_cast<uv_stream_t*>(stream);
}

template <typename Handle>
uv_handle_t* as_handle(Handle* handle) {
  return reinterpret_cast<uv_handle_t*>(handle);
}

}  // namespace mcptap::base
