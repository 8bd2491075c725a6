"""The seccomp-bpf filter installed in the app before its first execve.

Some facts about seccomp filters:

- A filter is classic BPF run on ``struct seccomp_data`` (arch, nr, ip and
  the six argument registers) at every syscall. It can read registers only,
  never memory: a flag word behind a pointer (clone3's ``clone_args``,
  adjtimex's ``timex.modes``) cannot be checked.
- Since 5.11 the kernel caches, per architecture and syscall number, the
  calls that every filter allows whatever the arguments. It finds them by
  running the filter on each number with the arguments unknown: a filter
  that reaches ``RET ALLOW`` having loaded only ``arch`` and ``nr`` (and
  jumped with JEQ/JGE/JGT/JSET/JA) earns that number a cache entry, and the
  number then skips the filter entirely.
- Conditional jumps have 8-bit offsets (at most 255 instructions ahead);
  only ``BPF_JA`` has a 32-bit one. Jumps only go forward.

What this means for sentry: the policy is a table from syscall number to a
rule (stated in :mod:`sentry.syscalls.policy`, in the language of
:mod:`sentry.platform.seccomp_rules`): an action (TRACE: sentry gets one
ptrace stop; ALLOW: runs natively; ERRNO: fails at once) or an ``ArgRule``
that picks an action from the low 32 bits of argument registers (clone
flags, anonymous mmap). :func:`build_filter` compiles it:

1. A call from any other AUDIT_ARCH (``int 0x80``, 32-bit code) is traced,
   and sentry fails it with ENOSYS.
2. Numbers are sorted and consecutive numbers with the same rule merged into
   ranges, up to ``2**32``: past the table comes the default (ENOSYS), and
   from the x32 bit on, TRACE (sentry fails x32 calls with ENOSYS too).
3. A balanced binary search over the range starts (``JGE``) picks the range:
   a lookup costs about log2(ranges) compares, not one per syscall.
4. A range whose rule is an action jumps to that action's one shared
   ``RET``; an ArgRule range runs its argument tests.

So the decision for every syscall without an ArgRule depends only on arch
and nr, and each allowed one is in the kernel's action cache: an untrapped
syscall costs what it costs natively.

The program is emitted backwards, from its end, so every jump target is
already placed when the jump is written; a target too far for an 8-bit
offset is reached through a ``BPF_JA`` (the technique of Chromium's
``sandbox/linux/bpf_dsl/codegen.cc``).
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Iterable, Mapping

from sentry.platform.ptrace import arch_amd64 as arch
from sentry.platform.seccomp_rules import (
    SECCOMP_RET_TRACE,
    ArgOp,
    ArgRule,
    Rule,
    errno_action,
)

# BPF instruction classes and fields (linux/bpf_common.h).
BPF_LD, BPF_JMP, BPF_RET = 0x00, 0x05, 0x06
BPF_W, BPF_ABS, BPF_K = 0x00, 0x20, 0x00
BPF_JA, BPF_JEQ, BPF_JGE, BPF_JSET = 0x00, 0x10, 0x30, 0x40

# Offsets in struct seccomp_data.
_NR, _ARCH, _ARGS = 0, 4, 16

# The largest offset a conditional jump can hold.
_MAX_JUMP = 255

RET_ENOSYS = errno_action(errno.ENOSYS)

_JUMPS = {ArgOp.EQ: BPF_JEQ, ArgOp.ANY: BPF_JSET}

_Insn = tuple[int, int, int, int]  # code, jt, jf, k


class _Emitter:
    """Builds a program from its last instruction to its first.

    A label is an instruction's index counted from the end of the program.
    Jumps go forward, so a jump's targets are always emitted before it.
    """

    def __init__(self) -> None:
        self.rev: list[_Insn] = []
        self._rets: dict[int, int] = {}

    def emit(self, code: int, k: int, jt: int = 0, jf: int = 0) -> int:
        """Emit one instruction before all others; its label."""
        self.rev.append((code, jt, jf, k))
        return len(self.rev) - 1

    def _offset(self, target: int) -> int:
        """The jump offset from the next instruction emitted to ``target``."""
        return len(self.rev) - 1 - target

    def ret(self, action: int) -> int:
        """The label of the (shared) ``RET action``."""
        if action not in self._rets:
            self._rets[action] = self.emit(BPF_RET | BPF_K, action)
        return self._rets[action]

    def goto(self, target: int) -> None:
        """Make the next instruction emitted go on to ``target``: fall
        through to it, or jump there through a JA."""
        if self._offset(target) != 0:
            self.emit(BPF_JMP | BPF_JA, self._offset(target))

    def branch(self, op: int, k: int, jt: int, jf: int) -> int:
        """Emit ``if acc <op> k goto jt else goto jf``; its label."""
        if self._offset(jf) > _MAX_JUMP - 1:  # leave room for jt's JA below
            jf = self.emit(BPF_JMP | BPF_JA, self._offset(jf))
        if self._offset(jt) > _MAX_JUMP:
            jt = self.emit(BPF_JMP | BPF_JA, self._offset(jt))
        return self.emit(BPF_JMP | op | BPF_K, k, self._offset(jt), self._offset(jf))

    def program(self) -> bytes:
        """The program, first instruction first."""
        return b"".join(struct.pack("=HBBI", *insn) for insn in reversed(self.rev))


def _ranges(rules: Mapping[int, Rule], default: int) -> list[tuple[int, Rule]]:
    """(first number, rule) of each maximal run of numbers sharing a rule,
    covering 0 to ``2**32``: the default past the table, TRACE for x32."""
    ranges: list[tuple[int, Rule]] = []

    def add(start: int, rule: Rule) -> None:
        if not ranges or ranges[-1][1] != rule:
            ranges.append((start, rule))

    for nr in range(max(rules, default=-1) + 1):
        add(nr, rules.get(nr, default))
    add(max(rules, default=-1) + 1, default)
    add(arch.X32_BIT, SECCOMP_RET_TRACE)
    return ranges


def _arg_rule(e: _Emitter, rule: ArgRule) -> int:
    """Emit the tests of ``rule``; the label of its first instruction."""
    fail = e.ret(rule.default)
    for case in reversed(rule.cases):
        ok = e.ret(case.action)
        for test in reversed(case.tests):
            ok = e.branch(_JUMPS[test.op], test.k, ok, fail)
            ok = e.emit(BPF_LD | BPF_W | BPF_ABS, _ARGS + 8 * test.arg)
        fail = ok
    return fail


def _search(e: _Emitter, ranges: list[tuple[int, Rule]]) -> int:
    """Emit a binary search for the range holding the loaded number; the label
    of its first instruction."""
    if len(ranges) == 1:
        rule = ranges[0][1]
        return _arg_rule(e, rule) if isinstance(rule, ArgRule) else e.ret(rule)
    mid = len(ranges) // 2
    above = _search(e, ranges[mid:])
    below = _search(e, ranges[:mid])
    return e.branch(BPF_JGE, ranges[mid][0], above, below)


def build_filter(
    traced: Iterable[int], policy: Mapping[int, Rule], default: int = RET_ENOSYS
) -> bytes:
    """The filter program as the bytes of a ``struct sock_filter`` array.

    Args:
        traced: syscall numbers sentry serves: TRACE, unless ``policy`` gives
            the number an ArgRule, which then says when (mmap: with an fd).
        policy: the rule of every other syscall number sentry knows.
        default: the action of every number in neither (unknown syscalls).
    """
    rules = dict(policy)
    for nr in traced:
        if not isinstance(rules.get(nr), ArgRule):
            rules[nr] = SECCOMP_RET_TRACE
    if max(rules, default=0) >= arch.X32_BIT:
        raise ValueError("a syscall number reaches the x32 bit")
    e = _Emitter()
    e.goto(_search(e, _ranges(rules, default)))
    load_nr = e.emit(BPF_LD | BPF_W | BPF_ABS, _NR)
    e.branch(BPF_JEQ, arch.AUDIT_ARCH, load_nr, e.ret(SECCOMP_RET_TRACE))
    e.emit(BPF_LD | BPF_W | BPF_ABS, _ARCH)
    return e.program()
