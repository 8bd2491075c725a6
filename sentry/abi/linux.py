"""Architecture-independent Linux ABI constants sentry's kernel uses."""

# clone(2) flags (include/uapi/linux/sched.h).
CLONE_VM = 0x00000100
CLONE_FILES = 0x00000400
CLONE_VFORK = 0x00004000
CLONE_THREAD = 0x00010000

# siginfo si_code of a signal the kernel generated (a terminal's Ctrl-C).
SI_KERNEL = 0x80
