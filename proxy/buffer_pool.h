// Fixed-size read buffers recycled through a free list, so forwarding does no per-read malloc.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mcptap::proxy {

// One pooled block: this header, then BufferPool::buffer_bytes() bytes of data. The write
// request travels in the header, so bytes read into a buffer are forwarded to the other
// side (zero copy) without another allocation; the buffer goes back to the pool in the
// write callback.
struct PooledBuffer {
  uv_write_t write_req;
  size_t length = 0;  // bytes of data() in use

  char* data() { return reinterpret_cast<char*>(this) + data_offset(); }
  // The buffer whose data() is `data` (what uv_read_cb hands back as buf->base).
  static PooledBuffer* from_data(char* data) {
    return reinterpret_cast<PooledBuffer*>(data - data_offset());
  }
  // The header is padded so data() is aligned like anything malloc returns.
  static constexpr size_t data_offset();
};

constexpr size_t PooledBuffer::data_offset() {
  constexpr size_t align = alignof(std::max_align_t);
  return (sizeof(PooledBuffer) + align - 1) / align * align;
}

// Not thread-safe: one pool per loop, used on the loop thread only.
class BufferPool {
 public:
  static constexpr size_t kDefaultMaxIdleBuffers = 256;

  explicit BufferPool(size_t buffer_bytes, size_t max_idle_buffers = kDefaultMaxIdleBuffers);
  ~BufferPool();  // every acquired buffer must have been released by now
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // A buffer of buffer_bytes(); nullptr only when memory is exhausted.
  PooledBuffer* acquire();
  // Keeps the buffer for reuse, or frees it when max_idle_buffers are already idle.
  void release(PooledBuffer* buffer);

  size_t buffer_bytes() const { return buffer_bytes_; }
  size_t idle_buffers() const { return idle_.size(); }
  size_t buffers_in_use() const { return in_use_; }
  // Buffers ever allocated from the heap: stays flat once the pool has warmed up.
  uint64_t allocations() const { return allocations_; }

 private:
  PooledBuffer* allocate();
  static void free_block(PooledBuffer* buffer);

  size_t buffer_bytes_;
  size_t max_idle_buffers_;
  std::vector<PooledBuffer*> idle_;
  size_t in_use_ = 0;
  uint64_t allocations_ = 0;
};

}  // namespace mcptap::proxy
