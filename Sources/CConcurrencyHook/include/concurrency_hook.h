#ifndef OPS_CONCURRENCY_HOOK_H
#define OPS_CONCURRENCY_HOOK_H

/// Receives every job Swift concurrency would hand to its global executor.
typedef void (*ops_enqueue_job)(void *_Nonnull job);

/// Routes Swift concurrency's global executor to `enqueue`; returns 0 (and changes nothing) when
/// another hook is installed already. Call once, before any task exists.
int ops_install_enqueue_hook(ops_enqueue_job _Nonnull enqueue);

#endif
