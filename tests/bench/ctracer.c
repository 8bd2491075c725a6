/* Minimal seccomp + ptrace pass-through tracer: the C floor for the sentry's
 * cost per trapped syscall (see bench.py).
 *
 * Usage: ctracer [-i] CMD [ARG...]
 * The child stops itself, installs a filter that sends read and write to the
 * tracer (SECCOMP_RET_TRACE) and allows everything else, then runs CMD. The
 * tracer resumes each seccomp stop with PTRACE_CONT, so every read/write costs
 * one ptrace stop. With -i it also fetches PTRACE_GET_SYSCALL_INFO at each
 * stop, the first thing a real tracer does. Exits with CMD's status. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void install_filter(void)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_read, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_write, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
    };
    struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) {
        perror("ctracer: seccomp");
        _exit(126);
    }
}

int main(int argc, char **argv)
{
    int info = argc > 1 && strcmp(argv[1], "-i") == 0;
    char **cmd = argv + 1 + info;
    if (!*cmd) {
        fprintf(stderr, "usage: ctracer [-i] CMD [ARG...]\n");
        return 2;
    }
    pid_t child = fork();
    if (child == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        install_filter();
        execvp(cmd[0], cmd);
        perror("ctracer: execvp");
        _exit(127);
    }
    int status;
    if (child < 0 || waitpid(child, &status, __WALL) < 0 || !WIFSTOPPED(status)) {
        perror("ctracer: start");
        return 125;
    }
    ptrace(PTRACE_SETOPTIONS, child, 0,
           PTRACE_O_TRACESECCOMP | PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEEXEC);
    ptrace(PTRACE_CONT, child, 0, 0);
    struct __ptrace_syscall_info si;
    for (;;) {
        pid_t pid = waitpid(-1, &status, __WALL);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            perror("ctracer: waitpid");
            return 125;
        }
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
            if (pid == child)
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            continue;
        }
        int sig = 0;
        if (status >> 16 == PTRACE_EVENT_SECCOMP) {
            if (info && ptrace(PTRACE_GET_SYSCALL_INFO, pid, sizeof si, &si) <= 0)
                perror("ctracer: PTRACE_GET_SYSCALL_INFO");
        } else if (status >> 16 == 0 && WSTOPSIG(status) != (SIGTRAP | 0x80)) {
            sig = WSTOPSIG(status); /* a real signal: re-inject it */
        }
        ptrace(PTRACE_CONT, pid, 0, sig);
    }
}
