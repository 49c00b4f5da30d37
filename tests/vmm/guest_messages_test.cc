#include "vmm/guest_messages.h"

#include <gtest/gtest.h>

#include <cstring>

#include "hl_abi.h"

namespace hlrr::vmm {
namespace {

class GuestMessagesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = GuestMemory::create(0x400000);
    ASSERT_TRUE(m.has_value());
    memory_ = std::make_unique<GuestMemory>(std::move(*m));
  }
  std::unique_ptr<GuestMemory> memory_;
};

TEST_F(GuestMessagesTest, RoundTripsEveryValueType) {
  const std::vector<Value> args = {int64_t{-5}, std::string("hello"), Bytes{1, 2, 3},
                                   std::monostate{}};
  ASSERT_TRUE(
      write_message(*memory_, HL_CALL_AREA, HL_AREA_SIZE, HL_MSG_CALL, "greet", args).has_value());
  auto msg = read_message(*memory_, HL_CALL_AREA);
  ASSERT_TRUE(msg.has_value()) << msg.error().message;
  EXPECT_EQ(msg->kind, HL_MSG_CALL);
  EXPECT_EQ(msg->name, "greet");
  EXPECT_EQ(msg->args, args);
}

TEST_F(GuestMessagesTest, StringsArePlacedInTheAreaAndNulTerminated) {
  const std::vector<Value> args = {std::string("abc")};
  ASSERT_TRUE(
      write_message(*memory_, HL_CALL_AREA, HL_AREA_SIZE, HL_MSG_CALL, "f", args).has_value());
  auto raw = memory_->read_value<hl_message>(HL_CALL_AREA);
  ASSERT_TRUE(raw.has_value());
  EXPECT_EQ(raw->args[0].type, static_cast<uint32_t>(HL_STRING));
  EXPECT_EQ(raw->args[0].u.buf.ptr, HL_CALL_AREA + sizeof(hl_message));
  EXPECT_EQ(raw->args[0].u.buf.len, 3u);
  EXPECT_EQ(*memory_->read_value<uint8_t>(raw->args[0].u.buf.ptr + 3), 0);
}

TEST_F(GuestMessagesTest, RefusesArgumentsThatDoNotFit) {
  const std::vector<Value> big = {std::string(HL_AREA_SIZE, 'x')};
  auto st = write_message(*memory_, HL_CALL_AREA, HL_AREA_SIZE, HL_MSG_CALL, "f", big);
  ASSERT_FALSE(st.has_value());
  EXPECT_EQ(st.error().message, "arguments too large for the 32 KiB call area");
  const std::vector<Value> nine(9, int64_t{1});
  EXPECT_EQ(
      write_message(*memory_, HL_CALL_AREA, HL_AREA_SIZE, HL_MSG_CALL, "f", nine).error().message,
      "too many arguments (9, at most 8)");
}

// A guest-written message whose pointers the host must not follow.
hl_message guest_message(uint64_t ptr, uint64_t len) {
  hl_message m{};
  m.magic = HL_MESSAGE_MAGIC;
  m.kind = HL_MSG_CALL;
  m.argc = 1;
  m.name_len = 5;
  std::memcpy(m.name, "print", 5);
  m.args[0].type = HL_STRING;
  m.args[0].u.buf.ptr = ptr;
  m.args[0].u.buf.len = len;
  return m;
}

TEST_F(GuestMessagesTest, ChecksEveryGuestPointerBeforeReadingIt) {
  const struct {
    uint64_t ptr, len;
    const char* error;
  } cases[] = {
      {0xdead0000, 16, "argument 0 (string at 0xdead0000, 16 bytes) is outside guest memory"},
      {0x3FFFF0, 32, "argument 0 (string at 0x3ffff0, 32 bytes) is outside guest memory"},
      {0x0, 4, "argument 0 (string at 0x0, 4 bytes) is outside guest memory"},  // null page
      {HL_STACK_GUARD + 8, 4, "argument 0 (string at 0x30008, 4 bytes) is outside guest memory"},
      {0x100000, ~0ull,
       "argument 0 (string at 0x100000, 18446744073709551615 bytes) is outside guest memory"},
  };
  for (const auto& c : cases) {
    ASSERT_TRUE(memory_->write_value(HL_OUT_AREA, guest_message(c.ptr, c.len)).has_value());
    auto msg = read_message(*memory_, HL_OUT_AREA);
    ASSERT_FALSE(msg.has_value());
    EXPECT_EQ(msg.error().message, c.error);
  }
  ASSERT_TRUE(memory_->write_value(HL_OUT_AREA, guest_message(0x100000, 4)).has_value());
  EXPECT_TRUE(read_message(*memory_, HL_OUT_AREA).has_value());
}

TEST_F(GuestMessagesTest, RefusesMalformedHeaders) {
  hl_message m = guest_message(0x100000, 1);
  m.magic = 0;
  ASSERT_TRUE(memory_->write_value(HL_OUT_AREA, m).has_value());
  EXPECT_EQ(read_message(*memory_, HL_OUT_AREA).error().message,
            "no message from the guest (bad magic)");
  m = guest_message(0x100000, 1);
  m.argc = 1000;
  ASSERT_TRUE(memory_->write_value(HL_OUT_AREA, m).has_value());
  EXPECT_EQ(read_message(*memory_, HL_OUT_AREA).error().message,
            "message has 1000 arguments (at most 8)");
  m = guest_message(0x100000, 1);
  m.args[0].type = 77;
  ASSERT_TRUE(memory_->write_value(HL_OUT_AREA, m).has_value());
  EXPECT_EQ(read_message(*memory_, HL_OUT_AREA).error().message, "argument 0 has unknown type 77");
}

}  // namespace
}  // namespace hlrr::vmm
