/* Metadata workload for bench.py: create N empty files in DIR (open with
 * O_CREAT|O_EXCL, then close), stat(2) each one, then unlink each one, and
 * print the elapsed seconds of each phase on one line:
 *     create S stat S unlink S
 * Exits 1 with a message naming the failing call and file.
 * Usage: fsmeta DIR [N]   (default 10000) */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void fail(const char *call, const char *path)
{
    fprintf(stderr, "fsmeta: %s ", call);
    perror(path);
    exit(1);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: fsmeta DIR [N]\n");
        return 2;
    }
    long n = argc > 2 ? atol(argv[2]) : 10000L;
    if (n <= 0)
        n = 1;
    char path[4096];
    struct stat st;
    double t0 = now();
    for (long i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/m%06ld", argv[1], i);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0)
            fail("open", path);
        if (close(fd) != 0)
            fail("close", path);
    }
    double t1 = now();
    for (long i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/m%06ld", argv[1], i);
        if (stat(path, &st) != 0)
            fail("stat", path);
        if (!S_ISREG(st.st_mode) || st.st_size != 0) {
            fprintf(stderr, "fsmeta: stat %s: not an empty regular file\n", path);
            return 1;
        }
    }
    double t2 = now();
    for (long i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/m%06ld", argv[1], i);
        if (unlink(path) != 0)
            fail("unlink", path);
    }
    double t3 = now();
    printf("create %.6f stat %.6f unlink %.6f\n", t1 - t0, t2 - t1, t3 - t2);
    return 0;
}
