// BufferPool: recycling through the free list, the idle cap, and the header/data layout.
#include "proxy/buffer_pool.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace mcptap::proxy {
namespace {

TEST(BufferPoolTest, GivesAlignedWritableBuffersOfTheConfiguredSize) {
  BufferPool pool(4096);
  PooledBuffer* buffer = pool.acquire();
  ASSERT_NE(buffer, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(buffer->data()) % alignof(std::max_align_t), 0u);
  std::memset(buffer->data(), 0xab, pool.buffer_bytes());  // ASan/valgrind check the bounds
  EXPECT_EQ(PooledBuffer::from_data(buffer->data()), buffer);
  EXPECT_EQ(pool.buffers_in_use(), 1u);
  pool.release(buffer);
  EXPECT_EQ(pool.buffers_in_use(), 0u);
}

TEST(BufferPoolTest, ReusesAReleasedBuffer) {
  BufferPool pool(1024);
  PooledBuffer* first = pool.acquire();
  pool.release(first);
  PooledBuffer* second = pool.acquire();
  EXPECT_EQ(second, first);
  EXPECT_EQ(pool.allocations(), 1u);
  pool.release(second);
}

TEST(BufferPoolTest, NoAllocationsAfterWarmUp) {
  BufferPool pool(64u << 10);
  std::vector<PooledBuffer*> held;
  auto cycle = [&] {
    for (int i = 0; i < 20; ++i) held.push_back(pool.acquire());
    for (PooledBuffer* buffer : held) pool.release(buffer);
    held.clear();
  };
  cycle();
  uint64_t warmed_up = pool.allocations();
  EXPECT_EQ(warmed_up, 20u);
  for (int round = 0; round < 100; ++round) cycle();
  EXPECT_EQ(pool.allocations(), warmed_up);
  EXPECT_EQ(pool.idle_buffers(), 20u);
}

TEST(BufferPoolTest, KeepsAtMostMaxIdleBuffers) {
  BufferPool pool(1024, 4);
  std::vector<PooledBuffer*> held;
  for (int i = 0; i < 10; ++i) held.push_back(pool.acquire());
  for (PooledBuffer* buffer : held) pool.release(buffer);
  held.clear();
  EXPECT_EQ(pool.idle_buffers(), 4u);
  for (int i = 0; i < 10; ++i) held.push_back(pool.acquire());
  EXPECT_EQ(pool.allocations(), 16u);  // 4 came from the free list
  EXPECT_EQ(pool.idle_buffers(), 0u);
  for (PooledBuffer* buffer : held) pool.release(buffer);
}

TEST(BufferPoolTest, AcquireResetsTheLength) {
  BufferPool pool(1024);
  PooledBuffer* buffer = pool.acquire();
  buffer->length = 77;
  pool.release(buffer);
  EXPECT_EQ(pool.acquire()->length, 0u);
  pool.release(buffer);
}

}  // namespace
}  // namespace mcptap::proxy
