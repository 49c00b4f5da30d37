# hlguest.cmake: build hlrr guests with CMake.
#
#   include(path/to/guest/cmake/hlguest.cmake)
#   hl_add_guest(myguest myguest.c util.c)              # -> ${HLRR_GUEST_OUTPUT_DIR}/myguest.elf
#   hl_add_guest(mathy HL_GUEST_SSE mathy.c)             # opts into SSE (see README.md)
#
# A guest target is an executable named <name> whose file is <name>.elf, compiled with
# HL_GUEST_COMPILE_FLAGS, linked with the SDK's linker script and the `hlguest` runtime
# library (defined here on first include). Use it in a project (or directory) whose
# CMAKE_C_FLAGS carry no host flags (sanitizers, -fPIE, -O2 ...): CMake applies those to every
# target and there is no per-target way to remove them. guest/CMakeLists.txt clears them.
include_guard(GLOBAL)

# Cache variables, so that hl_add_guest works in every directory once this file is included.
get_filename_component(_hlguest_dir "${CMAKE_CURRENT_LIST_DIR}/.." ABSOLUTE)
set(HLGUEST_SDK_DIR "${_hlguest_dir}" CACHE INTERNAL "the hlrr guest SDK")
if(NOT DEFINED HLRR_GUEST_OUTPUT_DIR)
  set(HLRR_GUEST_OUTPUT_DIR "${CMAKE_BINARY_DIR}/guests" CACHE PATH "where the guest ELFs go")
endif()

# Freestanding, static, non-PIE (the image is loaded at a fixed address, no relocations);
# -mno-red-zone as for any ring-0 code (anything pushed on the current stack, by the CPU or a
# debugger, must not clobber a leaf function's locals below RSP); frame pointers, -g and -Og so
# that gdb can `print` locals, `finish` and backtrace; no CET (no endbr64 noise in traces and
# disassembly); no stack protector (no TLS, no __stack_chk_fail). -mgeneral-regs-only: no
# x87/SSE, which the workplace KVM cannot execute (shared/VCPU-FACTS.md); HL_GUEST_SSE drops it.
set(HL_GUEST_COMPILE_FLAGS
  -ffreestanding -nostdlib -static -fno-pic -fno-pie
  -mno-red-zone -mgeneral-regs-only -fno-stack-protector -fno-omit-frame-pointer
  -fcf-protection=none -g -Og
  -Wall -Wextra -Werror
  CACHE INTERNAL "compile flags of every guest source")
# --orphan-handling=error: a section the linker script does not place is an error, not a
# surprise segment. -z noexecstack: entry.S's .note.GNU-stack says so too.
set(HL_GUEST_LINK_FLAGS
  -nostdlib -static -no-pie
  "-Wl,-T,${HLGUEST_SDK_DIR}/runtime/hlguest.ld"
  -Wl,--build-id=none -Wl,-z,max-page-size=4096 -Wl,-z,noexecstack
  -Wl,--orphan-handling=error
  CACHE INTERNAL "link flags of every guest")

function(_hl_guest_flags target sse)
  set(flags ${HL_GUEST_COMPILE_FLAGS})
  if(sse)
    list(REMOVE_ITEM flags -mgeneral-regs-only)
  endif()
  target_compile_options(${target} PRIVATE ${flags})
  target_include_directories(${target} PUBLIC "${HLGUEST_SDK_DIR}/include")
  set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE OFF)
endfunction()

if(NOT TARGET hlguest)
  add_library(hlguest STATIC
    "${HLGUEST_SDK_DIR}/runtime/entry.S"
    "${HLGUEST_SDK_DIR}/runtime/runtime.c"
    "${HLGUEST_SDK_DIR}/runtime/hostcall.c"
    "${HLGUEST_SDK_DIR}/runtime/format.c"
    "${HLGUEST_SDK_DIR}/runtime/memory.c")
  _hl_guest_flags(hlguest OFF)
  # memcpy & co must not be compiled into calls to themselves (GCC's loop-to-memcpy pass; clang
  # has no such flag and -fno-builtin does the same there).
  if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
    set(_hl_no_self_calls -fno-tree-loop-distribute-patterns)
  else()
    set(_hl_no_self_calls -fno-builtin)
  endif()
  set_source_files_properties("${HLGUEST_SDK_DIR}/runtime/memory.c" PROPERTIES
    COMPILE_OPTIONS ${_hl_no_self_calls})
endif()

# hl_add_guest(<name> [HL_GUEST_SSE] <source>...)
function(hl_add_guest name)
  cmake_parse_arguments(PARSE_ARGV 1 HLG "HL_GUEST_SSE" "" "")
  if(NOT HLG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "hl_add_guest(${name}): no sources")
  endif()
  add_executable(${name} ${HLG_UNPARSED_ARGUMENTS})
  _hl_guest_flags(${name} "${HLG_HL_GUEST_SSE}")
  target_link_options(${name} PRIVATE ${HL_GUEST_LINK_FLAGS})
  # hlguest's objects are pulled in by name: _start, hl_dispatch_entry, memcpy ...
  target_link_libraries(${name} PRIVATE hlguest)
  set_target_properties(${name} PROPERTIES
    SUFFIX ".elf"
    RUNTIME_OUTPUT_DIRECTORY "${HLRR_GUEST_OUTPUT_DIR}"
    LINK_DEPENDS "${HLGUEST_SDK_DIR}/runtime/hlguest.ld")
  # Refuse int3, and x87/SSE unless opted in (cmake/hlguest_check.cmake).
  if(CMAKE_OBJDUMP)
    if(HLG_HL_GUEST_SSE)
      set(sse ON)
    else()
      set(sse OFF)
    endif()
    add_custom_command(TARGET ${name} POST_BUILD
      COMMAND "${CMAKE_COMMAND}" "-DELF=$<TARGET_FILE:${name}>" "-DOBJDUMP=${CMAKE_OBJDUMP}"
              "-DSSE=${sse}" -P "${HLGUEST_SDK_DIR}/cmake/hlguest_check.cmake"
      VERBATIM)
  endif()
endfunction()
