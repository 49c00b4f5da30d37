/* runtime.c: boot, the function registry and the guest-call dispatcher. */
#include "hl_internal.h"

/* ---- Registry ---------------------------------------------------------------------------- */

struct hl_function {
  const char* name;
  uint32_t name_len;
  uint32_t argc;
  const char* params; /* "" when there are none */
  hl_guest_fn fn;
};

static struct hl_function g_functions[HL_MAX_FUNCTIONS];
static uint32_t g_function_count;

static const struct hl_function* find_function(const volatile char* name, uint32_t len) {
  for (uint32_t i = 0; i < g_function_count; ++i) {
    const struct hl_function* f = &g_functions[i];
    if (f->name_len != len) continue;
    uint32_t j = 0;
    while (j < len && f->name[j] == name[j]) ++j;
    if (j == len) return f;
  }
  return NULL;
}

int hl_register(const char* name, hl_guest_fn fn, const char* params) {
  if (name == NULL || fn == NULL || g_function_count >= HL_MAX_FUNCTIONS) return -1;
  const uint64_t name_len = hl_strlen(name);
  if (name_len == 0 || name_len > HL_MAX_NAME) return -1;
  if (params == NULL) params = "";
  const uint64_t argc = hl_strlen(params);
  if (argc > HL_MAX_ARGS) return -1;
  for (uint64_t i = 0; i < argc; ++i) {
    if (params[i] != 'i' && params[i] != 's' && params[i] != 'b') return -1;
  }
  if (find_function(name, (uint32_t)name_len) != NULL) return -1;
  g_functions[g_function_count++] = (struct hl_function){
      .name = name, .name_len = (uint32_t)name_len, .argc = (uint32_t)argc,
      .params = params, .fn = fn};
  return 0;
}

/* ---- Boot -------------------------------------------------------------------------------- */

void hl_write_out(uint32_t kind, hl_value value) {
  volatile hl_message* out = HL_OUT_MSG;
  out->magic = HL_MESSAGE_MAGIC;
  out->kind = kind;
  out->argc = 1;
  out->name_len = 0;
  out->args[0].type = value.type;
  out->args[0].reserved = 0;
  out->args[0].u.buf.ptr = value.u.buf.ptr; /* copies i64 too: same 8 bytes */
  out->args[0].u.buf.len = value.u.buf.len;
}

/* Called by _start. The boot information is in the call area, where the next guest call will
 * overwrite it, so everything needed is taken from it now. */
void hl_runtime_start(void) {
  const volatile hl_boot_info* boot = (const volatile hl_boot_info*)(uintptr_t)HL_CALL_AREA;
  if (boot->magic != HL_BOOT_MAGIC) hl_panic("hl_runtime_start: bad boot info magic");
  if (boot->abi_version != HL_ABI_VERSION) {
    hl_panic("hl_runtime_start: the host speaks another guest ABI version");
  }
  hl_heap_init(boot->memory_size);
  hl_main();
  hl_write_out(HL_MSG_READY, hl_i64((int64_t)(uintptr_t)&hl_dispatch_entry));
  /* _start executes the hlt. */
}

/* ---- Dispatch ---------------------------------------------------------------------------- */

/* Error messages and copies of strings the host left without a terminating NUL. */
static char g_error[256];
static char g_arg_copy[HL_AREA_SIZE];

static const char* type_name(uint32_t type) {
  switch (type) {
    case HL_VOID: return "void";
    case HL_I64: return "i64";
    case HL_STRING: return "string";
    case HL_BYTES: return "bytes";
    default: return "an unknown type";
  }
}

static uint32_t param_type(char c) {
  return c == 'i' ? HL_I64 : c == 's' ? HL_STRING : HL_BYTES;
}

__attribute__((format(printf, 1, 2))) static void dispatch_error(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = hl_vsnprintf(g_error, sizeof g_error, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if ((uint64_t)n >= sizeof g_error) n = sizeof g_error - 1;
  hl_write_out(HL_MSG_ERROR, hl_str_n(g_error, (uint64_t)n));
}

/* The call's name as a NUL-terminated string for messages (truncated to fit). */
static void copy_name(char* dst, const volatile hl_message* call) {
  uint32_t i = 0;
  for (; i < call->name_len && i < HL_MAX_NAME; ++i) dst[i] = call->name[i];
  dst[i] = '\0';
}

/* Called by hl_dispatch_entry with a call in the call area. */
void hl_dispatch(void) {
  const volatile hl_message* call = HL_CALL_MSG;
  if (call->magic != HL_MESSAGE_MAGIC) {
    dispatch_error("bad call message: magic 0x%x, expected 0x%x", call->magic,
                   HL_MESSAGE_MAGIC);
    return;
  }
  if (call->kind != HL_MSG_CALL) {
    dispatch_error("bad call message: kind %u is not a call (%u)", call->kind, HL_MSG_CALL);
    return;
  }
  if (call->name_len == 0 || call->name_len > HL_MAX_NAME) {
    dispatch_error("bad call message: name length %u (1..%u)", call->name_len, HL_MAX_NAME);
    return;
  }
  if (call->argc > HL_MAX_ARGS) {
    dispatch_error("bad call message: %u arguments (at most %u)", call->argc, HL_MAX_ARGS);
    return;
  }
  char name[HL_MAX_NAME + 1];
  copy_name(name, call);
  const struct hl_function* f = find_function(call->name, call->name_len);
  if (f == NULL) {
    dispatch_error("no guest function named '%s'", name);
    return;
  }
  if (call->argc != f->argc) {
    dispatch_error("function '%s' expects %u argument%s (%s), got %u", name, f->argc,
                   f->argc == 1 ? "" : "s", f->params, call->argc);
    return;
  }

  /* Copy the arguments out of the call area and check them. String and bytes payloads must
   * lie in the call area after the message; strings get a NUL after their last byte. */
  hl_value args[HL_MAX_ARGS];
  const uint64_t payload_begin = HL_CALL_AREA + sizeof(hl_message);
  const uint64_t payload_end = HL_CALL_AREA + HL_AREA_SIZE;
  uint64_t copy_used = 0;
  for (uint32_t i = 0; i < f->argc; ++i) {
    args[i].type = call->args[i].type;
    args[i].reserved = 0;
    args[i].u.buf.ptr = call->args[i].u.buf.ptr;
    args[i].u.buf.len = call->args[i].u.buf.len;
    const uint32_t want = param_type(f->params[i]);
    if (args[i].type != want) {
      dispatch_error("function '%s' argument %u must be %s ('%c'), got %s", name, i + 1,
                     type_name(want), f->params[i], type_name(args[i].type));
      return;
    }
    if (want == HL_I64) continue;
    const uint64_t ptr = args[i].u.buf.ptr, len = args[i].u.buf.len;
    if (ptr < payload_begin || ptr > payload_end || len > payload_end - ptr) {
      dispatch_error("function '%s' argument %u (%s at 0x%lx, %lu bytes) is not in the call "
                     "area's payload",
                     name, i + 1, type_name(want), ptr, len);
      return;
    }
    if (want != HL_STRING) continue;
    const char* s = (const char*)(uintptr_t)ptr;
    if (len < payload_end - ptr && s[len] == '\0') continue; /* the host NUL-terminated it */
    /* Not NUL-terminated: use a terminated copy rather than write past the host's bytes. */
    if (len + 1 > sizeof g_arg_copy - copy_used) {
      dispatch_error("function '%s' argument %u: string too long", name, i + 1);
      return;
    }
    char* copy = g_arg_copy + copy_used;
    memcpy(copy, s, len);
    copy[len] = '\0';
    copy_used += len + 1;
    args[i].u.buf.ptr = (uint64_t)(uintptr_t)copy;
  }

  const hl_value result = f->fn(args, f->argc);
  if (hl_call_finished) hl_call_finished(); /* the libc flavour flushes stdout here */
  hl_write_out(HL_MSG_RESULT, result);
}
