/*
 * The syscalls that sentry's table gained handlers for, run on a directory
 * given as argv[2]: a host directory natively, a sentry mount in the
 * sandbox. Every line printed must be the same in both.
 *
 *   syscall_table sendfile DIR         sendfile(2) between the directory's
 *                                      files, a memfd, a pipe, a socket and
 *                                      a terminal, and its errors
 *   syscall_table splice DIR           splice(2) between a file and a pipe
 *   syscall_table copy_file_range DIR  copy_file_range(2)
 *   syscall_table getdents DIR         the legacy getdents(2) records
 *   syscall_table xattrat DIR          setxattrat, getxattrat, listxattrat
 *                                      and removexattrat (Linux 6.13)
 *   syscall_table signals DIR          a signal while splice and sendfile
 *                                      wait: EINTR, or a restart under
 *                                      SA_RESTART
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <termios.h>
#include <unistd.h>

#ifndef SYS_setxattrat
#define SYS_setxattrat 463
#define SYS_getxattrat 464
#define SYS_listxattrat 465
#define SYS_removexattrat 466
#endif

/* Print a call's result: its value, or -1 and the errno's name. */
#define SHOW(label, expr)                                                           \
    do {                                                                            \
        errno = 0;                                                                  \
        long r_ = (long)(expr);                                                     \
        if (r_ < 0)                                                                 \
            printf("%s: -1 %s\n", label, strerrorname_np(errno));                   \
        else                                                                        \
            printf("%s: %ld\n", label, r_);                                         \
    } while (0)

#define SIZE 300000

static char *dir;
static char data[SIZE];

static char *at(const char *name)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

static int make_file(const char *name, size_t size)
{
    int fd = open(at(name), O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, data, size) != (ssize_t)size) {
        perror(name);
        exit(1);
    }
    return fd;
}

/* Whether fd holds `size` bytes equal to data[from...] at offset `pos`. */
static int same_bytes(int fd, off_t pos, size_t from, size_t size)
{
    static char buf[SIZE];
    ssize_t n = pread(fd, buf, size, pos);
    return n == (ssize_t)size && memcmp(buf, data + from, size) == 0;
}

static long cur(int fd)
{
    return (long)lseek(fd, 0, SEEK_CUR);
}

static size_t drain(int fd, char *out, size_t max)
{
    size_t got = 0;
    ssize_t n;
    while (got < max && (n = read(fd, out + got, max - got)) > 0)
        got += (size_t)n;
    return got;
}

static int sigpipes;
static void on_sigpipe(int sig)
{
    (void)sig;
    sigpipes++;
}

static void test_sendfile(void)
{
    int src = make_file("src", SIZE);
    int dst = open(at("dst"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    off_t off;
    static char buf[SIZE];

    /* Between the directory's files: with an offset, then the file's. */
    off = 1000;
    SHOW("file->file offset", sendfile(dst, src, &off, 5000));
    printf("  off %ld, src pos %ld, dst pos %ld, same %d\n", (long)off, cur(src), cur(dst),
           same_bytes(dst, 0, 1000, 5000));
    lseek(src, SIZE - 100, SEEK_SET);
    SHOW("file->file to the end", sendfile(dst, src, NULL, 4096));
    printf("  src pos %ld, dst pos %ld\n", cur(src), cur(dst));
    SHOW("file->file at the end", sendfile(dst, src, NULL, 4096));
    off = 0;
    SHOW("whole file", sendfile(dst, src, &off, SIZE * 2));
    printf("  same %d\n", same_bytes(dst, 5100, 0, SIZE));
    SHOW("count 0", sendfile(dst, src, NULL, 0));

    /* To and from a memfd (a host regular file). */
    int mem = memfd_create("m", 0);
    off = 7;
    SHOW("file->memfd", sendfile(mem, src, &off, 200000));
    printf("  off %ld, memfd pos %ld, same %d\n", (long)off, cur(mem), same_bytes(mem, 0, 7, 200000));
    lseek(mem, 10, SEEK_SET);
    int dst2 = open(at("dst2"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    SHOW("memfd->file", sendfile(dst2, mem, NULL, 150000));
    printf("  memfd pos %ld, dst2 pos %ld, same %d\n", cur(mem), cur(dst2),
           same_bytes(dst2, 0, 17, 150000));
    off = 100;
    SHOW("memfd->file offset", sendfile(dst2, mem, &off, 50));
    printf("  off %ld, memfd pos %ld\n", (long)off, cur(mem));

    /* To a pipe: at most what fits, then EAGAIN when full and O_NONBLOCK. */
    int p[2];
    if (pipe(p) < 0)
        exit(1);
    lseek(src, 0, SEEK_SET);
    SHOW("file->pipe", sendfile(p[1], src, NULL, SIZE));
    printf("  src pos %ld\n", cur(src));
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    SHOW("file->full pipe, O_NONBLOCK", sendfile(p[1], src, NULL, 10));
    size_t got = drain(p[0], buf, 65536);
    printf("  drained %zu, same %d\n", got, memcmp(buf, data, got) == 0);
    fcntl(p[1], F_SETFL, 0);

    /* To a pipe without readers: SIGPIPE and EPIPE. */
    signal(SIGPIPE, on_sigpipe);
    close(p[0]);
    SHOW("file->broken pipe", sendfile(p[1], src, NULL, 10));
    printf("  SIGPIPE %d\n", sigpipes);
    close(p[1]);

    /* To a socket, all of it, read by a child. */
    int s[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, s) < 0)
        exit(1);
    pid_t child = fork();
    if (child == 0) {
        close(s[0]);
        got = drain(s[1], buf, SIZE);
        _exit(got == SIZE && memcmp(buf, data, SIZE) == 0 ? 0 : 1);
    }
    close(s[1]);
    off = 0;
    SHOW("file->socket", sendfile(s[0], src, &off, SIZE));
    close(s[0]);
    int status;
    waitpid(child, &status, 0);
    printf("  reader exit %d\n", WEXITSTATUS(status));

    /* To a terminal. */
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0) {
        int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
        struct termios tio;
        tcgetattr(slave, &tio);
        cfmakeraw(&tio);
        tcsetattr(slave, TCSANOW, &tio);
        off = 0;
        SHOW("file->terminal", sendfile(slave, src, &off, 2000));
        got = 0;
        while (got < 2000) {
            ssize_t n = read(master, buf + got, 2000 - got);
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        printf("  read %zu, same %d\n", got, memcmp(buf, data, got) == 0);
        close(slave);
        close(master);
    }
    SHOW("file->/dev/null", sendfile(open("/dev/null", O_WRONLY), src, &off, 3000));

    /* Errors. */
    int wronly = open(at("src"), O_WRONLY);
    int rdonly = open(at("dst"), O_RDONLY);
    int append = open(at("dst"), O_WRONLY | O_APPEND);
    int d = open(dir, O_RDONLY | O_DIRECTORY);
    if (pipe(p) < 0)
        exit(1);
    SHOW("in O_WRONLY", sendfile(dst, wronly, NULL, 10));
    SHOW("out O_RDONLY", sendfile(rdonly, src, NULL, 10));
    SHOW("out O_APPEND", sendfile(append, src, NULL, 10));
    SHOW("in a directory", sendfile(dst, d, NULL, 10));
    SHOW("out a directory", sendfile(d, src, NULL, 10));
    SHOW("in a bad fd", sendfile(dst, 99, NULL, 10));
    SHOW("out a bad fd", sendfile(99, src, NULL, 10));
    SHOW("in a pipe", sendfile(dst, p[0], NULL, 10));
    off = 0;
    SHOW("in a pipe, offset", sendfile(dst, p[0], &off, 10));
    off = -1;
    SHOW("negative offset", sendfile(dst, src, &off, 10));
    SHOW("offset unreadable", sendfile(dst, src, (off_t *)8, 10));
    SHOW("huge count", sendfile(dst, src, NULL, (size_t)1 << 63));
}

static void test_splice(void)
{
    int src = make_file("src", SIZE);
    int dst = open(at("dst"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    int p[2];
    loff_t off;
    static char buf[SIZE];
    if (pipe(p) < 0)
        exit(1);
    lseek(src, 0, SEEK_SET);

    off = 10;
    SHOW("file->pipe offset", splice(src, &off, p[1], NULL, 1000, 0));
    printf("  off %ld, src pos %ld\n", (long)off, cur(src));
    SHOW("pipe->file", splice(p[0], NULL, dst, NULL, 5000, 0));
    printf("  dst pos %ld, same %d\n", cur(dst), same_bytes(dst, 0, 10, 1000));
    SHOW("file->pipe", splice(src, NULL, p[1], NULL, SIZE, SPLICE_F_MORE));
    printf("  src pos %ld\n", cur(src));
    SHOW("file->full pipe, NONBLOCK", splice(src, NULL, p[1], NULL, 10, SPLICE_F_NONBLOCK));
    off = 2000;
    SHOW("pipe->file offset", splice(p[0], NULL, dst, &off, 100000, SPLICE_F_MOVE));
    printf("  off %ld, dst pos %ld, same %d\n", (long)off, cur(dst), same_bytes(dst, 2000, 0, 65536));
    SHOW("empty pipe->file, NONBLOCK", splice(p[0], NULL, dst, NULL, 10, SPLICE_F_NONBLOCK));
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    SHOW("empty O_NONBLOCK pipe->file", splice(p[0], NULL, dst, NULL, 10, 0));
    fcntl(p[0], F_SETFL, 0);

    /* A writer that comes later: the splice waits for its bytes. */
    pid_t child = fork();
    if (child == 0) {
        usleep(100000);
        (void)!write(p[1], "late", 4);
        _exit(0);
    }
    SHOW("pipe->file, waiting", splice(p[0], NULL, dst, NULL, 4096, 0));
    waitpid(child, NULL, 0);
    close(p[1]);
    SHOW("pipe without writers->file", splice(p[0], NULL, dst, NULL, 10, 0));
    pread(dst, buf, 4, cur(dst) - 4);
    printf("  last bytes %.4s\n", buf);
    close(p[0]);

    /* Errors. */
    if (pipe(p) < 0)
        exit(1);
    int mem = memfd_create("m", 0);
    int wronly = open(at("src"), O_WRONLY);
    int append = open(at("dst"), O_WRONLY | O_APPEND);
    int d = open(dir, O_RDONLY | O_DIRECTORY);
    off = 0;
    SHOW("length 0", splice(src, NULL, p[1], NULL, 0, 0));
    SHOW("bad flags", splice(src, NULL, p[1], NULL, 10, 0x100));
    SHOW("file->file", splice(src, NULL, dst, NULL, 10, 0));
    SHOW("file->memfd", splice(src, NULL, mem, NULL, 10, 0));
    SHOW("offset on the pipe's end", splice(src, NULL, p[1], &off, 10, 0));
    SHOW("in O_WRONLY", splice(wronly, NULL, p[1], NULL, 10, 0));
    SHOW("out O_APPEND", splice(p[0], NULL, append, NULL, 10, SPLICE_F_NONBLOCK));
    SHOW("in a directory", splice(d, NULL, p[1], NULL, 10, 0));
    SHOW("in a bad fd", splice(99, NULL, p[1], NULL, 10, 0));
    off = -1;
    SHOW("negative offset", splice(src, &off, p[1], NULL, 10, 0));
    SHOW("offset unreadable", splice(src, (loff_t *)8, p[1], NULL, 10, 0));
}

static void test_copy_file_range(void)
{
    int src = make_file("src", SIZE);
    int dst = open(at("dst"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    loff_t in, out;

    in = 100, out = 5;
    SHOW("offsets", copy_file_range(src, &in, dst, &out, 200000, 0));
    printf("  in %ld, out %ld, src pos %ld, dst pos %ld, same %d\n", (long)in, (long)out, cur(src),
           cur(dst), same_bytes(dst, 5, 100, 200000));
    lseek(src, SIZE - 50, SEEK_SET);
    SHOW("file offsets, to the end", copy_file_range(src, NULL, dst, NULL, 1000, 0));
    printf("  src pos %ld, dst pos %ld, same %d\n", cur(src), cur(dst), same_bytes(dst, 0, SIZE - 50, 50));
    SHOW("at the end", copy_file_range(src, NULL, dst, NULL, 1000, 0));
    in = SIZE + 10;
    SHOW("past the end", copy_file_range(src, &in, dst, NULL, 1000, 0));
    in = 0, out = 0;
    SHOW("length 0", copy_file_range(src, &in, dst, &out, 0, 0));

    /* Within one file. */
    in = 0, out = 10;
    SHOW("same file, overlapping", copy_file_range(src, &in, src, &out, 100, 0));
    in = 0, out = SIZE;
    SHOW("same file, apart", copy_file_range(src, &in, src, &out, 100, 0));
    printf("  same %d\n", same_bytes(src, SIZE, 0, 100));

    /* Errors. */
    int mem = memfd_create("m", 0);
    (void)!write(mem, data, 1000);
    int p[2];
    if (pipe(p) < 0)
        exit(1);
    int wronly = open(at("src"), O_WRONLY);
    int rdonly = open(at("dst"), O_RDONLY);
    int append = open(at("dst"), O_WRONLY | O_APPEND);
    int d = open(dir, O_RDONLY | O_DIRECTORY);
    in = 0, out = 0;
    SHOW("file->memfd", copy_file_range(src, &in, mem, &out, 10, 0));
    SHOW("memfd->file", copy_file_range(mem, &in, dst, &out, 10, 0));
    SHOW("bad flags", copy_file_range(src, &in, dst, &out, 10, 1));
    SHOW("file->pipe", copy_file_range(src, NULL, p[1], NULL, 10, 0));
    SHOW("pipe->file", copy_file_range(p[0], NULL, dst, NULL, 10, 0));
    SHOW("in a directory", copy_file_range(d, NULL, dst, NULL, 10, 0));
    SHOW("out a directory", copy_file_range(src, NULL, d, NULL, 10, 0));
    SHOW("in O_WRONLY", copy_file_range(wronly, NULL, dst, NULL, 10, 0));
    SHOW("out O_RDONLY", copy_file_range(src, NULL, rdonly, NULL, 10, 0));
    SHOW("out O_APPEND", copy_file_range(src, NULL, append, NULL, 10, 0));
    SHOW("in a bad fd", copy_file_range(99, NULL, dst, NULL, 10, 0));
    SHOW("out a bad fd", copy_file_range(src, NULL, 99, NULL, 10, 0));
    SHOW("offset unreadable", copy_file_range(src, (loff_t *)8, dst, NULL, 10, 0));
    in = -1;
    SHOW("negative offset", copy_file_range(src, &in, dst, NULL, 10, 0));
    in = -5;
    SHOW("negative offset, short", copy_file_range(src, &in, dst, NULL, 3, 0));
}

/* struct linux_dirent, the legacy getdents record. */
struct linux_dirent {
    unsigned long d_ino;
    unsigned long d_off;
    unsigned short d_reclen;
    char d_name[];
};

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_getdents(void)
{
    static char buf[1 << 16];
    char *lines[64];
    int count = 0;

    close(make_file("a", 10));
    close(make_file("a-rather-longer-name-of-forty-characters", 10));
    mkdir(at("sub"), 0755);
    symlink("a", at("link"));
    int fd = open(dir, O_RDONLY | O_DIRECTORY);

    SHOW("buffer too small", syscall(SYS_getdents, fd, buf, 10));
    SHOW("buffer unwritable", syscall(SYS_getdents, fd, (void *)8, sizeof buf));
    /* Read it all in small steps: each record well formed. */
    long first_off = -1;
    char second[256] = "";
    for (;;) {
        long n = syscall(SYS_getdents, fd, buf, 64);
        if (n <= 0) {
            SHOW("end", n);
            break;
        }
        for (long pos = 0; pos < n;) {
            struct linux_dirent *d = (struct linux_dirent *)(buf + pos);
            size_t len = strlen(d->d_name);
            int type = buf[pos + d->d_reclen - 1];
            if (d->d_reclen != ((20 + len + 7) & ~7UL) || d->d_ino == 0)
                printf("bad record %s reclen %d\n", d->d_name, d->d_reclen);
            if (first_off < 0)
                first_off = (long)d->d_off;
            else if (!second[0])
                snprintf(second, sizeof second, "%s", d->d_name);
            if (count < 64 && asprintf(&lines[count], "%s type %d", d->d_name, type) > 0)
                count++;
            pos += d->d_reclen;
        }
    }
    qsort(lines, count, sizeof lines[0], by_name);
    for (int i = 0; i < count; i++)
        printf("  %s\n", lines[i]);
    /* Seeking to the first record's d_off reads on from the second. */
    lseek(fd, first_off, SEEK_SET);
    long n = syscall(SYS_getdents, fd, buf, sizeof buf);
    printf("after seek: %s\n", n > 0 && !strcmp(((struct linux_dirent *)buf)->d_name, second)
                                   ? "the second record"
                                   : "something else");
}

struct xattr_args {
    uint64_t value;
    uint32_t size;
    uint32_t flags;
};

static long setxattrat(int dfd, const char *path, unsigned at, const char *name,
                       struct xattr_args *args, size_t usize)
{
    return syscall(SYS_setxattrat, dfd, path, at, name, args, usize);
}

static long getxattrat(int dfd, const char *path, unsigned at, const char *name,
                       struct xattr_args *args, size_t usize)
{
    return syscall(SYS_getxattrat, dfd, path, at, name, args, usize);
}

static void test_xattrat(void)
{
    char value[256];
    char big[32] = {0};
    struct xattr_args args = {(uintptr_t) "abc", 3, 0};
    struct xattr_args get = {(uintptr_t)value, sizeof value, 0};
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);

    close(make_file("f", 10));
    symlink("f", at("l"));
    int fd = open(at("f"), O_RDONLY);

    SHOW("set", setxattrat(dfd, "f", 0, "user.a", &args, sizeof args));
    SHOW("get", getxattrat(AT_FDCWD, at("f"), 0, "user.a", &get, sizeof get));
    printf("  value %.3s\n", value);
    SHOW("get through the link", getxattrat(dfd, "l", 0, "user.a", &get, sizeof get));
    SHOW("get the link itself", getxattrat(dfd, "l", AT_SYMLINK_NOFOLLOW, "user.a", &get, sizeof get));
    struct xattr_args sized = {(uintptr_t)value, 0, 0};
    SHOW("get size", getxattrat(dfd, "f", 0, "user.a", &sized, sizeof sized));
    sized.size = 2;
    SHOW("get too small", getxattrat(dfd, "f", 0, "user.a", &sized, sizeof sized));
    args = (struct xattr_args){(uintptr_t) "xyzw", 4, XATTR_REPLACE};
    SHOW("replace by fd", setxattrat(fd, "", AT_EMPTY_PATH, "user.a", &args, sizeof args));
    SHOW("get by fd, NULL path", getxattrat(fd, NULL, AT_EMPTY_PATH, "user.a", &get, sizeof get));
    printf("  value %.4s\n", value);
    args = (struct xattr_args){(uintptr_t) "q", 1, XATTR_CREATE};
    SHOW("create existing", setxattrat(dfd, "f", 0, "user.a", &args, sizeof args));
    args.flags = 0;
    SHOW("set b", setxattrat(dfd, "f", 0, "user.b", &args, sizeof args));
    memset(value, 0, sizeof value);
    long n = syscall(SYS_listxattrat, dfd, "f", 0, value, sizeof value);
    printf("list: %ld", n);
    for (long i = 0; i < n; i += (long)strlen(value + i) + 1)
        printf(" %s", value + i);
    printf("\n");
    SHOW("list size", syscall(SYS_listxattrat, fd, "", AT_EMPTY_PATH, NULL, 0));
    SHOW("list too small", syscall(SYS_listxattrat, dfd, "f", 0, value, 3));
    SHOW("remove", syscall(SYS_removexattrat, dfd, "f", 0, "user.b"));
    SHOW("remove again", syscall(SYS_removexattrat, fd, "", AT_EMPTY_PATH, "user.b"));
    SHOW("get removed", getxattrat(dfd, "f", 0, "user.b", &get, sizeof get));

    /* struct xattr_args of other sizes; bad flags. */
    memcpy(big, &args, sizeof args);
    SHOW("usize 8", setxattrat(dfd, "f", 0, "user.c", (struct xattr_args *)big, 8));
    SHOW("usize 32, zero tail", setxattrat(dfd, "f", 0, "user.c", (struct xattr_args *)big, 32));
    big[20] = 1;
    SHOW("usize 32, tail set", setxattrat(dfd, "f", 0, "user.c", (struct xattr_args *)big, 32));
    SHOW("usize past a page", setxattrat(dfd, "f", 0, "user.c", (struct xattr_args *)big, 8192));
    SHOW("args unreadable", setxattrat(dfd, "f", 0, "user.c", (struct xattr_args *)8, 16));
    get.flags = 1;
    SHOW("get with flags", getxattrat(dfd, "f", 0, "user.a", &get, sizeof get));
    get.flags = 0;
    args.flags = 4;
    SHOW("set with bad flags", setxattrat(dfd, "f", 0, "user.c", &args, sizeof args));
    args.flags = 0;
    SHOW("bad at_flags", getxattrat(dfd, "f", 0x2, "user.a", &get, sizeof get));
    SHOW("empty path", getxattrat(dfd, "", 0, "user.a", &get, sizeof get));
    SHOW("missing file", getxattrat(dfd, "nope", 0, "user.a", &get, sizeof get));
    SHOW("empty name", getxattrat(dfd, "f", 0, "", &get, sizeof get));
    SHOW("list, bad at_flags", syscall(SYS_listxattrat, dfd, "f", 0x4, value, sizeof value));
    SHOW("remove, bad at_flags", syscall(SYS_removexattrat, dfd, "f", 0x4, "user.a"));
}

static int alarms;
static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

/* SIGALRM after `ms` milliseconds, with or without SA_RESTART. */
static void alarm_in(int ms, int restart)
{
    struct sigaction sa = {.sa_handler = on_alarm, .sa_flags = restart ? SA_RESTART : 0};
    struct itimerval it = {.it_value = {0, ms * 1000}};
    sigaction(SIGALRM, &sa, NULL);
    setitimer(ITIMER_REAL, &it, NULL);
}

static void test_signals(void)
{
    int src = make_file("src", SIZE);
    int dst = open(at("dst"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    int p[2];
    if (pipe(p) < 0)
        exit(1);

    /* An empty pipe that keeps its writer: the splice waits. */
    alarm_in(50, 0);
    SHOW("splice from an empty pipe, interrupted", splice(p[0], NULL, dst, NULL, 10, 0));
    alarm_in(50, 1);
    pid_t child = fork();
    if (child == 0) {
        usleep(200000);
        (void)!write(p[1], "after", 5);
        _exit(0);
    }
    SHOW("splice from an empty pipe, restarted", splice(p[0], NULL, dst, NULL, 10, 0));
    waitpid(child, NULL, 0);

    /* A full pipe: sendfile waits for room. */
    lseek(src, 0, SEEK_SET);
    SHOW("fill the pipe", sendfile(p[1], src, NULL, SIZE));
    alarm_in(50, 0);
    SHOW("sendfile into a full pipe, interrupted", sendfile(p[1], src, NULL, 10));
    printf("alarms %d, src pos %ld\n", alarms, cur(src));
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s sendfile|splice|copy_file_range|getdents|xattrat DIR\n", argv[0]);
        return 2;
    }
    dir = argv[2];
    for (size_t i = 0; i < SIZE; i++)
        data[i] = (char)(i * 7 + i / 251);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(argv[1], "sendfile"))
        test_sendfile();
    else if (!strcmp(argv[1], "splice"))
        test_splice();
    else if (!strcmp(argv[1], "copy_file_range"))
        test_copy_file_range();
    else if (!strcmp(argv[1], "getdents"))
        test_getdents();
    else if (!strcmp(argv[1], "xattrat"))
        test_xattrat();
    else if (!strcmp(argv[1], "signals"))
        test_signals();
    else
        return 2;
    return 0;
}
