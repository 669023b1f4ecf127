// One direction of forwarding: the writes into a destination stream, the memory they hold,
// and the watermarks that stop and resume reading the source that feeds it.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "proxy/buffer_pool.h"

namespace mcptap::proxy {

// Bytes held by a destination's queued writes: past `high` the source's reading stops, and
// it resumes once they drained to `low` or less (the gap keeps it from flapping; "or less"
// so that a low watermark of 0 still resumes on an empty queue).
struct Watermarks {
  size_t high = 0;
  size_t low = 0;
};

// Every forwarder (a proxied TCP connection, the stdio hop, an admin connection) writes
// through one of these per destination, so backpressure is implemented once (Envoy's
// watermark buffer, h2o's update_read_state).
//
// Writes own their bytes until their callback: a pooled read buffer travels with its own
// write request (zero copy), a string is moved into a request allocated for it. Queued
// bytes are counted in the memory they pin. The side starts and stops reading its source
// stream; the stream's `data` stays the owner's, as do both handles' lifetimes. Loop thread
// only; the side must outlive the writes it queued (their callbacks reach it).
class ForwardingSide {
 public:
  // Told when a queued write finished, its bytes already released: status 0, or why it
  // failed (UV_ECANCELED while the destination closes). A write that could not even be
  // queued is not told here: write() returns its status.
  class Owner {
   public:
    virtual ~Owner() = default;
    virtual void on_written(ForwardingSide& side, int status) = 0;
  };

  enum class Reading {
    Unchanged,
    Paused,   // the queue passed the high watermark: the source is not read
    Resumed,  // the queue drained to the low watermark: the source is read again
    Failed,   // resuming failed (uv_read_start's error is in last_error())
  };

  // `pool` is where pooled buffers go back to once written (null for a side that only
  // writes strings).
  ForwardingSide(Owner& owner, Watermarks marks, BufferPool* pool = nullptr);
  ~ForwardingSide();
  ForwardingSide(const ForwardingSide&) = delete;
  ForwardingSide& operator=(const ForwardingSide&) = delete;

  // The destination written to; null once its owner closed it.
  void set_output(uv_stream_t* output) { output_ = output; }
  uv_stream_t* output() const { return output_; }
  // The source this side's queue throttles, and the callbacks it is read with; null when
  // the source is not a stream (a file the owner reads itself: it follows paused()).
  void set_source(uv_stream_t* source, uv_alloc_cb alloc, uv_read_cb read);
  uv_stream_t* source() const { return source_; }
  // The source sent its last bytes (libuv stops reading at EOF): it is never paused or
  // resumed again.
  void source_ended();
  // Both handles are closing: the side forgets them (queued writes still call back).
  void detach();

  // Writes `length` bytes of `buffer`, which the side takes: released once written, or at
  // once on failure. With nothing queued ahead the stream is tried first, which usually
  // takes it all and spares the write request. 0, or the UV error of a failed write.
  int write(PooledBuffer* buffer, size_t length);
  // Queues `bytes` (moved into the write request). 0, or the UV error of uv_write.
  int write(std::string bytes);

  // Reads the source unless the watermark holds it (idempotent). 0 or a UV error.
  int start_reading();
  // Stops reading the source whatever the watermark says (idempotent).
  void stop_reading();
  bool reading() const { return reading_; }

  // Applies the watermarks to the source after the queue changed. A Paused source is
  // counted in pauses().
  Reading update_reading();
  bool paused() const { return paused_; }
  uint64_t pauses() const { return pauses_; }
  // Past the high watermark now (for an owner that decides its reading itself).
  bool above_high() const { return queued_bytes_ > marks_.high; }

  // Memory held by queued writes (whole pool buffers; a string's size).
  size_t queued_bytes() const { return queued_bytes_; }
  // Bytes libuv has not handed to the kernel yet: what a reader has left to take.
  size_t unsent_bytes() const;
  int last_error() const { return last_error_; }

 private:
  struct StringWrite;

  int queue(PooledBuffer* buffer, size_t offset);
  void on_buffer_written(PooledBuffer* buffer, int status);
  void on_string_written(StringWrite* request, int status);

  static void on_buffer_write_cb(uv_write_t* req, int status);
  static void on_string_write_cb(uv_write_t* req, int status);

  Owner& owner_;
  const Watermarks marks_;
  BufferPool* pool_;
  uv_stream_t* output_ = nullptr;
  uv_stream_t* source_ = nullptr;
  uv_alloc_cb alloc_ = nullptr;
  uv_read_cb read_ = nullptr;
  size_t queued_bytes_ = 0;
  size_t queued_writes_ = 0;
  uint64_t pauses_ = 0;
  int last_error_ = 0;
  bool reading_ = false;
  bool paused_ = false;
  bool source_ended_ = false;
};

}  // namespace mcptap::proxy
