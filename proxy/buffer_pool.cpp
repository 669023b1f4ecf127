// The read-buffer free list: blocks are allocated once and cycled between reads and writes.
#include "proxy/buffer_pool.h"

#include <cassert>
#include <new>
#include <type_traits>

namespace mcptap::proxy {

BufferPool::BufferPool(size_t buffer_bytes, size_t max_idle_buffers)
    : buffer_bytes_(buffer_bytes), max_idle_buffers_(max_idle_buffers) {
  assert(buffer_bytes_ > 0);
  // Reserved up front so returning a buffer never reallocates the free list.
  idle_.reserve(max_idle_buffers_);
}

BufferPool::~BufferPool() {
  assert(in_use_ == 0 && "a buffer outlived its pool");
  for (PooledBuffer* buffer : idle_) free_block(buffer);
}

PooledBuffer* BufferPool::acquire() {
  PooledBuffer* buffer = nullptr;
  if (!idle_.empty()) {
    buffer = idle_.back();
    idle_.pop_back();
  } else {
    buffer = allocate();
    if (buffer == nullptr) return nullptr;
  }
  buffer->length = 0;
  ++in_use_;
  return buffer;
}

void BufferPool::release(PooledBuffer* buffer) {
  assert(buffer != nullptr);
  assert(in_use_ > 0);
  --in_use_;
  if (idle_.size() < max_idle_buffers_) {
    idle_.push_back(buffer);
  } else {
    free_block(buffer);
  }
}

PooledBuffer* BufferPool::allocate() {
  void* block = ::operator new(PooledBuffer::data_offset() + buffer_bytes_, std::nothrow);
  if (block == nullptr) return nullptr;
  ++allocations_;
  return new (block) PooledBuffer();
}

void BufferPool::free_block(PooledBuffer* buffer) {
  static_assert(std::is_trivially_destructible_v<PooledBuffer>);
  ::operator delete(static_cast<void*>(buffer));
}

}  // namespace mcptap::proxy
