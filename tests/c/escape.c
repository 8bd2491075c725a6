/* Escape attempts for tests/test_escape.py, one program with many steps.
 *
 * Usage: escape TOKEN STEP [ARG...] [+ STEP [ARG...]]...
 *        escape victim READY DUMP HOSTFILE
 *
 * TOKEN is ignored: it only makes the command line of every process of a
 * run unique, so that the test can find them in the host's /proc. The steps
 * run in order, separated by "+" words; a step's failure never stops the
 * next one. Each step prints what it tried to stderr, for the reader of a
 * failing test only: the tests never judge by what this program prints, only
 * by effects they observe on the host.
 *
 * Steps (paths are as the app sees them):
 *   done PATH                  create PATH (a progress marker, in a --bind dir)
 *   write PATH DATA            create PATH and write DATA: open, openat,
 *                              openat2, creat, and O_APPEND if it exists
 *   connect PORT DATA          connect to 127.0.0.1:PORT and send DATA
 *   kill PID                   SIGKILL PID: kill, tgkill, pidfd_send_signal
 *   killgroup PID              kill(-PID, SIGKILL)
 *   signal PID SIGNO           kill(PID, SIGNO)
 *   killpgrp SIGNO             kill(0, SIGNO) from a child left in the
 *                              process group the app started in (the app
 *                              moves to a group of its own first)
 *   memwrite PID ADDR LEN      overwrite LEN bytes at ADDR in PID: ptrace
 *                              POKEDATA (ATTACH and SEIZE), process_vm_writev,
 *                              /proc/PID/mem
 *   stealfd PID FD             write through PID's fd FD: pidfd_getfd and
 *                              /proc/PID/fd/FD
 *   stealall PID               the same for every fd < 1024 of PID that is a
 *                              regular file
 *   procroot PID PATH DATA     write PATH through /proc/PID/root and
 *                              /proc/PID/cwd (PATH relative to / and cwd)
 *   objects DESC               create a bpf map, a perf event, keys named
 *                              DESC, userfaultfds; keep their fds open
 *   mounthost DIR              mount over DIR: mount(2) tmpfs and bind, the
 *                              new mount API, open_tree
 *   setns PID PORT DATA PATH   join PID's net namespace (by /proc and by
 *                              pidfd) then connect; join its mount namespace
 *                              then write PATH
 *   setnsfd NETFD MNTFD PORT DATA PATH
 *                              the same with namespace fds the app inherited
 *   tiocsti DATA               push DATA into the input of the terminal on
 *                              fds 0-2 and /dev/tty (TIOCSTI)
 *   untraced HB                raw clone and clone3 with CLONE_UNTRACED, and
 *                              a plain fork: children rewrite HB.untraced,
 *                              HB.clone3 and HB.traced every 20 ms
 *   bypass DIR                 create files in the mount DIR/mnt by ways
 *                              around the path check (see bypass())
 *   umount MNT                 umount2 MNT, then create MNT/via-umount
 *   hostile FILE               huge offsets and counts on FILE
 *   attach PID                 PTRACE_ATTACH and PTRACE_SEIZE PID; no detach
 *   forkbomb N SECONDS         N children that sleep SECONDS
 *   churn HB                   fork, exec, threads and clones in a loop, and
 *                              a heartbeat in HB, until killed
 *   argsfile PATH              wait for PATH (up to 20 s) and run the steps
 *                              it holds (words separated by white space)
 *   waitfile PATH SECONDS      wait until PATH exists
 *   sleep SECONDS
 *   exit CODE
 *
 * victim: a host process started by the test. It fills a buffer with a known
 * pattern, holds HOSTFILE open read-write, writes "PID ADDR LEN FD" to READY,
 * and on SIGUSR1 or SIGTERM writes the buffer to DUMP and exits.
 *
 * Every process that may live long sets an alarm, so that nothing outlives a
 * broken sandbox by more than a minute.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/filter.h>
#include <linux/perf_event.h>
#include <linux/seccomp.h>
#include <linux/userfaultfd.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The new mount API and a few others, by number: glibc's <sys/mount.h> and
 * <linux/mount.h> clash, and keyutils' header may be missing. */
#define NR_open_tree 428
#define NR_move_mount 429
#define NR_fsopen 430
#define NR_fsconfig 431
#define NR_fsmount 432
#define NR_pidfd_send_signal 424
#define NR_pidfd_open 434
#define NR_clone3 435
#define NR_openat2 437
#define NR_pidfd_getfd 438
#define NR_add_key 248
#define NR_keyctl 250
#define OPEN_TREE_CLONE 1
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#define FSCONFIG_CMD_CREATE 6
#define MS_BIND_ 4096
#define MNT_DETACH_ 2
#define KEY_SPEC_PROCESS_KEYRING (-2)
#define KEY_SPEC_SESSION_KEYRING (-3)
#define KEY_SPEC_USER_KEYRING (-4)
#define KEYCTL_SET_TIMEOUT 15
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif
#ifndef CLONE_UNTRACED
#define CLONE_UNTRACED 0x00800000
#endif

struct clone_args_ {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

struct open_how_ {
    uint64_t flags, mode, resolve;
};

static const char *self_exe, *token;

static void note(const char *step, const char *what, long ret)
{
    int e = errno;
    fprintf(stderr, "escape: %s: %s: %ld%s%s\n", step, what, ret,
            ret < 0 ? " " : "", ret < 0 ? strerror(e) : "");
    errno = e;
}

static long parse_long(const char *s)
{
    return strtol(s, NULL, 0);
}

static void write_all(int fd, const char *data)
{
    size_t len = strlen(data);
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n <= 0)
            return;
        data += n;
        len -= (size_t)n;
    }
}

/* Create PATH with one line of DATA, the plain way. */
static int put_file(const char *path, const char *data)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0)
        return -1;
    write_all(fd, data);
    close(fd);
    return 0;
}

static void msleep(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ------------------------------------------------------------ files */

static void step_write(const char *path, const char *data)
{
    int fd;

    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    note("write", "open", fd);
    if (fd >= 0) {
        write_all(fd, data);
        close(fd);
    }
    fd = openat(AT_FDCWD, path, O_WRONLY | O_CREAT | O_APPEND, 0666);
    note("write", "openat append", fd);
    if (fd >= 0) {
        write_all(fd, data);
        close(fd);
    }
    struct open_how_ how = {O_WRONLY | O_CREAT | O_APPEND, 0666, 0};
    fd = (int)syscall(NR_openat2, AT_FDCWD, path, &how, sizeof how);
    note("write", "openat2 append", fd);
    if (fd >= 0) {
        write_all(fd, data);
        close(fd);
    }
    fd = creat(path, 0666);
    note("write", "creat", fd);
    if (fd >= 0) {
        write_all(fd, data);
        close(fd);
    }
}

static void step_procroot(const char *pid, const char *path, const char *data)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "/proc/%s/root%s", pid, path);
    step_write(buf, data);
    snprintf(buf, sizeof buf, "/proc/%s/cwd/%s", pid, path[0] == '/' ? path + 1 : path);
    step_write(buf, data);
}

/* ------------------------------------------------------------ network */

static int connect_send(const char *port, const char *data)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int r = connect(s, (struct sockaddr *)&sin, sizeof sin);
    if (r == 0)
        write_all(s, data);
    int e = errno;
    close(s);
    errno = e;
    return r;
}

static void step_connect(const char *port, const char *data)
{
    note("connect", "127.0.0.1", connect_send(port, data));
}

/* ------------------------------------------------------------ signals */

static void step_kill(const char *pidarg, int sig)
{
    pid_t pid = (pid_t)parse_long(pidarg);
    note("kill", "kill", kill(pid, sig));
    note("kill", "tgkill", syscall(SYS_tgkill, pid, pid, sig));
    int pfd = (int)syscall(NR_pidfd_open, pid, 0);
    note("kill", "pidfd_open", pfd);
    if (pfd >= 0) {
        note("kill", "pidfd_send_signal", syscall(NR_pidfd_send_signal, pfd, sig, NULL, 0));
        close(pfd);
    }
}

static void step_killpgrp(int sig)
{
    int go[2];
    if (pipe(go) != 0)
        return;
    pid_t kid = fork();
    if (kid == 0) {
        char c;
        alarm(10);
        close(go[1]);
        if (read(go[0], &c, 1) == 1)
            note("killpgrp", "kill 0", kill(0, sig));
        _exit(0);
    }
    close(go[0]);
    note("killpgrp", "setpgid", setpgid(0, 0));
    if (write(go[1], "g", 1) != 1)
        note("killpgrp", "go", -1);
    close(go[1]);
    if (kid > 0)
        waitpid(kid, NULL, 0);
}

/* ------------------------------------------------------------ memory */

static int wait_stopped(pid_t pid)
{
    for (int i = 0; i < 200; i++) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG | __WALL);
        if (r == pid)
            return WIFSTOPPED(status) ? 0 : -1;
        if (r < 0)
            return -1;
        msleep(5);
    }
    return -1;
}

static void poke_all(pid_t pid, unsigned long addr, long len, const char *how)
{
    long word;
    memcpy(&word, "PWNED!!!", sizeof word);
    for (long off = 0; off + (long)sizeof word <= len; off += sizeof word)
        if (ptrace(PTRACE_POKEDATA, pid, (void *)(addr + off), (void *)word) != 0) {
            note("memwrite", how, -1);
            return;
        }
    note("memwrite", how, 0);
}

static void step_memwrite(const char *pidarg, const char *addrarg, const char *lenarg)
{
    pid_t pid = (pid_t)parse_long(pidarg);
    unsigned long addr = strtoul(addrarg, NULL, 0);
    long len = parse_long(lenarg);
    char *pattern = malloc((size_t)len + 8);
    for (long i = 0; i < len; i++)
        pattern[i] = "PWNED!!!"[i % 8];

    long r = ptrace(PTRACE_ATTACH, pid, NULL, NULL);
    note("memwrite", "PTRACE_ATTACH", r);
    if (r == 0) {
        if (wait_stopped(pid) == 0)
            poke_all(pid, addr, len, "POKEDATA after ATTACH");
        note("memwrite", "PTRACE_DETACH", ptrace(PTRACE_DETACH, pid, NULL, NULL));
    }
    r = ptrace(PTRACE_SEIZE, pid, NULL, NULL);
    note("memwrite", "PTRACE_SEIZE", r);
    if (r == 0) {
        ptrace(PTRACE_INTERRUPT, pid, NULL, NULL);
        if (wait_stopped(pid) == 0)
            poke_all(pid, addr, len, "POKEDATA after SEIZE");
        note("memwrite", "PTRACE_DETACH", ptrace(PTRACE_DETACH, pid, NULL, NULL));
    }

    struct iovec local = {pattern, (size_t)len}, remote = {(void *)addr, (size_t)len};
    note("memwrite", "process_vm_writev", process_vm_writev(pid, &local, 1, &remote, 1, 0));

    char path[64];
    snprintf(path, sizeof path, "/proc/%d/mem", pid);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    note("memwrite", "open /proc/PID/mem", fd);
    if (fd >= 0) {
        note("memwrite", "pwrite /proc/PID/mem", pwrite(fd, pattern, (size_t)len, (off_t)addr));
        close(fd);
    }
    free(pattern);
}

/* ------------------------------------------------------------ fds */

/* Write through fd, which should be a stolen one: only if it is a regular
 * file (pipes and sockets may be sentry's own, shared with the app). */
static void write_stolen(int fd, const char *how)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return;
    note("steal", how, pwrite(fd, "STOLEN\n", 7, 0));
    note("steal", how, write(fd, "STOLEN\n", 7));
}

static void steal_one(pid_t pid, int pidfd, int target, int quiet)
{
    if (pidfd >= 0) {
        int fd = (int)syscall(NR_pidfd_getfd, pidfd, target, 0);
        if (!quiet || fd >= 0)
            note("steal", "pidfd_getfd", fd);
        if (fd >= 0) {
            write_stolen(fd, "write pidfd_getfd fd");
            close(fd);
        }
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd/%d", pid, target);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (!quiet || fd >= 0)
        note("steal", "open /proc/PID/fd/N", fd);
    if (fd >= 0) {
        write_stolen(fd, "write /proc/PID/fd/N");
        close(fd);
    }
}

static void step_steal(const char *pidarg, const char *fdarg)
{
    pid_t pid = (pid_t)parse_long(pidarg);
    int pidfd = (int)syscall(NR_pidfd_open, pid, 0);
    note("steal", "pidfd_open", pidfd);
    if (fdarg) {
        steal_one(pid, pidfd, (int)parse_long(fdarg), 0);
    } else {
        for (int n = 0; n < 1024; n++)
            steal_one(pid, pidfd, n, 1);
    }
    if (pidfd >= 0)
        close(pidfd);
}

/* ------------------------------------------------------------ kernel objects */

static void step_objects(const char *desc)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.map_type = BPF_MAP_TYPE_ARRAY;
    attr.key_size = 4;
    attr.value_size = 8;
    attr.max_entries = 4;
    note("objects", "bpf BPF_MAP_CREATE", syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr));

    struct perf_event_attr pe;
    memset(&pe, 0, sizeof pe);
    pe.type = PERF_TYPE_SOFTWARE;
    pe.size = sizeof pe;
    pe.config = PERF_COUNT_SW_TASK_CLOCK;
    pe.disabled = 1;
    pe.exclude_kernel = 1;
    pe.exclude_hv = 1;
    note("objects", "perf_event_open", syscall(SYS_perf_event_open, &pe, 0, -1, -1, 0));

    note("objects", "userfaultfd", syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
    note("objects", "userfaultfd user-mode-only",
         syscall(SYS_userfaultfd, O_CLOEXEC | 1 /* UFFD_USER_MODE_ONLY */));
    int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
    note("objects", "open /dev/userfaultfd", dev);
    if (dev >= 0)
        note("objects", "USERFAULTFD_IOC_NEW", ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC));

    const int rings[] = {KEY_SPEC_USER_KEYRING, KEY_SPEC_SESSION_KEYRING,
                         KEY_SPEC_PROCESS_KEYRING};
    for (unsigned i = 0; i < sizeof rings / sizeof rings[0]; i++) {
        long key = syscall(NR_add_key, "user", desc, "escape", 6, rings[i]);
        note("objects", "add_key", key);
        if (key >= 0) /* do not litter the host for long if it worked */
            syscall(NR_keyctl, KEYCTL_SET_TIMEOUT, key, 120);
    }
}

/* ------------------------------------------------------------ mounts */

static void step_mounthost(const char *dir)
{
    note("mounthost", "mount tmpfs", mount("escape", dir, "tmpfs", 0, NULL));
    note("mounthost", "mount bind /", mount("/", dir, NULL, MS_BIND_, NULL));
    note("mounthost", "umount2", umount2(dir, MNT_DETACH_));

    int fsfd = (int)syscall(NR_fsopen, "tmpfs", 0);
    note("mounthost", "fsopen", fsfd);
    if (fsfd >= 0) {
        note("mounthost", "fsconfig create", syscall(NR_fsconfig, fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0));
        int mfd = (int)syscall(NR_fsmount, fsfd, 0, 0);
        note("mounthost", "fsmount", mfd);
        if (mfd >= 0)
            note("mounthost", "move_mount", syscall(NR_move_mount, mfd, "", AT_FDCWD, dir,
                                                    MOVE_MOUNT_F_EMPTY_PATH));
    }
    int tfd = (int)syscall(NR_open_tree, AT_FDCWD, "/", OPEN_TREE_CLONE);
    note("mounthost", "open_tree clone /", tfd);
    if (tfd >= 0)
        note("mounthost", "move_mount tree", syscall(NR_move_mount, tfd, "", AT_FDCWD, dir,
                                                     MOVE_MOUNT_F_EMPTY_PATH));
}

/* ------------------------------------------------------------ namespaces */

static void step_setns(const char *pidarg, const char *port, const char *data, const char *path)
{
    char buf[128];
    pid_t pid = (pid_t)parse_long(pidarg);

    /* A child per attempt: a successful setns changes the process for good. */
    for (int how = 0; how < 4; how++) {
        pid_t kid = fork();
        if (kid == 0) {
            alarm(10);
            int fd = -1, nstype = how < 2 ? CLONE_NEWNET : CLONE_NEWNS;
            if (how % 2 == 0) {
                snprintf(buf, sizeof buf, "/proc/%d/ns/%s", pid, how < 2 ? "net" : "mnt");
                fd = open(buf, O_RDONLY | O_CLOEXEC);
                note("setns", buf, fd);
            } else {
                fd = (int)syscall(NR_pidfd_open, pid, 0);
                note("setns", "pidfd_open", fd);
            }
            if (fd >= 0) {
                /* Joining a namespace owned by another user namespace wants
                 * to be in that one too. */
                if (how % 2 == 1) {
                    note("setns", "pidfd user+ns", setns(fd, CLONE_NEWUSER | nstype));
                } else {
                    snprintf(buf, sizeof buf, "/proc/%d/ns/user", pid);
                    int ufd = open(buf, O_RDONLY | O_CLOEXEC);
                    if (ufd >= 0)
                        note("setns", "setns user", setns(ufd, CLONE_NEWUSER));
                }
                note("setns", how < 2 ? "setns net" : "setns mnt", setns(fd, nstype));
            }
            if (how < 2)
                note("setns", "connect", connect_send(port, data));
            else
                step_write(path, data);
            _exit(0);
        }
        if (kid > 0)
            waitpid(kid, NULL, 0);
    }
}

static void step_setnsfd(const char *netfd, const char *mntfd, const char *port,
                         const char *data, const char *path)
{
    pid_t kid = fork();
    if (kid == 0) {
        alarm(10);
        note("setnsfd", "setns net", setns((int)parse_long(netfd), CLONE_NEWNET));
        note("setnsfd", "connect", connect_send(port, data));
        note("setnsfd", "setns mnt", setns((int)parse_long(mntfd), CLONE_NEWNS));
        step_write(path, data);
        _exit(0);
    }
    if (kid > 0)
        waitpid(kid, NULL, 0);
}

static void step_tiocsti(const char *data)
{
    int tty = open("/dev/tty", O_RDWR | O_CLOEXEC);
    note("tiocsti", "open /dev/tty", tty);
    int fds[] = {0, 1, 2, tty};
    for (unsigned i = 0; i < sizeof fds / sizeof fds[0]; i++) {
        if (fds[i] < 0)
            continue;
        long r = 0;
        for (const char *c = data; *c && r == 0; c++)
            r = ioctl(fds[i], TIOCSTI, c);
        if (r == 0)
            ioctl(fds[i], TIOCSTI, "\n");
        note("tiocsti", "TIOCSTI", r);
    }
}

/* ------------------------------------------------------------ clone untraced */

static const char *heartbeat_path;

static void heartbeat_forever(const char *suffix)
{
    char path[4096];
    snprintf(path, sizeof path, "%s.%s", heartbeat_path, suffix);
    alarm(60);
    for (unsigned long n = 0;; n++) {
        char line[64];
        snprintf(line, sizeof line, "%lu %ld\n", n, (long)time(NULL));
        put_file(path, line);
        msleep(20);
    }
}

static void step_untraced(const char *hb)
{
    heartbeat_path = hb;
    long r = syscall(SYS_clone, CLONE_UNTRACED | SIGCHLD, 0, NULL, NULL, 0);
    if (r == 0)
        heartbeat_forever("untraced");
    note("untraced", "clone CLONE_UNTRACED", r);

    struct clone_args_ ca;
    memset(&ca, 0, sizeof ca);
    ca.flags = CLONE_UNTRACED;
    ca.exit_signal = SIGCHLD;
    r = syscall(NR_clone3, &ca, sizeof ca);
    if (r == 0)
        heartbeat_forever("clone3");
    note("untraced", "clone3 CLONE_UNTRACED", r);

    r = fork();
    if (r == 0)
        heartbeat_forever("traced");
    note("untraced", "fork", r);
}

/* ------------------------------------------------------------ mount bypasses */

static char bypass_dir[1024];

/* Try to create DIR/mnt/NAME through PATH (which names it some other way). */
static void try_create(const char *how, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    note("bypass", how, fd);
    if (fd >= 0) {
        write_all(fd, how);
        close(fd);
    }
}

/* The race: one thread (or CLONE_VM process) flips the path between the
 * mount and an allowed file, while the caller opens it again and again. */
static char race_path[2][4096];
static char race_buf[4096] __attribute__((aligned(4096)));
static volatile int race_stop;

static void *race_flipper(void *arg)
{
    (void)arg;
    for (unsigned long i = 0; !race_stop; i++)
        memcpy(race_buf, race_path[i & 1], sizeof race_buf);
    return NULL;
}

static int race_flipper_process(void *arg)
{
    alarm(20);
    race_flipper(arg);
    return 0;
}

static void race_open_loop(const char *how)
{
    struct timespec start, now;
    long opened = 0;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        for (int i = 0; i < 100; i++) {
            int fd = open(race_buf, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
            if (fd >= 0) {
                opened++;
                close(fd);
            }
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 < 1500);
    note("bypass", how, opened);
}

static void race(const char *tag, int use_process)
{
    snprintf(race_path[0], sizeof race_path[0], "%s/mnt/via-race-%s", bypass_dir, tag);
    snprintf(race_path[1], sizeof race_path[1], "%s/race-ok-%s", bypass_dir, tag);
    memcpy(race_buf, race_path[1], sizeof race_buf);
    race_stop = 0;
    if (!use_process) {
        pthread_t t;
        if (pthread_create(&t, NULL, race_flipper, NULL) != 0)
            return;
        race_open_loop("race thread");
        race_stop = 1;
        pthread_join(t, NULL);
        return;
    }
    size_t stack_size = 256 * 1024;
    char *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (stack == MAP_FAILED)
        return;
    /* CLONE_VM without CLONE_THREAD: a vfork-like sibling that runs on. */
    pid_t kid = clone(race_flipper_process, stack + stack_size, CLONE_VM | SIGCHLD, NULL);
    note("bypass", "clone CLONE_VM", kid);
    if (kid < 0)
        return;
    race_open_loop("race CLONE_VM sibling");
    race_stop = 1;
    waitpid(kid, NULL, 0);
    /* A real vfork child opening while the parent waits: the parent's
     * memory is the child's, so a path it checked could change under it. */
    memcpy(race_buf, race_path[0], sizeof race_buf);
    memcpy(race_buf + strlen(bypass_dir) + 5, "via-vfork", 10);
    pid_t v = vfork();
    if (v == 0) {
        int fd = open(race_buf, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
        _exit(fd >= 0 ? 0 : 1);
    }
    if (v > 0)
        waitpid(v, NULL, 0);
}

/* A seccomp filter of the app's own that answers openat with USER_NOTIF: its
 * precedence is above sentry's TRACE, and a listener that replies CONTINUE
 * lets the kernel run the real openat, unseen by sentry. */
static void user_notif(const char *path)
{
    pid_t kid = fork();
    if (kid != 0) {
        if (kid > 0) {
            for (int i = 0; i < 400; i++) {
                if (waitpid(kid, NULL, WNOHANG) == kid)
                    return;
                msleep(10);
            }
            kill(kid, SIGKILL);
            waitpid(kid, NULL, 0);
        }
        return;
    }
    alarm(5);
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0 /* nr */),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof code / sizeof code[0], code};
    note("bypass", "PR_SET_NO_NEW_PRIVS", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    int listener = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                                SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    note("bypass", "seccomp NEW_LISTENER", listener);
    if (listener < 0) {
        /* Without a listener, USER_NOTIF fails the call with ENOSYS. */
        note("bypass", "seccomp without listener",
             syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog));
        try_create("openat under USER_NOTIF, no listener", path);
        _exit(0);
    }
    pid_t helper = fork();
    if (helper == 0) {
        alarm(5);
        struct seccomp_notif req;
        struct seccomp_notif_resp resp;
        for (int i = 0; i < 8; i++) {
            memset(&req, 0, sizeof req);
            if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0)
                _exit(1);
            memset(&resp, 0, sizeof resp);
            resp.id = req.id;
            resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
            ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
        }
        _exit(0);
    }
    try_create("openat under USER_NOTIF + CONTINUE", path);
    if (helper > 0) {
        kill(helper, SIGKILL);
        waitpid(helper, NULL, 0);
    }
    _exit(0);
}

static void bypass(const char *dir)
{
    char path[4096], mnt[1100];
    int fd;

    snprintf(bypass_dir, sizeof bypass_dir, "%s", dir);
    snprintf(mnt, sizeof mnt, "%s/mnt", dir);

#define P(...) (snprintf(path, sizeof path, __VA_ARGS__), path)
    try_create("control: plain path (lands in the mount)", P("%s/control", mnt));
    try_create("/proc/self/root", P("/proc/self/root%s/via-proc-self-root", mnt));
    try_create("/proc/thread-self/root", P("/proc/thread-self/root%s/via-proc-thread-self-root", mnt));
    try_create("/proc/1/root", P("/proc/1/root%s/via-proc-1-root", mnt));
    try_create("/proc/self/task/TID/root",
               P("/proc/self/task/%ld/root%s/via-proc-task-root", (long)syscall(SYS_gettid), mnt));

    fd = open(mnt, O_PATH | O_CLOEXEC);
    note("bypass", "open mount O_PATH", fd);
    if (fd >= 0) {
        try_create("/proc/self/fd/N of O_PATH", P("/proc/self/fd/%d/via-proc-fd-opath", fd));
        try_create("/dev/fd/N of O_PATH", P("/dev/fd/%d/via-dev-fd-opath", fd));
        int f = openat(fd, "via-openat-opath", O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
        note("bypass", "openat O_PATH dirfd", f);
        if (f >= 0)
            close(f);
        close(fd);
    }
    fd = open(mnt, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    note("bypass", "open mount O_DIRECTORY", fd);
    if (fd >= 0) {
        try_create("/proc/self/fd/N of O_DIRECTORY", P("/proc/self/fd/%d/via-proc-fd-dir", fd));
        note("bypass", "fchdir", fchdir(fd));
        try_create("relative after fchdir", "via-fchdir-relative");
        try_create("/proc/self/cwd after fchdir", "/proc/self/cwd/via-proc-cwd-fchdir");
        close(fd);
    }
    note("bypass", "chdir", chdir(mnt));
    try_create("/proc/self/cwd after chdir", "/proc/self/cwd/via-proc-cwd");
    try_create("/proc/self/root/proc/self/cwd", "/proc/self/root/proc/self/cwd/via-proc-root-cwd");

    try_create("host symlink (absolute)", P("%s/link-abs/via-symlink-abs", dir));
    try_create("host symlink (relative)", P("%s/link-rel/via-symlink-rel", dir));

    note("bypass", "mkdir a", mkdir(P("%s/a", mnt), 0777));
    note("bypass", "mkdir a/b", mkdir(P("%s/a/b", mnt), 0777));
    note("bypass", "mkdir a/b/c", mkdir(P("%s/a/b/c", mnt), 0777));
    note("bypass", "chdir a/b/c", chdir(P("%s/a/b/c", mnt)));
    try_create("../../.. from deep in the mount", "../../../via-dotdot");
    try_create(".. past the root", P("../../../../../../../../..%s/via-dotdot-root", mnt));
    try_create("host dir/..", P("%s/deep/x/y/../../../mnt/via-dotdot-host", dir));
    try_create("mount/a/..", P("%s/a/../via-dotdot-inside", mnt));
    note("bypass", "chdir /", chdir("/"));

    pid_t kid = fork();
    if (kid == 0) {
        alarm(5);
        note("bypass", "chroot", chroot(dir));
        try_create("open after chroot", "/mnt/via-chroot");
        note("bypass", "chroot .", chroot("."));
        _exit(0);
    }
    if (kid > 0)
        waitpid(kid, NULL, 0);

    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s >= 0) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        snprintf(sun.sun_path, sizeof sun.sun_path, "%.80s/via-bind-socket", mnt);
        note("bypass", "bind unix socket", bind(s, (struct sockaddr *)&sun, sizeof sun));
        close(s);
    }
    note("bypass", "mknod fifo", mknod(P("%s/via-mknod", mnt), S_IFIFO | 0666, 0));
    note("bypass", "symlink", symlink("x", P("%s/via-symlink-create", mnt)));
    note("bypass", "mkdir", mkdir(P("%s/via-mkdir", mnt), 0777));
    char from[4096];
    snprintf(from, sizeof from, "%s/rename-me", dir);
    note("bypass", "rename into the mount", rename(from, P("%s/via-rename", mnt)));
    snprintf(from, sizeof from, "%s/link-me", dir);
    note("bypass", "link into the mount", link(from, P("%s/via-link", mnt)));

    struct {
        struct file_handle fh;
        unsigned char bytes[128];
    } h;
    int mount_id;
    const char *handle_of[] = {dir, mnt};
    for (int i = 0; i < 2; i++) {
        h.fh.handle_bytes = sizeof h.bytes;
        int r = name_to_handle_at(AT_FDCWD, handle_of[i], &h.fh, &mount_id, 0);
        note("bypass", "name_to_handle_at", r);
        if (r != 0)
            continue;
        int mfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int dfd = open_by_handle_at(mfd, &h.fh, O_RDONLY | O_DIRECTORY);
        note("bypass", "open_by_handle_at", dfd);
        if (dfd >= 0) {
            int f = openat(dfd, i == 0 ? "mnt/via-handle-dir" : "via-handle-mnt",
                           O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
            note("bypass", "openat handle fd", f);
            if (f >= 0)
                close(f);
            close(dfd);
        }
        if (mfd >= 0)
            close(mfd);
    }

    int tfd = (int)syscall(NR_open_tree, AT_FDCWD, mnt, OPEN_TREE_CLONE);
    note("bypass", "open_tree clone of the mount", tfd);
    if (tfd >= 0) {
        int f = openat(tfd, "via-open-tree", O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
        note("bypass", "openat in the cloned tree", f);
        if (f >= 0)
            close(f);
        close(tfd);
    }
    struct open_how_ how = {O_WRONLY | O_CREAT, 0666, 0};
    fd = (int)syscall(NR_openat2, AT_FDCWD, P("%s/via-openat2", mnt), &how, sizeof how);
    note("bypass", "openat2", fd);
    if (fd >= 0)
        close(fd);

    race("thread", 0);
    race("process", 1);
    user_notif(P("%s/via-user-notif", mnt));
#undef P
}

static void step_umount(const char *mnt)
{
    char path[4096];
    note("umount", "umount2", umount2(mnt, 0));
    note("umount", "umount2 MNT_DETACH", umount2(mnt, MNT_DETACH_));
    snprintf(path, sizeof path, "%s/via-umount", mnt);
    try_create("open after umount2", path);
}

/* ------------------------------------------------------------ sentry itself */

static void step_hostile(const char *file)
{
    int fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    note("hostile", "open", fd);
    if (fd < 0)
        return;
    write_all(fd, "hostile\n");
    static char buf[4096];
    const unsigned long big[] = {1UL << 63, (1UL << 63) + 4096, ~0UL, ~0UL - 4095};
    for (unsigned i = 0; i < sizeof big / sizeof big[0]; i++) {
        note("hostile", "lseek SET", syscall(SYS_lseek, fd, big[i], SEEK_SET));
        note("hostile", "lseek CUR", syscall(SYS_lseek, fd, big[i], SEEK_CUR));
        note("hostile", "lseek END", syscall(SYS_lseek, fd, big[i], SEEK_END));
        note("hostile", "pread64", syscall(SYS_pread64, fd, buf, 16, big[i]));
        note("hostile", "pwrite64", syscall(SYS_pwrite64, fd, buf, 16, big[i]));
        note("hostile", "read count", syscall(SYS_read, fd, buf, big[i]));
        note("hostile", "write count", syscall(SYS_write, fd, buf, big[i]));
        note("hostile", "readv iovcnt", syscall(SYS_readv, fd, buf, big[i]));
        note("hostile", "ftruncate", syscall(SYS_ftruncate, fd, big[i]));
        note("hostile", "fallocate", syscall(SYS_fallocate, fd, 0, big[i], big[i]));
        note("hostile", "read bad pointer", syscall(SYS_read, fd, big[i], 16));
        note("hostile", "openat bad pointer", syscall(SYS_openat, AT_FDCWD, big[i], O_RDONLY));
        note("hostile", "fd past 2^31", syscall(SYS_read, big[i], buf, 16));
    }
    /* Leave the offset far out, then read and write on. */
    syscall(SYS_lseek, fd, (1UL << 63) - 1, SEEK_SET);
    note("hostile", "read at 2^63-1", read(fd, buf, sizeof buf));
    note("hostile", "write at 2^63-1", write(fd, buf, 1));
    close(fd);
}

static void step_attach(const char *pidarg)
{
    pid_t pid = (pid_t)parse_long(pidarg);
    note("attach", "PTRACE_ATTACH", ptrace(PTRACE_ATTACH, pid, NULL, NULL));
    note("attach", "PTRACE_SEIZE", ptrace(PTRACE_SEIZE, pid, NULL, NULL));
    note("attach", "PTRACE_INTERRUPT", ptrace(PTRACE_INTERRUPT, pid, NULL, NULL));
}

/* ------------------------------------------------------------ many processes */

static void step_forkbomb(const char *narg, const char *secarg)
{
    long n = parse_long(narg);
    unsigned sec = (unsigned)parse_long(secarg);
    long made = 0;
    for (long i = 0; i < n; i++) {
        pid_t kid = fork();
        if (kid == 0) {
            alarm(sec);
            for (;;)
                pause();
        }
        if (kid > 0)
            made++;
    }
    note("forkbomb", "children", made);
}

static void *churn_thread(void *arg)
{
    (void)arg;
    for (;;) {
        getpid();
        msleep(1);
    }
    return NULL;
}

static void step_churn(const char *hb)
{
    heartbeat_path = hb;
    alarm(60);
    pthread_t t;
    pthread_create(&t, NULL, churn_thread, NULL);
    if (fork() == 0)
        heartbeat_forever("traced");
    if (syscall(SYS_clone, CLONE_UNTRACED | SIGCHLD, 0, NULL, NULL, 0) == 0)
        heartbeat_forever("untraced");
    for (unsigned long n = 0;; n++) {
        pid_t kid = fork();
        if (kid == 0) {
            alarm(60);
            /* exec ourselves (the token stays in the command line) */
            execl(self_exe, self_exe, token, "sleep", "0.01", (char *)NULL);
            _exit(127);
        }
        if (kid > 0)
            waitpid(kid, NULL, 0);
    }
}

/* ------------------------------------------------------------ victim */

static volatile sig_atomic_t victim_signalled;

static void on_victim_signal(int sig)
{
    (void)sig;
    victim_signalled = 1;
}

static int victim(const char *ready, const char *dump, const char *hostfile)
{
    static char buffer[4096];
    for (size_t i = 0; i < sizeof buffer; i++)
        buffer[i] = "VICTIM-CANARY-0123456789abcdef\n"[i % 31];
    int fd = open(hostfile, O_RDWR);
    if (fd < 0) {
        perror(hostfile);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_victim_signal;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    alarm(120);
    char tmp[4096], line[256];
    snprintf(tmp, sizeof tmp, "%s.tmp", ready);
    snprintf(line, sizeof line, "%d %#lx %zu %d\n", getpid(), (unsigned long)buffer, sizeof buffer, fd);
    if (put_file(tmp, line) != 0 || rename(tmp, ready) != 0) {
        perror(ready);
        return 1;
    }
    while (!victim_signalled)
        pause();
    snprintf(tmp, sizeof tmp, "%s.tmp", dump);
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || write(out, buffer, sizeof buffer) != (ssize_t)sizeof buffer)
        return 1;
    close(out);
    return rename(tmp, dump) == 0 ? 0 : 1;
}

/* ------------------------------------------------------------ steps */

static int run_steps(int argc, char **argv);

static void step_argsfile(const char *path)
{
    static char text[65536];
    int fd = -1;
    for (int i = 0; i < 2000 && fd < 0; i++) {
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            msleep(10);
    }
    note("argsfile", path, fd);
    if (fd < 0)
        return;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0)
        return;
    text[n] = 0;
    char *words[256];
    int count = 0;
    for (char *w = strtok(text, " \t\n"); w && count < 255; w = strtok(NULL, " \t\n"))
        words[count++] = w;
    words[count] = NULL;
    run_steps(count, words);
}

static void step_waitfile(const char *path, const char *secarg)
{
    long ms = (long)(atof(secarg) * 1000);
    for (long t = 0; t < ms; t += 10) {
        if (access(path, F_OK) == 0)
            return;
        msleep(10);
    }
}

/* Run the steps in argv[0..argc), separated by "+" words. */
static int run_steps(int argc, char **argv)
{
    int i = 0;
    while (i < argc) {
        int end = i;
        while (end < argc && strcmp(argv[end], "+") != 0)
            end++;
        int n = end - i;
        char **a = argv + i;
        const char *s = a[0];
#define NEED(k)                                                       \
    if (n < (k) + 1) {                                                \
        fprintf(stderr, "escape: %s needs %d arguments\n", s, (k));  \
        return 2;                                                     \
    }
        if (!strcmp(s, "done")) {
            NEED(1);
            note("done", a[1], put_file(a[1], "done\n"));
        } else if (!strcmp(s, "write")) {
            NEED(2);
            step_write(a[1], a[2]);
        } else if (!strcmp(s, "connect")) {
            NEED(2);
            step_connect(a[1], a[2]);
        } else if (!strcmp(s, "kill")) {
            NEED(1);
            step_kill(a[1], SIGKILL);
        } else if (!strcmp(s, "killgroup")) {
            NEED(1);
            note("killgroup", "kill -PID", kill(-(pid_t)parse_long(a[1]), SIGKILL));
        } else if (!strcmp(s, "signal")) {
            NEED(2);
            note("signal", "kill", kill((pid_t)parse_long(a[1]), (int)parse_long(a[2])));
        } else if (!strcmp(s, "killpgrp")) {
            NEED(1);
            step_killpgrp((int)parse_long(a[1]));
        } else if (!strcmp(s, "memwrite")) {
            NEED(3);
            step_memwrite(a[1], a[2], a[3]);
        } else if (!strcmp(s, "stealfd")) {
            NEED(2);
            step_steal(a[1], a[2]);
        } else if (!strcmp(s, "stealall")) {
            NEED(1);
            step_steal(a[1], NULL);
        } else if (!strcmp(s, "procroot")) {
            NEED(3);
            step_procroot(a[1], a[2], a[3]);
        } else if (!strcmp(s, "objects")) {
            NEED(1);
            step_objects(a[1]);
        } else if (!strcmp(s, "mounthost")) {
            NEED(1);
            step_mounthost(a[1]);
        } else if (!strcmp(s, "setns")) {
            NEED(4);
            step_setns(a[1], a[2], a[3], a[4]);
        } else if (!strcmp(s, "setnsfd")) {
            NEED(5);
            step_setnsfd(a[1], a[2], a[3], a[4], a[5]);
        } else if (!strcmp(s, "tiocsti")) {
            NEED(1);
            step_tiocsti(a[1]);
        } else if (!strcmp(s, "untraced")) {
            NEED(1);
            step_untraced(a[1]);
        } else if (!strcmp(s, "bypass")) {
            NEED(1);
            bypass(a[1]);
        } else if (!strcmp(s, "umount")) {
            NEED(1);
            step_umount(a[1]);
        } else if (!strcmp(s, "hostile")) {
            NEED(1);
            step_hostile(a[1]);
        } else if (!strcmp(s, "attach")) {
            NEED(1);
            step_attach(a[1]);
        } else if (!strcmp(s, "forkbomb")) {
            NEED(2);
            step_forkbomb(a[1], a[2]);
        } else if (!strcmp(s, "churn")) {
            NEED(1);
            step_churn(a[1]);
        } else if (!strcmp(s, "argsfile")) {
            NEED(1);
            step_argsfile(a[1]);
        } else if (!strcmp(s, "waitfile")) {
            NEED(2);
            step_waitfile(a[1], a[2]);
        } else if (!strcmp(s, "sleep")) {
            NEED(1);
            msleep((long)(atof(a[1]) * 1000));
        } else if (!strcmp(s, "exit")) {
            NEED(1);
            exit((int)parse_long(a[1]));
        } else {
            fprintf(stderr, "escape: unknown step %s\n", s);
            return 2;
        }
#undef NEED
        i = end + 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    self_exe = argv[0];
    token = argc > 1 ? argv[1] : "";
    if (argc == 5 && !strcmp(argv[1], "victim"))
        return victim(argv[2], argv[3], argv[4]);
    if (argc < 3) {
        fprintf(stderr, "usage: escape TOKEN STEP [ARG...] [+ STEP [ARG...]]...\n"
                        "       escape victim READY DUMP HOSTFILE\n");
        return 2;
    }
    alarm(90);
    return run_steps(argc - 2, argv + 2);
}
