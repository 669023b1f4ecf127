// ForwardingSide: writes into a real pipe nobody reads, watermarks pausing and resuming a
// real source stream, memory counted per pool buffer, failed writes.
#include "proxy/forwarding_side.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "base/uv_handles.h"

namespace mcptap::proxy {
namespace {

constexpr size_t kBufferBytes = 4096;

class ForwardingSideTest : public ::testing::Test, public ForwardingSide::Owner {
 protected:
  void SetUp() override {
    std::signal(SIGPIPE, SIG_IGN);
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    int out[2], in[2];
    ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
    ASSERT_EQ(::pipe2(in, O_CLOEXEC), 0);
    drain_fd_ = out[0];
    feed_fd_ = in[1];
    uv_pipe_init(&loop_, &output_, 0);
    uv_pipe_init(&loop_, &source_, 0);
    ASSERT_EQ(uv_pipe_open(&output_, out[1]), 0);
    ASSERT_EQ(uv_pipe_open(&source_, in[0]), 0);
  }

  void TearDown() override {
    side_.reset();
    uv_close(base::as_handle(&output_), nullptr);
    uv_close(base::as_handle(&source_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    if (drain_fd_ >= 0) ::close(drain_fd_);
    ::close(feed_fd_);
    EXPECT_EQ(uv_loop_close(&loop_), 0);
    EXPECT_EQ(pool_.buffers_in_use(), 0u);
  }

  void make_side(Watermarks marks) {
    side_ = std::make_unique<ForwardingSide>(*this, marks, &pool_);
    side_->set_output(base::as_stream(&output_));
    side_->set_source(base::as_stream(&source_), &on_alloc, &on_read);
  }

  // What an owner does: every finished write re-applies the watermarks.
  void on_written(ForwardingSide& side, int status) override {
    statuses_.push_back(status);
    changes_.push_back(side.update_reading());
  }

  // Writes whole buffers until the kernel's pipe buffer is full and `want` bytes of pool
  // memory are queued behind it.
  void fill_until_queued(size_t want) {
    for (int i = 0; i < 10000 && side_->queued_bytes() < want; ++i) {
      PooledBuffer* buffer = pool_.acquire();
      ASSERT_EQ(side_->write(buffer, kBufferBytes), 0);
      ForwardingSide::Reading change = side_->update_reading();
      if (change != ForwardingSide::Reading::Unchanged) changes_.push_back(change);
    }
    ASSERT_GE(side_->queued_bytes(), want);
  }

  // Reads what the pipe holds, letting the loop write more, until nothing is queued.
  void drain() {
    char chunk[65536];
    for (int i = 0; i < 100000 && side_->queued_bytes() > 0; ++i) {
      (void)!::read(drain_fd_, chunk, sizeof chunk);
      uv_run(&loop_, UV_RUN_NOWAIT);
    }
  }

  bool source_active() { return uv_is_active(base::as_handle(&source_)) != 0; }

  static void on_alloc(uv_handle_t*, size_t, uv_buf_t* buf) {
    static char bytes[64];
    *buf = uv_buf_init(bytes, sizeof bytes);
  }
  static void on_read(uv_stream_t*, ssize_t, const uv_buf_t*) {}

  uv_loop_t loop_;
  uv_pipe_t output_;
  uv_pipe_t source_;
  int drain_fd_ = -1;
  int feed_fd_ = -1;
  BufferPool pool_{kBufferBytes};
  std::unique_ptr<ForwardingSide> side_;
  std::vector<int> statuses_;
  std::vector<ForwardingSide::Reading> changes_;
};

TEST_F(ForwardingSideTest, PausesAboveHighAndResumesAtLow) {
  make_side({8 * kBufferBytes, 2 * kBufferBytes});
  ASSERT_EQ(side_->start_reading(), 0);
  EXPECT_TRUE(source_active());
  fill_until_queued(8 * kBufferBytes + 1);
  // The buffer that took it past the high watermark paused the source, once.
  ASSERT_EQ(changes_.size(), 1u);
  EXPECT_EQ(changes_[0], ForwardingSide::Reading::Paused);
  EXPECT_TRUE(side_->paused());
  EXPECT_FALSE(source_active());
  EXPECT_EQ(side_->pauses(), 1u);
  // Counted in pool memory: one whole buffer per queued write.
  EXPECT_EQ(side_->queued_bytes() % kBufferBytes, 0u);
  EXPECT_GE(pool_.buffers_in_use() * kBufferBytes, side_->queued_bytes());
  // Paused, start_reading leaves the source alone.
  EXPECT_EQ(side_->start_reading(), 0);
  EXPECT_FALSE(source_active());

  changes_.clear();
  drain();
  EXPECT_EQ(side_->queued_bytes(), 0u);
  EXPECT_EQ(pool_.buffers_in_use(), 0u);
  // Resumed once, at the first write that left the queue at or below the low watermark.
  EXPECT_EQ(std::count(changes_.begin(), changes_.end(), ForwardingSide::Reading::Resumed), 1);
  EXPECT_EQ(std::count(changes_.begin(), changes_.end(), ForwardingSide::Reading::Paused), 0);
  EXPECT_FALSE(side_->paused());
  EXPECT_TRUE(source_active());
  for (int status : statuses_) EXPECT_EQ(status, 0);
}

// Both watermarks at zero: any queued write pauses, an empty queue resumes.
TEST_F(ForwardingSideTest, ZeroWatermarksPauseOnAnyQueueAndResumeWhenEmpty) {
  make_side({0, 0});
  ASSERT_EQ(side_->start_reading(), 0);
  fill_until_queued(1);
  EXPECT_TRUE(side_->paused());
  changes_.clear();
  drain();
  ASSERT_FALSE(changes_.empty());
  EXPECT_EQ(changes_.back(), ForwardingSide::Reading::Resumed);
  EXPECT_TRUE(source_active());
}

// With nothing queued the stream takes the bytes at once: no write request, no memory held.
TEST_F(ForwardingSideTest, AnIdleStreamIsWrittenDirectly) {
  make_side({kBufferBytes, 0});
  PooledBuffer* buffer = pool_.acquire();
  std::memcpy(buffer->data(), "hello", 5);
  ASSERT_EQ(side_->write(buffer, 5), 0);
  EXPECT_EQ(side_->queued_bytes(), 0u);
  EXPECT_EQ(pool_.buffers_in_use(), 0u);
  char got[8] = {};
  EXPECT_EQ(::read(drain_fd_, got, sizeof got), 5);
  EXPECT_STREQ(got, "hello");
}

// Strings are counted by their size until their callback, which the owner is told about.
TEST_F(ForwardingSideTest, StringWritesAreCountedUntilWritten) {
  make_side({1u << 20, 0});
  ASSERT_EQ(side_->write(std::string(100, 'a')), 0);
  ASSERT_EQ(side_->write(std::string(50, 'b')), 0);
  EXPECT_EQ(side_->queued_bytes(), 150u);
  EXPECT_FALSE(side_->above_high());
  uv_run(&loop_, UV_RUN_NOWAIT);
  EXPECT_EQ(side_->queued_bytes(), 0u);
  EXPECT_EQ(statuses_, (std::vector<int>{0, 0}));
  char got[200];
  EXPECT_EQ(::read(drain_fd_, got, sizeof got), 150);
}

// A reader that went away: the write fails with its status and the buffer is released.
TEST_F(ForwardingSideTest, AFailedWriteReturnsItsStatusAndReleasesTheBuffer) {
  make_side({kBufferBytes, 0});
  ::close(std::exchange(drain_fd_, -1));
  EXPECT_EQ(side_->write(pool_.acquire(), 10), UV_EPIPE);
  EXPECT_EQ(pool_.buffers_in_use(), 0u);
  EXPECT_EQ(side_->queued_bytes(), 0u);
}

// After the source ended the watermarks leave it alone: no pause is counted for it.
TEST_F(ForwardingSideTest, AnEndedSourceIsNeitherPausedNorResumed) {
  make_side({0, 0});
  side_->source_ended();
  fill_until_queued(1);
  EXPECT_TRUE(changes_.empty());
  EXPECT_EQ(side_->pauses(), 0u);
  drain();
}

}  // namespace
}  // namespace mcptap::proxy
