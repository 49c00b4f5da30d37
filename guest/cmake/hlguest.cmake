# hlguest.cmake: build hlrr guests with CMake.
#
#   include(path/to/guest/cmake/hlguest.cmake)
#   hl_add_guest(myguest myguest.c util.c)              # -> ${HLRR_GUEST_OUTPUT_DIR}/myguest.elf
#   hl_add_guest(kvmok GENERAL_REGS_ONLY kvmok.c)        # no x87/SSE, for KVMs without (README.md)
#   hl_add_guest(fast PROFILE release fast.c)            # this guest optimised (-O2 -g)
#   hl_add_guest(real LIBC real.c)                       # with musl as its C library
#
# A guest target is an executable named <name> whose file is <name>.elf, compiled with
# HL_GUEST_COMPILE_FLAGS and its profile's flags, linked with the SDK's linker script and the
# `hlguest` runtime library (defined here on first include, built with HL_GUEST_PROFILE; a
# guest of the other profile links `hlguest_<profile>`). Use it in a project (or directory) whose
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
# debugger, must not clobber a leaf function's locals below RSP); frame pointers so that
# gdb and lldb backtrace in both profiles; no CET (no endbr64 noise in traces and
# disassembly); no stack protector (no TLS, no __stack_chk_fail). x87/SSE are on: both the
# software vCPU and KVM on real hardware execute them; GENERAL_REGS_ONLY adds
# -mgeneral-regs-only for KVMs that cannot (shared/VCPU-FACTS.md), and features.S's ELF note
# tells the VMM which (docs/guests.md).
set(HL_GUEST_COMPILE_FLAGS
  -ffreestanding -nostdlib -static -fno-pic -fno-pie
  -mno-red-zone -fno-stack-protector -fno-omit-frame-pointer
  -fcf-protection=none
  -Wall -Wextra -Werror
  CACHE INTERNAL "compile flags of every guest source")

# Profiles. debug (the default, what the examples and tests use): -O0 -g3, where a debugger's
# habits hold: `break f` stops on f's first statement (-Og puts it on the `{` line, its
# prologue interleaved with the body), `next` and `finish` go statement by statement, every
# local lives in memory and `info macro` works. release: -O2 -g, for speed; locals may be
# <optimized out> and breakpoints land where the optimiser put the code.
set(HL_GUEST_PROFILE "debug" CACHE STRING "guest build profile: debug (-O0 -g3) or release (-O2 -g)")
set_property(CACHE HL_GUEST_PROFILE PROPERTY STRINGS debug release)
set(HL_GUEST_PROFILE_FLAGS_debug -O0 -g3 CACHE INTERNAL "the debug profile's flags")
set(HL_GUEST_PROFILE_FLAGS_release -O2 -g CACHE INTERNAL "the release profile's flags")

function(_hl_guest_check_profile profile)
  if(NOT profile STREQUAL "debug" AND NOT profile STREQUAL "release")
    message(FATAL_ERROR "hlguest: unknown guest profile '${profile}' (debug or release)")
  endif()
endfunction()
_hl_guest_check_profile("${HL_GUEST_PROFILE}")
# --orphan-handling=error: a section the linker script does not place is an error, not a
# surprise segment. -z noexecstack: entry.S's .note.GNU-stack says so too.
set(HL_GUEST_LINK_FLAGS
  -nostdlib -static -no-pie
  "-Wl,-T,${HLGUEST_SDK_DIR}/runtime/hlguest.ld"
  -Wl,--build-id=none -Wl,-z,max-page-size=4096 -Wl,-z,noexecstack
  -Wl,--orphan-handling=error
  CACHE INTERNAL "link flags of every guest")

# musl (Debian's musl-dev) as the C library of LIBC guests: its headers instead of the host's,
# its static libc.a (libm is inside it) and the compiler's own libgcc at link time. Not
# freestanding (the compiler may assume the C library's semantics); SSE on, as musl is built.
set(HLGUEST_MUSL_DIR "/usr/lib/x86_64-linux-musl" CACHE PATH "where musl-dev's libc.a is")
set(HLGUEST_MUSL_INCLUDE "/usr/include/x86_64-linux-musl" CACHE PATH "musl-dev's headers")
execute_process(COMMAND "${CMAKE_C_COMPILER}" -print-file-name=include
                OUTPUT_VARIABLE _hlguest_cc_include OUTPUT_STRIP_TRAILING_WHITESPACE)
execute_process(COMMAND "${CMAKE_C_COMPILER}" -print-libgcc-file-name
                OUTPUT_VARIABLE _hlguest_libgcc OUTPUT_STRIP_TRAILING_WHITESPACE)
set(HL_GUEST_LIBC_COMPILE_FLAGS
  -nostdinc "SHELL:-isystem ${HLGUEST_MUSL_INCLUDE}" "SHELL:-isystem ${_hlguest_cc_include}"
  -static -fno-pic -fno-pie -mno-red-zone -fno-stack-protector -fno-omit-frame-pointer
  -fcf-protection=none
  -Wall -Wextra -Werror
  CACHE INTERNAL "compile flags of every LIBC guest source")
set(HL_GUEST_LIBC_LIBS "${HLGUEST_MUSL_DIR}/libc.a" "${_hlguest_libgcc}"
  CACHE INTERNAL "what a LIBC guest links after the runtime")

function(_hl_guest_require_musl)
  if(NOT EXISTS "${HLGUEST_MUSL_DIR}/libc.a" OR NOT EXISTS "${HLGUEST_MUSL_INCLUDE}/stdio.h")
    message(FATAL_ERROR "hlguest: LIBC guests need musl (Debian: apt-get install musl-dev); "
                        "not found in ${HLGUEST_MUSL_DIR}")
  endif()
endfunction()

# `mode`: SSE (the default), GENERAL (-mgeneral-regs-only) or LIBC (musl, SSE).
function(_hl_guest_flags target mode profile)
  if(mode STREQUAL "LIBC")
    set(flags ${HL_GUEST_LIBC_COMPILE_FLAGS} ${HL_GUEST_PROFILE_FLAGS_${profile}})
  else()
    set(flags ${HL_GUEST_COMPILE_FLAGS} ${HL_GUEST_PROFILE_FLAGS_${profile}})
  endif()
  if(mode STREQUAL "GENERAL")
    list(APPEND flags -mgeneral-regs-only)
  endif()
  target_compile_options(${target} PRIVATE ${flags})
  target_include_directories(${target} PUBLIC "${HLGUEST_SDK_DIR}/include")
  set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE OFF)
endfunction()

# The runtime library built with `profile`: hlguest for HL_GUEST_PROFILE, else
# hlguest_<profile>. Its name goes into `out_var`.
function(_hl_guest_runtime profile out_var)
  if(profile STREQUAL HL_GUEST_PROFILE)
    set(lib hlguest)
  else()
    set(lib hlguest_${profile})
  endif()
  set(${out_var} ${lib} PARENT_SCOPE)
  if(TARGET ${lib})
    return()
  endif()
  add_library(${lib} STATIC
    "${HLGUEST_SDK_DIR}/runtime/entry.S"
    "${HLGUEST_SDK_DIR}/runtime/runtime.c"
    "${HLGUEST_SDK_DIR}/runtime/hostcall.c"
    "${HLGUEST_SDK_DIR}/runtime/format.c"
    "${HLGUEST_SDK_DIR}/runtime/memory.c")
  # General-regs-only, so that guests of either kind can link it.
  _hl_guest_flags(${lib} GENERAL ${profile})
  # memcpy & co must not be compiled into calls to themselves (GCC's loop-to-memcpy pass; clang
  # has no such flag and -fno-builtin does the same there).
  if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
    set(no_self_calls -fno-tree-loop-distribute-patterns)
  else()
    set(no_self_calls -fno-builtin)
  endif()
  set_source_files_properties("${HLGUEST_SDK_DIR}/runtime/memory.c" TARGET_DIRECTORY ${lib}
    PROPERTIES COMPILE_OPTIONS ${no_self_calls})
endfunction()
_hl_guest_runtime("${HL_GUEST_PROFILE}" _hl_default_runtime)

# The runtime of LIBC guests: the same entry points, registry, dispatch and host calls, with
# musl's start-up and its system calls (libc/) instead of the freestanding pieces that musl
# provides (format.c, memory.c: formatting, memcpy & co, the allocator). entry.S is built with
# HL_GUEST_LIBC, which points `syscall` at libc/syscall_entry.S.
function(_hl_guest_libc_runtime profile out_var)
  set(lib hlguest_libc_${profile})
  set(${out_var} ${lib} PARENT_SCOPE)
  if(TARGET ${lib})
    return()
  endif()
  _hl_guest_require_musl()
  add_library(${lib} STATIC
    "${HLGUEST_SDK_DIR}/runtime/entry.S"
    "${HLGUEST_SDK_DIR}/runtime/libc/syscall_entry.S"
    "${HLGUEST_SDK_DIR}/runtime/libc/boot.c"
    "${HLGUEST_SDK_DIR}/runtime/libc/syscall.c"
    "${HLGUEST_SDK_DIR}/runtime/runtime.c"
    "${HLGUEST_SDK_DIR}/runtime/hostcall.c")
  _hl_guest_flags(${lib} LIBC ${profile})
  target_compile_definitions(${lib} PRIVATE HL_GUEST_LIBC)
endfunction()

# hl_add_guest(<name> [GENERAL_REGS_ONLY | LIBC] [PROFILE debug|release] <source>...)
# PROFILE defaults to HL_GUEST_PROFILE. HL_GUEST_SSE, the former opt-in, is accepted (SSE is the
# default now).
function(hl_add_guest name)
  cmake_parse_arguments(PARSE_ARGV 1 HLG "HL_GUEST_SSE;GENERAL_REGS_ONLY;LIBC" "PROFILE" "")
  if(NOT HLG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "hl_add_guest(${name}): no sources")
  endif()
  if(HLG_GENERAL_REGS_ONLY AND (HLG_LIBC OR HLG_HL_GUEST_SSE))
    # musl's libc.a uses SSE (malloc, printf, its start-up; docs/guests.md).
    message(FATAL_ERROR "hl_add_guest(${name}): GENERAL_REGS_ONLY excludes LIBC and HL_GUEST_SSE")
  endif()
  if(NOT HLG_PROFILE)
    set(HLG_PROFILE "${HL_GUEST_PROFILE}")
  endif()
  _hl_guest_check_profile("${HLG_PROFILE}")
  # features.S is compiled with the guest's flags: its note says whether they include SSE.
  add_executable(${name} ${HLG_UNPARSED_ARGUMENTS} "${HLGUEST_SDK_DIR}/runtime/features.S")
  target_link_options(${name} PRIVATE ${HL_GUEST_LINK_FLAGS})
  if(HLG_LIBC)
    _hl_guest_libc_runtime("${HLG_PROFILE}" runtime)
    _hl_guest_flags(${name} LIBC "${HLG_PROFILE}")
    target_link_libraries(${name} PRIVATE ${runtime} ${HL_GUEST_LIBC_LIBS})
  else()
    _hl_guest_runtime("${HLG_PROFILE}" runtime)
    if(HLG_GENERAL_REGS_ONLY)
      _hl_guest_flags(${name} GENERAL "${HLG_PROFILE}")
    else()
      _hl_guest_flags(${name} SSE "${HLG_PROFILE}")
    endif()
    # The runtime's objects are pulled in by name: _start, hl_dispatch_entry, memcpy ...
    target_link_libraries(${name} PRIVATE ${runtime})
  endif()
  set_target_properties(${name} PROPERTIES
    SUFFIX ".elf"
    RUNTIME_OUTPUT_DIRECTORY "${HLRR_GUEST_OUTPUT_DIR}"
    LINK_DEPENDS "${HLGUEST_SDK_DIR}/runtime/hlguest.ld")
  # Refuse int3, and x87/SSE in a GENERAL_REGS_ONLY guest (cmake/hlguest_check.cmake).
  if(CMAKE_OBJDUMP)
    if(HLG_GENERAL_REGS_ONLY)
      set(sse OFF)
    else()
      set(sse ON)
    endif()
    add_custom_command(TARGET ${name} POST_BUILD
      COMMAND "${CMAKE_COMMAND}" "-DELF=$<TARGET_FILE:${name}>" "-DOBJDUMP=${CMAKE_OBJDUMP}"
              "-DSSE=${sse}" -P "${HLGUEST_SDK_DIR}/cmake/hlguest_check.cmake"
      VERBATIM)
  endif()
endfunction()
