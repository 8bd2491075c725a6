"""The seccomp policy: the fate of every x86_64 syscall sentry does not serve.

Sentry traps the syscalls of :data:`sentry.syscalls.linux64.TABLE` (one
ptrace stop each). This is the allow list for all the others, in groups that
each give their reason:

- ALLOW: the call runs natively with no stop at all. Either it only touches
  the app itself (its memory, signals, threads, fds sentry does not serve),
  or the namespaces the app runs in (user, mount, PID, network, IPC, UTS)
  contain it: kill reaches only the sandbox's processes, socket only its
  network.
- An errno: the call fails at once, without reaching the host. Each group
  gives the errno Linux itself gives an unprivileged caller, or the one
  that makes programs fall back to what sentry serves (ENOSYS for the new
  mount API sends util-linux back to mount(2)).
- An :class:`~sentry.platform.seccomp_rules.ArgRule`: the low 32 bits of
  an argument register decide (clone and unshare with namespace flags,
  seccomp with a listener, personality). seccomp-bpf cannot read memory, so
  a flag behind a pointer (clone3's ``clone_args``) is refused whole.

A number in no group (a syscall newer than this table, or no syscall at all)
fails with ENOSYS, as on an older kernel. Docker's default seccomp profile
(moby ``profiles/seccomp/default.json``) and gVisor's syscall table are the
references for each choice.
"""

from __future__ import annotations

import errno

from sentry.abi.linux import (
    CLONE_NEWCGROUP,
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWTIME,
    CLONE_NEWUSER,
    CLONE_NEWUTS,
    MAP_ANONYMOUS,
    SECCOMP_FILTER_FLAG_NEW_LISTENER,
    SECCOMP_SET_MODE_FILTER,
)
from sentry.abi.linux_amd64 import SYSCALL_NUMBERS
from sentry.platform.seccomp_rules import (
    SECCOMP_RET_ALLOW,
    SECCOMP_RET_TRACE,
    ArgCase,
    ArgRule,
    Rule,
    arg_any,
    arg_eq,
    errno_action,
)

ALLOW = SECCOMP_RET_ALLOW
EPERM = errno_action(errno.EPERM)
EACCES = errno_action(errno.EACCES)
EINVAL = errno_action(errno.EINVAL)
ENOSYS = errno_action(errno.ENOSYS)

# The clone(2) flags that make new namespaces; unshare(2) also takes
# CLONE_NEWTIME.
CLONE_NEW = (
    CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER
    | CLONE_NEWPID | CLONE_NEWNET
)
# The child would not be traced: sentry would lose it.
CLONE_UNTRACED = 0x00800000

# The terminal ioctl that fakes input (include/uapi/asm-generic/ioctls.h).
TIOCSTI = 0x5412

# personality(2) (include/uapi/linux/personality.h).
PER_LINUX = 0x0000
PER_LINUX32 = 0x0008
UNAME26 = 0x0020000
ADDR_NO_RANDOMIZE = 0x0040000
PERSONALITY_QUERY = 0xFFFFFFFF

_GROUPS: tuple[tuple[Rule, tuple[str, ...]], ...] = (
    # The app's own memory, NUMA placement and x86 segments. A 32-bit code
    # segment (modify_ldt) does not help: its syscalls carry AUDIT_ARCH_I386,
    # which the filter traces and sentry refuses.
    (ALLOW, (
        "mprotect", "munmap", "brk", "mremap", "mincore", "madvise",
        "mlock", "munlock", "mlockall", "munlockall", "mlock2",
        "remap_file_pages", "pkey_mprotect", "pkey_alloc", "pkey_free",
        "memfd_secret", "mseal", "map_shadow_stack", "membarrier",
        "mbind", "set_mempolicy", "get_mempolicy", "set_mempolicy_home_node",
        "migrate_pages", "move_pages",
        "arch_prctl", "modify_ldt", "set_thread_area", "get_thread_area",
    )),
    # Signals: the PID namespace confines the targets to the sandbox.
    (ALLOW, (
        "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending",
        "rt_sigtimedwait", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
        "rt_sigsuspend", "sigaltstack", "pause", "restart_syscall",
        "kill", "tkill", "tgkill", "pidfd_send_signal", "signalfd", "signalfd4",
    )),
    # Processes and threads (new ones are traced from birth). prctl's
    # PR_SET_SECCOMP passes no filter flags, so it cannot ask for a listener.
    (ALLOW, (
        "fork", "vfork", "exit", "exit_group", "wait4", "waitid",
        "set_tid_address", "set_robust_list", "get_robust_list",
        "futex", "futex_waitv", "futex_wake", "futex_wait", "futex_requeue",
        "rseq", "gettid", "getpid", "getppid", "getpgrp", "getpgid", "setpgid",
        "getsid", "setsid", "pidfd_open", "process_mrelease", "prctl", "getcpu",
    )),
    # Credentials: checked against the app's user namespace.
    (ALLOW, (
        "getuid", "getgid", "geteuid", "getegid", "getgroups", "getresuid",
        "getresgid", "capget",
    )),
    # Scheduling, limits and system information; the host name is the UTS
    # namespace's.
    (ALLOW, (
        "sched_yield", "sched_setparam", "sched_getparam",
        "sched_setscheduler", "sched_getscheduler", "sched_get_priority_max",
        "sched_get_priority_min", "sched_rr_get_interval",
        "sched_setaffinity", "sched_getaffinity", "sched_setattr",
        "sched_getattr", "getpriority", "setpriority", "ioprio_set",
        "ioprio_get", "getrlimit", "setrlimit", "prlimit64", "getrusage",
        "times", "sysinfo", "uname", "sethostname", "setdomainname",
    )),
    # Clocks read, sleeps and timers.
    (ALLOW, (
        "nanosleep", "clock_nanosleep", "getitimer", "setitimer", "alarm",
        "gettimeofday", "time", "clock_gettime", "clock_getres",
        "timer_create", "timer_settime", "timer_gettime", "timer_getoverrun",
        "timer_delete", "timerfd_create", "timerfd_settime", "timerfd_gettime",
    )),
    # Pipes, polling, events, notifications and file hints: on fds and
    # paths of the app's own mount namespace.
    (ALLOW, (
        "poll", "select", "pselect6", "ppoll", "epoll_create", "epoll_create1",
        "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2",
        "pipe", "pipe2", "eventfd", "eventfd2", "tee", "vmsplice",
        "sync_file_range", "cachestat", "inotify_init", "inotify_init1",
        "inotify_add_watch", "inotify_rm_watch", "fanotify_init",
        "fanotify_mark", "memfd_create", "umask", "getrandom",
        "name_to_handle_at",
        "io_setup", "io_destroy", "io_getevents", "io_submit", "io_cancel",
        "io_pgetevents",
    )),
    # Sockets: the network namespace contains them.
    (ALLOW, (
        "socket", "socketpair", "connect", "accept", "accept4", "bind",
        "listen", "shutdown", "sendto", "recvfrom", "sendmmsg", "recvmmsg",
        "getsockname", "getpeername", "setsockopt", "getsockopt",
    )),
    # SysV IPC and POSIX message queues: the IPC namespace contains them.
    (ALLOW, (
        "shmget", "shmat", "shmctl", "shmdt", "semget", "semop", "semctl",
        "semtimedop", "msgget", "msgsnd", "msgrcv", "msgctl", "mq_open",
        "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify",
        "mq_getsetattr",
    )),
    # Mounts of the app's own mount namespace, read.
    (ALLOW, ("statmount", "listmount")),
    # Landlock and LSM queries only restrict or describe the caller.
    (ALLOW, (
        "landlock_create_ruleset", "landlock_add_rule",
        "landlock_restrict_self", "lsm_get_self_attr", "lsm_list_modules",
    )),
    # Another process's memory and files: what Linux gives when the ptrace
    # access check fails (EPERM). The tracee has a tracer already, and
    # sentry is reachable only through these.
    (EPERM, (
        "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd",
        "kcmp", "process_madvise",
    )),
    # The host kernel: modules, kexec, reboot, swap, accounting, quotas, I/O
    # ports, its log, tty hangup. They need capabilities of the initial
    # user namespace: EPERM, as for any unprivileged caller.
    (EPERM, (
        "init_module", "finit_module", "delete_module", "kexec_load",
        "kexec_file_load", "reboot", "swapon", "swapoff", "acct", "quotactl",
        "quotactl_fd", "iopl", "ioperm", "syslog", "vhangup",
    )),
    # The host's clock, which no namespace separates: EPERM, as without
    # CAP_SYS_TIME. adjtimex and clock_adjtime read the clock when
    # timex.modes is 0, but that field is in memory, where the filter cannot
    # look: both are refused whole (glibc's ntp_gettime fails with them).
    (EPERM, ("settimeofday", "clock_settime", "adjtimex", "clock_adjtime")),
    # The app's root and namespaces are sentry's to set: a native chroot or
    # setns would move the kernel's view of paths away from sentry's.
    (EPERM, ("chroot", "pivot_root", "setns")),
    # Kernel attack surface that no namespace contains: EPERM, as with
    # kernel.unprivileged_bpf_disabled and vm.unprivileged_userfaultfd = 0.
    # open_by_handle_at needs CAP_DAC_READ_SEARCH (the "shocker" escape
    # opened host files by handle); lsm_set_self_attr changes LSM state.
    (EPERM, ("bpf", "userfaultfd", "open_by_handle_at", "lsm_set_self_attr")),
    # What perf_event_open gives under perf_event_paranoid (EACCES); perf
    # then prints its hint.
    (EACCES, ("perf_event_open",)),
    # The new mount API: ENOSYS, so util-linux falls back to mount(2), which
    # sentry serves.
    (ENOSYS, (
        "fsopen", "fsconfig", "fsmount", "fspick", "open_tree",
        "open_tree_attr", "move_mount", "mount_setattr",
    )),
    # io_uring would do file I/O behind sentry's back (its operations never
    # pass through seccomp); clone3 keeps its flags in memory, where the
    # filter cannot check CLONE_UNTRACED. ENOSYS: glibc falls back to
    # read/write and to clone, as under runc's and Docker's profiles.
    (ENOSYS, ("io_uring_setup", "io_uring_enter", "io_uring_register", "clone3")),
    # The kernel key store is not namespaced: ENOSYS, as on a kernel built
    # without CONFIG_KEYS, which programs already handle.
    (ENOSYS, ("add_key", "request_key", "keyctl")),
    # Path syscalls sentry does not serve yet: ENOSYS sends programs to the
    # FS_IOC_FSGETXATTR ioctl, which it traps.
    (ENOSYS, ("file_getattr", "file_setattr")),
    # Gone from Linux or obsolete (ustat and sysfs describe host file
    # systems; glibc has no wrappers): ENOSYS, as on kernels without them.
    (ENOSYS, (
        "create_module", "get_kernel_syms", "query_module", "nfsservctl",
        "lookup_dcookie", "uselib", "_sysctl", "ustat", "sysfs", "getpmsg",
        "putpmsg", "afs_syscall", "tuxcall", "security", "vserver",
        "epoll_ctl_old", "epoll_wait_old",
    )),
    # Namespaces are sentry's to make (EPERM, as without CAP_SYS_ADMIN);
    # an untraced child would escape sentry. unshare(CLONE_FILES, CLONE_FS,
    # CLONE_SYSVSEM) only unshares the caller's own state.
    (ArgRule((ArgCase(EPERM, (arg_any(0, CLONE_NEW | CLONE_UNTRACED),)),), ALLOW), ("clone",)),
    (ArgRule((ArgCase(EPERM, (arg_any(0, CLONE_NEW | CLONE_NEWTIME),)),), ALLOW), ("unshare",)),
    # A filter returning USER_NOTIF to a listener of the app's own would
    # outrank sentry's RET_TRACE; without a listener it returns ENOSYS. So
    # refuse only the listener flag, with the EINVAL of a bad flag.
    (ArgRule((ArgCase(EINVAL, (
        arg_eq(0, SECCOMP_SET_MODE_FILTER), arg_any(1, SECCOMP_FILTER_FLAG_NEW_LISTENER),
    )),), ALLOW), ("seccomp",)),
    # The query, and Linux with ASLR off (gdb, setarch -R), uname-only
    # variants (linux32, UNAME26) as Docker allows. Others (READ_IMPLIES_EXEC,
    # MMAP_PAGE_ZERO, foreign ABIs) weaken memory protections: EPERM.
    (ArgRule((
        ArgCase(ALLOW, (arg_eq(0, PERSONALITY_QUERY),)),
        ArgCase(EPERM, (arg_any(0, ~(PER_LINUX32 | UNAME26 | ADDR_NO_RANDOMIZE)),)),
    ), ALLOW), ("personality",)),
    # TIOCSTI pushes bytes into a terminal's input: through the terminal it
    # shares with the host, the app would type commands into the shell that
    # started sentry (bubblewrap's CVE-2017-5226). EPERM, as Linux gives
    # with dev.tty.legacy_tiocsti = 0. Other ioctls are sentry's (traced).
    (ArgRule((ArgCase(EPERM, (arg_eq(1, TIOCSTI),)),), SECCOMP_RET_TRACE), ("ioctl",)),
    # Sentry serves mmap of a file (it is in linux64.TABLE); an anonymous
    # mapping has no file and runs natively.
    (ArgRule((ArgCase(ALLOW, (arg_any(3, MAP_ANONYMOUS),)),), SECCOMP_RET_TRACE), ("mmap",)),
)


def _by_number() -> dict[int, Rule]:
    """The groups by syscall number; ValueError if a name is in two."""
    policy: dict[int, Rule] = {}
    for rule, names in _GROUPS:
        for name in names:
            nr = SYSCALL_NUMBERS[name]
            if nr in policy:
                raise ValueError(f"{name} is in two groups of the seccomp policy")
            policy[nr] = rule
    return policy


POLICY: dict[int, Rule] = _by_number()
