/* Calls the seccomp policy refuses (or checks by argument), for
 * tests/test_policy.py: one line per call, "NAME RET ERRNO" (ERRNO 0 when
 * RET >= 0).
 *
 * Only the sandbox's answers are checked. The arguments are harmless ones
 * anyway (bad magic, missing paths, invalid fds or flags), so that a native
 * run, even as root, changes nothing: it prints the kernel's own EINVAL,
 * ENOENT or EBADF instead. The calls run in a child of a new session, so
 * vhangup has no terminal to hang up.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOPATH ((long)"/nonexistent-sentry-refused")
#define EMPTY ((long)"")

struct call {
    const char *name;
    long nr;
    long a[6];
};

static const struct call calls[] = {
    /* another process's memory and files */
    {"ptrace", 101, {16 /* PTRACE_ATTACH */, 0x3fffffff}},
    {"process_vm_readv", 310, {0 /* pid filled in */}},
    {"process_vm_writev", 311, {0}},
    {"pidfd_getfd", 438, {-1}},
    {"kcmp", 312, {0, 0, 0 /* KCMP_FILE */}},
    {"process_madvise", 440, {-1}},
    /* the host kernel */
    {"init_module", 175, {0, 0, EMPTY}},
    {"finit_module", 313, {-1, EMPTY}},
    {"delete_module", 176, {(long)"sentry_no_such_module", 04000 /* O_NONBLOCK */}},
    {"kexec_load", 246, {0, 0, 0, -1}},
    {"kexec_file_load", 320, {-1, -1, 0, 0, -1}},
    {"reboot", 169, {0, 0, 0}},
    {"swapon", 167, {NOPATH}},
    {"swapoff", 168, {NOPATH}},
    {"acct", 163, {NOPATH}},
    {"quotactl", 179, {0}},
    {"quotactl_fd", 443, {-1}},
    {"iopl", 172, {0}},
    {"ioperm", 173, {0, 0, 0}},
    {"syslog", 103, {10 /* SYSLOG_ACTION_SIZE_BUFFER */}},
    {"vhangup", 153, {0}},
    /* the host's clock */
    {"settimeofday", 164, {0, 0}},
    {"clock_settime", 227, {-1, 0}},
    {"adjtimex", 159, {0 /* struct timex filled in */}},
    {"clock_adjtime", 305, {0 /* CLOCK_REALTIME */, 0 /* filled in */}},
    /* root and namespaces */
    {"chroot", 161, {NOPATH}},
    {"pivot_root", 155, {NOPATH, NOPATH}},
    {"setns", 308, {-1, 0}},
    /* kernel attack surface */
    {"bpf", 321, {-1, 0, 0}},
    {"userfaultfd", 323, {-1}},
    {"open_by_handle_at", 304, {-1, 0, 0}},
    {"lsm_set_self_attr", 460, {0, 0, 0, 0}},
    {"perf_event_open", 298, {0, 0, -1, -1, 0}},
    /* fall back to what sentry serves: ENOSYS */
    {"fsopen", 430, {0, 0}},
    {"fsconfig", 431, {-1, 0, 0, 0, 0}},
    {"fsmount", 432, {-1, 0, 0}},
    {"fspick", 433, {-1, NOPATH, 0}},
    {"open_tree", 428, {-1, NOPATH, 0}},
    {"open_tree_attr", 467, {-1, NOPATH, 0, 0, 0}},
    {"move_mount", 429, {-1, NOPATH, -1, NOPATH, 0}},
    {"mount_setattr", 442, {-1, NOPATH, 0, 0, 0}},
    {"io_uring_setup", 425, {0, 0}},
    {"clone3", 435, {0, 0}},
    {"add_key", 248, {0, 0, 0, 0, 0}},
    {"request_key", 249, {0, 0, 0, 0}},
    {"keyctl", 250, {-1}},
    {"file_getattr", 468, {-1, NOPATH, 0, 0, 0}},
    {"lookup_dcookie", 212, {0, 0, 0}},
    {"nfsservctl", 180, {0}},
    {"ustat", 136, {0, 0}},
    {"unknown_600", 600, {0}},
    {"unknown_1000", 1000, {0}},
    /* checked by argument */
    {"clone_newuser", 56, {0x10000000 | SIGCHLD}},
    {"clone_untraced", 56, {0x00800000 | SIGCHLD}},
    {"unshare_newuser", 272, {0x10000000}},
    {"unshare_newns", 272, {0x00020000}},
    {"seccomp_listener", 317, {1 /* SET_MODE_FILTER */, 8 /* NEW_LISTENER */, 0}},
    {"personality_read_implies_exec", 135, {0x0400000}},
    {"personality_mmap_page_zero", 135, {0x0100000}},
    /* allowed */
    {"unshare_files", 272, {0x400 /* CLONE_FILES */}},
    {"personality_query", 135, {0xffffffff}},
    {"personality_no_randomize", 135, {0x0040000}},
    {"personality_linux", 135, {0}},
    {"getppid", 110, {0}},
};

static void attempt(const struct call *c)
{
    long a[6], ret;
    long timex[26] = {0}; /* struct timex, modes 0: read the clock */
    int i, e;

    for (i = 0; i < 6; i++)
        a[i] = c->a[i];
    if (c->nr == 310 || c->nr == 311 || c->nr == 312)
        a[0] = a[1] = getpid();
    if (c->nr == 159)
        a[0] = (long)timex;
    if (c->nr == 305)
        a[1] = (long)timex;
    ret = syscall(c->nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    e = ret < 0 ? errno : 0;
    if (ret == 0 && c->nr == 56) /* a clone child, had it been allowed */
        _exit(0);
    if (ret > 0 && c->nr == 56)
        waitpid(ret, NULL, 0);
    printf("%s %ld %d\n", c->name, ret, e);
    fflush(stdout);
}

int main(void)
{
    pid_t pid = fork();
    int status;
    size_t i;

    if (pid < 0)
        return 1;
    if (pid == 0) {
        setsid();
        for (i = 0; i < sizeof calls / sizeof calls[0]; i++)
            attempt(&calls[i]);
        _exit(0);
    }
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
        return 1;
    return WEXITSTATUS(status);
}
