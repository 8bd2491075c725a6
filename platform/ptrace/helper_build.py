"""Build script for the cffi helper ``sentry.platform.ptrace._helper``.

Run by setup.py at install time (API mode, compiled once); never imported at
run time. The C sources are ``_helper.c`` and ``_sandbox.c`` beside this
file; the runtime wrapper is ``helper.py``.
"""

import os

from cffi import FFI

ffibuilder = FFI()

# The seccomp-stop view of struct ptrace_syscall_info, flattened for cffi.
SYSCALL_INFO = """
struct sentry_syscall_info {
    uint8_t op;
    uint8_t pad[3];
    uint32_t arch;
    uint64_t instruction_pointer;
    uint64_t stack_pointer;
    uint64_t nr;
    uint64_t args[6];
    uint32_t ret_data;
};
"""

ffibuilder.cdef(
    SYSCALL_INFO
    + """
    struct sentry_event {
        int tid;
        int status;
        int has_info;
        ...;
    };

    long sentry_vm_read(int pid, uint64_t remote, void *local, size_t len);
    long sentry_vm_rw_iov(int pid, int write, void *local, size_t len,
                          const uint64_t *pairs, int count);
    long sentry_read_string(int pid, uint64_t remote, char *out, size_t max);
    long sentry_ptrace(long request, int pid, uint64_t addr, uint64_t data);
    long sentry_skip_resume(int pid, int64_t result);
    long sentry_peekuser(int pid, long offset, uint64_t *out);
    int sentry_prctl(int option, unsigned long arg);
    long sentry_getregs(int pid, uint64_t *regs);
    long sentry_setregs(int pid, const uint64_t *regs);
    int sentry_syscall_op(int pid);
    int sentry_getfd(int pid, int fd);
    int sentry_spawn_sandbox(const char *path, char *const argv[], char *const envp[],
                             const void *filter, int filter_len, int ns_flags,
                             char *plan, int plan_len, int tty, int ctl, int go_fd,
                             int err_fd);
    int sentry_spawn(const char *path, char *const argv[], char *const envp[],
                     const void *filter, int filter_len, int go_fd, int err_fd);
    int sentry_catch_signal(int sig);
    int sentry_take_signal(int *code);
    int sentry_init(long pid_max);
    void sentry_set_policy(int nr, int value);
    int sentry_table_new(void);
    void sentry_table_free(int slot);
    void sentry_table_set(int slot, int fd, int on);
    void sentry_bind_tid(int tid, int slot);
    void sentry_hold_tid(int tid, int on);
    void sentry_set_path_args(int nr, int index, int path_arg, int dirfd_arg);
    int sentry_set_prefixes(const char *blob, int len, const char *last, int last_len);
    void sentry_set_cwd_elsewhere(int tid, int on);
    int sentry_wait(struct sentry_event *ev);
    void sentry_stop_counts(long *total, long *fast);
    void sentry_set_spin(long ns);
    const struct sentry_syscall_info *sentry_event_info(const struct sentry_event *ev);
    """
)

_here = os.path.dirname(os.path.abspath(__file__))
_source = ""
for _name in ("_helper.c", "_sandbox.c"):
    with open(os.path.join(_here, _name)) as _f:
        _source += _f.read()

ffibuilder.set_source(
    "sentry.platform.ptrace._helper",
    _source
    + SYSCALL_INFO
    + """

const struct sentry_syscall_info *sentry_event_info(const struct sentry_event *ev)
{
    return (const struct sentry_syscall_info *)&ev->info;
}
""",
    extra_compile_args=["-O2", "-Wall"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
