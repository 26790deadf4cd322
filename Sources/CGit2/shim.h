#pragma once
#include <git2.h>
// The in-memory object database backend: a backup writes its objects there and dumps them as one pack.
#include <git2/sys/mempack.h>

// git_libgit2_opts is variadic, which Swift cannot call: one fixed-signature wrapper per option used.
// fsync packs, indexes and references before they are renamed into place, so a backup survives a power loss.
static inline int opsd_git_enable_fsync(void) { return git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1); }
