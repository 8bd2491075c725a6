/*
 * The sandbox's init: new namespaces, the app's root file system, and a
 * small process that holds them.
 *
 * sentry_spawn_sandbox() clones a child into new user, mount, PID, IPC and
 * UTS namespaces (and a network namespace unless the host's is kept). That
 * child is pid 1 of the sandbox, "init". It
 *
 * 1. waits until sentry has written its uid and gid maps, then runs a
 *    *plan*: a list of steps computed in Python (mounts, directories,
 *    pivot_root; see ../namespaces.py), stopping at the first step that
 *    fails unless the step says otherwise;
 * 2. forks the app (pid 2), which makes itself dumpable (it inherited
 *    sentry's non-dumpable flag, and only a dumpable task can be seized
 *    without CAP_SYS_PTRACE), sends one message on the control socket so
 *    that sentry learns its host pid (SCM_CREDENTIALS are translated to the
 *    receiver's PID namespace), waits until sentry has seized it, installs
 *    the seccomp filter and execs;
 * 3. stays, reaping orphans (it is their parent inside the sandbox) and
 *    running plans that sentry sends on the control socket while the app
 *    runs (a guard mount at a FUSE mount point, and its unmount). It never
 *    runs app code, is not traced, and keeps sentry's non-dumpable memory
 *    (owned by the host's user namespace), so the app can neither signal it
 *    (pid 1 ignores signals it has no handler for), read its memory, nor
 *    take its fds.
 *
 * When sentry goes, init goes (PR_SET_PDEATHSIG, and EOF on the control
 * socket), and the kernel kills every process of the PID namespace with it,
 * CLONE_UNTRACED children included.
 *
 * Only async-signal-safe calls after clone: sentry may have other threads.
 * It is compiled as one unit with _helper.c, whose exec_seized() it uses.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

/* Plan steps; keep in step with namespaces.py. */
enum {
    STEP_MKDIRS = 1,  /* a: path (every missing component, mode 0755) */
    STEP_MKFILE = 2,  /* a: path (an empty file if nothing is there) */
    STEP_MOUNT = 3,   /* a: source, b: target, c: fstype, d: data, flags */
    STEP_UMOUNT = 4,  /* a: target, flags */
    STEP_SYMLINK = 5, /* a: target, b: link path */
    STEP_PIVOT = 6,   /* a: the new root */
    STEP_CHDIR = 7,   /* a: path ("/" if it cannot be entered) */
    STEP_LO_UP = 8,   /* bring up the loopback interface */
};

/* What a failed step does. */
enum {
    ON_FAIL_STOP = 0,   /* the plan fails */
    ON_FAIL_IGNORE = 1, /* go on */
    ON_FAIL_ELSE = 2,   /* run the next step; on success, skip it */
};

/*
 * One step: struct step_head, then its strings a, b, c and d, each ending
 * with a NUL byte.
 */
struct step_head {
    uint32_t op;
    uint32_t on_fail;
    uint64_t flags;
};

#define MSG_MAX 65536

static int mkdirs(char *path)
{
    char *p;

    for (p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
            *p = '/';
            return -1;
        }
        *p = '/';
    }
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        return -1;
    return 0;
}

static int loopback_up(void)
{
    struct ifreq ifr;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int r;

    if (s < 0)
        return -1;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    r = ioctl(s, SIOCGIFFLAGS, &ifr);
    if (r == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        r = ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    close(s);
    return r;
}

/* mount_setattr(2) (linux/mount.h clashes with glibc's sys/mount.h). */
struct sentry_mount_attr {
    uint64_t attr_set, attr_clr, propagation, userns_fd;
};
#define SENTRY_MOUNT_ATTR_RDONLY 0x1
#define SENTRY_AT_RECURSIVE 0x8000
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif

/*
 * A read-only bind mount, with every mount below it read-only too when
 * recursive (mount_setattr, 5.12). Where that call is missing, the remount
 * makes the top one read-only, keeping the flags the kernel locked on the
 * source (nosuid, nodev, noexec) or it would fail with EPERM.
 */
static int bind_read_only(const char *source, const char *target, unsigned long flags)
{
    struct sentry_mount_attr attr = {SENTRY_MOUNT_ATTR_RDONLY, 0, 0, 0};
    struct statvfs st;
    unsigned long keep = MS_RDONLY;

    if (mount(source, target, NULL, flags & ~MS_RDONLY, NULL) < 0)
        return -1;
    if (syscall(SYS_mount_setattr, AT_FDCWD, target, flags & MS_REC ? SENTRY_AT_RECURSIVE : 0,
                &attr, sizeof attr) == 0)
        return 0;
    if (errno != ENOSYS || statvfs(target, &st) < 0)
        return -1;
    keep |= st.f_flag & ST_NOSUID ? MS_NOSUID : 0;
    keep |= st.f_flag & ST_NODEV ? MS_NODEV : 0;
    keep |= st.f_flag & ST_NOEXEC ? MS_NOEXEC : 0;
    keep |= st.f_flag & ST_NOATIME ? MS_NOATIME : 0;
    keep |= st.f_flag & ST_NODIRATIME ? MS_NODIRATIME : 0;
    keep |= st.f_flag & ST_RELATIME ? MS_RELATIME : 0;
    return mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | keep, NULL);
}

static int pivot(const char *root)
{
    if (chdir(root) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
        umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
        return -1;
    return 0;
}

static int run_step(uint32_t op, uint64_t flags, char *a, char *b, char *c, char *d)
{
    switch (op) {
    case STEP_MKDIRS:
        return mkdirs(a);
    case STEP_MKFILE: {
        int fd = open(a, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
            return errno == EEXIST || errno == EISDIR ? 0 : -1;
        close(fd);
        return 0;
    }
    case STEP_MOUNT:
        if ((flags & MS_BIND) && (flags & MS_RDONLY))
            return bind_read_only(a, b, (unsigned long)flags);
        return mount(*a ? a : NULL, b, *c ? c : NULL, (unsigned long)flags, *d ? d : NULL);
    case STEP_UMOUNT:
        return umount2(a, (int)flags);
    case STEP_SYMLINK:
        return symlink(a, b) < 0 && errno != EEXIST ? -1 : 0;
    case STEP_PIVOT:
        return pivot(a);
    case STEP_CHDIR:
        return chdir(a) < 0 ? chdir("/") : 0;
    case STEP_LO_UP:
        return loopback_up();
    }
    errno = EINVAL;
    return -1;
}

/*
 * Run the plan of `len` bytes at `plan` (it is modified). Returns 0, or
 * -errno of the failed step with its index in *failed.
 */
static int run_plan(char *plan, size_t len, int *failed)
{
    size_t at = 0;
    int index = 0, skip = 0;

    while (at + sizeof(struct step_head) <= len) {
        struct step_head head;
        char *s[4];
        int i, r;

        memcpy(&head, plan + at, sizeof head);
        at += sizeof head;
        for (i = 0; i < 4; i++) {
            char *nul = memchr(plan + at, 0, len - at);

            if (!nul) {
                *failed = index;
                return -EINVAL;
            }
            s[i] = plan + at;
            at = (size_t)(nul - plan) + 1;
        }
        if (skip) {
            /* a skipped fallback skips its own fallback too */
            skip = head.on_fail == ON_FAIL_ELSE;
            index++;
            continue;
        }
        r = run_step(head.op, head.flags, s[0], s[1], s[2], s[3]);
        if (r < 0 && head.on_fail == ON_FAIL_STOP) {
            *failed = index;
            return -errno;
        }
        skip = head.on_fail == ON_FAIL_ELSE && r == 0;
        index++;
    }
    return 0;
}

/* A reply on the control socket: a result and the index of the failed step. */
static void reply(int ctl, int32_t result, int32_t index)
{
    int32_t msg[2] = {result, index};

    (void)!send(ctl, msg, sizeof msg, MSG_NOSIGNAL);
}

static void on_sigchld(int sig)
{
    (void)sig;
}

/* Init's life after the app started: reap, and serve sentry's plans. */
static void serve(int ctl)
{
    static char msg[MSG_MAX];
    struct sigaction sa;
    sigset_t block, wait_mask;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigchld;
    sigaction(SIGCHLD, &sa, NULL);
    sigemptyset(&block);
    sigaddset(&block, SIGCHLD);
    sigprocmask(SIG_BLOCK, &block, &wait_mask);
    sigdelset(&wait_mask, SIGCHLD);
    for (;;) {
        struct pollfd p = {ctl, POLLIN, 0};
        ssize_t n;
        int failed = 0;

        while (waitpid(-1, NULL, WNOHANG | __WALL) > 0)
            ;
        if (ppoll(&p, 1, NULL, &wait_mask) < 0)
            continue;
        n = recv(ctl, msg, sizeof msg, 0);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
            _exit(0);
        if (n > 0)
            reply(ctl, run_plan(msg, (size_t)n, &failed), failed);
    }
}

/*
 * The app's own process group, as a shell gives a job: kill(0) and
 * killpg reach only the app's processes, not sentry's group (which PID
 * namespaces do not separate). With `tty` >= 0 it takes that terminal's
 * foreground from sentry's group, so the terminal's signals go to it.
 */
static int own_group(int tty)
{
    sigset_t ttou, old;
    int r;

    if (setpgid(0, 0) < 0)
        return -1;
    if (tty < 0)
        return 0;
    sigemptyset(&ttou);
    sigaddset(&ttou, SIGTTOU);
    sigprocmask(SIG_BLOCK, &ttou, &old);
    r = tcsetpgrp(tty, getpid());
    sigprocmask(SIG_SETMASK, &old, NULL);
    return r;
}

static void app(const char *path, char *const argv[], char *const envp[],
                const struct sock_fprog *prog, int tty, int ctl, int go_fd, int err_fd)
{
    char pid = 'p';

    /* Seizable by sentry without CAP_SYS_PTRACE; exec resets it anyway. */
    if (own_group(tty) < 0 || prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0 ||
        send(ctl, &pid, 1, MSG_NOSIGNAL) != 1)
        _exit(127);
    close(ctl);
    exec_seized(path, argv, envp, prog, go_fd, err_fd);
}

/*
 * Start the sandbox: init in namespaces `ns_flags` (CLONE_NEW*), which runs
 * `plan` and forks the app (in a process group of its own, in the
 * foreground of terminal fd `tty` unless it is -1). `ctl` is init's end of a SOCK_SEQPACKET pair
 * whose other end has SO_PASSCRED. On it, init first sends either a reply
 * {-errno, failed step} if the plan failed, or the app's one-byte message
 * (whose credentials carry the app's host pid) followed by a reply {0, 0}.
 * Returns init's pid or -errno.
 */
int sentry_spawn_sandbox(const char *path, char *const argv[], char *const envp[],
                         const void *filter, int filter_len, int ns_flags,
                         char *plan, int plan_len, int tty, int ctl, int go_fd, int err_fd)
{
    struct sock_fprog prog = {(unsigned short)filter_len, (struct sock_filter *)filter};
    long pid = syscall(SYS_clone, (unsigned long)ns_flags | SIGCHLD, NULL, NULL, NULL, 0);
    int failed = 0, r, sig;
    pid_t child;
    char go;

    if (pid < 0)
        return -errno;
    if (pid > 0)
        return (int)pid;
    /*
     * Dumpable while sentry writes our /proc/PID/uid_map and the plan runs
     * (an unprivileged sentry could not open it otherwise); no app process
     * exists yet.
     */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
        _exit(1);
    /*
     * Sentry's handlers are not init's: with none, pid 1 of a PID namespace
     * ignores every signal from inside it. What sentry ignores stays
     * ignored, for the app to inherit as it would natively (nohup).
     */
    for (sig = 1; sig < NSIG; sig++) {
        struct sigaction sa;

        if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler != SIG_IGN && sa.sa_handler != SIG_DFL)
            signal(sig, SIG_DFL);
    }
    /* Sentry writes our uid and gid maps once we are dumpable, then says go. */
    go = 'r';
    if (send(ctl, &go, 1, MSG_NOSIGNAL) != 1 || recv(ctl, &go, 1, 0) != 1)
        _exit(1);
    r = run_plan(plan, (size_t)plan_len, &failed);
    if (r == 0 && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        r = -errno;
    if (r < 0) {
        reply(ctl, r, failed);
        _exit(1);
    }
    child = fork();
    if (child < 0) {
        reply(ctl, -errno, -1);
        _exit(1);
    }
    if (child == 0)
        app(path, argv, envp, &prog, tty, ctl, go_fd, err_fd);
    /* Init holds nothing of sentry's or the app's: only its control socket. */
    if (ctl > 0)
        syscall(SYS_close_range, 0, ctl - 1, 0);
    syscall(SYS_close_range, ctl + 1, ~0U, 0);
    reply(ctl, 0, 0);
    serve(ctl);
    return 0;
}
