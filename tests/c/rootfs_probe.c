/*
 * Run as the only program of a --rootfs tree: print the root's entries,
 * whether a file of the host's root is visible, and whether writing a file
 * at the root works (it lands in the sandbox's memory, not in the tree).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    char *names[256];
    int n = 0, fd;
    DIR *dir = opendir("/");
    struct dirent *e;

    if (!dir)
        return 1;
    while ((e = readdir(dir)) && n < 256)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            names[n++] = strdup(e->d_name);
    closedir(dir);
    qsort(names, n, sizeof names[0], by_name);
    for (int i = 0; i < n; i++)
        printf("entry %s\n", names[i]);
    printf("host file %s: %s\n", argv[1], access(argv[1], F_OK) == 0 ? "visible" : strerror(errno));
    fd = open("/written", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    printf("write /written: %s\n", fd >= 0 && write(fd, "x", 1) == 1 ? "ok" : strerror(errno));
    printf("cwd ok: %s\n", getcwd((char[256]){0}, 256) ? "yes" : "no");
    printf("proc: %s\n", access("/proc/self/status", R_OK) == 0 ? "mounted" : strerror(errno));
    return 0;
}
