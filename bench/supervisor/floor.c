/* The floor for the supervisor benchmark: the least a supervisor can do. It starts every
 * DIR/NAME/run, then blocks in waitpid(-1) and re-executes whichever child ended, at once.
 * No config, no backoff, no logging, no control socket: the restart latency of anything real
 * should be compared with this.  Build: cc -O2 -o floor floor.c   Run: floor DIR */
#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_SERVICES 4096
static char paths[MAX_SERVICES][PATH_MAX];
static pid_t pids[MAX_SERVICES];
static int count;

static pid_t start(int i) {
    pid_t pid = fork();
    if (pid == 0) {
        setsid();
        execl(paths[i], paths[i], (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void stop(int sig) {
    (void)sig;
    for (int i = 0; i < count; i++) if (pids[i] > 0) kill(-pids[i], SIGTERM);
    _exit(0);
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: floor DIR\n"); return 2; }
    DIR *dir = opendir(argv[1]);
    if (!dir) { perror(argv[1]); return 1; }
    struct dirent *entry;
    while ((entry = readdir(dir)) && count < MAX_SERVICES) {
        if (entry->d_name[0] == '.') continue;
        snprintf(paths[count], PATH_MAX, "%s/%s/run", argv[1], entry->d_name);
        count++;
    }
    closedir(dir);
    signal(SIGTERM, stop);
    for (int i = 0; i < count; i++) pids[i] = start(i);
    for (;;) {
        pid_t pid = waitpid(-1, NULL, 0);
        if (pid < 0) continue;
        for (int i = 0; i < count; i++) if (pids[i] == pid) { pids[i] = start(i); break; }
    }
}
