/*
 * The app of test_parking.py's injection test. Its getppid() (nr 110) is
 * served by a handler that makes this task call memfd_create on sentry's
 * behalf, at once (mode 0), after parking (mode 1) or after a wait short
 * enough to hold the task in its stop (mode 2), and returns the new fd.
 * Prints what the fd is and whether other registers survived. Runs the
 * modes its arguments name (all three if none).
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(int argc, char **argv) {
  char buf[256], p[64];
  for (int i = 0; i < (argc > 1 ? argc - 1 : 3); i++) {
    long mode = argc > 1 ? atol(argv[i + 1]) : i;
    long b = 222;
    long fd;
    register long r8 asm("r8") = 888;
    asm volatile("syscall" : "=a"(fd) : "0"(110L), "D"(mode), "S"(b), "r"(r8) : "rcx", "r11", "memory");
    snprintf(p, sizeof p, "/proc/self/fd/%ld", fd);
    ssize_t n = readlink(p, buf, sizeof buf - 1); buf[n > 0 ? n : 0] = 0;
    printf("mode %ld: fd=%ld -> %s, rsi kept=%d r8 kept=%d\n", mode, fd, buf, b == 222, r8 == 888);
  }
  return 0;
}
