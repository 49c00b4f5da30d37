// The exit loop's decisions, driven with made-up exits: no vCPU, no guest.
#include "vmm/exit_handler.h"

#include <gtest/gtest.h>

#include "hl_abi.h"
#include "vmm/guest_messages.h"

namespace hlrr::vmm {
namespace {

class ExitHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = GuestMemory::create(0x400000);
    ASSERT_TRUE(m.has_value());
    memory_ = std::make_unique<GuestMemory>(std::move(*m));
    table_.add("add", {{ValueType::kI64, ValueType::kI64}, ValueType::kI64},
               [](std::span<const Value> a) -> base::Expected<Value> {
                 return std::get<int64_t>(a[0]) + std::get<int64_t>(a[1]);
               });
    table_.add("fail", {{}, ValueType::kVoid}, [](std::span<const Value>) -> base::Expected<Value> {
      return base::fail("disk full");
    });
    handler_ = std::make_unique<ExitHandler>(*memory_, table_);
  }

  // What the guest runtime does before `out` to the host-call port.
  void guest_calls_host(const std::string& name, std::vector<Value> args) {
    ASSERT_TRUE(write_message(*memory_, HL_OUT_AREA, HL_OUT_AREA_SIZE, HL_MSG_CALL, name, args)
                    .has_value());
  }
  static VcpuExit out(uint16_t port) {
    return VcpuExit{.kind = ExitKind::kIoOut, .port = port, .size = 1};
  }

  std::unique_ptr<GuestMemory> memory_;
  HostFunctionTable table_;
  std::unique_ptr<ExitHandler> handler_;
};

TEST_F(ExitHandlerTest, ServesAHostCallAndWritesTheResultIntoTheReplyArea) {
  guest_calls_host("add", {int64_t{40}, int64_t{2}});
  ExitAction action = handler_->handle(out(HL_PORT_HOST_CALL));
  ASSERT_EQ(action.kind, ExitAction::Kind::kContinue) << action.fault.to_string();
  auto reply = read_message(*memory_, HL_REPLY_AREA);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->kind, HL_MSG_RESULT);
  ASSERT_EQ(reply->args.size(), 1u);
  EXPECT_EQ(std::get<int64_t>(reply->args[0]), 42);
}

TEST_F(ExitHandlerTest, HostCallErrorsEndTheCallNamingTheFunction) {
  const struct {
    std::string name;
    std::vector<Value> args;
    std::string message;
  } cases[] = {
      {"nope", {}, "no host function named 'nope'"},
      {"add", {int64_t{1}}, "host function 'add' takes 2 arguments, the guest passed 1"},
      {"add",
       {int64_t{1}, std::string("x")},
       "host function 'add' argument 1 is i64, the guest passed string"},
      {"fail", {}, "host function 'fail' failed: disk full"},
  };
  for (const auto& c : cases) {
    guest_calls_host(c.name, c.args);
    ExitAction action = handler_->handle(out(HL_PORT_HOST_CALL));
    ASSERT_EQ(action.kind, ExitAction::Kind::kFault);
    EXPECT_EQ(action.fault.kind, FaultKind::kBadHostCall);
    EXPECT_EQ(action.fault.message, c.message);
  }
}

TEST_F(ExitHandlerTest, HaltReturnsTheGuestsResultOrItsError) {
  const std::vector<Value> result = {std::string("done")};
  ASSERT_TRUE(write_message(*memory_, HL_OUT_AREA, HL_OUT_AREA_SIZE, HL_MSG_RESULT, "", result)
                  .has_value());
  ExitAction action = handler_->handle(VcpuExit{.kind = ExitKind::kHalt});
  ASSERT_EQ(action.kind, ExitAction::Kind::kReturn);
  EXPECT_EQ(std::get<std::string>(action.value), "done");

  const std::vector<Value> error = {std::string("no guest function named 'x'")};
  ASSERT_TRUE(
      write_message(*memory_, HL_OUT_AREA, HL_OUT_AREA_SIZE, HL_MSG_ERROR, "", error).has_value());
  action = handler_->handle(VcpuExit{.kind = ExitKind::kHalt});
  ASSERT_EQ(action.kind, ExitAction::Kind::kFault);
  EXPECT_EQ(action.fault.kind, FaultKind::kGuestError);
  EXPECT_EQ(action.fault.to_string(), "guest error: no guest function named 'x'");

  ASSERT_TRUE(memory_->write_value<uint32_t>(HL_OUT_AREA, 0).has_value());
  action = handler_->handle(VcpuExit{.kind = ExitKind::kHalt});
  EXPECT_EQ(action.fault.kind, FaultKind::kGuestError);
}

TEST_F(ExitHandlerTest, PanicCarriesTheGuestsMessage) {
  const std::vector<Value> msg = {std::string("invariant broken")};
  ASSERT_TRUE(
      write_message(*memory_, HL_OUT_AREA, HL_OUT_AREA_SIZE, HL_MSG_PANIC, "", msg).has_value());
  ExitAction action = handler_->handle(out(HL_PORT_PANIC));
  ASSERT_EQ(action.kind, ExitAction::Kind::kFault);
  EXPECT_EQ(action.fault.kind, FaultKind::kPanic);
  EXPECT_EQ(action.fault.message, "invariant broken");
}

TEST_F(ExitHandlerTest, APanicsTextIsShownEscaped) {
  // A panic message or symbol name is the guest's: as text it must not move the cursor,
  // recolour the terminal or forge a line of hlrun's own.
  const std::vector<Value> msg = {std::string("bad\x1b[2J\nhlrun: all good\\")};
  ASSERT_TRUE(
      write_message(*memory_, HL_OUT_AREA, HL_OUT_AREA_SIZE, HL_MSG_PANIC, "", msg).has_value());
  ExitAction action = handler_->handle(out(HL_PORT_PANIC));
  ASSERT_EQ(action.kind, ExitAction::Kind::kFault);
  EXPECT_EQ(action.fault.message, "bad\x1b[2J\nhlrun: all good\\");  // the value keeps its bytes
  action.fault.rip = 0x1234;
  action.fault.symbol = "f\x07\xff+0x4";
  EXPECT_EQ(action.fault.to_string(),
            "panic at 0x1234 in f\\x07\\xff+0x4: bad\\x1b[2J\\nhlrun: all good\\\\");
  EXPECT_EQ(to_string(Value{std::string("a\tb\r\n")}), "\"a\\tb\\r\\n\"");
}

TEST_F(ExitHandlerTest, EachExceptionBecomesItsFaultKind) {
  const struct {
    uint8_t vector;
    FaultKind kind;
  } cases[] = {{0, FaultKind::kDivideError},        {6, FaultKind::kInvalidOpcode},
               {13, FaultKind::kGeneralProtection}, {14, FaultKind::kPageFault},
               {8, FaultKind::kTripleFault},        {17, FaultKind::kOtherException}};
  for (const auto& c : cases) {
    ExitAction a = handler_->handle(VcpuExit{.kind = ExitKind::kException, .vector = c.vector});
    ASSERT_EQ(a.kind, ExitAction::Kind::kFault);
    EXPECT_EQ(a.fault.kind, c.kind) << int(c.vector);
  }
  ExitAction pf = handler_->handle(VcpuExit{.kind = ExitKind::kException,
                                            .vector = 14,
                                            .error_code = 2,
                                            .has_address = true,
                                            .address = 0});
  pf.fault.rip = 0x100010;
  pf.fault.symbol = "null_deref+0x4";
  EXPECT_EQ(pf.fault.to_string(), "#PF at 0x100010 in null_deref+0x4 (address 0x0)");
}

TEST_F(ExitHandlerTest, OtherExitsEndTheCallWithTheirKind) {
  EXPECT_EQ(handler_
                ->handle(VcpuExit{
                    .kind = ExitKind::kOutOfBounds, .has_address = true, .address = 0x80000000})
                .fault.to_string(),
            "out-of-bounds access at 0x0 (address 0x80000000)");
  EXPECT_EQ(handler_->handle(VcpuExit{.kind = ExitKind::kStopped}).fault.kind, FaultKind::kTimeout);
  EXPECT_EQ(handler_->handle(VcpuExit{.kind = ExitKind::kShutdown}).fault.kind,
            FaultKind::kTripleFault);
  EXPECT_EQ(handler_->handle(out(0x80)).fault.message, "out to unknown port 0x80");
  EXPECT_EQ(handler_->handle(VcpuExit{.kind = ExitKind::kIoIn, .port = 0x60}).fault.message,
            "in from unknown port 0x60");
  EXPECT_EQ(handler_->handle(VcpuExit{.kind = ExitKind::kUnsupported, .detail = "`addps` at 0x1"})
                .fault.kind,
            FaultKind::kUnsupportedInstruction);
}

}  // namespace
}  // namespace hlrr::vmm
