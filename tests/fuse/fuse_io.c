/* fuse_io: run a list of file operations on one path and print each result,
 * so that a test can run the same steps natively and in the sandbox.
 *
 * Usage: fuse_io PATH STEP...
 * Steps (numbers are decimal; the buffer is page-aligned unless bufoff says
 * otherwise):
 *   open:MODE       MODE letters: r w (read-write if both), a (O_APPEND),
 *                   c (O_CREAT, 0644), t (O_TRUNC), x (O_EXCL), d (O_DIRECT)
 *   read:N          read(fd, buf, N)
 *   pread:N:OFF     pread(fd, buf, N, OFF)
 *   write:N         write(fd, buf, N), buf holding byte i = (i*13+5) % 256
 *   pwrite:N:OFF    pwrite(fd, buf, N, OFF), same bytes
 *   seek:OFF        lseek(fd, OFF, SEEK_SET)
 *   tell            lseek(fd, 0, SEEK_CUR)
 *   fstat           print st_size
 *   fsync           fsync(fd)
 *   close           close(fd)
 *   bufoff:K        from now on the buffer starts K bytes into a page
 * Output: "STEP = RESULT" per step; a failure is "STEP = -1 ENAME"; reads add
 * " sum=XXXXXXXX" (32-bit FNV-1a of the bytes read). Exit status 0, or 2 for a
 * usage error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUF_MAX (64 << 20)

static uint32_t fnv(const unsigned char *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static void usage(const char *step)
{
	fprintf(stderr, "fuse_io: bad step %s\n", step);
	exit(2);
}

static long number(const char *s, const char *step)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || (*end != '\0' && *end != ':'))
		usage(step);
	return v;
}

static void result(const char *step, long r, int err)
{
	if (r < 0)
		printf("%s = -1 %s\n", step, strerrorname_np(err));
	else
		printf("%s = %ld\n", step, r);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: fuse_io PATH STEP...\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	const char *path = argv[1];
	long page = sysconf(_SC_PAGESIZE);
	unsigned char *base = mmap(NULL, BUF_MAX + page, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	unsigned char *buf = base;
	int fd = -1;

	for (int i = 2; i < argc; i++) {
		const char *step = argv[i];
		const char *arg = strchr(step, ':');
		arg = arg ? arg + 1 : "";
		long r;
		int err;
		if (strncmp(step, "open:", 5) == 0) {
			int rd = strchr(arg, 'r') != NULL, wr = strchr(arg, 'w') != NULL;
			int flags = rd && wr ? O_RDWR : wr ? O_WRONLY : O_RDONLY;
			if (strchr(arg, 'a'))
				flags |= O_APPEND;
			if (strchr(arg, 'c'))
				flags |= O_CREAT;
			if (strchr(arg, 't'))
				flags |= O_TRUNC;
			if (strchr(arg, 'x'))
				flags |= O_EXCL;
			if (strchr(arg, 'd'))
				flags |= O_DIRECT;
			errno = 0;
			fd = open(path, flags, 0644);
			err = errno;
			if (fd < 0)
				result(step, -1, err);
			else
				printf("%s = fd\n", step);
		} else if (strncmp(step, "read:", 5) == 0 || strncmp(step, "pread:", 6) == 0) {
			long n = number(arg, step);
			if (n < 0 || n > BUF_MAX)
				usage(step);
			errno = 0;
			if (step[0] == 'p') {
				const char *o = strchr(arg, ':');
				if (o == NULL)
					usage(step);
				r = pread(fd, buf, n, number(o + 1, step));
			} else {
				r = read(fd, buf, n);
			}
			err = errno;
			if (r < 0)
				result(step, r, err);
			else
				printf("%s = %ld sum=%08x\n", step, r, fnv(buf, r));
		} else if (strncmp(step, "write:", 6) == 0 || strncmp(step, "pwrite:", 7) == 0) {
			long n = number(arg, step);
			if (n < 0 || n > BUF_MAX)
				usage(step);
			for (long j = 0; j < n; j++)
				buf[j] = (unsigned char)((j * 13 + 5) % 256);
			errno = 0;
			if (step[0] == 'p') {
				const char *o = strchr(arg, ':');
				if (o == NULL)
					usage(step);
				r = pwrite(fd, buf, n, number(o + 1, step));
			} else {
				r = write(fd, buf, n);
			}
			result(step, r, errno);
		} else if (strncmp(step, "seek:", 5) == 0) {
			errno = 0;
			r = lseek(fd, number(arg, step), SEEK_SET);
			result(step, r, errno);
		} else if (strcmp(step, "tell") == 0) {
			errno = 0;
			r = lseek(fd, 0, SEEK_CUR);
			result(step, r, errno);
		} else if (strcmp(step, "fstat") == 0) {
			struct stat st;
			errno = 0;
			r = fstat(fd, &st);
			result(step, r < 0 ? r : (long)st.st_size, errno);
		} else if (strcmp(step, "fsync") == 0) {
			errno = 0;
			r = fsync(fd);
			result(step, r, errno);
		} else if (strcmp(step, "close") == 0) {
			errno = 0;
			r = close(fd);
			result(step, r, errno);
			fd = -1;
		} else if (strncmp(step, "bufoff:", 7) == 0) {
			long k = number(arg, step);
			if (k < 0 || k >= page)
				usage(step);
			buf = base + k;
			printf("%s = 0\n", step);
		} else {
			usage(step);
		}
	}
	return 0;
}
