// HLRR_CHECK: an invariant that stays on in release builds (as rr's assertions do). A failed
// check is a bug in hlrr, never a user error: those are returned as base::Error values.
#pragma once

#include <cstdio>
#include <cstdlib>

#define HLRR_CHECK(cond)                                                                          \
  do {                                                                                            \
    if (!(cond)) [[unlikely]] {                                                                   \
      std::fprintf(stderr, "hlrr: internal error: %s:%d: check failed: %s\n", __FILE__, __LINE__, \
                   #cond);                                                                        \
      std::abort();                                                                               \
    }                                                                                             \
  } while (0)
