/* libgmvm: guest-first memory for KVM virtual machines.  Include this. */
#ifndef GMVM_GMVM_H
#define GMVM_GMVM_H

#include "gmvm/error.h"
#include "gmvm/config.h"
#include "gmvm/caps.h"
#include "gmvm/memory.h"
#include "gmvm/vcpu_state.h"
#include "gmvm/trace.h"
#include "gmvm/machine.h"
#include "gmvm/snapshot.h"
#include "gmvm/update.h"

#endif
