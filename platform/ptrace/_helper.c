/*
 * sentry's C helper: the few things Python cannot do fast or safely.
 *
 * - Memory copies between sentry and a tracee (process_vm_readv/writev),
 *   returning bytes copied or -errno, partial counts exact.
 * - Spawning the app: fork, wait until the parent has seized us, install the
 *   seccomp filter, execve. Only async-signal-safe calls after fork. In a
 *   sandbox, _sandbox.c (compiled as one unit with this file) forks it from
 *   the sandbox's init instead.
 * - The wait loop: waitid() for the next ptrace stop; a seccomp stop whose
 *   syscall the policy says passes through natively is resumed here, without
 *   returning to Python (one ptrace stop, three syscalls: waitid,
 *   PTRACE_GET_SYSCALL_INFO, PTRACE_CONT). Everything else goes to Python.
 * - Signals sent to sentry itself are caught here and make the wait return
 *   -EINTR, race-free (see sentry_wait).
 *
 * Every function returns a plain value: a count, a pid, 0, or -errno.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/ptrace.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* <sys/ptrace.h> clashes with <linux/ptrace.h>; declare the libc entry. */
extern long ptrace(int request, ...);

#define SENTRY_IOV_MAX 1024

/* ------------------------------------------------------------------ memory */

long sentry_vm_read(int pid, uint64_t remote, void *local, size_t len)
{
    struct iovec l = {local, len};
    struct iovec r = {(void *)(uintptr_t)remote, len};
    ssize_t n = process_vm_readv(pid, &l, 1, &r, 1, 0);
    return n < 0 ? -errno : n;
}

/*
 * Scatter/gather between one local buffer and `count` remote (base, len)
 * pairs, in order. Returns the bytes moved before the first fault (the
 * kernel stops there), or -errno if nothing moved.
 */
long sentry_vm_rw_iov(int pid, int write, void *local, size_t len,
                      const uint64_t *pairs, int count)
{
    struct iovec r[SENTRY_IOV_MAX];
    struct iovec l = {local, len};
    ssize_t n;
    int i;

    if (count < 0 || count > SENTRY_IOV_MAX)
        return -EINVAL;
    for (i = 0; i < count; i++) {
        r[i].iov_base = (void *)(uintptr_t)pairs[2 * i];
        r[i].iov_len = pairs[2 * i + 1];
    }
    if (write)
        n = process_vm_writev(pid, &l, 1, r, count, 0);
    else
        n = process_vm_readv(pid, &l, 1, r, count, 0);
    return n < 0 ? -errno : n;
}

/*
 * Read a NUL-terminated string of at most `max` bytes (NUL included) into
 * `out`, one page at a time so that a string ending just before an unmapped
 * page is still read. Returns its length, -EFAULT, or -ENAMETOOLONG.
 */
long sentry_read_string(int pid, uint64_t remote, char *out, size_t max)
{
    size_t done = 0;

    while (done < max) {
        size_t chunk = 4096 - ((remote + done) & 4095);
        long n;
        char *nul;

        if (chunk > max - done)
            chunk = max - done;
        n = sentry_vm_read(pid, remote + done, out + done, chunk);
        if (n <= 0)
            return n < 0 ? n : -EFAULT;
        nul = memchr(out + done, 0, (size_t)n);
        if (nul)
            return nul - out;
        done += (size_t)n;
        if ((size_t)n < chunk)
            return -EFAULT;
    }
    return -ENAMETOOLONG;
}

/* ------------------------------------------------------------------ ptrace */

long sentry_ptrace(long request, int pid, uint64_t addr, uint64_t data)
{
    long r;

    errno = 0;
    r = ptrace((int)request, pid, (void *)(uintptr_t)addr, (void *)(uintptr_t)data);
    if (r == -1 && errno)
        return -errno;
    return r;
}

/*
 * At a seccomp stop: skip the syscall (orig_rax = -1), make `result` its
 * return value and resume the task: one call for the commonest end of an
 * emulated syscall.
 */
long sentry_skip_resume(int pid, int64_t result)
{
    if (ptrace(PTRACE_POKEUSR, pid, (void *)offsetof(struct user_regs_struct, orig_rax),
               (void *)-1L) < 0 ||
        ptrace(PTRACE_POKEUSR, pid, (void *)offsetof(struct user_regs_struct, rax),
               (void *)(intptr_t)result) < 0 ||
        ptrace(PTRACE_CONT, pid, 0, 0) < 0)
        return -errno;
    return 0;
}

/* The word at `offset` of the user area (a register) into *out. */
long sentry_peekuser(int pid, long offset, uint64_t *out)
{
    long r;

    errno = 0;
    r = ptrace(PTRACE_PEEKUSR, pid, (void *)offset, 0);
    if (r == -1 && errno)
        return -errno;
    *out = (uint64_t)r;
    return 0;
}

/* The general registers (struct user_regs_struct, 27 words) into `regs`. */
long sentry_getregs(int pid, uint64_t *regs)
{
    return ptrace(PTRACE_GETREGS, pid, 0, regs) < 0 ? -errno : 0;
}

/* Set the general registers from `regs`. */
long sentry_setregs(int pid, const uint64_t *regs)
{
    return ptrace(PTRACE_SETREGS, pid, 0, regs) < 0 ? -errno : 0;
}

/* The op of PTRACE_GET_SYSCALL_INFO at a syscall stop: 1 entry, 2 exit. */
int sentry_syscall_op(int pid)
{
    struct ptrace_syscall_info info;

    if (ptrace(PTRACE_GET_SYSCALL_INFO, pid, sizeof info, &info) < 0)
        return -errno;
    return info.op;
}

/* A dup, in sentry, of fd `fd` of process `pid` (pidfd_getfd), or -errno. */
int sentry_getfd(int pid, int fd)
{
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    int dup;

    if (pidfd < 0)
        return -errno;
    dup = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
    if (dup < 0)
        dup = -errno;
    close(pidfd);
    return dup;
}

/* ------------------------------------------------------------------- spawn */

/*
 * The app's last steps, in the child: wait on `go_fd` until sentry has
 * seized us (so TRACESECCOMP is set before the first trapped syscall),
 * install the filter, exec. If that fails, write errno to `err_fd`
 * (close-on-exec, so an exec that succeeds closes it) and exit 127.
 */
static void exec_seized(const char *path, char *const argv[], char *const envp[],
                        const struct sock_fprog *prog, int go_fd, int err_fd)
{
    char go;
    int e;

    if (read(go_fd, &go, 1) != 1)
        _exit(127);
    close(go_fd);
    /* Python ignores these; a native shell would not. */
    signal(SIGPIPE, SIG_DFL);
    signal(SIGXFSZ, SIG_DFL);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_SPEC_ALLOW, prog) < 0) {
        e = errno;
        (void)!write(err_fd, &e, sizeof e);
        _exit(127);
    }
    execve(path, argv, envp);
    e = errno;
    (void)!write(err_fd, &e, sizeof e);
    _exit(127);
}

/*
 * Fork the app, without a sandbox (see _sandbox.c for one): the child makes
 * itself seizable without CAP_SYS_PTRACE (sentry is not dumpable), then
 * exec_seized().
 */
int sentry_spawn(const char *path, char *const argv[], char *const envp[],
                 const void *filter, int filter_len, int go_fd, int err_fd)
{
    struct sock_fprog prog = {(unsigned short)filter_len, (struct sock_filter *)filter};
    pid_t pid = fork();

    if (pid < 0)
        return -errno;
    if (pid == 0) {
        if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
            _exit(127);
        exec_seized(path, argv, envp, &prog, go_fd, err_fd);
    }
    return pid;
}

/* -------------------------------------------------------- host signals */

static volatile sig_atomic_t sig_pending[65];
static volatile sig_atomic_t sig_code[65];
static volatile sig_atomic_t sig_any;
static volatile sig_atomic_t in_wait;
static sigjmp_buf wait_jmp;

static void on_signal(int sig, siginfo_t *info, void *uctx)
{
    (void)uctx;
    sig_code[sig] = info->si_code;
    sig_pending[sig] = 1;
    sig_any = 1;
    if (in_wait)
        siglongjmp(wait_jmp, 1);
}

/* prctl(2) with one argument. */
int sentry_prctl(int option, unsigned long arg)
{
    return prctl(option, arg, 0, 0, 0) < 0 ? -errno : 0;
}

/*
 * Catch `sig` in sentry itself: sentry_wait then returns -EINTR. Every
 * signal is blocked while on_signal runs: a second one that interrupted it
 * before it set its flags could siglongjmp away and lose the first (a
 * SIGIO, hence a FUSE reply, lost to a SIGALRM). siglongjmp restores the
 * mask that sentry_wait saved.
 */
int sentry_catch_signal(int sig)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO;
    sigfillset(&sa.sa_mask);
    return sigaction(sig, &sa, NULL) < 0 ? -errno : 0;
}

/*
 * Take the next caught signal: returns its number and stores its si_code in
 * *code, or returns 0 if none is pending.
 */
int sentry_take_signal(int *code)
{
    int sig;

    sig_any = 0;
    for (sig = 1; sig < 65; sig++) {
        if (sig_pending[sig]) {
            sig_pending[sig] = 0;
            *code = sig_code[sig];
            sig_any = 1;
            return sig;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ fast path */

/*
 * Per-syscall policy, set from Python: bits 0-5 name the arguments that are
 * file descriptors, POLICY_ANY_FD makes any sentry-owned fd in the caller's
 * table send the call to Python, POLICY_GLOBAL any sentry-owned fd in any
 * table (fds passed over sockets), POLICY_SLOW always sends it to Python.
 * A call with no sentry-owned fd in the named arguments passes through.
 */
#define POLICY_ANY_FD 0x40
#define POLICY_SLOW 0x80
#define POLICY_GLOBAL 0x100
#define POLICY_PATHS 0x200  /* its paths are checked by paths_on_host() */
#define NR_MAX 1024
#define FD_MAX 4096

struct fd_bitmap {
    int used;   /* slot allocated */
    int count;  /* sentry-owned fds in this table */
    uint64_t bits[FD_MAX / 64];
};

static uint16_t policy[NR_MAX];
static long owned_total;  /* sentry-owned fds in all tables */
static uint16_t *tid_table;     /* tid -> table slot; 0 = no owned fds */
static unsigned char *held;     /* tid -> 1 while sentry injects a syscall */
static unsigned char *cwd_elsewhere; /* tid -> 1: its cwd is at/in a prefix */
static long tid_max;
static struct fd_bitmap *tables; /* slot 0 is never used */
static int ntables;

int sentry_init(long pid_max)
{
    tid_table = calloc((size_t)pid_max + 1, sizeof *tid_table);
    held = calloc((size_t)pid_max + 1, 1);
    cwd_elsewhere = calloc((size_t)pid_max + 1, 1);
    if (!tid_table || !held || !cwd_elsewhere)
        return -ENOMEM;
    tid_max = pid_max;
    return 0;
}

void sentry_set_policy(int nr, int value)
{
    if (nr >= 0 && nr < NR_MAX)
        policy[nr] = (uint16_t)value;
}

int sentry_table_new(void)
{
    int i;
    struct fd_bitmap *grown;

    for (i = 1; i < ntables; i++)
        if (!tables[i].used)
            break;
    if (i >= 65535)
        return -ENOMEM;
    if (i >= ntables) {
        grown = realloc(tables, (size_t)(i + 1) * sizeof *tables);
        if (!grown)
            return -ENOMEM;
        tables = grown;
        ntables = i + 1;
    }
    memset(&tables[i], 0, sizeof tables[i]);
    tables[i].used = 1;
    return i;
}

void sentry_table_free(int slot)
{
    if (slot > 0 && slot < ntables) {
        owned_total -= tables[slot].count;
        tables[slot].used = 0;
    }
}

/* Mark `fd` of table `slot` as sentry-owned (on != 0) or not. */
void sentry_table_set(int slot, int fd, int on)
{
    struct fd_bitmap *t;
    uint64_t bit;
    int was;

    if (slot <= 0 || slot >= ntables || fd < 0)
        return;
    t = &tables[slot];
    if (fd >= FD_MAX) {
        /* Not tracked bit by bit: keep the table "dirty" forever. */
        if (on) {
            t->count++;
            owned_total++;
        }
        return;
    }
    bit = 1ULL << (fd % 64);
    was = (t->bits[fd / 64] & bit) != 0;
    if (on && !was) {
        t->bits[fd / 64] |= bit;
        t->count++;
        owned_total++;
    } else if (!on && was) {
        t->bits[fd / 64] &= ~bit;
        t->count--;
        owned_total--;
    }
}

void sentry_bind_tid(int tid, int slot)
{
    if (tid > 0 && tid <= tid_max)
        tid_table[tid] = (uint16_t)slot;
}

/*
 * Hold (or release) task `tid`'s seccomp stops for Python: while sentry
 * injects a syscall the task must stop at its exit, so none of its stops
 * may be resumed with PTRACE_CONT on the fast path.
 */
void sentry_hold_tid(int tid, int on)
{
    if (tid > 0 && tid <= tid_max)
        held[tid] = (unsigned char)(on != 0);
}

static int owned_fd(const struct fd_bitmap *t, uint64_t arg)
{
    int fd = (int)arg;

    if (fd < 0)
        return 0;
    if (fd >= FD_MAX)
        return 1;
    return (t->bits[fd / 64] >> (fd % 64)) & 1;
}

/* ------------------------------------------------------- host paths
 *
 * A path syscall passes through when each of its paths stays on the host:
 * the same lexical walk as the kernel's VirtualFilesystem.locate in
 * Python. The path is read from the tracee, made absolute from its dirfd
 * (or the cwd) through /proc/TID/fd/N (or /proc/TID/cwd), and walked one
 * component at a time (".." lexically); if the walk reaches one of
 * sentry's prefixes (mount points and special files), or ends in a name
 * that a special pattern serves (the mount tables: "mounts", ...), the
 * call goes to Python. A relative path from a cwd that is inside a sentry mount, from a
 * sentry fd, or one that cannot be read go to Python too; an empty path
 * (AT_EMPTY_PATH) is the dirfd's or the cwd's call.
 */
#define PATHS_MAX 2
#define PREFIX_BYTES 65536

static unsigned char path_spec[NR_MAX][PATHS_MAX]; /* (path+1) | (dirfd+1) << 4 */
static char prefixes[PREFIX_BYTES];  /* NUL-separated, ends with an empty one */
static char names[PREFIX_BYTES];     /* likewise: the prefixes' last names */

void sentry_set_path_args(int nr, int index, int path_arg, int dirfd_arg)
{
    if (nr >= 0 && nr < NR_MAX && index >= 0 && index < PATHS_MAX)
        path_spec[nr][index] =
            path_arg < 0 ? 0 : (unsigned char)((path_arg + 1) | ((dirfd_arg + 1) << 4));
}

int sentry_set_prefixes(const char *blob, int len, const char *last, int last_len)
{
    if (len < 0 || len + 2 > PREFIX_BYTES || last_len < 0 || last_len + 2 > PREFIX_BYTES)
        return -ENAMETOOLONG;
    memcpy(prefixes, blob, (size_t)len);
    prefixes[len] = prefixes[len + 1] = 0;
    memcpy(names, last, (size_t)last_len);
    names[last_len] = names[last_len + 1] = 0;
    return 0;
}

void sentry_set_cwd_elsewhere(int tid, int on)
{
    if (tid > 0 && tid <= tid_max)
        cwd_elsewhere[tid] = (unsigned char)(on != 0);
}

static int is_prefix(const char *path, size_t len)
{
    const char *p;

    for (p = prefixes; *p; p += strlen(p) + 1)
        if (strlen(p) == len && memcmp(p, path, len) == 0)
            return 1;
    return 0;
}

/* Whether the last component of walked[0..n) is one of `names`. */
static int ends_in_name(const char *walked, size_t n)
{
    size_t start = n;
    const char *p;

    while (start > 0 && walked[start - 1] != '/')
        start--;
    for (p = names; *p; p += strlen(p) + 1)
        if (strlen(p) == n - start && memcmp(p, walked + start, n - start) == 0)
            return 1;
    return 0;
}

/*
 * Whether the relative `path` can be decided without its base: it has no
 * ".." and none of its components is the last name of a prefix (nor a
 * name a special pattern serves), so no walk from a base directory outside
 * every prefix ends a step on one. The cwd's flag says whether the cwd is
 * at or below a prefix; a host dirfd there would be a mount's guard, which
 * no path gives.
 * This spares a readlink of /proc/TID/fd/N.
 */
static int no_prefix_name(const char *path)
{
    const char *c, *end, *p;

    for (c = path; *c; c = *end ? end + 1 : end) {
        size_t clen;

        end = strchr(c, '/');
        if (!end)
            end = c + strlen(c);
        clen = (size_t)(end - c);
        if (clen == 2 && c[0] == '.' && c[1] == '.')
            return 0;
        for (p = names; *p; p += strlen(p) + 1)
            if (strlen(p) == clen && memcmp(p, c, clen) == 0)
                return 0;
    }
    return 1;
}

/* Whether the path at `addr`, relative to `dirfd`, stays on the host. */
static int host_path(int tid, const struct fd_bitmap *t, uint64_t addr, int dirfd)
{
    char path[4096], walked[8192], link[64];
    size_t n = 0;
    long len = addr ? sentry_read_string(tid, addr, path, sizeof path) : 0;
    const char *c, *end;

    if (len < 0)
        return 0;
    /* An empty path (AT_EMPTY_PATH) or utimensat's NULL one is the dirfd's
     * (or the cwd's) call; elsewhere the host fails it as Linux does. */
    if (len == 0)
        return dirfd == -100 ? !cwd_elsewhere[tid] : !(t && dirfd >= 0 && owned_fd(t, (uint64_t)dirfd));
    if (path[0] != '/' && no_prefix_name(path))
        return dirfd == -100 ? !cwd_elsewhere[tid] : !(t && dirfd >= 0 && owned_fd(t, (uint64_t)dirfd));
    if (path[0] != '/') {
        ssize_t base;

        if (dirfd == -100) {
            if (cwd_elsewhere[tid])
                return 0;
            snprintf(link, sizeof link, "/proc/%d/cwd", tid);
        } else {
            if (dirfd < 0 || (t && owned_fd(t, (uint64_t)dirfd)))
                return 0;
            snprintf(link, sizeof link, "/proc/%d/fd/%d", tid, dirfd);
        }
        base = readlink(link, walked, sizeof walked - 1);
        if (base <= 0 || walked[0] != '/')
            return 0;
        n = (size_t)base;
        while (n > 0 && walked[n - 1] == '/')
            n--;
    }
    for (c = path; *c; c = *end ? end + 1 : end) {
        size_t clen;

        end = strchr(c, '/');
        if (!end)
            end = c + strlen(c);
        clen = (size_t)(end - c);
        if (clen == 0 || (clen == 1 && c[0] == '.'))
            continue;
        if (clen == 2 && c[0] == '.' && c[1] == '.') {
            while (n > 0 && walked[n - 1] != '/')
                n--;
            if (n > 0)
                n--;
        } else {
            if (n + 1 + clen >= sizeof walked)
                return 0;
            walked[n++] = '/';
            memcpy(walked + n, c, clen);
            n += clen;
        }
        if (is_prefix(n ? walked : "/", n ? n : 1))
            return 0;
    }
    return !ends_in_name(walked, n);
}

static int paths_on_host(int tid, const struct fd_bitmap *t,
                         const struct ptrace_syscall_info *info)
{
    int i;

    for (i = 0; i < PATHS_MAX; i++) {
        unsigned spec = path_spec[info->seccomp.nr][i];
        int dirfd;

        if (!spec)
            continue;
        dirfd = (spec >> 4) ? (int)info->seccomp.args[(spec >> 4) - 1] : -100;
        if (!host_path(tid, t, info->seccomp.args[(spec & 15) - 1], dirfd))
            return 0;
    }
    return 1;
}

static int passes_through(int tid, const struct ptrace_syscall_info *info)
{
    const struct fd_bitmap *t;
    unsigned p;
    int i;

    if (info->op != PTRACE_SYSCALL_INFO_SECCOMP ||
        info->arch != AUDIT_ARCH_X86_64 || info->seccomp.nr >= NR_MAX)
        return 0;
    p = policy[info->seccomp.nr];
    if (p & POLICY_SLOW)
        return 0;
    if (tid <= 0 || tid > tid_max || held[tid])
        return 0;
    if ((p & POLICY_GLOBAL) && owned_total > 0)
        return 0;
    t = tid_table[tid] ? &tables[tid_table[tid]] : NULL;
    if ((p & POLICY_PATHS) && !paths_on_host(tid, t && t->count ? t : NULL, info))
        return 0;
    if (!t || t->count == 0)
        return 1;
    if (p & POLICY_ANY_FD)
        return 0;
    for (i = 0; i < 6; i++)
        if ((p & (1u << i)) && owned_fd(t, info->seccomp.args[i]))
            return 0;
    return 1;
}

/*
 * Stop counts, for the debug log and the bench: every ptrace stop sentry
 * waited for, and the seccomp stops of those resumed here.
 */
static long stops_total;
static long stops_fast;

void sentry_stop_counts(long *total, long *fast)
{
    *total = stops_total;
    *fast = stops_fast;
}

/*
 * How long sentry_wait polls (waitid with WNOHANG) before it sleeps, in
 * nanoseconds; 0 never polls. A stop wakes a sleeping tracer on another CPU
 * through the scheduler: in a VM that wake-up is most of a stop's cost
 * (about 50 us against 10 us when both run on one CPU, ptrace-notes 1.4).
 * Polling for a little longer than a typical gap between two stops keeps
 * the tracer awake without pinning the app to its CPU; when no stop comes,
 * the tracer sleeps again, so a quiet app costs at most one window per
 * stop. Set from Python (--spin).
 */
static long spin_ns;

void sentry_set_spin(long ns)
{
    spin_ns = ns;
}

static long now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/*
 * waitid(P_ALL) for the next event, left waitable (WNOWAIT): polls for up
 * to spin_ns first, then blocks. Returns 0 or -1 with errno.
 */
static int next_event(siginfo_t *si)
{
    long deadline;

    si->si_pid = 0;
    if (spin_ns > 0) {
        deadline = now_ns() + spin_ns;
        do {
            if (waitid(P_ALL, 0, si, WEXITED | __WALL | WNOWAIT | WNOHANG) < 0)
                return -1;
            if (si->si_pid != 0)
                return 0;
            sched_yield();
        } while (now_ns() < deadline);
    }
    return waitid(P_ALL, 0, si, WEXITED | __WALL | WNOWAIT);
}

/* What sentry_wait hands to Python. */
struct sentry_event {
    int tid;
    int status;     /* as waitpid reports it */
    int has_info;   /* info below is valid (a seccomp stop) */
    struct ptrace_syscall_info info;
};

/*
 * Wait for the next stop or exit that Python must see, resuming pass-through
 * seccomp stops on the way. Returns 0 with *ev filled, -EINTR when a caught
 * signal is pending for sentry, or -errno (-ECHILD: no tracee left).
 *
 * Race-free signal wake-up: waitid() runs with WNOWAIT, so a caught signal
 * can siglongjmp out of it at any point, even after it returned, without
 * losing the event; the event is consumed (waitpid) only after in_wait is
 * cleared. A stop resumed on the fast path needs no consuming: once the
 * tracee runs, it is no longer waitable. The signal mask is saved once per
 * call (one rt_sigprocmask), for siglongjmp to unblock what on_signal's
 * mask blocked.
 */
int sentry_wait(struct sentry_event *ev)
{
    siginfo_t si;
    int tid;

    if (sigsetjmp(wait_jmp, 1)) {
        in_wait = 0;
        return -EINTR;
    }
    for (;;) {
        in_wait = 1;
        if (sig_any) {
            in_wait = 0;
            return -EINTR;
        }
        if (next_event(&si) < 0) {
            int e = errno;
            in_wait = 0;
            if (e == EINTR)
                continue;
            return -e;
        }
        in_wait = 0;
        tid = si.si_pid;
        ev->has_info = 0;
        if (si.si_code == CLD_TRAPPED)
            stops_total++;
        if (si.si_code == CLD_TRAPPED &&
            si.si_status == (SIGTRAP | (PTRACE_EVENT_SECCOMP << 8))) {
            if (ptrace(PTRACE_GET_SYSCALL_INFO, tid, sizeof ev->info, &ev->info) > 0) {
                if (passes_through(tid, &ev->info)) {
                    ptrace(PTRACE_CONT, tid, 0, 0);
                    stops_fast++;
                    continue;
                }
                ev->has_info = 1;
            }
        }
        if (waitpid(tid, &ev->status, __WALL | WNOHANG) != tid)
            continue;   /* gone meanwhile (SIGKILL): its exit comes next */
        ev->tid = tid;
        return 0;
    }
}
