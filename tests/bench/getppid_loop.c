/* Untrapped-syscall loop for bench.py: N x syscall(SYS_getppid), then print
 * the elapsed nanoseconds per call. Under the sentry getppid is not trapped,
 * so the difference from native is the seccomp filter's cost per syscall.
 * Usage: getppid_loop [N]   (default 5000000) */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 5000000L;
    if (n <= 0)
        n = 1;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n; i++)
        syscall(SYS_getppid);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
    printf("%.2f\n", ns / n);
    return 0;
}
