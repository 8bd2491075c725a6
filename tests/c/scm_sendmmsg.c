/* scm_sendmmsg: pass an fd of FILE with sendmmsg(2) (which sentry does not
 * trace) over a socketpair, receive it with recvmsg(2) and read through it.
 *
 * Usage: scm_sendmmsg FILE
 * Output: the calls' results and the bytes read, one line each.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int sv[2], fd, got = -1;
    char c = 'x', buf[64] = {0};
    struct iovec iov = {&c, 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } out, in;
    struct mmsghdr mm;
    struct msghdr m;
    struct cmsghdr *cm;

    if (argc != 2 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        return 2;
    fd = open(argv[1], O_RDONLY);
    memset(&mm, 0, sizeof mm);
    memset(&out, 0, sizeof out);
    mm.msg_hdr.msg_iov = &iov;
    mm.msg_hdr.msg_iovlen = 1;
    mm.msg_hdr.msg_control = out.buf;
    mm.msg_hdr.msg_controllen = sizeof out.buf;
    cm = CMSG_FIRSTHDR(&mm.msg_hdr);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    printf("sendmmsg %d\n", sendmmsg(sv[0], &mm, 1, 0));
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = in.buf;
    m.msg_controllen = sizeof in.buf;
    printf("recvmsg %zd\n", recvmsg(sv[1], &m, 0));
    if (CMSG_FIRSTHDR(&m) != NULL)
        memcpy(&got, CMSG_DATA(CMSG_FIRSTHDR(&m)), sizeof got);
    printf("pread %zd %s\n", pread(got, buf, sizeof buf - 1, 0), buf);
    return 0;
}
