// Swift's concurrency runtime asks `swift_task_enqueueGlobal_hook` first, when set, for every job
// headed for the global executor (swift/Runtime/ConcurrencyHooks.def:
// `SWIFT_CC(swift) void hook(Job *job, swift_task_enqueueGlobal_original original)`).
//
// The variable is referenced here by name rather than looked up with dlsym, as SwiftNIO's
// installer does: in a binary with the Swift runtime linked in statically the symbol is local,
// so dlsym cannot see it, while the static linker resolves this reference in both kinds of build.
#define _GNU_SOURCE
#include "daemon_runtime.h"
#include <pthread.h>
#include <stddef.h>
#include <string.h>

extern void *swift_task_enqueueGlobal_hook;

static ops_enqueue_job target;

__attribute__((swiftcall)) static void enqueue_global(void *job, void *original) {
    (void)original;
    target(job);
}

int ops_install_enqueue_hook(ops_enqueue_job enqueue) {
    if (swift_task_enqueueGlobal_hook != NULL) return 0;
    target = enqueue;
    swift_task_enqueueGlobal_hook = (void *)enqueue_global;
    return 1;
}

void ops_name_thread(const char *name) {
    char short_name[16];
    strncpy(short_name, name, sizeof short_name - 1);
    short_name[sizeof short_name - 1] = 0;
    pthread_setname_np(pthread_self(), short_name);
}
