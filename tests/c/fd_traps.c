/* A process's first sentry fd, reached in every way that skips an open of
 * its own (for test_scale.py): ``fd_traps FILE``. FILE holds at least 16
 * bytes. Prints what each reader got; the output must match between Linux
 * (FILE on a host directory) and sentry (FILE on a FUSE mount).
 *
 * 1. A thread that was already running reads the fd its main thread opened.
 * 2. A child forked before the open receives the fd over a unix socket
 *    (SCM_RIGHTS), reads it, then dup2s it onto its stdin and reads that.
 *    It calls recvmsg once the fd exists: sentry follows SCM_RIGHTS only
 *    while it has some fd in the sandbox.
 * 3. A grandchild exec'd from that child reads the inherited stdin.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>

static int shared_fd = -1;
static int go[2], opened[2];

static void show(const char *who, int fd, off_t at)
{
    char buf[5] = {0};
    ssize_t n = pread(fd, buf, 4, at);
    struct stat st;
    int r = fstat(fd, &st);
    printf("%s: pread %zd '%s' fstat %d size %lld\n", who, n, n > 0 ? buf : "",
           r, r == 0 ? (long long)st.st_size : -1LL);
    fflush(stdout);
}

static void *thread_main(void *arg)
{
    char c;
    (void)arg;
    if (read(go[0], &c, 1) != 1)
        return NULL;
    show("thread", shared_fd, 0);
    return NULL;
}

static int receive_fd(int sock)
{
    char byte, control[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {&byte, 1};
    struct msghdr msg = {0};
    struct cmsghdr *cmsg;
    int fd;

    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    if (recvmsg(sock, &msg, 0) != 1)
        return -1;
    cmsg = CMSG_FIRSTHDR(&msg);
    if (!cmsg || cmsg->cmsg_type != SCM_RIGHTS)
        return -1;
    memcpy(&fd, CMSG_DATA(cmsg), sizeof fd);
    return fd;
}

static void send_fd(int sock, int fd)
{
    char byte = 'x', control[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {&byte, 1};
    struct msghdr msg = {0};
    struct cmsghdr *cmsg;

    memset(control, 0, sizeof control);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &fd, sizeof fd);
    if (sendmsg(sock, &msg, 0) != 1)
        perror("sendmsg");
}

int main(int argc, char **argv)
{
    int sv[2];
    pthread_t thread;
    pid_t child;

    if (argc == 2 && strcmp(argv[1], "--stdin") == 0) {
        show("exec'd grandchild", 0, 12);
        return 0;
    }
    if (argc != 2 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || pipe(go) < 0 ||
        pipe(opened) < 0)
        return 2;
    child = fork();
    if (child == 0) {
        char c;
        int fd = read(opened[0], &c, 1) == 1 ? receive_fd(sv[1]) : -1;
        printf("child received an fd: %d\n", fd >= 0);
        show("child", fd, 4);
        if (dup2(fd, 0) != 0)
            return 3;
        close(fd);
        show("child's stdin", 0, 8);
        execl("/proc/self/exe", "fd_traps", "--stdin", (char *)NULL);
        return 4;
    }
    pthread_create(&thread, NULL, thread_main, NULL);
    shared_fd = open(argv[1], O_RDONLY);
    if (shared_fd < 0)
        return 5;
    (void)!write(go[1], "g", 1);
    (void)!write(opened[1], "o", 1);
    pthread_join(thread, NULL);
    send_fd(sv[0], shared_fd);
    waitpid(child, NULL, 0);
    show("main", shared_fd, 0);
    return 0;
}
