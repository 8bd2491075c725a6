"""System call numbers and names of Linux on x86_64 (and of its i386 ABI).

python-ptrace's tables, plus the syscalls newer than them. The AUDIT_ARCH
values are what seccomp and PTRACE_GET_SYSCALL_INFO report for each ABI.
"""

from __future__ import annotations

from ptrace.syscall.linux import i386 as _i386
from ptrace.syscall.linux import x86_64 as _x86_64

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_I386 = 0x40000003  # int 0x80 from a 64-bit process, or 32-bit code
X32_SYSCALL_BIT = 0x40000000  # x32 numbers share AUDIT_ARCH_X86_64

_NEWER = {
    441: "epoll_pwait2",
    442: "mount_setattr",
    443: "quotactl_fd",
    444: "landlock_create_ruleset",
    445: "landlock_add_rule",
    446: "landlock_restrict_self",
    447: "memfd_secret",
    448: "process_mrelease",
    449: "futex_waitv",
    450: "set_mempolicy_home_node",
    451: "cachestat",
    452: "fchmodat2",
    453: "map_shadow_stack",
    454: "futex_wake",
    455: "futex_wait",
    456: "futex_requeue",
    457: "statmount",
    458: "listmount",
    459: "lsm_get_self_attr",
    460: "lsm_set_self_attr",
    461: "lsm_list_modules",
    462: "mseal",
    463: "setxattrat",
    464: "getxattrat",
    465: "listxattrat",
    466: "removexattrat",
    467: "open_tree_attr",
    468: "file_getattr",
    469: "file_setattr",
}

# Numbers 512-547 in python-ptrace's table are x32's own entry points (called
# with X32_SYSCALL_BIT set), not x86_64 syscalls.
SYSCALL_NAMES: dict[int, str] = {
    nr: name for nr, name in _x86_64.SYSCALL_NAMES.items() if nr < 512
}
SYSCALL_NAMES.update(_NEWER)
SYSCALL_NUMBERS: dict[str, int] = {name: nr for nr, name in SYSCALL_NAMES.items()}
I386_SYSCALL_NAMES: dict[int, str] = dict(_i386.SYSCALL_NAMES)


def syscall_name(arch: int, nr: int) -> str:
    """The name of syscall ``nr`` in ABI ``arch``: ``open``, ``i386:open``, ``x32:39``."""
    if arch == AUDIT_ARCH_I386:
        return "i386:" + I386_SYSCALL_NAMES.get(nr, str(nr))
    if nr & X32_SYSCALL_BIT:
        return f"x32:{nr & ~X32_SYSCALL_BIT}"
    return SYSCALL_NAMES.get(nr, f"syscall_{nr}")
