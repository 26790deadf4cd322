#define _GNU_SOURCE
#include "ops_spawn.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

// The child runs in the parent's memory (CLONE_VM, as posix_spawn does) until it execs: copying
// opsd's page tables for each fork, only for execve to throw the copy away, was most of the cost
// of starting a worker (measured with perf while 200 workers start: copy_page_range and the
// unmapping at exec in the forked children). So from clone to execve the child may only make
// system calls and write its own `spawn_call` slot: no malloc, no stdio, no locks, and no glibc
// wrapper that acts on "all threads of the process" (setuid and friends would signal the parent's
// threads, which glibc's shared memory tells it are the child's own), hence raw syscalls there.
struct spawn_call {
    const ops_spawn_attr *attr;
    pid_t parent;
    int error;                 // set by the child when it gives up; read once it has exited
    int in_cgroup;             // born in its cgroup (CLONE_INTO_CGROUP): no move needed
};

// clone3(2) with a function to run on a new stack, as glibc's own (not exported) __clone3:
// returns the child's pid or -errno. CLONE_INTO_CGROUP makes the child be born in its worker's
// cgroup. Moving it there afterwards (a write to cgroup.procs) takes the cgroup core's
// threadgroup lock for writing, which waits for an RCU grace period: measured under systemd, a
// worker's restart took 14-18 ms instead of 7.5-9.5 ms.
#if defined(__x86_64__) || defined(__aarch64__)
#define OPS_HAVE_CLONE3 1
long ops_clone3_raw(void *args, size_t size, int (*fn)(void *), void *arg);
#if defined(__x86_64__)
__asm__(
    ".text\n"
    ".globl ops_clone3_raw\n"
    ".hidden ops_clone3_raw\n"
    ".type ops_clone3_raw,@function\n"
    "ops_clone3_raw:\n"
    "    mov %rcx, %r8\n"          // arg and fn survive the system call (it clobbers rcx, r11)
    "    mov %rdx, %r9\n"
    "    mov $435, %eax\n"         // SYS_clone3
    "    syscall\n"
    "    test %rax, %rax\n"
    "    jz 1f\n"
    "    ret\n"                    // the parent: pid or -errno
    "1:  xor %ebp, %ebp\n"         // the child, on its own stack
    "    and $-16, %rsp\n"
    "    mov %r8, %rdi\n"
    "    call *%r9\n"
    "    mov %eax, %edi\n"
    "    mov $60, %eax\n"          // SYS_exit
    "    syscall\n"
    "    hlt\n"
    ".size ops_clone3_raw, .-ops_clone3_raw\n");
#else
__asm__(
    ".text\n"
    ".globl ops_clone3_raw\n"
    ".hidden ops_clone3_raw\n"
    ".type ops_clone3_raw,%function\n"
    "ops_clone3_raw:\n"
    "    mov x10, x2\n"            // fn and arg survive the system call
    "    mov x11, x3\n"
    "    mov x8, #435\n"           // SYS_clone3
    "    svc #0\n"
    "    cbz x0, 1f\n"
    "    ret\n"
    "1:  mov x29, #0\n"
    "    mov x30, #0\n"
    "    mov x0, x11\n"
    "    blr x10\n"
    "    mov x8, #93\n"            // SYS_exit
    "    svc #0\n"
    ".size ops_clone3_raw, .-ops_clone3_raw\n");
#endif
#else
#define OPS_HAVE_CLONE3 0
#endif

// struct clone_args up to `cgroup` (CLONE_ARGS_SIZE_VER2), spelled out: <linux/sched.h> clashes
// with glibc's <sched.h>.
struct ops_clone_args {
    unsigned long long flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};
#define OPS_CLONE_INTO_CGROUP 0x200000000ULL

// Cleared once the kernel shows it has no clone3 or no CLONE_INTO_CGROUP (before 5.3 and 5.7).
static int clone3_usable = 1;

static void give_up(struct spawn_call *call, int error) {
    call->error = error;
    _exit(127);
}

// give_up, saying which step failed, for a message that names the configuration key.
static void give_up_at(struct spawn_call *call, int step, int error) {
    if (call->attr->failed_step) *call->attr->failed_step = step;
    give_up(call, error);
}

static int close_from_to(unsigned first, unsigned last) {
    return (int)syscall(SYS_close_range, first, last, 0);
}

// Closes every descriptor from 3 up: close_range(2) where the kernel has it (5.9+), else one close
// per possible descriptor.
static void close_others(void) {
    if (close_from_to(3, ~0U) == 0) return;
    long limit = sysconf(_SC_OPEN_MAX);
    if (limit < 0 || limit > 65536) limit = 65536;
    for (int fd = 3; fd < limit; fd++) close(fd);
}

static int move_fd(int from, int to) {
    if (from == to) {
        int flags = fcntl(from, F_GETFD);
        return flags < 0 ? -1 : fcntl(from, F_SETFD, flags & ~FD_CLOEXEC);
    }
    return dup2(from, to) < 0 ? -1 : 0;
}

static int child_main(void *argument) {
    struct spawn_call *call = argument;
    const ops_spawn_attr *attr = call->attr;
    // Every signal arrives blocked (the parent blocked them around clone), and stays blocked until
    // just before execve: the handlers are the parent's until reset, and a terminal's Ctrl-C or
    // Ctrl-Z must not stop or kill a child still holding the spawner thread in CLONE_VFORK.
    struct sigaction defaults = { .sa_handler = SIG_DFL };
    for (int sig = 1; sig < NSIG; sig++) sigaction(sig, &defaults, NULL);
    if (setsid() < 0) give_up(call, errno);
    // Into the worker's cgroup before anything else, while opsd's ids still may write there; all
    // the child starts later is born inside it, so a cgroup.kill reaches it, setsid or not.
    if (attr->join_cgroup && !call->in_cgroup) {
        ssize_t written;
        do { written = write(attr->cgroup_procs_fd, "0", 1); } while (written < 0 && errno == EINTR);
        if (written != 1) give_up_at(call, OPS_STEP_CGROUP, written < 0 ? errno : EIO);
    }
    // Descriptors 0-2 may themselves be among the sources: move the sources above 2 first.
    int fds[3] = { attr->stdin_fd, attr->stdout_fd, attr->stderr_fd };
    for (int i = 0; i < 3; i++) {
        if (fds[i] >= 0 && fds[i] <= 2 && fds[i] != i) {
            int moved = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
            if (moved < 0) give_up(call, errno);
            for (int j = i + 1; j < 3; j++) if (fds[j] == fds[i]) fds[j] = moved;
            fds[i] = moved;
        }
    }
    for (int i = 0; i < 3; i++) {
        if (fds[i] >= 0 && move_fd(fds[i], i) != 0) give_up(call, errno);
    }
    // Nothing of opsd's but 0-2 reaches the worker: a descriptor opened without O_CLOEXEC
    // (an accepted control connection, a library's socket) would otherwise stay open in it.
    close_others();
    if (attr->cwd && chdir(attr->cwd) != 0) give_up(call, errno);
    if (attr->nofile_soft) {
        // opsd raised its own soft limit; children get the usual one back, since programs that
        // use select(2) break on descriptors above 1024.
        struct rlimit limit;
        if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && attr->nofile_soft < limit.rlim_cur) {
            limit.rlim_cur = attr->nofile_soft;
            if (setrlimit(RLIMIT_NOFILE, &limit) != 0) give_up(call, errno);
        }
    }
    for (int i = 0; i < attr->rlimit_count; i++) {
        struct rlimit limit = { .rlim_cur = (rlim_t)attr->rlimits[i].soft, .rlim_max = (rlim_t)attr->rlimits[i].hard };
        if (setrlimit(attr->rlimits[i].resource, &limit) != 0) give_up_at(call, i, errno);
    }
    if (attr->set_ids) {
        // The user's supplementary groups, looked up by the parent (NSS may not run here), as
        // initgroups(3) and systemd's User= set them. EPERM: opsd runs unprivileged as that very
        // user, so its own groups, which its service manager set the same way, stay.
        if (syscall(SYS_setgroups, (size_t)attr->group_count, attr->groups) != 0 && errno != EPERM) give_up(call, errno);
        if (syscall(SYS_setgid, attr->gid) != 0) give_up(call, errno);
        if (syscall(SYS_setuid, attr->uid) != 0) give_up(call, errno);
    }
    if (attr->set_umask) umask(attr->umask);
    // After setuid/setgid: the kernel clears the parent-death signal when the credentials change,
    // so set earlier it would be lost for every worker with `user:` or `group:`.
    if (attr->death_signal) {
        if (prctl(PR_SET_PDEATHSIG, attr->death_signal) != 0) give_up(call, errno);
        // The parent may have died before prctl; then nobody would send the signal.
        if (getppid() != call->parent) _exit(127);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(attr->path, attr->argv, attr->envp);
    give_up(call, errno);
    return 127;
}

int ops_spawn(const ops_spawn_attr *attr, pid_t *pid_out) {
    // The child's own stack; most of it is never touched, so never backed by memory. Its lowest
    // page is a guard: an overflow faults instead of writing into opsd's memory below it.
    const size_t stack_size = 128 * 1024;
    const size_t guard = (size_t)sysconf(_SC_PAGESIZE);
    void *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) return errno;
    if (mprotect(stack, guard, PROT_NONE) != 0) {
        int error = errno;
        munmap(stack, stack_size);
        return error;
    }
    struct spawn_call call = { .attr = attr, .parent = getpid(), .error = 0 };
    // No handler of opsd's may run in the child, on opsd's memory, before it resets them.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    // CLONE_VFORK: this thread waits until the child has called execve or exited.
    pid_t pid = -1;
    int clone_error = 0;
#if OPS_HAVE_CLONE3
    if (attr->join_cgroup && attr->cgroup_dir_fd >= 0 && __atomic_load_n(&clone3_usable, __ATOMIC_RELAXED)) {
        struct ops_clone_args args = {
            .flags = CLONE_VM | CLONE_VFORK | OPS_CLONE_INTO_CGROUP, .exit_signal = SIGCHLD,
            .stack = (unsigned long long)(uintptr_t)stack, .stack_size = stack_size, .cgroup = (unsigned long long)attr->cgroup_dir_fd,
        };
        call.in_cgroup = 1;
        long result = ops_clone3_raw(&args, sizeof args, child_main, &call);
        if (result > 0) {
            pid = (pid_t)result;
        } else {
            // No clone3 or no CLONE_INTO_CGROUP: not again. Any other refusal (a full pids.max,
            // a directory that is no cgroup) is met by the move below, which says why.
            if (result == -ENOSYS || result == -E2BIG) __atomic_store_n(&clone3_usable, 0, __ATOMIC_RELAXED);
            call.in_cgroup = 0;
        }
    }
#endif
    if (pid < 0) {
        pid = clone(child_main, (char *)stack + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, &call);
        clone_error = errno;
    }
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    munmap(stack, stack_size);
    if (pid < 0) return clone_error;
    *pid_out = pid;
    return call.error;
}

int ops_set_child_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1) == 0 ? 0 : errno;
}


#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

int ops_notify_socket(const char *path) {
    struct sockaddr_un address = { .sun_family = AF_UNIX };
    size_t length = strlen(path);
    if (length >= sizeof address.sun_path) return -ENAMETOOLONG;
    int abstract = path[0] == '@';
    memcpy(address.sun_path, path, length);
    if (abstract) address.sun_path[0] = 0;  /* the name is the bytes after the NUL, not NUL-terminated */
    socklen_t size = abstract ? (socklen_t)(offsetof(struct sockaddr_un, sun_path) + length) : (socklen_t)sizeof address;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0) { int e = errno; close(fd); return -e; }
    if (!abstract) unlink(path);
    if (bind(fd, (struct sockaddr *)&address, size) != 0) { int e = errno; close(fd); return -e; }
    return fd;
}

int ops_notify_receive(int fd, char *buffer, int capacity, pid_t *sender) {
    struct iovec vector = { .iov_base = buffer, .iov_len = (size_t)capacity - 1 };
    union { struct cmsghdr header; char space[CMSG_SPACE(sizeof(struct ucred))]; } control;
    struct msghdr message = {
        .msg_iov = &vector, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof control,
    };
    ssize_t count;
    do {
        count = recvmsg(fd, &message, MSG_CMSG_CLOEXEC);
    } while (count < 0 && errno == EINTR);
    if (count < 0) return -errno;
    buffer[count] = 0;
    *sender = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&message); c; c = CMSG_NXTHDR(&message, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
            struct ucred credentials;
            memcpy(&credentials, CMSG_DATA(c), sizeof credentials);
            *sender = credentials.pid;
        }
    }
    return (int)count;
}
