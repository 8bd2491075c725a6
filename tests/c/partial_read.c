/* Reads into buffers that end in (or lie wholly in) unmapped memory. The
 * kernel copies what fits and returns the partial count; a read with nothing
 * copyable fails with EFAULT. Writes from such buffers behave the same way.
 * Usage: partial_read INFILE OUTFILE (INFILE >= 8 KiB; OUTFILE is created). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

static void report(const char *what, long ret)
{
    printf("%s: ret=%ld errno=%s\n", what, ret, ret < 0 ? strerrorname_np(errno) : "0");
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s INFILE OUTFILE\n", argv[0]);
        return 2;
    }
    long page = sysconf(_SC_PAGESIZE);
    char *p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    if (munmap(p + page, page) != 0) {
        perror("munmap");
        return 1;
    }
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) {
        perror("open");
        return 1;
    }
    long r;

    /* 1. read straddling the end of the mapping: 100 bytes fit. */
    memset(p, 0, page);
    errno = 0;
    r = read(fd, p + page - 100, 200);
    report("read straddling", r);
    printf("offset after: %ld\n", (long)lseek(fd, 0, SEEK_CUR));
    unsigned sum = 0;
    for (int i = 0; i < 100; i++)
        sum = sum * 31 + (unsigned char)p[page - 100 + i];
    printf("checksum: %u\n", sum);

    /* 2. read wholly into unmapped memory. */
    errno = 0;
    r = read(fd, p + page, 200);
    report("read unmapped", r);
    printf("offset after: %ld\n", (long)lseek(fd, 0, SEEK_CUR));

    /* 3. pread straddling (offset unchanged). */
    errno = 0;
    r = pread(fd, p + page - 10, 50, 1000);
    report("pread straddling", r);
    printf("offset after: %ld\n", (long)lseek(fd, 0, SEEK_CUR));

    /* 4. readv: first iovec mapped, second unmapped. */
    struct iovec iov[2] = {
        {p, 64},
        {p + page, 64},
    };
    errno = 0;
    r = readv(fd, iov, 2);
    report("readv second unmapped", r);
    printf("offset after: %ld\n", (long)lseek(fd, 0, SEEK_CUR));

    /* 5. readv whose first iovec straddles. */
    struct iovec iov2[2] = {
        {p + page - 30, 60},
        {p, 10},
    };
    errno = 0;
    r = readv(fd, iov2, 2);
    report("readv first straddling", r);
    printf("offset after: %ld\n", (long)lseek(fd, 0, SEEK_CUR));

    /* 6. readv whose iovec array itself is unmapped. */
    errno = 0;
    r = readv(fd, (struct iovec *)(p + page), 2);
    report("readv iov unmapped", r);

    /* 7. write from a buffer that straddles into unmapped memory. */
    int out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0) {
        perror("open out");
        return 1;
    }
    errno = 0;
    r = write(out, p + page - 100, 200);
    report("write straddling", r);
    errno = 0;
    r = write(out, p + page, 200);
    report("write unmapped", r);
    printf("out size: %ld\n", (long)lseek(out, 0, SEEK_END));
    close(out);
    close(fd);
    return 0;
}
