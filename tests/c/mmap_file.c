/* mmap_file: map a file in the ways programs do and print what each gives,
 * so that a test can compare a FUSE file natively and in the sandbox.
 *
 * Usage: mmap_file PATH
 * Output: one line per case, "CASE = RESULT": a checksum (32-bit FNV-1a) of
 * the bytes seen, "-1 ENAME" for a failed mmap, or "SIGBUS" for a fault.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static sigjmp_buf fault;

static void on_sigbus(int sig)
{
    (void)sig;
    siglongjmp(fault, 1);
}

static uint32_t fnv(const unsigned char *p, size_t n)
{
    uint32_t h = 2166136261u;
    while (n--)
        h = (h ^ *p++) * 16777619u;
    return h;
}

static const char *ename(int e)
{
    switch (e) {
    case EINVAL: return "EINVAL";
    case EACCES: return "EACCES";
    case ENODEV: return "ENODEV";
    case EBADF: return "EBADF";
    case EPERM: return "EPERM";
    default: return strerror(e);
    }
}

/* Map LEN bytes at OFF with PROT and FLAGS, then sum LEN bytes of it. */
static void map_case(const char *name, int fd, size_t len, int prot, int flags, off_t off,
                     size_t sum_len)
{
    unsigned char *p = mmap(NULL, len, prot, flags, fd, off);
    if (p == MAP_FAILED) {
        printf("%s = -1 %s\n", name, ename(errno));
        return;
    }
    if (sigsetjmp(fault, 1)) {
        printf("%s = SIGBUS\n", name);
    } else {
        uint32_t h = fnv(p, sum_len);
        printf("%s = %08x\n", name, h);
    }
    munmap(p, len);
}

int main(int argc, char **argv)
{
    struct stat st;
    int fd, rw;

    if (argc != 2) {
        fprintf(stderr, "usage: mmap_file PATH\n");
        return 2;
    }
    signal(SIGBUS, on_sigbus);
    fd = open(argv[1], O_RDONLY);
    if (fd < 0 || fstat(fd, &st) < 0) {
        perror(argv[1]);
        return 1;
    }
    size_t size = (size_t)st.st_size;
    map_case("private whole", fd, size, PROT_READ, MAP_PRIVATE, 0, size);
    map_case("shared read-only", fd, size, PROT_READ, MAP_SHARED, 0, size);
    map_case("private at 4096", fd, 8192, PROT_READ, MAP_PRIVATE, 4096, 8192);
    map_case("offset not aligned", fd, 4096, PROT_READ, MAP_PRIVATE, 1, 0);
    map_case("length 0", fd, 0, PROT_READ, MAP_PRIVATE, 0, 0);
    map_case("no type", fd, 4096, PROT_READ, 0, 0, 0);
    map_case("shared writable on O_RDONLY", fd, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, 0, 0);
    /* The page after the one holding EOF is past the file: SIGBUS. */
    size_t tail = (size + 4095) / 4096 * 4096;
    map_case("past EOF", fd, tail + 4096, PROT_READ, MAP_PRIVATE, 0, tail + 1);
    map_case("tail of last page", fd, tail, PROT_READ, MAP_PRIVATE, 0, tail);

    /* A private writable mapping: writes stay in it. */
    unsigned char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
        printf("private write = -1 %s\n", ename(errno));
    } else {
        memset(p, 'x', size < 100 ? size : 100);
        printf("private write = %08x\n", fnv(p, size));
        unsigned char buf[100];
        ssize_t n = pread(fd, buf, sizeof buf, 0);
        printf("file after private write = %08x\n", n < 0 ? 0u : fnv(buf, (size_t)n));
        munmap(p, size);
    }
    /* A mapping outlives its fd. */
    p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    printf("after close = %08x\n", p == MAP_FAILED ? 0u : fnv(p, size));

    rw = open(argv[1], O_RDWR);
    if (rw < 0)
        printf("open rw = -1 %s\n", ename(errno));
    return 0;
}
