/* A non-leader thread calls execve while the main thread waits in
 * pthread_join: the kernel kills the other threads, the execing thread takes
 * over the leader's pid, and echo runs. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static void *exec_thread(void *arg)
{
    (void)arg;
    char *const argv[] = {"echo", "exec-from-thread", NULL};
    char *const envp[] = {NULL};
    usleep(100 * 1000);
    execve("/bin/echo", argv, envp);
    perror("execve");
    _exit(99);
}

static void *busy_thread(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

int main(void)
{
    pthread_t t1, t2;
    printf("before exec\n");
    fflush(stdout);
    if (pthread_create(&t2, NULL, busy_thread, NULL) != 0)
        return 2;
    if (pthread_create(&t1, NULL, exec_thread, NULL) != 0)
        return 2;
    pthread_join(t1, NULL);
    /* Not reached: the execve replaces the whole process. */
    printf("join returned\n");
    return 3;
}
