/* Makes the syscalls whose handlers bug_kernel.py gives bugs, and prints
 * what each returned; exits 3 if it got to the end. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void call(const char *what, long nr)
{
    errno = 0;
    long ret = syscall(nr);
    printf("%s: %ld %d\n", what, ret, ret < 0 ? errno : 0);
    fflush(stdout);
}

int main(void)
{
    struct timespec pause = {0, 200 * 1000 * 1000};

    call("handler raises", SYS_getppid);
    call("coroutine raises", SYS_getuid);
    call("result out of range", SYS_geteuid);
    call("injection fails", SYS_getpgrp);
    errno = 0;
    long sid = syscall(SYS_getsid, 0);
    /* 0 where the session leader is outside our PID namespace (CI) */
    printf("exit hook raises: %d %d\n", sid >= 0, errno);
    call("background work started", SYS_getgid);
    nanosleep(&pause, NULL); /* the background work fails meanwhile */
    call("still served", SYS_getegid);
    return 3;
}
