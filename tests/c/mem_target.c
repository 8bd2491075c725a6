/* A target for direct tests of sentry's memory copies. It maps six pages
 * and shapes them:
 *
 *   page 0  RW   (pattern)
 *   page 1  RW   (pattern)
 *   page 2  unmapped
 *   page 3  RW   (pattern)
 *   page 4  R    (pattern)
 *   page 5  PROT_NONE
 *
 * where byte i of the region holds (i * 7 + 3) & 0xff. It prints
 * "page=N base=0xADDR", then serves commands from stdin, one per line:
 *
 *   dump OFF LEN   print LEN bytes at base+OFF as hex, one line
 *   quit           exit 0
 *
 * so a test can check what another process wrote into it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void)
{
    long page = sysconf(_SC_PAGESIZE);
    unsigned char *base = mmap(NULL, 6 * page, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    for (long i = 0; i < 6 * page; i++)
        base[i] = (unsigned char)((i * 7 + 3) & 0xff);
    if (munmap(base + 2 * page, page) != 0 ||
        mprotect(base + 4 * page, page, PROT_READ) != 0 ||
        mprotect(base + 5 * page, page, PROT_NONE) != 0) {
        perror("munmap/mprotect");
        return 1;
    }
    printf("page=%ld base=%#lx\n", page, (unsigned long)base);
    fflush(stdout);

    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        long off, len;
        if (strncmp(line, "quit", 4) == 0)
            return 0;
        if (sscanf(line, "dump %ld %ld", &off, &len) == 2) {
            for (long i = 0; i < len; i++)
                printf("%02x", base[off + i]);
            printf("\n");
            fflush(stdout);
            continue;
        }
        fprintf(stderr, "bad command: %s", line);
        return 2;
    }
    return 0;
}
