/*
 * tests/unit/anon_memory: guest memory with no VM behind it (anonymous,
 * mapped binding), for the suites that write boot tables and images into
 * real guest memory without KVM.
 */
#ifndef GM_TEST_ANON_MEMORY_H
#define GM_TEST_ANON_MEMORY_H

#include <stdint.h>

#include "gmvm/error.h"
#include "gmvm/memory.h"

/* size bytes of anonymous guest RAM; NULL with err filled when it cannot be made. */
struct gm_memory *test_anon_memory(uint64_t size, struct gm_error *err);

#endif
