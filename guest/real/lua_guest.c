/* lua_guest.c: Lua 5.4 (Debian's lua5.4 source package, scripts/fetch-guest-sources.sh) as a
 * guest. The one file the project adds to Lua's own sources: it registers the guest functions.
 *
 *   lua_run(script) -> string   runs a Lua chunk in a fresh state; its first result, converted
 *                               with tostring(), or a panic "lua: <message>" on an error
 *   in the script, host(name, ...) calls a host function with integer and string arguments
 *   and returns its result (e.g. host("clock_ns"), host("print", "text")). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hlguest.h"
#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"

#define LUA_MEMORY_LIMIT (32u << 20) /* a script that wants more fails with "not enough memory" */

static size_t g_in_use;

static void* limited_alloc(void* ud, void* ptr, size_t old_size, size_t new_size) {
  (void)ud;
  if (ptr == NULL) old_size = 0;
  if (new_size == 0) {
    free(ptr);
    g_in_use -= old_size;
    return NULL;
  }
  if (new_size > old_size && g_in_use + (new_size - old_size) > LUA_MEMORY_LIMIT) return NULL;
  void* p = realloc(ptr, new_size);
  if (p != NULL) g_in_use += new_size - old_size;
  return p;
}

static int lua_host(lua_State* L) {
  const char* name = luaL_checkstring(L, 1);
  const int argc = lua_gettop(L) - 1;
  if (argc > (int)HL_MAX_ARGS) return luaL_error(L, "host: at most %d arguments", HL_MAX_ARGS);
  hl_value args[HL_MAX_ARGS];
  for (int i = 0; i < argc; ++i) {
    if (lua_isinteger(L, i + 2)) {
      args[i] = hl_i64(lua_tointeger(L, i + 2));
    } else {
      size_t len;
      const char* s = luaL_checklstring(L, i + 2, &len);
      args[i] = hl_str_n(s, len);
    }
  }
  const hl_value r = hl_call_host(name, args, (uint32_t)argc);
  switch (r.type) {
    case HL_I64:
      lua_pushinteger(L, r.u.i64);
      return 1;
    case HL_STRING:
    case HL_BYTES:
      lua_pushlstring(L, (const char*)(uintptr_t)r.u.buf.ptr, r.u.buf.len);
      return 1;
    default:
      return 0;
  }
}

static char g_result[4096];
static char g_error[512];

static hl_value lua_run(const hl_value* args, uint32_t argc) {
  (void)argc;
  g_in_use = 0;
  lua_State* L = lua_newstate(limited_alloc, NULL);
  if (L == NULL) hl_panic("lua: cannot create a state");
  luaL_openlibs(L);
  lua_register(L, "host", lua_host);
  int rc = luaL_loadbuffer(L, hl_as_str(args[0]), hl_len(args[0]), "=script");
  if (rc == LUA_OK) rc = lua_pcall(L, 0, 1, 0);
  if (rc != LUA_OK) {
    const char* msg = lua_tostring(L, -1);
    snprintf(g_error, sizeof g_error, "lua: %s", msg ? msg : "(error object is not a string)");
    lua_close(L);
    hl_panic(g_error);
  }
  size_t len;
  const char* s = luaL_tolstring(L, -1, &len);
  if (len >= sizeof g_result) len = sizeof g_result - 1;
  memcpy(g_result, s, len);
  g_result[len] = '\0';
  lua_close(L);
  return hl_str_n(g_result, len);
}

void hl_main(void) {
  hl_register("lua_run", lua_run, "s");
}
