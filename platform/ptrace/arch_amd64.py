"""The x86_64 register ABI, as sentry's ptrace backend needs it.

Everything here depends on the architecture, so another one can be added
beside it: the user_regs_struct offsets of the registers sentry reads and
writes (python-ptrace's layout), how a syscall is skipped (orig_rax = -1,
rax = result) and which syscall a parked task sleeps in.
"""

from __future__ import annotations

from ptrace.binding.linux_struct import user_regs_struct

from sentry.abi.linux_amd64 import AUDIT_ARCH_X86_64, SYSCALL_NUMBERS, X32_SYSCALL_BIT

AUDIT_ARCH = AUDIT_ARCH_X86_64
X32_BIT = X32_SYSCALL_BIT

# Offsets into user_regs_struct, for PTRACE_PEEKUSER/POKEUSER.
ORIG_RAX = user_regs_struct.orig_rax.offset
RAX = user_regs_struct.rax.offset
RDI = user_regs_struct.rdi.offset

# The same registers as indexes of the word array of PTRACE_GETREGS.
REGS_WORDS = len(user_regs_struct._fields_)
I_RAX, I_ORIG_RAX, I_RIP, I_RSP = (
    RAX // 8,
    ORIG_RAX // 8,
    user_regs_struct.rip.offset // 8,
    user_regs_struct.rsp.offset // 8,
)
I_ARGS = tuple(
    getattr(user_regs_struct, r).offset // 8 for r in ("rdi", "rsi", "rdx", "r10", "r8", "r9")
)

# Length of the `syscall` instruction: rip - SYSCALL_INSN_SIZE re-executes it.
SYSCALL_INSN_SIZE = 2
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
