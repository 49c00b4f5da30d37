# hlguest_check.cmake: run after linking each guest (cmake -DELF=... -DOBJDUMP=... -DSSE=ON|OFF -P).
# Fails the build if the guest's code contains an instruction the VMM cannot run everywhere:
#  - int3 (this workplace's KVM cannot execute it; debuggers use other traps),
#  - x87 or SSE/MMX instructions in a GENERAL_REGS_ONLY guest (-DSSE=OFF; shared/VCPU-FACTS.md).
execute_process(COMMAND "${OBJDUMP}" -d --no-show-raw-insn "${ELF}"
                OUTPUT_VARIABLE listing RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "hlguest_check: ${OBJDUMP} failed on ${ELF}")
endif()
string(REPLACE "\n" ";" lines "${listing}")
set(bad "")
foreach(line IN LISTS lines)
  # "  100035:\tmov    (%rdx),%rdx": the mnemonic follows the first tab.
  if(NOT line MATCHES "^ *[0-9a-f]+:\t([a-z0-9.]+)(.*)$")
    continue()
  endif()
  set(mnemonic "${CMAKE_MATCH_1}")
  set(operands "${CMAKE_MATCH_2}")
  if(mnemonic STREQUAL "int3")
    list(APPEND bad "${line}")
  elseif(NOT SSE AND (mnemonic MATCHES "^f" OR operands MATCHES "%(x|y|z)?mm[0-9]|%st"
                      OR mnemonic MATCHES "^(ld|st)mxcsr$"))
    list(APPEND bad "${line}")
  endif()
endforeach()
if(bad)
  list(JOIN bad "\n" text)
  message(FATAL_ERROR "${ELF}: instructions a guest must not contain (int3; x87/SSE without "
                      "HL_GUEST_SSE):\n${text}")
endif()
