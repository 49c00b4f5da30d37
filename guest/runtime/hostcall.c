/* hostcall.c: calling host functions, print and panic. */
#include "hl_internal.h"

hl_value hl_call_host(const char* name, const hl_value* args, uint32_t argc) {
  const uint64_t name_len = name ? hl_strlen(name) : 0;
  if (name_len == 0 || name_len > HL_MAX_NAME) hl_panic("hl_call_host: bad host function name");
  if (argc > HL_MAX_ARGS) hl_panic("hl_call_host: too many arguments");

  /* The call: strings and buffers are passed as (guest address, length), not copied; the
   * host checks that each lies in guest memory. The message is built in place with plain
   * stores (word-sized copies: chatty guests make many calls); hl_outb's "memory" clobber
   * makes them all happen before the `out`. The unused part of `name` is zeroed so that the
   * out area's bytes do not depend on earlier calls. */
  hl_message* out = (hl_message*)(uintptr_t)HL_OUT_AREA;
  out->magic = HL_MESSAGE_MAGIC;
  out->kind = HL_MSG_CALL;
  out->argc = argc;
  out->name_len = (uint32_t)name_len;
  memset(out->name, 0, HL_MAX_NAME);
  memcpy(out->name, name, name_len);
  if (argc > 0) memcpy(out->args, args, argc * sizeof(hl_value));

  hl_outb(HL_PORT_HOST_CALL, 0); /* the host runs the function, fills the reply area */

  /* A failing host function ends the guest call, so only a result comes back. */
  const volatile hl_message* reply = HL_REPLY_MSG;
  if (reply->magic != HL_MESSAGE_MAGIC || reply->kind != HL_MSG_RESULT || reply->argc < 1) {
    hl_panic("hl_call_host: the host's reply is not a result message");
  }
  hl_value result;
  result.type = reply->args[0].type;
  result.reserved = 0;
  result.u.buf.ptr = reply->args[0].u.buf.ptr;
  result.u.buf.len = reply->args[0].u.buf.len;
  return result;
}

int64_t hl_print(const char* s) {
  const hl_value arg = hl_str(s ? s : "(null)");
  const hl_value result = hl_call_host("print", &arg, 1);
  return result.type == HL_I64 ? result.u.i64 : -1;
}

_Noreturn void hl_panic(const char* msg) {
  hl_write_out(HL_MSG_PANIC, hl_str(msg ? msg : "(null)"));
  hl_outb(HL_PORT_PANIC, 0);
  for (;;) hl_hlt(); /* the host ends the call at the out; never resume past it */
}
