/* rw_family: the read/write syscall family on files in one directory, with
 * output that is the same on every mount of the same filesystem (no fd
 * numbers, pointers, inode numbers or times).
 *
 * Usage: rw_family DIR
 * DIR must be writable; the program creates rwf.* files in it and removes
 * them at the end (and any left over from an earlier run at the start).
 *
 * One line per call: "call(args) = RET" or "call(args) = -1 ENAME". Reads add
 * "sum=XXXXXXXX" (FNV-1a of the bytes read) and "ok" or "MISMATCH": the
 * program keeps a model of what the file must contain and compares every read
 * with it. A successful open prints "= fd". Exit status 0 unless setup failed.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define MODEL_MAX (4 << 20)

static char path_a[4096], path_b[4096], path_c[4096];
static const char *dirpath;

/* What rwf.a must contain. */
static unsigned char model[MODEL_MAX];
static size_t msize;

static unsigned char buf[MODEL_MAX];
static unsigned char src[MODEL_MAX];

static int mismatches;

static unsigned char pat(unsigned seed, size_t i)
{
	return (unsigned char)((i * 131 + seed * 17 + (i >> 8)) % 253);
}

static void fill(unsigned seed, size_t n)
{
	for (size_t i = 0; i < n; i++)
		src[i] = pat(seed, i);
}

static void mwrite(size_t off, const unsigned char *p, size_t n)
{
	if (off + n > MODEL_MAX) {
		fprintf(stderr, "model overflow\n");
		exit(1);
	}
	if (off > msize)
		memset(model + msize, 0, off - msize);
	memcpy(model + off, p, n);
	if (off + n > msize)
		msize = off + n;
}

static void mtruncate(size_t size)
{
	if (size > msize)
		memset(model + msize, 0, size - msize);
	msize = size;
}

static uint32_t fnv(const unsigned char *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* Print "CALL = RET [ERRNO]". */
static void report(const char *call, long ret, int err)
{
	if (ret < 0)
		printf("%s = %ld %s\n", call, ret, strerrorname_np(err));
	else
		printf("%s = %ld\n", call, ret);
}

/* Print a read's result, checking it against the model: a read of want
 * bytes at off must return min(want, msize - off) bytes (any count if want
 * is -1) equal to the model's. */
static void report_read(const char *call, long ret, int err, const unsigned char *p, off_t off,
			long want)
{
	if (ret < 0) {
		report(call, ret, err);
		return;
	}
	long avail = (size_t)off < msize ? (long)(msize - off) : 0;
	int ok = ret == 0 || ((size_t)off + ret <= msize && memcmp(p, model + off, ret) == 0);
	if (want >= 0 && ret != (want < avail ? want : avail))
		ok = 0;
	if (!ok)
		mismatches++;
	printf("%s = %ld sum=%08x %s\n", call, ret, fnv(p, ret), ok ? "ok" : "MISMATCH");
}

static void report_open(const char *call, int fd, int err)
{
	if (fd < 0)
		printf("%s = -1 %s\n", call, strerrorname_np(err));
	else
		printf("%s = fd\n", call);
}

/* Run EXPR, keeping its result in r and errno in e. */
#define DO(expr) (errno = 0, r = (long)(expr), e = errno)

static long cur(int fd)
{
	return lseek(fd, 0, SEEK_CUR);
}

static void show_stat(const char *name, int fd)
{
	struct stat st;
	long r;
	int e;
	char call[256];
	DO(fstat(fd, &st));
	snprintf(call, sizeof call, "fstat(%s)", name);
	if (r < 0)
		report(call, r, e);
	else
		printf("%s = 0 size=%lld mode=0%o\n", call, (long long)st.st_size, st.st_mode);
}

static void show_path_stat(const char *name, const char *path)
{
	struct stat st;
	long r;
	int e;
	char call[256];
	snprintf(call, sizeof call, "stat(%s)", name);
	DO(stat(path, &st));
	if (r < 0)
		report(call, r, e);
	else
		printf("%s = 0 size=%lld mode=0%o\n", call, (long long)st.st_size, st.st_mode);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* getdents64 with a small buffer (several calls), names sorted. */
static void list_dir(const char *label)
{
	int fd = open(dirpath, O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		printf("open(%s, O_DIRECTORY) = -1 %s\n", label, strerrorname_np(errno));
		return;
	}
	char *names[512];
	int n = 0, calls = 0;
	char dbuf[256];
	for (;;) {
		long got = syscall(SYS_getdents64, fd, dbuf, sizeof dbuf);
		calls++;
		if (got < 0) {
			printf("getdents64(%s) = -1 %s\n", label, strerrorname_np(errno));
			break;
		}
		if (got == 0)
			break;
		for (long pos = 0; pos < got;) {
			struct dirent64 *d = (struct dirent64 *)(dbuf + pos);
			if (n < 512 && strncmp(d->d_name, "rwf.", 4) == 0) {
				/* Only our own names: the rest depends on the mount. */
				char *s;
				if (asprintf(&s, "%s:%d", d->d_name, d->d_type) < 0)
					exit(1);
				names[n++] = s;
			}
			pos += d->d_reclen;
		}
	}
	close(fd);
	qsort(names, n, sizeof names[0], cmp_names);
	printf("getdents64(%s) = %d names:", label, n);
	for (int i = 0; i < n; i++) {
		printf(" %s", names[i]);
		free(names[i]);
	}
	printf("\n");
	(void)calls; /* the number of calls depends on the dirent sizes */
}

/* The dot entries, reported separately: not every FUSE server returns them. */
static void count_dots(void)
{
	DIR *d = opendir(dirpath);
	if (d == NULL)
		return;
	int dots = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			dots++;
	closedir(d);
	printf("readdir dot entries = %d\n", dots);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	dirpath = argv[1];
	snprintf(path_a, sizeof path_a, "%s/rwf.a", dirpath);
	snprintf(path_b, sizeof path_b, "%s/rwf.b", dirpath);
	snprintf(path_c, sizeof path_c, "%s/rwf.c", dirpath);
	unlink(path_a);
	unlink(path_b);
	unlink(path_c);
	umask(022);
	setvbuf(stdout, NULL, _IOLBF, 0);

	long r;
	int e;
	int fd, fd2;
	volatile int minus_one = -1;

	/* ---- create and plain write/read */
	DO(fd = open(path_a, O_RDWR | O_CREAT | O_EXCL, 0644));
	report_open("open(a, O_RDWR|O_CREAT|O_EXCL, 0644)", fd, e);
	if (fd < 0)
		return 1;
	fill(1, 1000);
	DO(write(fd, src, 1000));
	report("write(a, 1000)", r, e);
	if (r > 0)
		mwrite(0, src, r);
	show_stat("a", fd);
	report("lseek(a, 0, SEEK_CUR)", cur(fd), errno);
	DO(read(fd, buf, 100));
	report_read("read(a, 100) at EOF", r, e, buf, 1000, 100);

	fill(2, 100);
	DO(pwrite(fd, src, 100, 2000));
	report("pwrite(a, 100, 2000) past EOF", r, e);
	if (r > 0)
		mwrite(2000, src, r);
	show_stat("a", fd);
	report("lseek(a, 0, SEEK_CUR) after pwrite", cur(fd), errno);
	DO(pread(fd, buf, 300, 900));
	report_read("pread(a, 300, 900) across the hole", r, e, buf, 900, 300);
	DO(read(fd, buf, 50));
	report_read("read(a, 50) in the hole", r, e, buf, 1000, 50);
	DO(pread(fd, buf, 4096, 0));
	report_read("pread(a, 4096, 0) whole file", r, e, buf, 0, 4096);
	DO(pread(fd, buf, 100, 2100));
	report_read("pread(a, 100, 2100) at EOF", r, e, buf, 2100, 100);
	DO(pread(fd, buf, 100, 10000));
	report_read("pread(a, 100, 10000) past EOF", r, e, buf, 10000, 100);
	DO(read(fd, buf, 0));
	report("read(a, 0)", r, e);
	DO(write(fd, src, 0));
	report("write(a, 0)", r, e);
	show_stat("a", fd);

	/* ---- lseek */
	DO(lseek(fd, 0, SEEK_SET));
	report("lseek(a, 0, SEEK_SET)", r, e);
	DO(read(fd, buf, 10));
	report_read("read(a, 10)", r, e, buf, 0, 10);
	DO(lseek(fd, 5, SEEK_CUR));
	report("lseek(a, 5, SEEK_CUR)", r, e);
	DO(read(fd, buf, 7));
	report_read("read(a, 7)", r, e, buf, 15, 7);
	DO(lseek(fd, -100, SEEK_END));
	report("lseek(a, -100, SEEK_END)", r, e);
	DO(read(fd, buf, 200));
	report_read("read(a, 200) near EOF", r, e, buf, 2000, 200);
	DO(lseek(fd, 0, SEEK_END));
	report("lseek(a, 0, SEEK_END)", r, e);
	DO(lseek(fd, -1, SEEK_SET));
	report("lseek(a, -1, SEEK_SET)", r, e);
	DO(lseek(fd, -5000, SEEK_END));
	report("lseek(a, -5000, SEEK_END)", r, e);
	DO(lseek(fd, 0, 99));
	report("lseek(a, 0, 99)", r, e);
	DO(lseek(fd, 0, SEEK_DATA));
	report("lseek(a, 0, SEEK_DATA)", r, e);
	DO(lseek(fd, 1500, SEEK_DATA));
	report("lseek(a, 1500, SEEK_DATA)", r, e);
	DO(lseek(fd, 0, SEEK_HOLE));
	report("lseek(a, 0, SEEK_HOLE)", r, e);
	DO(lseek(fd, 2100, SEEK_DATA));
	report("lseek(a, 2100, SEEK_DATA)", r, e);
	DO(lseek(fd, 2100, SEEK_HOLE));
	report("lseek(a, 2100, SEEK_HOLE)", r, e);
	DO(lseek(fd, 5000, SEEK_SET));
	report("lseek(a, 5000, SEEK_SET) past EOF", r, e);
	DO(read(fd, buf, 10));
	report_read("read(a, 10) past EOF", r, e, buf, 5000, 10);

	/* ---- vectored I/O */
	fill(3, 600);
	struct iovec wv[3] = {{src, 100}, {src + 100, 0}, {src + 100, 500}};
	DO(lseek(fd, 500, SEEK_SET));
	DO(writev(fd, wv, 3));
	report("writev(a, [100, 0, 500]) at 500", r, e);
	if (r > 0)
		mwrite(500, src, r);
	report("lseek(a, 0, SEEK_CUR) after writev", cur(fd), errno);
	fill(4, 300);
	struct iovec pwv[2] = {{src, 200}, {src + 200, 100}};
	DO(pwritev(fd, pwv, 2, 1800));
	report("pwritev(a, [200, 100], 1800)", r, e);
	if (r > 0)
		mwrite(1800, src, r);
	report("lseek(a, 0, SEEK_CUR) after pwritev", cur(fd), errno);
	show_stat("a", fd);
	struct iovec rv[3] = {{buf, 10}, {buf + 10, 0}, {buf + 10, 990}};
	DO(lseek(fd, 400, SEEK_SET));
	DO(readv(fd, rv, 3));
	report_read("readv(a, [10, 0, 990]) at 400", r, e, buf, 400, 1000);
	report("lseek(a, 0, SEEK_CUR) after readv", cur(fd), errno);
	struct iovec prv[2] = {{buf, 1000}, {buf + 1000, 2000}};
	DO(preadv(fd, prv, 2, 100));
	report_read("preadv(a, [1000, 2000], 100)", r, e, buf, 100, 3000);
	report("lseek(a, 0, SEEK_CUR) after preadv", cur(fd), errno);

	/* ---- preadv2/pwritev2: offset -1 = the file offset, which moves */
	fill(5, 64);
	struct iovec one = {src, 64};
	DO(lseek(fd, 64, SEEK_SET));
	DO(pwritev2(fd, &one, 1, -1, 0));
	report("pwritev2(a, [64], -1, 0) at 64", r, e);
	if (r > 0)
		mwrite(64, src, r);
	report("lseek(a, 0, SEEK_CUR) after pwritev2 -1", cur(fd), errno);
	fill(6, 64);
	DO(pwritev2(fd, &one, 1, 256, 0));
	report("pwritev2(a, [64], 256, 0)", r, e);
	if (r > 0)
		mwrite(256, src, r);
	report("lseek(a, 0, SEEK_CUR) after pwritev2 256", cur(fd), errno);
	fill(7, 64);
	size_t before = msize;
	DO(pwritev2(fd, &one, 1, 0, RWF_APPEND));
	report("pwritev2(a, [64], 0, RWF_APPEND)", r, e);
	if (r > 0)
		mwrite(before, src, r);
	report("lseek(a, 0, SEEK_CUR) after RWF_APPEND", cur(fd), errno);
	show_stat("a", fd);
	DO(pwritev2(fd, &one, 1, 0, RWF_DSYNC));
	report("pwritev2(a, [64], 0, RWF_DSYNC)", r, e);
	if (r > 0)
		mwrite(0, src, r);
	DO(pwritev2(fd, &one, 1, 0, 0x40000000));
	report("pwritev2(a, [64], 0, 0x40000000)", r, e);
	DO(pwritev2(fd, &one, 1, -2, 0));
	report("pwritev2(a, [64], -2, 0)", r, e);

	struct iovec rone = {buf, 128};
	DO(lseek(fd, 32, SEEK_SET));
	DO(preadv2(fd, &rone, 1, -1, 0));
	report_read("preadv2(a, [128], -1, 0) at 32", r, e, buf, 32, 128);
	report("lseek(a, 0, SEEK_CUR) after preadv2 -1", cur(fd), errno);
	DO(preadv2(fd, &rone, 1, 1000, 0));
	report_read("preadv2(a, [128], 1000, 0)", r, e, buf, 1000, 128);
	report("lseek(a, 0, SEEK_CUR) after preadv2 1000", cur(fd), errno);
	DO(preadv2(fd, &rone, 1, 0, RWF_HIPRI));
	report_read("preadv2(a, [128], 0, RWF_HIPRI)", r, e, buf, 0, 128);
	DO(preadv2(fd, &rone, 1, 0, RWF_NOWAIT));
	report_read("preadv2(a, [128], 0, RWF_NOWAIT)", r, e, buf, 0, 128);
	DO(preadv2(fd, &rone, 1, 0, 0x40000000));
	report("preadv2(a, [128], 0, 0x40000000)", r, e);
	DO(preadv2(fd, &rone, 1, msize, 0));
	report_read("preadv2(a, [128], EOF, 0)", r, e, buf, msize, 128);

	/* ---- large transfers (several FUSE requests each) */
	fill(8, 300 * 1024);
	DO(pwrite(fd, src, 300 * 1024, 4096));
	report("pwrite(a, 300 KiB, 4096)", r, e);
	if (r > 0)
		mwrite(4096, src, r);
	show_stat("a", fd);
	DO(pread(fd, buf, 400 * 1024, 0));
	report_read("pread(a, 400 KiB, 0)", r, e, buf, 0, 400 * 1024);
	DO(pread(fd, buf, 100 * 1024, 1234));
	report_read("pread(a, 100 KiB, 1234) unaligned", r, e, buf, 1234, 100 * 1024);

	/* ---- holes far past EOF, truncate */
	fill(9, 10);
	DO(pwrite(fd, src, 10, 1 << 20));
	report("pwrite(a, 10, 1 MiB)", r, e);
	if (r > 0)
		mwrite(1 << 20, src, r);
	show_stat("a", fd);
	DO(pread(fd, buf, 8192, (1 << 20) - 8000));
	report_read("pread(a, 8192, 1 MiB - 8000) hole then data", r, e, buf, (1 << 20) - 8000, 8192);
	DO(ftruncate(fd, 1500));
	report("ftruncate(a, 1500)", r, e);
	if (r == 0)
		mtruncate(1500);
	show_stat("a", fd);
	DO(pread(fd, buf, 200, 1400));
	report_read("pread(a, 200, 1400) after truncate", r, e, buf, 1400, 200);
	DO(ftruncate(fd, 3000));
	report("ftruncate(a, 3000)", r, e);
	if (r == 0)
		mtruncate(3000);
	DO(pread(fd, buf, 2000, 1000));
	report_read("pread(a, 2000, 1000) after extending truncate", r, e, buf, 1000, 2000);
	DO(ftruncate(fd, -1));
	report("ftruncate(a, -1)", r, e);
	DO(fsync(fd));
	report("fsync(a)", r, e);
	DO(fdatasync(fd));
	report("fdatasync(a)", r, e);
	show_path_stat("a", path_a);

	/* ---- a second description sees the writes */
	DO(fd2 = open(path_a, O_RDONLY));
	report_open("open(a, O_RDONLY)", fd2, e);
	DO(read(fd2, buf, 3000));
	report_read("read(a ro, 3000)", r, e, buf, 0, 3000);
	DO(write(fd2, src, 10));
	report("write(a ro, 10)", r, e);
	fill(10, 20);
	DO(pwrite(fd, src, 20, 10));
	report("pwrite(a, 20, 10)", r, e);
	if (r > 0)
		mwrite(10, src, r);
	DO(pread(fd2, buf, 40, 0));
	report_read("pread(a ro, 40, 0) after a write through another fd", r, e, buf, 0, 40);
	close(fd2);

	/* ---- O_APPEND */
	DO(fd2 = open(path_a, O_WRONLY | O_APPEND));
	report_open("open(a, O_WRONLY|O_APPEND)", fd2, e);
	fill(11, 33);
	before = msize;
	DO(write(fd2, src, 33));
	report("write(a append, 33)", r, e);
	if (r > 0)
		mwrite(before, src, r);
	report("lseek(a append, 0, SEEK_CUR)", cur(fd2), errno);
	fill(12, 7);
	before = msize;
	DO(pwrite(fd2, src, 7, 0));
	report("pwrite(a append, 7, 0) appends", r, e);
	if (r > 0)
		mwrite(before, src, r);
	report("lseek(a append, 0, SEEK_CUR) after pwrite", cur(fd2), errno);
	DO(read(fd2, buf, 10));
	report("read(a O_WRONLY, 10)", r, e);
	DO(pread(fd2, buf, 10, 0));
	report("pread(a O_WRONLY, 10, 0)", r, e);
	close(fd2);
	show_stat("a", fd);
	DO(pread(fd, buf, msize, 0));
	report_read("pread(a, size, 0) after appends", r, e, buf, 0, msize);

	/* ---- O_TRUNC, creat, O_EXCL, ENOENT */
	DO(fd2 = creat(path_b, 0600));
	report_open("creat(b, 0600)", fd2, e);
	DO(write(fd2, "hello", 5));
	report("write(b, 5)", r, e);
	show_stat("b", fd2);
	close(fd2);
	DO(fd2 = open(path_b, O_RDWR | O_TRUNC));
	report_open("open(b, O_RDWR|O_TRUNC)", fd2, e);
	show_stat("b", fd2);
	DO(read(fd2, buf, 10));
	report("read(b, 10) after O_TRUNC", r, e);
	close(fd2);
	DO(fd2 = open(path_b, O_RDWR | O_CREAT | O_EXCL, 0644));
	report_open("open(b, O_RDWR|O_CREAT|O_EXCL)", fd2, e);
	if (fd2 >= 0)
		close(fd2);
	DO(fd2 = open(path_c, O_RDONLY));
	report_open("open(c, O_RDONLY) missing", fd2, e);
	DO(fd2 = open(path_c, O_WRONLY | O_CREAT, 0640));
	report_open("open(c, O_WRONLY|O_CREAT, 0640)", fd2, e);
	show_stat("c", fd2);
	DO(read(fd2, buf, 1));
	report("read(c O_WRONLY, 1)", r, e);
	close(fd2);
	DO(fd2 = open(path_a, O_RDONLY | O_DIRECTORY));
	report_open("open(a, O_DIRECTORY)", fd2, e);

	/* ---- EBADF on a closed fd */
	DO(fd2 = open(path_a, O_RDONLY));
	close(fd2);
	DO(read(fd2, buf, 10));
	report("read(closed, 10)", r, e);
	DO(write(fd2, buf, 10));
	report("write(closed, 10)", r, e);
	DO(pread(fd2, buf, 10, 0));
	report("pread(closed, 10, 0)", r, e);

	/* ---- EINVAL */
	DO(pread(fd, buf, 10, -1));
	report("pread(a, 10, -1)", r, e);
	DO(pwrite(fd, buf, 10, -1));
	report("pwrite(a, 10, -1)", r, e);
	DO(preadv(fd, &rone, 1, -5));
	report("preadv(a, [128], -5)", r, e);
	struct iovec neg = {buf, (size_t)-1};
	DO(readv(fd, &neg, 1));
	report("readv(a, [SIZE_MAX])", r, e);
	DO(readv(fd, rv, minus_one));
	report("readv(a, iovcnt -1)", r, e);

	/* ---- EISDIR */
	DO(fd2 = open(dirpath, O_RDONLY));
	report_open("open(dir, O_RDONLY)", fd2, e);
	DO(read(fd2, buf, 10));
	report("read(dir, 10)", r, e);
	DO(pread(fd2, buf, 10, 0));
	report("pread(dir, 10, 0)", r, e);
	DO(write(fd2, buf, 10));
	report("write(dir O_RDONLY, 10)", r, e);
	if (fd2 >= 0)
		close(fd2);
	DO(fd2 = open(dirpath, O_WRONLY));
	report_open("open(dir, O_WRONLY)", fd2, e);

	/* ---- ESPIPE */
	int pfd[2];
	if (pipe(pfd) == 0) {
		DO(write(pfd[1], "xyz", 3));
		DO(pread(pfd[0], buf, 3, 0));
		report("pread(pipe, 3, 0)", r, e);
		DO(pwrite(pfd[1], "x", 1, 0));
		report("pwrite(pipe, 1, 0)", r, e);
		DO(preadv2(pfd[0], &rone, 1, -1, 0));
		report("preadv2(pipe, [128], -1, 0)", r, e);
		DO(lseek(pfd[0], 0, SEEK_SET));
		report("lseek(pipe, 0, SEEK_SET)", r, e);
		close(pfd[0]);
		close(pfd[1]);
	}

	/* ---- EFAULT: buffers that end in, or lie wholly in, unmapped memory */
	long page = sysconf(_SC_PAGESIZE);
	unsigned char *p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p != MAP_FAILED && munmap(p + page, page) == 0) {
		DO(pread(fd, p + page - 100, 200, 0));
		report_read("pread(a, 200, 0) into a buffer with 100 mapped bytes", r, e,
			    p + page - 100, 0, -1);
		DO(pread(fd, p + page, 200, 0));
		report("pread(a, 200, 0) into unmapped memory", r, e);
		DO(lseek(fd, 0, SEEK_SET));
		DO(read(fd, p + page - 100, 200));
		report_read("read(a, 200) into a buffer with 100 mapped bytes", r, e,
			    p + page - 100, 0, -1);
		report("lseek(a, 0, SEEK_CUR) after the partial read", cur(fd), errno);
		struct iovec fv[2] = {{p, 64}, {p + page, 64}};
		DO(preadv(fd, fv, 2, 0));
		report_read("preadv(a, [64, 64 unmapped], 0)", r, e, p, 0, -1);
		/* Writes from such buffers: the mapped bytes go in. */
		fill(13, 100);
		memcpy(p + page - 100, src, 100);
		DO(pwrite(fd, p + page - 100, 200, 100));
		report("pwrite(a, 200, 100) from a buffer with 100 mapped bytes", r, e);
		if (r > 0)
			mwrite(100, p + page - 100, r);
		DO(pwrite(fd, p + page, 200, 100));
		report("pwrite(a, 200, 100) from unmapped memory", r, e);
		show_stat("a", fd);
		DO(pread(fd, buf, 400, 0));
		report_read("pread(a, 400, 0) after the partial write", r, e, buf, 0, 400);
		munmap(p, page);
	}

	/* ---- directory listing, unlink, an open file after unlink */
	list_dir("dir");
	count_dots();
	DO(unlink(path_b));
	report("unlink(b)", r, e);
	DO(unlink(path_b));
	report("unlink(b) again", r, e);
	DO(unlink(path_c));
	report("unlink(c)", r, e);
	DO(unlink(path_a));
	report("unlink(a) while open", r, e);
	list_dir("dir after unlink");
	DO(pread(fd, buf, 1000, 0));
	report_read("pread(a, 1000, 0) after unlink", r, e, buf, 0, 1000);
	fill(14, 10);
	DO(pwrite(fd, src, 10, 0));
	report("pwrite(a, 10, 0) after unlink", r, e);
	if (r > 0)
		mwrite(0, src, r);
	DO(pread(fd, buf, 20, 0));
	report_read("pread(a, 20, 0) after unlink", r, e, buf, 0, 20);
	DO(close(fd));
	report("close(a)", r, e);
	DO(close(fd));
	report("close(a) again", r, e);
	show_path_stat("a after unlink", path_a);

	printf("mismatches = %d\n", mismatches);
	return 0;
}
