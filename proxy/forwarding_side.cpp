// Writes that own their bytes, queued memory against watermarks, and the source's reading.
#include "proxy/forwarding_side.h"

#include <cassert>
#include <cstddef>
#include <type_traits>
#include <utility>

namespace mcptap::proxy {

struct ForwardingSide::StringWrite {
  uv_write_t req;
  std::string bytes;  // owned until the write callback
};

namespace {

// uv_write_cb hands back the request; the buffer it forwards is the block around it.
PooledBuffer* buffer_of(uv_write_t* req) {
  static_assert(std::is_standard_layout_v<PooledBuffer>);
  static_assert(offsetof(PooledBuffer, write_req) == 0);
  return reinterpret_cast<PooledBuffer*>(req);
}

}  // namespace

ForwardingSide::ForwardingSide(Owner& owner, Watermarks marks, BufferPool* pool)
    : owner_(owner), marks_(marks), pool_(pool) {
  assert(marks_.low <= marks_.high);
}

ForwardingSide::~ForwardingSide() {
  assert(queued_writes_ == 0 && "a forwarding side was destroyed with writes in flight");
}

void ForwardingSide::set_source(uv_stream_t* source, uv_alloc_cb alloc, uv_read_cb read) {
  source_ = source;
  alloc_ = alloc;
  read_ = read;
  reading_ = false;
}

void ForwardingSide::source_ended() {
  source_ended_ = true;
  reading_ = false;
}

void ForwardingSide::detach() {
  output_ = nullptr;
  source_ = nullptr;
  reading_ = false;
}

// ---- Writing ----------------------------------------------------------------------------

int ForwardingSide::write(PooledBuffer* buffer, size_t length) {
  assert(pool_ != nullptr && output_ != nullptr);
  buffer->length = length;
  size_t written = 0;
  if (queued_bytes_ == 0) {
    uv_buf_t bytes = uv_buf_init(buffer->data(), static_cast<unsigned>(length));
    int status = uv_try_write(output_, &bytes, 1);
    if (status < 0 && status != UV_EAGAIN) {
      pool_->release(buffer);
      return status;
    }
    written = status > 0 ? static_cast<size_t>(status) : 0;
  }
  if (written == length) {
    pool_->release(buffer);
    return 0;
  }
  return queue(buffer, written);
}

int ForwardingSide::queue(PooledBuffer* buffer, size_t offset) {
  uv_buf_t rest =
      uv_buf_init(buffer->data() + offset, static_cast<unsigned>(buffer->length - offset));
  buffer->write_req.data = this;
  int status = uv_write(&buffer->write_req, output_, &rest, 1, &ForwardingSide::on_buffer_write_cb);
  if (status != 0) {
    pool_->release(buffer);  // never queued: the callback will not run
    return status;
  }
  // Counted in pool memory, not payload: a 10-byte read still pins a whole buffer, and
  // memory is what the watermark must bound.
  queued_bytes_ += pool_->buffer_bytes();
  ++queued_writes_;
  return 0;
}

int ForwardingSide::write(std::string bytes) {
  assert(output_ != nullptr);
  auto* request = new StringWrite{{}, std::move(bytes)};
  request->req.data = this;
  uv_buf_t buf = uv_buf_init(request->bytes.data(), static_cast<unsigned>(request->bytes.size()));
  int status = uv_write(&request->req, output_, &buf, 1, &ForwardingSide::on_string_write_cb);
  if (status != 0) {
    delete request;  // never queued: the callback will not run
    return status;
  }
  queued_bytes_ += request->bytes.size();
  ++queued_writes_;
  return 0;
}

void ForwardingSide::on_buffer_written(PooledBuffer* buffer, int status) {
  assert(queued_bytes_ >= pool_->buffer_bytes() && queued_writes_ > 0);
  queued_bytes_ -= pool_->buffer_bytes();
  --queued_writes_;
  pool_->release(buffer);
  owner_.on_written(*this, status);
}

void ForwardingSide::on_string_written(StringWrite* request, int status) {
  assert(queued_bytes_ >= request->bytes.size() && queued_writes_ > 0);
  queued_bytes_ -= request->bytes.size();
  --queued_writes_;
  delete request;
  owner_.on_written(*this, status);
}

size_t ForwardingSide::unsent_bytes() const {
  return output_ != nullptr ? uv_stream_get_write_queue_size(output_) : 0;
}

// ---- Reading the source -----------------------------------------------------------------

int ForwardingSide::start_reading() {
  if (paused_ || reading_ || source_ == nullptr || source_ended_) return 0;
  int status = uv_read_start(source_, alloc_, read_);
  reading_ = status == 0;
  if (status != 0) last_error_ = status;
  return status;
}

void ForwardingSide::stop_reading() {
  if (!reading_) return;
  uv_read_stop(source_);
  reading_ = false;
}

ForwardingSide::Reading ForwardingSide::update_reading() {
  if (source_ended_) return Reading::Unchanged;  // nothing left to read from it
  if (!paused_ && queued_bytes_ > marks_.high) {
    paused_ = true;
    stop_reading();
    ++pauses_;
    return Reading::Paused;
  }
  if (paused_ && queued_bytes_ <= marks_.low) {
    paused_ = false;
    return start_reading() == 0 ? Reading::Resumed : Reading::Failed;
  }
  return Reading::Unchanged;
}

// ---- libuv callbacks --------------------------------------------------------------------

void ForwardingSide::on_buffer_write_cb(uv_write_t* req, int status) {
  static_cast<ForwardingSide*>(req->data)->on_buffer_written(buffer_of(req), status);
}

void ForwardingSide::on_string_write_cb(uv_write_t* req, int status) {
  auto* request = reinterpret_cast<StringWrite*>(req);
  static_cast<ForwardingSide*>(req->data)->on_string_written(request, status);
}

}  // namespace mcptap::proxy
