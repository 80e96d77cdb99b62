/* The floor for restart and stop-all: the least a process can do to keep N services running
 * and to stop them, with no supervision logic at all (no policy, no backoff, no cgroups, no
 * output, no state, no exec-failure report).
 *
 *   respawner N PROGRAM [ARG...]
 *
 * Starts N copies of PROGRAM, the i-th with BENCH_SVC=svc-%04d added to its own environment.
 * SIGCHLD is blocked and read from a signalfd; each wake-up reaps every dead child with
 * waitpid(-1, WNOHANG) and posix_spawns (glibc: clone(CLONE_VM|CLONE_VFORK)) the same program
 * with the same environment in its place. On SIGTERM or SIGINT it sends SIGTERM to every child,
 * reaps them all, and exits 0. The benchmark harness compiles this with `cc` on first use.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static char **child_argv;
static char ***envs;       /* envs[i]: the environment of service i */
static pid_t *pids;        /* pids[i]: its running process, 0 when none */
static int n;
/* pid -> service index: open addressing, a power of two at least 4 N, never full. */
static pid_t *slot_pid;
static int *slot_svc;
static unsigned slots;
static posix_spawnattr_t attr;

static unsigned slot_of(pid_t pid) {
    unsigned i = ((unsigned)pid * 2654435761u) & (slots - 1);
    while (slot_pid[i] != 0 && slot_pid[i] != pid)
        i = (i + 1) & (slots - 1);
    return i;
}

static void forget(unsigned i) {
    /* Deletion with backward shift, so that lookups never stop at a hole. */
    unsigned j = i;
    slot_pid[i] = 0;
    for (;;) {
        j = (j + 1) & (slots - 1);
        if (slot_pid[j] == 0)
            return;
        unsigned home = ((unsigned)slot_pid[j] * 2654435761u) & (slots - 1);
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            slot_pid[i] = slot_pid[j];
            slot_svc[i] = slot_svc[j];
            slot_pid[j] = 0;
            i = j;
        }
    }
}

static void spawn(int svc) {
    pid_t pid;
    int e = posix_spawn(&pid, child_argv[0], NULL, &attr, child_argv, envs[svc]);
    if (e != 0) {
        fprintf(stderr, "respawner: posix_spawn %s: %s\n", child_argv[0], strerror(e));
        pids[svc] = 0;
        return;
    }
    pids[svc] = pid;
    unsigned i = slot_of(pid);
    slot_pid[i] = pid;
    slot_svc[i] = svc;
}

/* Reaps every dead child; returns how many; respawns each unless stopping. */
static int reap(int respawn) {
    int count = 0;
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0) {
            if (pid < 0 && errno == EINTR)
                continue;
            return count;
        }
        count++;
        unsigned i = slot_of(pid);
        if (slot_pid[i] != pid)
            continue; /* not one of ours (an orphan) */
        int svc = slot_svc[i];
        forget(i);
        pids[svc] = 0;
        if (respawn)
            spawn(svc);
    }
}

int main(int argc, char **argv) {
    if (argc < 3 || (n = atoi(argv[1])) <= 0) {
        fprintf(stderr, "usage: respawner N PROGRAM [ARG...]\n");
        return 2;
    }
    child_argv = argv + 2;
    for (slots = 16; slots < 4u * (unsigned)n; slots <<= 1)
        ;
    slot_pid = calloc(slots, sizeof *slot_pid);
    slot_svc = calloc(slots, sizeof *slot_svc);
    pids = calloc(n, sizeof *pids);
    envs = calloc(n, sizeof *envs);
    int base = 0;
    while (environ[base])
        base++;
    for (int s = 0; s < n; s++) {
        envs[s] = calloc(base + 2, sizeof **envs);
        memcpy(envs[s], environ, base * sizeof **envs);
        if (asprintf(&envs[s][base], "BENCH_SVC=svc-%04d", s) < 0)
            return 1;
    }
    if (!slot_pid || !slot_svc || !pids || !envs)
        return 1;

    sigset_t set, none;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    if (sfd < 0) {
        perror("respawner: signalfd");
        return 1;
    }
    /* The children start with nothing blocked. */
    sigemptyset(&none);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);

    for (int s = 0; s < n; s++)
        spawn(s);

    for (;;) {
        struct signalfd_siginfo info[16];
        ssize_t got = read(sfd, info, sizeof info);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            perror("respawner: read signalfd");
            return 1;
        }
        int stop = 0;
        for (ssize_t k = 0; k < got / (ssize_t)sizeof *info; k++)
            if (info[k].ssi_signo == SIGTERM || info[k].ssi_signo == SIGINT)
                stop = 1;
        if (!stop) {
            reap(1);
            continue;
        }
        /* Stop everything: one kill per child, then reap until none is left. */
        reap(0);
        int live = 0;
        for (int s = 0; s < n; s++)
            if (pids[s] > 0) {
                kill(pids[s], SIGTERM);
                live++;
            }
        while (live > 0) {
            got = read(sfd, info, sizeof info);
            if (got < 0 && errno != EINTR)
                return 1;
            live -= reap(0);
        }
        return 0;
    }
}
