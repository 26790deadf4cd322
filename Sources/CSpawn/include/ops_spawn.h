// Process spawning for opsd: the part between clone() and exec() runs in opsd's own memory and may
// only make system calls, which is why it lives here and not in Swift.
#pragma once
#include <sys/types.h>
#include <sys/xattr.h>  // getxattr, for cgroup delegation (Glibc's module map leaves it out)

/// One resource limit for the child (setrlimit(2)); RLIM_INFINITY for no limit.
typedef struct ops_rlimit {
    int resource;              // RLIMIT_NOFILE, RLIMIT_CORE, ...
    unsigned long long soft;
    unsigned long long hard;
} ops_rlimit;

/// What a child that gave up was doing, stored through `failed_step`: the index of the rlimit it
/// could not set (0 and up), or one of these.
#define OPS_STEP_OTHER (-1)
#define OPS_STEP_CGROUP (-2)

typedef struct ops_spawn_attr {
    const char *path;          // the executable, already resolved to a path
    char *const *argv;         // NULL-terminated
    char *const *envp;         // NULL-terminated
    const char *cwd;           // NULL: inherit
    int stdin_fd;              // descriptors for the child's 0, 1, 2
    int stdout_fd;
    int stderr_fd;
    int set_ids;               // when nonzero, set the groups, then gid, then uid (needs privileges)
    uid_t uid;
    gid_t gid;
    const gid_t *groups;       // the supplementary groups for set_ids (initgroups' list); may be NULL
    int group_count;           // entries in `groups`; 0 clears them
    int set_umask;
    mode_t umask;
    int death_signal;          // sent to the child when the spawning thread dies; 0 for none
    unsigned long nofile_soft; // the child's soft RLIMIT_NOFILE (capped at the hard one); 0: inherit
    const ops_rlimit *rlimits; // set after nofile_soft, before the ids change (a raised hard limit needs privileges)
    int rlimit_count;
    int join_cgroup;           // when nonzero, the child first writes "0" to cgroup_procs_fd (a cgroup.procs)
    int cgroup_procs_fd;       //   so it runs in that cgroup before it execs, and all it starts after it
    int cgroup_dir_fd;         // with join_cgroup: the cgroup's directory, for clone3's CLONE_INTO_CGROUP; -1: none
    int *failed_step;          // when not NULL, set to OPS_STEP_* or an rlimit's index by a child that gives up
} ops_spawn_attr;

/// Starts `attr->path` as the leader of a new session and process group (setsid), with all signals
/// reset to their defaults and unblocked: a clone that shares this process's memory until it
/// execs (CLONE_VM | CLONE_VFORK, as posix_spawn), so no page table is copied. Returns 0 and the
/// pid, or an errno value (from clone, or from the child's chdir/setuid/execve). The failed child
/// has exited with status 127; whoever reaps children will see it.
int ops_spawn(const ops_spawn_attr *attr, pid_t *pid_out);

/// Makes this process the reaper of its orphaned descendants (PR_SET_CHILD_SUBREAPER).
int ops_set_child_subreaper(void);

/// Creates an AF_UNIX datagram socket that receives senders' credentials (SO_PASSCRED), for
/// workers' sd_notify messages. A `path` that starts with '@' names a socket in the abstract
/// namespace (as NOTIFY_SOCKET may, by systemd's protocol); any other path is bound as a file,
/// removing a stale one first. Returns the fd or -errno.
int ops_notify_socket(const char *path);

/// Receives one datagram into `buffer` (NUL-terminated) and the sender's pid from SCM_CREDENTIALS
/// (0 if none came). Blocks. Returns the byte count, or -errno.
int ops_notify_receive(int fd, char *buffer, int capacity, pid_t *sender);
