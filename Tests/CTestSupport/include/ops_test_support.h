// What the tests need from C and Swift cannot call (syscall(2) is variadic). Linked into test
// targets only: nothing here belongs in a program.
#pragma once
#include <sys/types.h>

/// pidfd_open(2), for waiting on a process that is not our child (a worker of a running opsd).
/// Returns -1 and sets errno on failure.
int ops_pidfd_open(pid_t pid);
