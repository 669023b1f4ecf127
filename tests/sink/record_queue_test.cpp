// Tests for sink/record_queue.cpp: byte bound, drops, batch sizes, lingering, threads.
#include "sink/record_queue.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace mcptap::sink {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

capture::Record record_with(int producer, int sequence) {
  capture::Record record;
  record.id = base::Uuid::v7();
  record.captured_at_us = 1'000'000 + sequence;
  record.route = "route-" + std::to_string(producer);
  record.jsonrpc_id = std::to_string(sequence);
  record.payload = std::string(100, 'x');
  return record;
}

milliseconds elapsed_since(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start);
}

TEST(RecordQueueTest, PopsInArrivalOrder) {
  RecordQueue queue(1 << 20);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(queue.push(record_with(0, i)));
  RecordBatch batch;
  ASSERT_EQ(queue.pop_batch(10, milliseconds(0), &batch), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(batch[i].jsonrpc_id, std::to_string(i));
  EXPECT_EQ(queue.size(), 0u);
  EXPECT_EQ(queue.bytes(), 0u);
}

TEST(RecordQueueTest, RefusesPastTheByteBoundAndCountsDrops) {
  const size_t footprint = record_with(0, 0).footprint_bytes();
  RecordQueue queue(3 * footprint);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(queue.push(record_with(0, i)));
  EXPECT_EQ(queue.bytes(), 3 * footprint);
  EXPECT_FALSE(queue.push(record_with(0, 3)));
  EXPECT_FALSE(queue.push(record_with(0, 4)));
  EXPECT_EQ(queue.dropped(), 2u);
  EXPECT_EQ(queue.size(), 3u);

  // Room made by the consumer is room again for the producer.
  RecordBatch batch;
  ASSERT_EQ(queue.pop_batch(1, milliseconds(0), &batch), 1u);
  EXPECT_EQ(queue.bytes(), 2 * footprint);
  EXPECT_TRUE(queue.push(record_with(0, 5)));
  EXPECT_EQ(queue.dropped(), 2u);
}

TEST(RecordQueueTest, RecordLargerThanTheBoundIsRefused) {
  RecordQueue queue(64);
  EXPECT_FALSE(queue.push(record_with(0, 0)));
  EXPECT_EQ(queue.dropped(), 1u);
}

TEST(RecordQueueTest, BatchesHoldAtMostMaxRows) {
  RecordQueue queue(1 << 20);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(queue.push(record_with(0, i)));
  std::vector<size_t> sizes;
  for (int round = 0; round < 3; ++round) {
    RecordBatch batch;
    sizes.push_back(queue.pop_batch(4, milliseconds(0), &batch));
    EXPECT_EQ(batch.size(), sizes.back());
    EXPECT_EQ(batch.front().jsonrpc_id, std::to_string(round * 4));
  }
  EXPECT_EQ(sizes, (std::vector<size_t>{4, 4, 2}));
}

TEST(RecordQueueTest, PopAppendsToANonEmptyBatch) {
  RecordQueue queue(1 << 20);
  RecordBatch batch;
  batch.push_back(record_with(0, 100));
  ASSERT_TRUE(queue.push(record_with(0, 0)));
  EXPECT_EQ(queue.pop_batch(10, milliseconds(0), &batch), 1u);
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch[0].jsonrpc_id, "100");
  EXPECT_EQ(batch[1].jsonrpc_id, "0");
}

TEST(RecordQueueTest, EmptyQueueWaitsTheLingerThenReturnsNothing) {
  RecordQueue queue(1 << 20);
  RecordBatch batch;
  Clock::time_point start = Clock::now();
  EXPECT_EQ(queue.pop_batch(10, milliseconds(80), &batch), 0u);
  EXPECT_GE(elapsed_since(start), milliseconds(75));
  EXPECT_LT(elapsed_since(start), milliseconds(2000));
}

TEST(RecordQueueTest, AFewRecordsWaitForTheLingerFromTheFirstArrival) {
  RecordQueue queue(1 << 20);
  Clock::time_point first_arrival = Clock::now();
  ASSERT_TRUE(queue.push(record_with(0, 0)));
  RecordBatch batch;
  EXPECT_EQ(queue.pop_batch(10, milliseconds(100), &batch), 1u);
  EXPECT_GE(elapsed_since(first_arrival), milliseconds(95));
  EXPECT_LT(elapsed_since(first_arrival), milliseconds(2000));
}

TEST(RecordQueueTest, AFullBatchIsReturnedAtOnce) {
  RecordQueue queue(1 << 20);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(queue.push(record_with(0, i)));
  RecordBatch batch;
  Clock::time_point start = Clock::now();
  EXPECT_EQ(queue.pop_batch(5, milliseconds(10'000), &batch), 5u);
  EXPECT_LT(elapsed_since(start), milliseconds(1000));
}

TEST(RecordQueueTest, ReachingMaxRowsWakesAWaitingConsumer) {
  RecordQueue queue(1 << 20);
  RecordBatch batch;
  size_t popped = 0;
  Clock::time_point start = Clock::now();
  std::thread consumer([&] { popped = queue.pop_batch(5, milliseconds(10'000), &batch); });
  std::this_thread::sleep_for(milliseconds(20));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(queue.push(record_with(0, i)));
  consumer.join();
  EXPECT_EQ(popped, 5u);
  EXPECT_LT(elapsed_since(start), milliseconds(5000));
}

TEST(RecordQueueTest, CloseWakesTheConsumerAndRefusesPushes) {
  RecordQueue queue(1 << 20);
  ASSERT_TRUE(queue.push(record_with(0, 0)));
  RecordBatch batch;
  size_t popped = 0;
  Clock::time_point start = Clock::now();
  std::thread consumer([&] { popped = queue.pop_batch(100, milliseconds(10'000), &batch); });
  std::this_thread::sleep_for(milliseconds(20));
  queue.close();
  consumer.join();
  EXPECT_EQ(popped, 1u);
  EXPECT_LT(elapsed_since(start), milliseconds(5000));
  EXPECT_TRUE(queue.closed());
  EXPECT_FALSE(queue.push(record_with(0, 1)));
  EXPECT_EQ(queue.dropped(), 1u);
  EXPECT_EQ(queue.pop_batch(100, milliseconds(10'000), &batch), 0u);
}

TEST(RecordQueueTest, TracksTheOldestWaitingRecord) {
  RecordQueue queue(1 << 20);
  EXPECT_EQ(queue.oldest_captured_at_us(), 0);
  ASSERT_TRUE(queue.push(record_with(0, 7)));
  ASSERT_TRUE(queue.push(record_with(0, 8)));
  EXPECT_EQ(queue.oldest_captured_at_us(), 1'000'007);
  RecordBatch batch;
  queue.pop_batch(1, milliseconds(0), &batch);
  EXPECT_EQ(queue.oldest_captured_at_us(), 1'000'008);
  queue.pop_batch(1, milliseconds(0), &batch);
  EXPECT_EQ(queue.oldest_captured_at_us(), 0);
}

// Producers racing one consumer: every accepted record arrives exactly once, each
// producer's records in the order it pushed them, and accepted + dropped adds up.
void run_producers_and_consumer(size_t max_bytes, bool expect_no_drops) {
  constexpr int kProducers = 4;
  constexpr int kPerProducer = 20'000;
  RecordQueue queue(max_bytes);
  std::vector<int> accepted(kProducers, 0);
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&queue, &accepted, p] {
      for (int i = 0; i < kPerProducer; ++i) {
        if (queue.push(record_with(p, i))) ++accepted[p];
      }
    });
  }
  std::vector<int> received(kProducers, 0);
  std::vector<int> last_sequence(kProducers, -1);
  std::thread consumer([&] {
    RecordBatch batch;
    while (queue.pop_batch(500, milliseconds(5), &batch) > 0 || !queue.closed()) {
      for (const capture::Record& record : batch) {
        int producer = record.route.back() - '0';
        int sequence = std::stoi(*record.jsonrpc_id);
        EXPECT_GT(sequence, last_sequence[producer]);
        last_sequence[producer] = sequence;
        ++received[producer];
      }
      batch.clear();
    }
  });
  for (std::thread& producer : producers) producer.join();
  queue.close();
  consumer.join();
  uint64_t total_accepted = 0;
  for (int p = 0; p < kProducers; ++p) {
    EXPECT_EQ(received[p], accepted[p]);
    total_accepted += accepted[p];
  }
  EXPECT_EQ(total_accepted + queue.dropped(), uint64_t{kProducers} * kPerProducer);
  if (expect_no_drops) {
    EXPECT_EQ(queue.dropped(), 0u);
  }
  EXPECT_EQ(queue.size(), 0u);
  EXPECT_EQ(queue.bytes(), 0u);
}

TEST(RecordQueueTest, ManyProducersOneConsumerLoseNothing) {
  run_producers_and_consumer(size_t{1} << 30, /*expect_no_drops=*/true);
}

TEST(RecordQueueTest, ManyProducersAgainstATightBoundAccountForEveryRecord) {
  run_producers_and_consumer(50 * record_with(0, 0).footprint_bytes(), /*expect_no_drops=*/false);
}

}  // namespace
}  // namespace mcptap::sink
