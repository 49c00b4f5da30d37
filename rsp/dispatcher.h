// Dispatcher: one handler per packet, registered in one table (lldb-server style), answering
// against a Target. It sees unframed payloads and writes unframed replies; the Session owns the
// wire. Protocol errors are mapped to `E xx` replies in exactly one place (handle()).
#pragma once

#include <cstdint>
#include <functional>
#include <stop_token>
#include <string>
#include <string_view>

#include "base/expected.h"
#include "rsp/host_io.h"
#include "rsp/packet_codec.h"
#include "rsp/target.h"

namespace hlrr::rsp {

// The `E xx` codes we send (errno-like values, as gdbserver does).
enum class Errc : uint8_t {
  kTarget = 0x01,      // the target refused (message logged)
  kTooBig = 0x07,      // oversize packet (E2BIG)
  kMemory = 0x0e,      // memory access failed (EFAULT)
  kInvalid = 0x16,     // malformed packet or argument (EINVAL)
  kNoRegister = 0x45,  // qRegisterInfo past the last register (what lldb expects)
};

// A resume to run on the server's target thread (rsp/target_thread.h).
using ResumeJob = std::function<StopInfo(std::stop_token)>;

class Dispatcher {
 public:
  // What the session does after a packet.
  struct Outcome {
    enum class Kind : uint8_t {
      kReply,   // send the reply (an empty reply means "unsupported")
      kResume,  // run `job`; its stop becomes the reply
    };
    Kind kind = Kind::kReply;
    ResumeJob job;
    bool end_session = false;   // after the reply: k, vKill, D
    bool disable_acks = false;  // after the reply: QStartNoAckMode
  };

  explicit Dispatcher(Target& target);

  // Largest `m` read, qXfer chunk and vFile:pread we return: binary data may double when
  // escaped, and replies stay within the PacketSize we advertise.
  static constexpr uint64_t kMaxReadLength = (kMaxPacketSize - 32) / 2;

  // Handles one packet payload; writes the reply payload (unframed) into `reply`, and any text
  // for the client's console (qRcmd output too long for one reply) into `console`.
  Outcome handle(std::string_view packet, std::string& reply, std::string& console);

  // Records a stop and formats its stop reply (`T05...`, `W00`, `X0b`) into `reply`.
  void stop_reply(const StopInfo& stop, std::string& reply);

  // Formats `E xx`.
  static void error_reply(Errc code, std::string& reply);

  // The last error's explanation (for logs), empty if none.
  const std::string& last_error() const { return last_error_; }

 private:
  struct WireError {
    Errc code;
  };
  using Result = base::Expected<Outcome, WireError>;
  using Handler = Result (Dispatcher::*)(std::string_view args, std::string& reply);
  struct Entry {
    std::string_view name;
    Handler handler;
    bool prefix_only;  // name may be followed directly by the arguments (qRegisterInfo1f)
  };
  static const Entry kTable[];

  Result fail(Errc code, std::string why);
  Result target_failed(const base::Error& error, Errc code = Errc::kTarget);

  // Handlers, one per packet (named after it).
  Result handle_q_supported(std::string_view args, std::string& reply);
  Result handle_start_no_ack_mode(std::string_view args, std::string& reply);
  Result handle_q_xfer_features(std::string_view args, std::string& reply);
  Result handle_q_xfer_exec_file(std::string_view args, std::string& reply);
  Result handle_q_c(std::string_view args, std::string& reply);
  Result handle_q_f_thread_info(std::string_view args, std::string& reply);
  Result handle_q_s_thread_info(std::string_view args, std::string& reply);
  Result handle_q_attached(std::string_view args, std::string& reply);
  Result handle_q_rcmd(std::string_view args, std::string& reply);
  Result handle_q_offsets(std::string_view args, std::string& reply);
  Result handle_q_symbol(std::string_view args, std::string& reply);
  Result handle_empty(std::string_view args, std::string& reply);
  Result handle_q_host_info(std::string_view args, std::string& reply);
  Result handle_q_process_info(std::string_view args, std::string& reply);
  Result handle_q_register_info(std::string_view args, std::string& reply);
  Result handle_thread_suffix_supported(std::string_view args, std::string& reply);
  Result handle_list_threads_in_stop_reply(std::string_view args, std::string& reply);
  Result handle_q_memory_region_info(std::string_view args, std::string& reply);
  Result handle_v_cont_query(std::string_view args, std::string& reply);
  Result handle_v_cont(std::string_view args, std::string& reply);
  Result handle_v_kill(std::string_view args, std::string& reply);
  Result handle_stop_reason(std::string_view args, std::string& reply);
  Result handle_read_registers(std::string_view args, std::string& reply);
  Result handle_write_registers(std::string_view args, std::string& reply);
  Result handle_read_register(std::string_view args, std::string& reply);
  Result handle_write_register(std::string_view args, std::string& reply);
  Result handle_read_memory(std::string_view args, std::string& reply);
  Result handle_write_memory(std::string_view args, std::string& reply);
  Result handle_write_memory_binary(std::string_view args, std::string& reply);
  Result handle_continue(std::string_view args, std::string& reply);
  Result handle_step(std::string_view args, std::string& reply);
  Result handle_continue_signal(std::string_view args, std::string& reply);
  Result handle_step_signal(std::string_view args, std::string& reply);
  Result handle_insert_breakpoint(std::string_view args, std::string& reply);
  Result handle_remove_breakpoint(std::string_view args, std::string& reply);
  Result handle_set_thread(std::string_view args, std::string& reply);
  Result handle_thread_alive(std::string_view args, std::string& reply);
  Result handle_detach(std::string_view args, std::string& reply);
  Result handle_kill(std::string_view args, std::string& reply);
  Result handle_backward(std::string_view args, std::string& reply);
  Result handle_v_file(std::string_view args, std::string& reply);

  // Shared by c/s/C/S/vCont: optionally sets rip, then returns a resume outcome.
  Result resume(ResumeAction action, std::string_view address);
  Result breakpoint(std::string_view args, bool insert, std::string& reply);
  Result xfer_read(std::string_view data, std::string_view offset_length, std::string& reply);
  void run_monitor(std::string_view line, std::string& output);

  Target& target_;
  StopInfo last_stop_;
  std::string* console_ = nullptr;  // valid during handle()
  std::string last_error_;
  bool thread_suffix_ = false;         // QThreadSuffixSupported
  bool list_threads_in_stop_ = false;  // QListThreadsInStopReply
  bool client_swbreak_ = false;        // the client's qSupported offered swbreak+
  bool client_hwbreak_ = false;        // ... and hwbreak+
  bool multiprocess_ = false;          // agreed in qSupported: thread ids "pP.T"
  HostIo host_io_;                     // vFile
};

}  // namespace hlrr::rsp
