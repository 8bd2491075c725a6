"""System call numbers and names of Linux on x86_64 (and of its i386 ABI).

From the kernel's own tables (see ``syscall_table``). The AUDIT_ARCH
values are what seccomp and PTRACE_GET_SYSCALL_INFO report for each ABI.
"""

from __future__ import annotations

from sentry.abi import syscall_table

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_I386 = 0x40000003  # int 0x80 from a 64-bit process, or 32-bit code
X32_SYSCALL_BIT = 0x40000000  # x32 numbers share AUDIT_ARCH_X86_64

SYSCALL_NAMES: dict[int, str] = syscall_table.parse(syscall_table.X86_64)
SYSCALL_NUMBERS: dict[str, int] = {name: nr for nr, name in SYSCALL_NAMES.items()}
I386_SYSCALL_NAMES: dict[int, str] = syscall_table.parse(syscall_table.I386)


def syscall_name(arch: int, nr: int) -> str:
    """The name of syscall ``nr`` in ABI ``arch``: ``open``, ``i386:open``, ``x32:39``."""
    if arch == AUDIT_ARCH_I386:
        return "i386:" + I386_SYSCALL_NAMES.get(nr, str(nr))
    if nr & X32_SYSCALL_BIT:
        return f"x32:{nr & ~X32_SYSCALL_BIT}"
    return SYSCALL_NAMES.get(nr, f"syscall_{nr}")
