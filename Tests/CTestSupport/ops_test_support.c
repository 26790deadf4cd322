#define _GNU_SOURCE
#include "ops_test_support.h"

#include <sys/syscall.h>
#include <unistd.h>

int ops_pidfd_open(pid_t pid) {
    return (int)syscall(SYS_pidfd_open, pid, 0);
}
