#ifndef OPS_DAEMON_RUNTIME_H
#define OPS_DAEMON_RUNTIME_H

/// Receives every job Swift concurrency would hand to its global executor.
typedef void (*ops_enqueue_job)(void *_Nonnull job);

/// Routes Swift concurrency's global executor to `enqueue`; returns 0 (and changes nothing) when
/// another hook is installed already. Call once, before any task exists.
int ops_install_enqueue_hook(ops_enqueue_job _Nonnull enqueue);

/// Names the calling thread (the kernel keeps the first 15 bytes), for `top -H` and
/// /proc/PID/task/*/comm.
void ops_name_thread(const char *_Nonnull name);

#endif
