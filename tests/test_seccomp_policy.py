"""The seccomp policy seen from the app: what the refused calls return.

tests/c/refused_syscalls.c makes each call the filter refuses or checks by
argument; here we check the errno each gets under sentry, without a stop and
without reaching the host. Only the sandbox is run: natively (as root) the
answers would be the kernel's own, and the point is that they differ. Whether
the host is really untouched is for the escape tests.
"""

from errno import EACCES, EINVAL, ENOSYS, EPERM

from conftest import run_sandbox

EXPECTED = {
    # another process's memory and files: the ptrace access check's EPERM
    **dict.fromkeys(
        ["ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
         "process_madvise"],
        EPERM,
    ),
    # the host kernel and clock, root and namespaces: no capability, EPERM
    **dict.fromkeys(
        ["init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
         "reboot", "swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "iopl", "ioperm",
         "syslog", "vhangup", "settimeofday", "clock_settime", "adjtimex", "clock_adjtime",
         "chroot", "pivot_root", "setns", "bpf", "userfaultfd", "open_by_handle_at",
         "lsm_set_self_attr"],
        EPERM,
    ),
    "perf_event_open": EACCES,
    # fall back to what sentry serves, or absent as on some kernels: ENOSYS
    **dict.fromkeys(
        ["fsopen", "fsconfig", "fsmount", "fspick", "open_tree", "open_tree_attr",
         "move_mount", "mount_setattr", "io_uring_setup", "clone3", "add_key", "request_key",
         "keyctl", "file_getattr", "lookup_dcookie", "nfsservctl", "ustat", "unknown_600",
         "unknown_1000"],
        ENOSYS,
    ),
    # checked by argument
    "clone_newuser": EPERM,
    "clone_untraced": EPERM,
    "unshare_newuser": EPERM,
    "unshare_newns": EPERM,
    "seccomp_listener": EINVAL,
    "personality_read_implies_exec": EPERM,
    "personality_mmap_page_zero": EPERM,
}
ALLOWED = ["unshare_files", "personality_query", "personality_no_randomize",
           "personality_linux", "getppid"]


def test_refused_calls_get_their_errno(c_program):
    r = run_sandbox([c_program("refused_syscalls")])
    assert r.returncode == 0, r.stderr
    results = {}
    for line in r.stdout.decode().splitlines():
        name, ret, err = line.split()
        results[name] = (int(ret), int(err))
    assert set(results) == set(EXPECTED) | set(ALLOWED)
    for name, err in EXPECTED.items():
        assert results[name] == (-1, err), name
    for name in ALLOWED:
        assert results[name][0] >= 0, name
