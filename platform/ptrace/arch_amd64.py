"""The x86_64 register ABI, as sentry's ptrace backend needs it.

Everything here depends on the architecture, so another one can be added
beside it: the user_regs_struct offsets of the registers sentry reads and
writes, how a syscall is skipped (orig_rax = -1,
rax = result) and which syscall a parked task sleeps in.
"""

from __future__ import annotations

from sentry.abi.linux_amd64 import AUDIT_ARCH_X86_64, SYSCALL_NUMBERS, X32_SYSCALL_BIT

AUDIT_ARCH = AUDIT_ARCH_X86_64
X32_BIT = X32_SYSCALL_BIT

# struct user_regs_struct (<sys/user.h>), one 64-bit word each, in order.
USER_REGS = (
    "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx",
    "rdx", "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base",
    "gs_base", "ds", "es", "fs", "gs",
)  # fmt: skip

# The registers sentry uses, as indexes of the word array of PTRACE_GETREGS.
REGS_WORDS = len(USER_REGS)
I_RAX, I_ORIG_RAX, I_RIP, I_RSP = (USER_REGS.index(r) for r in ("rax", "orig_rax", "rip", "rsp"))
I_ARGS = tuple(USER_REGS.index(r) for r in ("rdi", "rsi", "rdx", "r10", "r8", "r9"))

# Byte offsets into user_regs_struct, for PTRACE_PEEKUSER/POKEUSER.
ORIG_RAX = 8 * I_ORIG_RAX
RAX = 8 * I_RAX
RDI = 8 * USER_REGS.index("rdi")

# Length of the `syscall` instruction: rip - SYSCALL_INSN_SIZE re-executes it.
SYSCALL_INSN_SIZE = 2
SYSCALL_INSN = b"\x0f\x05"
# Bytes below the stack pointer that the ABI lets leaf code use (the red zone).
RED_ZONE = 128

# orig_rax = -1 at a seccomp stop skips the syscall; rax is then its result.
SKIP_SYSCALL = -1

# A parked task sleeps in this syscall: interruptible, without arguments.
PARK_SYSCALL = SYSCALL_NUMBERS["pause"]

# clone(2) takes its flags in the first argument, clone3(2) a struct whose
# first u64 is the flags.
CLONE3 = SYSCALL_NUMBERS["clone3"]
MMAP = SYSCALL_NUMBERS["mmap"]
