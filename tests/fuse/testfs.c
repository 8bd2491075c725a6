/* testfs: a small in-memory libfuse3 low-level filesystem for sentry's FUSE
 * tests. It is the peer that the tests steer: options make it answer short,
 * fail, stall or crash, and a log records every request it gets.
 *
 * Tree (inode numbers are fixed, new files get 5, 6, ...):
 *   /        1  directory 0755
 *   /data    2  regular 0644, data_size bytes (default 1 MiB), byte i is
 *               (i*7+3) % 251; writable, grows, truncatable
 *   /dir     3  directory 0755, empty
 *   /link    4  symlink -> "data"
 * Files may be created (CREATE) and unlinked in any directory. Nothing is
 * ever freed; inode numbers are never reused.
 *
 * Usage: testfs MOUNTPOINT -f -s [-o OPT[,OPT...]]
 * Standard libfuse options (max_read=N, allow_other, ...) pass through;
 * max_read=N is also copied to conn->max_read (libfuse refuses to mount if the
 * two differ).
 * testfs options:
 *   data_size=N          size of /data (default 1048576)
 *   direct_io            open/create reply with FOPEN_DIRECT_IO (no page cache)
 *   keep_cache           open reply with FOPEN_KEEP_CACHE
 *   testfs_max_write=N   conn->max_write = N in init(); N >= 4096 (libfuse then
 *                        reads the device with N + 4096 bytes, and Linux refuses
 *                        reads under 8192 with EINVAL). libfuse also replies
 *                        max_pages = N / 4096 (rounded up).
 *   testfs_max_readahead=N  conn->max_readahead = N in init()
 *   readdirplus          advertise READDIRPLUS (off by default: plain READDIR)
 *   entry_timeout=SECS   entry validity (default 1.0)
 *   attr_timeout=SECS    attribute validity (default 1.0)
 *   short_read=N         every READ reply is N bytes shorter than asked (min 0)
 *   short_read_at=OFF    only a READ at offset OFF is answered with half the
 *                        bytes asked for
 *   read_error=ERRNO     every READ fails with ERRNO (number or name: EIO, ...)
 *   write_error=ERRNO    every WRITE fails with ERRNO
 *   short_write=N        WRITE stores and reports N bytes fewer (min 0)
 *   zero_write           WRITE stores nothing and reports 0 bytes
 *   no_create            CREATE fails with ENOSYS (kernel falls back to MKNOD+OPEN)
 *   no_flush             FLUSH fails with ENOSYS
 *   slow_ms=N            every request sleeps N ms before it is handled
 *   slow_read_ms=N       every READ waits N ms for its reply; if the kernel
 *                        interrupts it meanwhile (FUSE_INTERRUPT), it logs
 *                        "INTERRUPTED" and fails with EINTR (needs threads)
 *   crash_after=N        abort() when request N+1 arrives (INIT, FORGET and
 *                        DESTROY are not counted)
 *   crash_after_reads=N  abort() when READ number N+1 arrives
 *   log=PATH             append one line per request to PATH (fflush'ed)
 *
 * Log lines (first word = opcode name): "INIT max_write=%u max_read=%u
 * max_readahead=%u", "LOOKUP name", "GETATTR ino=%lu",
 * "SETATTR ino=%lu valid=0x%x", "OPEN ino=%lu", "CREATE name",
 * "READ off=%llu size=%u", "WRITE off=%llu size=%u", "FLUSH", "RELEASE",
 * "FSYNC", "OPENDIR", "READDIR off=%lld size=%zu", "READDIRPLUS off=...",
 * "RELEASEDIR", "READLINK", "STATFS", "UNLINK name", "MKNOD name",
 * "FORGET ino=%lu n=%lu", "DESTROY", and "ABORT" just before a crash.
 */
#define FUSE_USE_VERSION 35
#define _GNU_SOURCE

#include <errno.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct options {
	unsigned long data_size;
	int direct_io;
	int keep_cache;
	unsigned max_write;
	unsigned max_readahead;
	int readdirplus;
	double entry_timeout;
	double attr_timeout;
	unsigned long short_read;
	long long short_read_at;
	char *read_error;
	char *write_error;
	unsigned long short_write;
	int zero_write;
	int no_create;
	int no_flush;
	unsigned slow_ms;
	unsigned slow_read_ms;
	long crash_after;
	long crash_after_reads;
	char *log;
	unsigned max_read; /* the standard option, seen on its way to libfuse */
};

static struct options opt = {
	.data_size = 1 << 20,
	.entry_timeout = 1.0,
	.attr_timeout = 1.0,
	.short_read_at = -1,
	.crash_after = -1,
	.crash_after_reads = -1,
};

enum { KEY_MAX_READ };

#define OPT(t, p) {t, offsetof(struct options, p), 1}
static const struct fuse_opt option_spec[] = {
	OPT("data_size=%lu", data_size),
	OPT("direct_io", direct_io),
	OPT("keep_cache", keep_cache),
	OPT("testfs_max_write=%u", max_write),
	OPT("testfs_max_readahead=%u", max_readahead),
	OPT("readdirplus", readdirplus),
	OPT("entry_timeout=%lf", entry_timeout),
	OPT("attr_timeout=%lf", attr_timeout),
	OPT("short_read=%lu", short_read),
	OPT("short_read_at=%lld", short_read_at),
	OPT("read_error=%s", read_error),
	OPT("write_error=%s", write_error),
	OPT("short_write=%lu", short_write),
	OPT("zero_write", zero_write),
	OPT("no_create", no_create),
	OPT("no_flush", no_flush),
	OPT("slow_ms=%u", slow_ms),
	OPT("slow_read_ms=%u", slow_read_ms),
	OPT("crash_after=%ld", crash_after),
	OPT("crash_after_reads=%ld", crash_after_reads),
	OPT("log=%s", log),
	FUSE_OPT_KEY("max_read=", KEY_MAX_READ),
	FUSE_OPT_END,
};

/* libfuse wants max_read both as a mount option and in init() (it refuses
 * to mount if they differ), so note it and pass it on. */
static int option_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	(void)data, (void)outargs;
	if (key == KEY_MAX_READ)
		opt.max_read = strtoul(arg + strlen("max_read="), NULL, 0);
	return 1;
}

/* ---------------------------------------------------------------- nodes */

struct node {
	fuse_ino_t parent; /* 0 once unlinked */
	char *name;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	unsigned char *data; /* regular files */
	size_t size;
	size_t cap;
	const char *target; /* symlinks */
	struct timespec atime, mtime, ctime;
};

#define MAX_NODES 4096
static struct node nodes[MAX_NODES]; /* index = inode number; 0 unused */
static fuse_ino_t nnodes = 1;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static FILE *logf;
static long nrequests, nreads;
static int read_errno, write_errno;

static struct node *get(fuse_ino_t ino)
{
	if (ino == 0 || ino >= nnodes)
		return NULL;
	return &nodes[ino];
}

static fuse_ino_t add_node(fuse_ino_t parent, const char *name, mode_t mode)
{
	if (nnodes >= MAX_NODES)
		return 0;
	fuse_ino_t ino = nnodes++;
	struct node *n = &nodes[ino];
	memset(n, 0, sizeof *n);
	n->parent = parent;
	n->name = strdup(name);
	n->mode = mode;
	n->uid = getuid();
	n->gid = getgid();
	clock_gettime(CLOCK_REALTIME, &n->atime);
	n->mtime = n->ctime = n->atime;
	return ino;
}

static fuse_ino_t find(fuse_ino_t parent, const char *name)
{
	for (fuse_ino_t i = 2; i < nnodes; i++)
		if (nodes[i].parent == parent && strcmp(nodes[i].name, name) == 0)
			return i;
	return 0;
}

static int reserve(struct node *n, size_t size)
{
	if (size <= n->cap)
		return 0;
	size_t cap = n->cap ? n->cap : 4096;
	while (cap < size)
		cap *= 2;
	unsigned char *p = realloc(n->data, cap);
	if (p == NULL)
		return ENOMEM;
	n->data = p;
	n->cap = cap;
	return 0;
}

/* Set the size; new bytes are zero. */
static int resize(struct node *n, size_t size)
{
	int err = reserve(n, size);
	if (err)
		return err;
	if (size > n->size)
		memset(n->data + n->size, 0, size - n->size);
	n->size = size;
	return 0;
}

static void fill_stat(fuse_ino_t ino, struct stat *st)
{
	struct node *n = &nodes[ino];
	memset(st, 0, sizeof *st);
	st->st_ino = ino;
	st->st_mode = n->mode;
	st->st_uid = n->uid;
	st->st_gid = n->gid;
	st->st_atim = n->atime;
	st->st_mtim = n->mtime;
	st->st_ctim = n->ctime;
	if (S_ISDIR(n->mode)) {
		st->st_nlink = 2;
		for (fuse_ino_t i = 2; i < nnodes; i++)
			if (nodes[i].parent == ino && S_ISDIR(nodes[i].mode))
				st->st_nlink++;
		st->st_size = 4096;
	} else {
		st->st_nlink = n->parent ? 1 : 0;
		st->st_size = S_ISLNK(n->mode) ? (off_t)strlen(n->target) : (off_t)n->size;
	}
	st->st_blocks = (st->st_size + 511) / 512;
	st->st_blksize = 4096;
}

static void fill_entry(fuse_ino_t ino, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof *e);
	e->ino = ino;
	e->attr_timeout = opt.attr_timeout;
	e->entry_timeout = opt.entry_timeout;
	fill_stat(ino, &e->attr);
}

/* ------------------------------------------------------------- requests */

static void log_line(const char *fmt, ...)
{
	if (logf == NULL)
		return;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(logf, fmt, ap);
	va_end(ap);
	fputc('\n', logf);
	fflush(logf);
}

static void crash(void)
{
	struct rlimit none = {0, 0};
	setrlimit(RLIMIT_CORE, &none); /* no core file in the test's directory */
	log_line("ABORT");
	abort();
}

/* Every handler starts here: take the lock, log, stall, maybe crash. */
#define BEGIN(...)                                                                                 \
	do {                                                                                       \
		pthread_mutex_lock(&mu);                                                           \
		log_line(__VA_ARGS__);                                                             \
		if (opt.crash_after >= 0 && ++nrequests > opt.crash_after)                         \
			crash();                                                                   \
		if (opt.slow_ms)                                                                   \
			usleep(opt.slow_ms * 1000);                                                \
	} while (0)
#define END() pthread_mutex_unlock(&mu)

static void tfs_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	conn->max_read = opt.max_read;
	if (opt.max_write)
		conn->max_write = opt.max_write;
	if (opt.max_readahead)
		conn->max_readahead = opt.max_readahead;
	if (!opt.readdirplus)
		conn->want &= ~(FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO);
	pthread_mutex_lock(&mu);
	log_line("INIT max_write=%u max_read=%u max_readahead=%u", conn->max_write, conn->max_read,
		 conn->max_readahead);
	pthread_mutex_unlock(&mu);
}

static void tfs_destroy(void *userdata)
{
	(void)userdata;
	pthread_mutex_lock(&mu);
	log_line("DESTROY");
	pthread_mutex_unlock(&mu);
}

static void tfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	BEGIN("LOOKUP %s", name);
	fuse_ino_t ino = find(parent, name);
	if (ino == 0) {
		END();
		fuse_reply_err(req, ENOENT);
		return;
	}
	struct fuse_entry_param e;
	fill_entry(ino, &e);
	END();
	fuse_reply_entry(req, &e);
}

static void tfs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	pthread_mutex_lock(&mu);
	log_line("FORGET ino=%lu n=%lu", (unsigned long)ino, (unsigned long)nlookup);
	pthread_mutex_unlock(&mu);
	fuse_reply_none(req);
}

static void tfs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fi;
	BEGIN("GETATTR ino=%lu", (unsigned long)ino);
	struct node *n = get(ino);
	if (n == NULL) {
		END();
		fuse_reply_err(req, ENOENT);
		return;
	}
	struct stat st;
	fill_stat(ino, &st);
	END();
	fuse_reply_attr(req, &st, opt.attr_timeout);
}

static void tfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			struct fuse_file_info *fi)
{
	(void)fi;
	BEGIN("SETATTR ino=%lu valid=0x%x", (unsigned long)ino, to_set);
	struct node *n = get(ino);
	int err = 0;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	if (n == NULL) {
		err = ENOENT;
		goto out;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if (!S_ISREG(n->mode)) {
			err = S_ISDIR(n->mode) ? EISDIR : EINVAL;
			goto out;
		}
		err = resize(n, attr->st_size);
		if (err)
			goto out;
		n->mtime = now;
	}
	if (to_set & FUSE_SET_ATTR_MODE)
		n->mode = (n->mode & S_IFMT) | (attr->st_mode & 07777);
	if (to_set & FUSE_SET_ATTR_UID)
		n->uid = attr->st_uid;
	if (to_set & FUSE_SET_ATTR_GID)
		n->gid = attr->st_gid;
	if (to_set & FUSE_SET_ATTR_ATIME)
		n->atime = attr->st_atim;
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		n->atime = now;
	if (to_set & FUSE_SET_ATTR_MTIME)
		n->mtime = attr->st_mtim;
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		n->mtime = now;
	n->ctime = (to_set & FUSE_SET_ATTR_CTIME) ? attr->st_ctim : now;
out:
	if (err) {
		END();
		fuse_reply_err(req, err);
		return;
	}
	struct stat st;
	fill_stat(ino, &st);
	END();
	fuse_reply_attr(req, &st, opt.attr_timeout);
}

static void tfs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	BEGIN("READLINK");
	struct node *n = get(ino);
	const char *target = n && S_ISLNK(n->mode) ? n->target : NULL;
	END();
	if (target == NULL)
		fuse_reply_err(req, n ? EINVAL : ENOENT);
	else
		fuse_reply_readlink(req, target);
}

static void set_open_flags(struct fuse_file_info *fi)
{
	fi->direct_io = opt.direct_io;
	fi->keep_cache = opt.keep_cache;
}

static void tfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	BEGIN("OPEN ino=%lu", (unsigned long)ino);
	struct node *n = get(ino);
	int err = n == NULL ? ENOENT : S_ISDIR(n->mode) ? EISDIR : 0;
	if (!err && (fi->flags & O_TRUNC) && (fi->flags & O_ACCMODE) != O_RDONLY)
		err = resize(n, 0);
	END();
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	set_open_flags(fi);
	fuse_reply_open(req, fi);
}

static void tfs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		       struct fuse_file_info *fi)
{
	BEGIN("CREATE %s", name);
	if (opt.no_create) {
		END();
		fuse_reply_err(req, ENOSYS);
		return;
	}
	struct node *p = get(parent);
	int err = 0;
	fuse_ino_t ino = 0;
	if (p == NULL)
		err = ENOENT;
	else if (!S_ISDIR(p->mode))
		err = ENOTDIR;
	else if ((ino = find(parent, name)) != 0) {
		if (fi->flags & O_EXCL)
			err = EEXIST;
		else if (S_ISDIR(nodes[ino].mode))
			err = EISDIR;
		else if (fi->flags & O_TRUNC)
			err = resize(&nodes[ino], 0);
	} else if ((ino = add_node(parent, name, S_IFREG | (mode & 07777))) == 0)
		err = ENOSPC;
	if (err) {
		END();
		fuse_reply_err(req, err);
		return;
	}
	struct fuse_entry_param e;
	fill_entry(ino, &e);
	END();
	set_open_flags(fi);
	fuse_reply_create(req, &e, fi);
}

static void tfs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      dev_t rdev)
{
	(void)rdev;
	BEGIN("MKNOD %s", name);
	int err = 0;
	fuse_ino_t ino = 0;
	struct node *p = get(parent);
	if (p == NULL)
		err = ENOENT;
	else if (!S_ISREG(mode))
		err = EPERM;
	else if (find(parent, name))
		err = EEXIST;
	else if ((ino = add_node(parent, name, mode)) == 0)
		err = ENOSPC;
	if (err) {
		END();
		fuse_reply_err(req, err);
		return;
	}
	struct fuse_entry_param e;
	fill_entry(ino, &e);
	END();
	fuse_reply_entry(req, &e);
}

static void tfs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	BEGIN("UNLINK %s", name);
	fuse_ino_t ino = find(parent, name);
	int err = ino == 0 ? ENOENT : S_ISDIR(nodes[ino].mode) ? EISDIR : 0;
	if (!err)
		nodes[ino].parent = 0; /* the data stays for open files */
	END();
	fuse_reply_err(req, err);
}

static void tfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	(void)fi;
	BEGIN("READ off=%llu size=%u", (unsigned long long)off, (unsigned)size);
	if (opt.crash_after_reads >= 0 && ++nreads > opt.crash_after_reads)
		crash();
	for (unsigned waited = 0; waited < opt.slow_read_ms; waited += 10) {
		if (fuse_req_interrupted(req)) {
			log_line("INTERRUPTED");
			END();
			fuse_reply_err(req, EINTR);
			return;
		}
		usleep(10000);
	}
	if (read_errno) {
		END();
		fuse_reply_err(req, read_errno);
		return;
	}
	struct node *n = get(ino);
	if (n == NULL || !S_ISREG(n->mode)) {
		END();
		fuse_reply_err(req, n ? EISDIR : ENOENT);
		return;
	}
	if (opt.short_read)
		size = size > opt.short_read ? size - opt.short_read : 0;
	if (opt.short_read_at >= 0 && off == opt.short_read_at)
		size /= 2;
	size_t avail = (size_t)off < n->size ? n->size - off : 0;
	if (size > avail)
		size = avail;
	/* Reply while holding the lock: the buffer may move on a write. */
	fuse_reply_buf(req, size ? (const char *)n->data + off : NULL, size);
	END();
}

static void tfs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	(void)fi;
	BEGIN("WRITE off=%llu size=%u", (unsigned long long)off, (unsigned)size);
	int err = write_errno;
	struct node *n = get(ino);
	if (!err && (n == NULL || !S_ISREG(n->mode)))
		err = n ? EISDIR : ENOENT;
	if (opt.zero_write)
		size = 0;
	if (opt.short_write)
		size = size > opt.short_write ? size - opt.short_write : 0;
	if (!err && size) {
		size_t end = off + size;
		if (end > n->size)
			err = resize(n, end);
		if (!err) {
			memcpy(n->data + off, buf, size);
			clock_gettime(CLOCK_REALTIME, &n->mtime);
			n->ctime = n->mtime;
		}
	}
	END();
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_write(req, size);
}

static void tfs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino, (void)fi;
	BEGIN("FLUSH");
	END();
	fuse_reply_err(req, opt.no_flush ? ENOSYS : 0);
}

static void tfs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino, (void)fi;
	BEGIN("RELEASE");
	END();
	fuse_reply_err(req, 0);
}

static void tfs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino, (void)fi;
	BEGIN("FSYNC datasync=%d", datasync);
	END();
	fuse_reply_err(req, 0);
}

static void tfs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	BEGIN("OPENDIR");
	struct node *n = get(ino);
	int err = n == NULL ? ENOENT : !S_ISDIR(n->mode) ? ENOTDIR : 0;
	END();
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_open(req, fi);
}

/* Directory offsets: "." is 1, ".." is 2, a child with inode i is i + 2. */
static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int plus)
{
	BEGIN("%s off=%lld size=%zu", plus ? "READDIRPLUS" : "READDIR", (long long)off, size);
	struct node *d = get(ino);
	if (d == NULL || !S_ISDIR(d->mode)) {
		END();
		fuse_reply_err(req, d ? ENOTDIR : ENOENT);
		return;
	}
	char *buf = malloc(size);
	if (buf == NULL) {
		END();
		fuse_reply_err(req, ENOMEM);
		return;
	}
	size_t used = 0;
	for (fuse_ino_t i = 0; i < nnodes + 1; i++) {
		/* i == 0: ".", i == 1: "..", else a child. */
		fuse_ino_t child;
		const char *name;
		off_t next;
		if (i == 0) {
			child = ino, name = ".", next = 1;
		} else if (i == 1) {
			child = d->parent ? d->parent : FUSE_ROOT_ID, name = "..", next = 2;
		} else {
			if (i >= nnodes || nodes[i].parent != ino)
				continue;
			child = i, name = nodes[i].name, next = i + 2;
		}
		if (next <= off)
			continue;
		size_t len;
		if (plus) {
			struct fuse_entry_param e;
			if (i < 2) {
				memset(&e, 0, sizeof e); /* nodeid 0: no lookup counted */
				e.attr.st_ino = child;
				e.attr.st_mode = S_IFDIR;
			} else {
				fill_entry(child, &e);
			}
			len = fuse_add_direntry_plus(req, buf + used, size - used, name, &e, next);
		} else {
			struct stat st = {.st_ino = child, .st_mode = nodes[child].mode & S_IFMT};
			len = fuse_add_direntry(req, buf + used, size - used, name, &st, next);
		}
		if (len > size - used)
			break;
		used += len;
	}
	END();
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void tfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, 0);
}

static void tfs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			    struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, 1);
}

static void tfs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino, (void)fi;
	BEGIN("RELEASEDIR");
	END();
	fuse_reply_err(req, 0);
}

static void tfs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	(void)ino;
	BEGIN("STATFS");
	struct statvfs sv = {
		.f_bsize = 4096,
		.f_frsize = 4096,
		.f_blocks = 1 << 20,
		.f_bfree = 1 << 19,
		.f_bavail = 1 << 19,
		.f_files = MAX_NODES,
		.f_ffree = MAX_NODES - nnodes,
		.f_favail = MAX_NODES - nnodes,
		.f_namemax = 255,
	};
	END();
	fuse_reply_statfs(req, &sv);
}

static const struct fuse_lowlevel_ops ops = {
	.init = tfs_init,
	.destroy = tfs_destroy,
	.lookup = tfs_lookup,
	.forget = tfs_forget,
	.getattr = tfs_getattr,
	.setattr = tfs_setattr,
	.readlink = tfs_readlink,
	.mknod = tfs_mknod,
	.unlink = tfs_unlink,
	.open = tfs_open,
	.read = tfs_read,
	.write = tfs_write,
	.flush = tfs_flush,
	.release = tfs_release,
	.fsync = tfs_fsync,
	.opendir = tfs_opendir,
	.readdir = tfs_readdir,
	.releasedir = tfs_releasedir,
	.statfs = tfs_statfs,
	.create = tfs_create,
	.readdirplus = tfs_readdirplus,
};

/* ----------------------------------------------------------------- main */

static int parse_errno(const char *s)
{
	static const struct {
		const char *name;
		int value;
	} names[] = {
		{"EPERM", EPERM},   {"ENOENT", ENOENT}, {"EINTR", EINTR},     {"EIO", EIO},
		{"ENXIO", ENXIO},   {"EBADF", EBADF},   {"EAGAIN", EAGAIN},   {"ENOMEM", ENOMEM},
		{"EACCES", EACCES}, {"EFAULT", EFAULT}, {"EBUSY", EBUSY},     {"EEXIST", EEXIST},
		{"EINVAL", EINVAL}, {"EFBIG", EFBIG},   {"ENOSPC", ENOSPC},   {"EROFS", EROFS},
		{"ENOSYS", ENOSYS}, {"ESTALE", ESTALE}, {"EOVERFLOW", EOVERFLOW},
	};
	if (s == NULL)
		return 0;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(s, names[i].name) == 0)
			return names[i].value;
	char *end;
	long v = strtol(s, &end, 0);
	if (*s == '\0' || *end != '\0' || v <= 0 || v >= 512) {
		fprintf(stderr, "testfs: bad errno %s\n", s);
		exit(2);
	}
	return (int)v;
}

static void make_tree(void)
{
	nnodes = 1;
	fuse_ino_t root = add_node(0, "", S_IFDIR | 0755);
	nodes[root].parent = 0;
	fuse_ino_t data = add_node(root, "data", S_IFREG | 0644);
	if (resize(&nodes[data], opt.data_size) != 0) {
		fprintf(stderr, "testfs: out of memory\n");
		exit(1);
	}
	for (size_t i = 0; i < opt.data_size; i++)
		nodes[data].data[i] = (unsigned char)((i * 7 + 3) % 251);
	add_node(root, "dir", S_IFDIR | 0755);
	fuse_ino_t link = add_node(root, "link", S_IFLNK | 0777);
	nodes[link].target = "data";
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cmd;
	int ret = 1;

	if (fuse_opt_parse(&args, &opt, option_spec, option_proc) == -1)
		return 2;
	if (fuse_parse_cmdline(&args, &cmd) != 0)
		return 2;
	if (cmd.show_help || cmd.show_version || cmd.mountpoint == NULL) {
		if (cmd.show_version)
			fuse_lowlevel_version();
		else
			printf("usage: %s MOUNTPOINT [-f] [-s] [-o OPTIONS]\n"
			       "(testfs options are listed at the top of testfs.c)\n",
			       argv[0]);
		free(cmd.mountpoint);
		fuse_opt_free_args(&args);
		return cmd.mountpoint == NULL && !cmd.show_help && !cmd.show_version ? 2 : 0;
	}
	read_errno = parse_errno(opt.read_error);
	write_errno = parse_errno(opt.write_error);
	if (opt.log) {
		logf = fopen(opt.log, "a");
		if (logf == NULL) {
			perror(opt.log);
			return 1;
		}
	}
	make_tree();

	struct fuse_session *se = fuse_session_new(&args, &ops, sizeof ops, NULL);
	if (se == NULL)
		goto out_args;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_session;
	if (fuse_session_mount(se, cmd.mountpoint) != 0)
		goto out_signals;
	fuse_daemonize(cmd.foreground);
	if (cmd.singlethread) {
		ret = fuse_session_loop(se);
	} else {
		struct fuse_loop_config config = {
			.clone_fd = cmd.clone_fd,
			.max_idle_threads = cmd.max_idle_threads,
		};
		ret = fuse_session_loop_mt(se, &config);
	}
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out_args:
	free(cmd.mountpoint);
	fuse_opt_free_args(&args);
	return ret ? 1 : 0;
}
