// Thread ids on the wire. The server debugs one guest with one vCPU: process kGuestPid, thread
// kGuestTid. Without the multiprocess extension a thread id is "T" (hex); with it (the client
// offered `multiprocess+` in qSupported and we agreed) it is "pP.T", and "pP" names a process.
// Either way -1 means "all" and 0 "any".
//
// Why pid 1: the guest is the only program of its micro-VM, the first and only "process" there,
// as init is on a Linux machine; it is no process of the machine the server runs on, so it must
// not borrow a host pid (a client would think it could attach to it or read its host /proc
// files). lldb's qProcessInfo has always said pid:1, and thread 1 stays thread 1.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace hlrr::rsp {

inline constexpr uint64_t kGuestPid = 1;
inline constexpr uint64_t kGuestTid = 1;

// Our thread's id as the client expects it: "1" or "p1.1".
std::string our_thread_id(bool multiprocess);

// Whether a thread id ("1", "-1", "0", "p1.1", "p1.-1", "p1", "p-1", ...) includes our thread.
bool names_our_thread(std::string_view id);

// Whether a process id in hex ("1", "-1"), as in `D;1` and `vKill;1`, is ours.
bool names_our_process(std::string_view pid);

}  // namespace hlrr::rsp
