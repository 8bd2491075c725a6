/* Syscalls through the other ABIs of an x86_64 kernel. Compile with
 * -static -no-pie so the path lives below 4 GiB (int $0x80 truncates
 * pointers to 32 bits).
 * 1. int $0x80 with eax=5: i386 open("/etc/hostname", O_RDONLY).
 * 2. syscall with nr = __X32_SYSCALL_BIT | 39: x32 getpid.
 * Each prints the raw return value (a negative errno on failure). */
#include <stdio.h>

static char path[] = "/etc/hostname";

int main(void)
{
    long ret;
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(5L), "b"((long)(unsigned long)path), "c"(0L), "d"(0L)
                     : "memory");
    printf("int80 open: %ld\n", ret);
    if (ret >= 0) {
        char buf[256];
        long n;
        /* Read through the 64-bit ABI to show what was opened. */
        __asm__ volatile("syscall"
                         : "=a"(n)
                         : "a"(0L), "D"(ret), "S"(buf), "d"((long)sizeof buf - 1)
                         : "rcx", "r11", "memory");
        printf("int80 read: %ld\n", n);
    }

    long x32;
    __asm__ volatile("syscall"
                     : "=a"(x32)
                     : "a"(0x40000000L | 39L)
                     : "rcx", "r11", "memory");
    printf("x32 getpid: %ld\n", x32);
    fflush(stdout);
    return 0;
}
