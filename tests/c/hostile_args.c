/* Hostile arguments to the file syscalls sentry emulates, on files under
 * DIR (a FUSE mount): huge, negative and wrapping offsets, sizes and counts,
 * bad pointers, unterminated and overlong paths, and odd fd numbers.
 *
 * Usage: hostile_args DIR
 *
 * Every call is made with syscall(2), so that no libc wrapper checks or
 * rewrites its arguments, and prints "name ret errno" (errno 0 when ret is
 * not negative; addresses are printed as 0). The output is meant to be the
 * same natively and in the sandbox.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define HUGE_FD (1L << 32) /* an fd register with bits above the C int */
#define KERNEL_ADDR 0xffff800000000000UL

static void report(const char *name, long ret)
{
    printf("%s %ld %d\n", name, ret, ret < 0 ? errno : 0);
    fflush(stdout);
}

/* Run one syscall and report it. */
#define T(name, ...)                               \
    do {                                           \
        errno = 0;                                 \
        report(name, syscall(__VA_ARGS__));        \
    } while (0)

/* Run an mmap and report 0 for an address, as addresses differ. */
static void map(const char *name, size_t len, long off, int fd)
{
    errno = 0;
    long ret = syscall(SYS_mmap, 0, len, PROT_READ, MAP_SHARED, fd, off);
    if (ret < 0 && ret > -4096) {
        report(name, -1);
        return;
    }
    munmap((void *)ret, len);
    report(name, 0);
}

static char *join(const char *dir, const char *name)
{
    char *path = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(path, "%s/%s", dir, name);
    return path;
}

static void seeks(int fd, int dir)
{
    T("lseek_set_neg", SYS_lseek, fd, -1L, SEEK_SET);
    T("lseek_set_max", SYS_lseek, fd, LLONG_MAX, SEEK_SET);
    T("lseek_cur_overflow", SYS_lseek, fd, 10L, SEEK_CUR);
    T("lseek_cur_min", SYS_lseek, fd, LLONG_MIN, SEEK_CUR);
    T("lseek_set_zero", SYS_lseek, fd, 0L, SEEK_SET);
    T("lseek_cur_neg", SYS_lseek, fd, -10L, SEEK_CUR);
    T("lseek_end_overflow", SYS_lseek, fd, LLONG_MAX, SEEK_END);
    T("lseek_end_neg", SYS_lseek, fd, -100L, SEEK_END);
    T("lseek_end_min", SYS_lseek, fd, LLONG_MIN, SEEK_END);
    T("lseek_data_neg", SYS_lseek, fd, -1L, SEEK_DATA);
    T("lseek_hole_neg", SYS_lseek, fd, -1L, SEEK_HOLE);
    T("lseek_data_max", SYS_lseek, fd, LLONG_MAX, SEEK_DATA);
    T("lseek_hole_max", SYS_lseek, fd, LLONG_MAX, SEEK_HOLE);
    T("lseek_data_min", SYS_lseek, fd, LLONG_MIN, SEEK_DATA);
    T("lseek_hole_0", SYS_lseek, fd, 0L, SEEK_HOLE);
    T("lseek_whence_5", SYS_lseek, fd, 0L, 5);
    T("lseek_whence_neg", SYS_lseek, fd, 0L, -1L);
    T("lseek_whence_high", SYS_lseek, fd, 3L, 1L << 32);
    T("lseek_fd_high", SYS_lseek, fd + HUGE_FD, 0L, SEEK_CUR);
    T("lseek_dir_neg", SYS_lseek, dir, -1L, SEEK_SET);
    T("lseek_dir_max", SYS_lseek, dir, LLONG_MAX, SEEK_SET);
    T("lseek_dir_cur_overflow", SYS_lseek, dir, 10L, SEEK_CUR);
    T("lseek_dir_0", SYS_lseek, dir, 0L, SEEK_SET);
    T("lseek_set_zero_again", SYS_lseek, fd, 0L, SEEK_SET);
}

static void reads(int fd, char *buf)
{
    struct iovec iov[2] = {{buf, 4}, {buf + 4, 4}};
    struct iovec wide[2] = {{buf, SSIZE_MAX}, {buf, 10}};
    struct iovec neg[1] = {{buf, (size_t)-1}};
    struct iovec bad[1] = {{(void *)KERNEL_ADDR, 10}};
    struct iovec null[1] = {{NULL, 10}};
    static struct iovec many[1024];
    for (int i = 0; i < 1024; i++)
        many[i] = (struct iovec){buf + i % 16, 0};
    many[0].iov_len = 3;

    T("read_count_max", SYS_read, fd, buf, SIZE_MAX);
    T("read_count_ssize_max", SYS_read, fd, buf, (size_t)SSIZE_MAX);
    T("read_count_2_62", SYS_read, fd, buf, 1UL << 62);
    T("read_count_2_40", SYS_read, fd, buf, 1UL << 40);
    T("read_buf_null", SYS_pread64, fd, NULL, 10, 0L);
    T("read_buf_1", SYS_pread64, fd, (void *)1, 10, 0L);
    T("read_buf_kernel", SYS_pread64, fd, (void *)KERNEL_ADDR, 10, 0L);
    T("read_fd_high", SYS_pread64, fd + HUGE_FD, buf, 4, 0L);
    T("read_fd_neg", SYS_read, -1, buf, 4);
    T("read_fd_big", SYS_read, INT_MAX, buf, 4);
    T("pread_off_neg", SYS_pread64, fd, buf, 10, -1L);
    T("pread_off_min", SYS_pread64, fd, buf, 10, LLONG_MIN);
    T("pread_off_max", SYS_pread64, fd, buf, 10, LLONG_MAX);
    T("pread_off_near_max", SYS_pread64, fd, buf, 10, LLONG_MAX - 10);
    T("pread_off_wrap", SYS_pread64, fd, buf, 10, LLONG_MAX - 5);
    T("pread_count_max", SYS_pread64, fd, buf, SIZE_MAX, 0L);
    T("readv_ok", SYS_preadv, fd, iov, 2, 0L, 0L);
    T("readv_iovcnt_neg", SYS_readv, fd, iov, -1);
    T("readv_iovcnt_1025", SYS_readv, fd, iov, 1025);
    T("readv_iovcnt_1024", SYS_preadv, fd, many, 1024, 0L, 0L);
    T("readv_iovcnt_high", SYS_preadv, fd, iov, (1L << 32) + 2, 0L, 0L);
    T("readv_iov_null", SYS_readv, fd, NULL, 1);
    T("readv_len_wide", SYS_preadv, fd, wide, 2, 0L, 0L);
    T("readv_len_neg", SYS_preadv, fd, neg, 1, 0L, 0L);
    T("readv_base_kernel", SYS_preadv, fd, bad, 1, 0L, 0L);
    T("readv_base_null", SYS_preadv, fd, null, 1, 0L, 0L);
    T("preadv_off_neg", SYS_preadv, fd, iov, 2, -1L, 0L);
    T("preadv_off_max", SYS_preadv, fd, iov, 2, LLONG_MAX, 0L);
    T("preadv2_off_minus2", SYS_preadv2, fd, iov, 2, -2L, 0L, 0);
    T("preadv2_flags_bad", SYS_preadv2, fd, iov, 2, 0L, 0L, 0x10000);
    T("preadv2_flags_neg", SYS_preadv2, fd, iov, 2, 0L, 0L, -1);
}

static void writes(int fd, char *buf)
{
    struct iovec wide[2] = {{buf, SSIZE_MAX}, {buf, 10}};
    struct iovec neg[1] = {{buf, (size_t)-1}};

    T("write_count_max", SYS_write, fd, buf, SIZE_MAX);
    T("write_count_2_62", SYS_write, fd, buf, 1UL << 62);
    T("write_buf_null", SYS_pwrite64, fd, NULL, 10, 0L);
    T("write_buf_kernel", SYS_pwrite64, fd, (void *)KERNEL_ADDR, 10, 0L);
    T("pwrite_off_neg", SYS_pwrite64, fd, buf, 4, -1L);
    T("pwrite_off_max", SYS_pwrite64, fd, buf, 4, LLONG_MAX);
    T("pwrite_off_wrap", SYS_pwrite64, fd, buf, 10, LLONG_MAX - 5);
    T("pwrite_count_max", SYS_pwrite64, fd, buf, SIZE_MAX, 0L);
    T("writev_iovcnt_neg", SYS_writev, fd, wide, -1);
    T("writev_iovcnt_1025", SYS_writev, fd, wide, 1025);
    T("writev_len_wide", SYS_pwritev, fd, wide, 2, 0L, 0L);
    T("writev_len_neg", SYS_pwritev, fd, neg, 1, 0L, 0L);
    T("pwritev_off_neg", SYS_pwritev, fd, neg, 1, -1L, 0L);
    T("pwritev2_flags_bad", SYS_pwritev2, fd, wide, 1, 0L, 0L, 0x10000);
}

static void sizes(int fd, const char *path)
{
    T("ftruncate_neg", SYS_ftruncate, fd, -1L);
    T("ftruncate_min", SYS_ftruncate, fd, LLONG_MIN);
    T("truncate_neg", SYS_truncate, path, -1L);
    T("fallocate_off_neg", SYS_fallocate, fd, 0, -1L, 10L);
    T("fallocate_len_zero", SYS_fallocate, fd, 0, 0L, 0L);
    T("fallocate_len_neg", SYS_fallocate, fd, 0, 0L, -1L);
    T("fallocate_wrap", SYS_fallocate, fd, 0, LLONG_MAX, 10L);
    T("fallocate_mode_bad", SYS_fallocate, fd, 0x10000, 0L, 10L);
    T("fallocate_mode_neg", SYS_fallocate, fd, -1, 0L, 10L);
    T("ftruncate_back", SYS_ftruncate, fd, 11L);
}

static void names(const char *dir, const char *file, const char *link)
{
    char *overlong = malloc(PATH_MAX + 16);
    int n = sprintf(overlong, "%s/", dir);
    memset(overlong + n, 'a', PATH_MAX + 8 - n);
    overlong[PATH_MAX + 8] = 0;
    char *longname = malloc(strlen(dir) + 2048);
    n = sprintf(longname, "%s/", dir);
    memset(longname + n, 'b', 2000);
    longname[n + 2000] = 0;
    char *name300 = malloc(strlen(dir) + 400);
    n = sprintf(name300, "%s/", dir);
    memset(name300 + n, 'c', 300);
    name300[n + 300] = 0;
    /* A path that runs into an unmapped page with no NUL. */
    long page = sysconf(_SC_PAGESIZE);
    char *pages = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(pages + page, page);
    char *open_end = pages + page - strlen(dir) - 8;
    memcpy(open_end, dir, strlen(dir));
    memset(open_end + strlen(dir), 'd', 8);
    /* A PATH_MAX run with no NUL, then an unmapped page. */
    char *run = mmap(NULL, 2 * PATH_MAX, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(run + PATH_MAX, PATH_MAX);
    memcpy(run, dir, strlen(dir));
    memset(run + strlen(dir), 'e', PATH_MAX - strlen(dir));
    char buf[256];

    T("open_path_overlong", SYS_openat, AT_FDCWD, overlong, O_RDONLY);
    T("open_name_2000", SYS_openat, AT_FDCWD, longname, O_RDONLY);
    T("open_name_300", SYS_openat, AT_FDCWD, name300, O_RDONLY | O_CREAT, 0644);
    T("mkdir_name_300", SYS_mkdirat, AT_FDCWD, name300, 0755);
    T("stat_path_overlong", SYS_newfstatat, AT_FDCWD, overlong, buf, 0);
    T("open_path_null", SYS_openat, AT_FDCWD, NULL, O_RDONLY);
    T("open_path_1", SYS_openat, AT_FDCWD, (void *)1, O_RDONLY);
    T("open_path_kernel", SYS_openat, AT_FDCWD, (void *)KERNEL_ADDR, O_RDONLY);
    T("open_path_unterminated", SYS_openat, AT_FDCWD, open_end, O_RDONLY);
    T("open_path_max_run", SYS_openat, AT_FDCWD, run, O_RDONLY);
    T("unlink_path_overlong", SYS_unlinkat, AT_FDCWD, overlong, 0);
    T("rename_path_overlong", SYS_renameat, AT_FDCWD, file, AT_FDCWD, overlong);
    T("open_dirfd_neg", SYS_openat, -5, "x", O_RDONLY);
    T("open_flags_all", SYS_openat, AT_FDCWD, file, -1L & ~(O_CREAT | O_TMPFILE | O_DIRECTORY));
    T("readlink_zero", SYS_readlinkat, AT_FDCWD, link, buf, 0);
    T("readlink_neg", SYS_readlinkat, AT_FDCWD, link, buf, -1);
    T("readlink_int_max", SYS_readlinkat, AT_FDCWD, link, buf, INT_MAX);
    T("readlink_high", SYS_readlinkat, AT_FDCWD, link, buf, (1L << 32) + 3);
    T("readlink_buf_null", SYS_readlinkat, AT_FDCWD, link, NULL, 10);
    T("readlink_not_link", SYS_readlinkat, AT_FDCWD, file, buf, 10);
}

static void attrs(int fd, const char *path)
{
    char buf[256];
    struct timespec times[2] = {{0, 1000000000L}, {0, 0}};

    T("statx_flags_bad", SYS_statx, AT_FDCWD, path, -1, 0x7ff, buf);
    T("statx_mask_reserved", SYS_statx, AT_FDCWD, path, 0, 0x80000000U, buf);
    T("statx_buf_null", SYS_statx, AT_FDCWD, path, 0, 0x7ff, NULL);
    T("fstat_buf_kernel", SYS_fstat, fd, (void *)KERNEL_ADDR);
    T("utimensat_nsec_bad", SYS_utimensat, AT_FDCWD, path, times, 0);
    T("utimensat_flags_bad", SYS_utimensat, AT_FDCWD, path, NULL, -1);
    T("utimensat_times_bad", SYS_utimensat, AT_FDCWD, path, (void *)1, 0);
    T("fchmodat_flags_bad", 452 /* fchmodat2 */, AT_FDCWD, path, 0644, -1);
    T("fchownat_flags_bad", SYS_fchownat, AT_FDCWD, path, 0, 0, -1);
    T("faccessat2_mode_bad", SYS_faccessat2, AT_FDCWD, path, -1, 0);
    T("faccessat2_flags_bad", SYS_faccessat2, AT_FDCWD, path, 0, -1);
    T("chmod_mode_high", SYS_chmod, path, 0xffff0644L);
    T("fchown_uid_max", SYS_fchown, fd, -1L, -1L);
    T("fsync_fd_high", SYS_fsync, fd + HUGE_FD);
    T("fcntl_cmd_bad", SYS_fcntl, fd, 9999, 0);
    T("fcntl_cmd_neg", SYS_fcntl, fd, -1, 0);
    T("fcntl_dupfd_neg", SYS_fcntl, fd, F_DUPFD, -1);
    T("fcntl_dupfd_huge", SYS_fcntl, fd, F_DUPFD, INT_MAX);
    T("fcntl_getlk_null", SYS_fcntl, fd, F_GETLK, NULL);
    T("fcntl_setfd_all", SYS_fcntl, fd, F_SETFD, -1L);
    T("fcntl_getfd", SYS_fcntl, fd, F_GETFD);
    T("fcntl_setfd_none", SYS_fcntl, fd, F_SETFD, 0);
    T("fcntl_setfl_neg", SYS_fcntl, fd, F_SETFL, (long)(O_APPEND | 0x80000000U));
    T("fcntl_getfl", SYS_fcntl, fd, F_GETFL);
    T("fcntl_setfl_back", SYS_fcntl, fd, F_SETFL, 0);
    T("dup2_neg", SYS_dup2, fd, -1);
    T("dup2_huge", SYS_dup2, fd, INT_MAX);
    T("dup3_flags_bad", SYS_dup3, fd, fd + 20, -1);
    T("close_huge", SYS_close, INT_MAX);
    T("close_range_rev", SYS_close_range, 10, 5, 0);
    T("close_range_flags_bad", SYS_close_range, 100, 200, -1);
}

static void xattrs(int fd, const char *path)
{
    char buf[256], name[300];
    memset(name, 'u', sizeof(name) - 1);
    memcpy(name, "user.", 5);
    name[sizeof(name) - 1] = 0;

    T("setxattr", SYS_setxattr, path, "user.x", "value", 5, 0);
    T("setxattr_size_max", SYS_setxattr, path, "user.y", buf, SIZE_MAX, 0);
    T("setxattr_size_65537", SYS_setxattr, path, "user.y", buf, 65537, 0);
    T("setxattr_flags_bad", SYS_setxattr, path, "user.y", buf, 1, -1);
    T("setxattr_value_null", SYS_setxattr, path, "user.y", NULL, 10, 0);
    T("getxattr_size_max", SYS_getxattr, path, "user.x", buf, SIZE_MAX);
    T("getxattr_size_small", SYS_getxattr, path, "user.x", buf, 2);
    T("getxattr_size_zero", SYS_getxattr, path, "user.x", NULL, 0);
    T("getxattr_buf_null", SYS_getxattr, path, "user.x", NULL, 100);
    T("getxattr_name_null", SYS_getxattr, path, NULL, buf, 100);
    T("getxattr_name_long", SYS_getxattr, path, name, buf, 100);
    T("getxattr_name_empty", SYS_getxattr, path, "", buf, 100);
    T("fgetxattr_size_max", SYS_fgetxattr, fd, "user.x", buf, SIZE_MAX);
    T("fgetxattr_fd_neg", SYS_fgetxattr, -1, "user.x", buf, 100);
    T("listxattr_size_max", SYS_listxattr, path, buf, SIZE_MAX);
    T("listxattr_buf_null", SYS_listxattr, path, NULL, 100);
    T("flistxattr_size_small", SYS_flistxattr, fd, buf, 1);
    T("removexattr_name_long", SYS_removexattr, path, name);
}

static void dirents(int dir, int fd)
{
    char *buf = malloc(1 << 16);

    T("getdents_count_zero", SYS_getdents64, dir, buf, 0);
    T("getdents_buf_null", SYS_getdents64, dir, NULL, 4096);
    T("getdents_buf_kernel", SYS_getdents64, dir, (void *)KERNEL_ADDR, 4096);
    T("getdents_count_uint_max", SYS_getdents64, dir, buf, 0xffffffffUL);
    T("getdents_count_high", SYS_getdents64, dir, buf, (1UL << 32) + 16);
    T("getdents_not_dir", SYS_getdents64, fd, buf, 4096);
    T("getdents_fd_neg", SYS_getdents64, -1, buf, 4096);
    free(buf);
}

static void maps(int fd)
{
    map("mmap_len_max", SIZE_MAX, 0, fd);
    map("mmap_len_2_62", 1UL << 62, 0, fd);
    map("mmap_len_zero", 0, 0, fd);
    map("mmap_off_unaligned", 4096, 1, fd);
    map("mmap_off_neg", 4096, -4096L, fd);
    map("mmap_off_max", 4096, LLONG_MAX & ~4095L, fd);
    map("mmap_off_wrap", 8192, LLONG_MAX & ~4095L, fd);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    char *file = join(dir, "f"), *sub = join(dir, "d"), *link = join(dir, "l");
    int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, "hello world", 11) != 11 || mkdir(sub, 0755) != 0 ||
        symlink("f", link) != 0) {
        perror("setup");
        return 1;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd < 0) {
        perror("open dir");
        return 1;
    }
    char *buf = malloc(4096);
    memset(buf, 'x', 4096);

    seeks(fd, dfd);
    reads(fd, buf);
    writes(fd, buf);
    sizes(fd, file);
    names(dir, file, link);
    attrs(fd, file);
    xattrs(fd, file);
    dirents(dfd, fd);
    maps(fd);
    T("close", SYS_close, fd);
    T("close_dir", SYS_close, dfd);
    return 0;
}
