/* MAP_SHARED mappings of a file, for a differential test (the kernel's FUSE
 * mount against sentry's): stores reach read(2) and other processes'
 * mappings, write(2) and truncate reach the mappings, pages past the end
 * raise SIGBUS, and the errors of shared mappings.
 *
 * usage: mmap_shared DIR
 * Leaves DIR/persist holding bytes stored only through a mapping (no msync,
 * no close before exit), for the caller to read after the run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static sigjmp_buf env;

static void on_bus(int sig) { siglongjmp(env, sig); }

/* The byte at p, or -SIGBUS if reading it raises SIGBUS. */
static int peek(volatile const char *p) {
    int sig = sigsetjmp(env, 1);
    if (sig)
        return -sig;
    return (unsigned char)*p;
}

static void show(const char *what, long ret) {
    printf("%s = %ld", what, ret);
    if (ret < 0)
        printf(" (%s)", strerror(errno));
    printf("\n");
}

int main(int argc, char **argv) {
    char path[4096], buf[64];
    if (argc != 2)
        return 2;
    signal(SIGBUS, on_bus);
    snprintf(path, sizeof path, "%s/shared", argv[1]);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    show("open", fd);
    show("ftruncate 8192", ftruncate(fd, 8192));
    char *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    show("mmap rw", m == MAP_FAILED ? -1 : 0);

    memcpy(m, "stored", 6);
    memset(buf, 0, sizeof buf);
    show("pread after store", pread(fd, buf, 6, 0));
    printf("  read: %s\n", buf);

    show("pwrite", pwrite(fd, "written", 7, 100));
    printf("  mapping: %.7s\n", m + 100);

    int ro = open(path, O_RDONLY);
    char *r = mmap(NULL, 8192, PROT_READ, MAP_SHARED, ro, 0);
    show("mmap ro", r == MAP_FAILED ? -1 : 0);
    printf("  second mapping: %.6s %.7s\n", r, r + 100);
    errno = 0;
    show("mmap rw of O_RDONLY", mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0) == MAP_FAILED ? -1 : 0);
    char *o = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 4096);
    show("mmap at 4096", o == MAP_FAILED ? -1 : 0);
    memcpy(o + 10, "offset", 6);
    printf("  through the first: %.6s\n", m + 4096 + 10);

    pid_t child = fork();
    if (child == 0) {
        memcpy(m + 200, "child", 5);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    printf("child's store: %.5s\n", m + 200);
    memset(buf, 0, sizeof buf);
    show("pread child's", pread(ro, buf, 5, 200));
    printf("  read: %s\n", buf);

    show("ftruncate 4096", ftruncate(fd, 4096));
    printf("byte 5000 after shrink: %d\n", peek(m + 5000));
    printf("byte 10 after shrink: %d\n", peek(m + 10));
    show("ftruncate 8192", ftruncate(fd, 8192));
    printf("byte 4106 after regrow: %d\n", peek(m + 4106));
    printf("byte 8191 of 8192: %d\n", peek(m + 8191));

    char *big = mmap(NULL, 16384, PROT_READ, MAP_SHARED, fd, 0);
    printf("byte 12000 of a mapping past the end: %d\n", peek(big + 12000));
    show("write at 12000", pwrite(fd, "grow", 4, 12000));
    printf("  now: %.4s\n", big + 12000);

    show("msync", msync(m, 8192, MS_SYNC));
    show("munmap", munmap(m, 8192));
    close(fd);
    close(ro);
    fd = open(path, O_RDONLY);
    memset(buf, 0, sizeof buf);
    show("reopened pread", pread(fd, buf, 6, 0));
    printf("  read: %s\n", buf);
    close(fd);

    snprintf(path, sizeof path, "%s/persist", argv[1]);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    ftruncate(fd, 4096);
    m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    memcpy(m + 1000, "persisted", 9);
    return 0;
}
