#define _GNU_SOURCE
#include "ops_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

// Only async-signal-safe calls from here until execve: the parent has other threads, and any of
// them may hold a lock (malloc's, stdio's) that the child would then wait on forever.
static void report_and_exit(int pipe_fd, int error) {
    ssize_t ignored = write(pipe_fd, &error, sizeof error);
    (void)ignored;
    _exit(127);
}

static int close_from_to(unsigned first, unsigned last) {
    return (int)syscall(SYS_close_range, first, last, 0);
}

// Closes every descriptor from 3 up, except `keep`. close_range(2) where the kernel has it (5.9+),
// else one close per possible descriptor; both are async-signal-safe.
static void close_others(int keep) {
    int done = keep < 3 ? close_from_to(3, ~0U) == 0
        : (keep == 3 || close_from_to(3, (unsigned)keep - 1) == 0) && close_from_to((unsigned)keep + 1, ~0U) == 0;
    if (done) return;
    long limit = sysconf(_SC_OPEN_MAX);
    if (limit < 0 || limit > 65536) limit = 65536;
    for (int fd = 3; fd < limit; fd++) if (fd != keep) close(fd);
}

static int move_fd(int from, int to) {
    if (from == to) {
        int flags = fcntl(from, F_GETFD);
        return flags < 0 ? -1 : fcntl(from, F_SETFD, flags & ~FD_CLOEXEC);
    }
    return dup2(from, to) < 0 ? -1 : 0;
}

int ops_spawn(const ops_spawn_attr *attr, pid_t *pid_out) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) return errno;
    pid_t parent = getpid();

    pid_t pid = fork();
    if (pid < 0) {
        int error = errno;
        close(report[0]);
        close(report[1]);
        return error;
    }
    if (pid == 0) {
        close(report[0]);
        struct sigaction defaults = { .sa_handler = SIG_DFL };
        for (int sig = 1; sig < NSIG; sig++) sigaction(sig, &defaults, NULL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (setsid() < 0) report_and_exit(report[1], errno);
        if (attr->death_signal) {
            if (prctl(PR_SET_PDEATHSIG, attr->death_signal) != 0) report_and_exit(report[1], errno);
            // The parent may have died between fork and prctl; then nobody would send the signal.
            if (getppid() != parent) _exit(127);
        }
        // Descriptors 0-2 may themselves be among the sources: move the sources above 2 first.
        int fds[3] = { attr->stdin_fd, attr->stdout_fd, attr->stderr_fd };
        for (int i = 0; i < 3; i++) {
            if (fds[i] >= 0 && fds[i] <= 2 && fds[i] != i) {
                int moved = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
                if (moved < 0) report_and_exit(report[1], errno);
                for (int j = i + 1; j < 3; j++) if (fds[j] == fds[i]) fds[j] = moved;
                fds[i] = moved;
            }
        }
        for (int i = 0; i < 3; i++) {
            if (fds[i] >= 0 && move_fd(fds[i], i) != 0) report_and_exit(report[1], errno);
        }
        // Nothing of opsd's but 0-2 reaches the worker: a descriptor opened without O_CLOEXEC
        // (an accepted control connection, a library's socket) would otherwise stay open in it.
        // The report pipe is close-on-exec and still needed, so it is kept until execve.
        close_others(report[1]);
        if (attr->cwd && chdir(attr->cwd) != 0) report_and_exit(report[1], errno);
        if (attr->set_ids) {
            if (setgroups(0, NULL) != 0 && errno != EPERM) report_and_exit(report[1], errno);
            if (setgid(attr->gid) != 0) report_and_exit(report[1], errno);
            if (setuid(attr->uid) != 0) report_and_exit(report[1], errno);
        }
        if (attr->set_umask) umask(attr->umask);
        execve(attr->path, attr->argv, attr->envp);
        report_and_exit(report[1], errno);
    }

    close(report[1]);
    int child_error = 0;
    ssize_t got;
    do {
        got = read(report[0], &child_error, sizeof child_error);
    } while (got < 0 && errno == EINTR);
    close(report[0]);
    *pid_out = pid;
    return got == (ssize_t)sizeof child_error ? child_error : 0;
}

int ops_set_child_subreaper(void) {
    return prctl(PR_SET_CHILD_SUBREAPER, 1) == 0 ? 0 : errno;
}

int ops_pidfd_open(pid_t pid) {
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

int ops_notify_socket(const char *path) {
    struct sockaddr_un address = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof address.sun_path) return -ENAMETOOLONG;
    strcpy(address.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0) { int e = errno; close(fd); return -e; }
    unlink(path);
    if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0) { int e = errno; close(fd); return -e; }
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
