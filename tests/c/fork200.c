/* Fork 200 children, each exiting with i % 256; reap them all and print the
 * sum of their exit statuses. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define N 200

int main(void)
{
    pid_t pids[N];
    for (int i = 0; i < N; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        if (pid == 0)
            _exit(i % 256);
        pids[i] = pid;
    }
    long sum = 0;
    int reaped = 0;
    for (int i = 0; i < N; i++) {
        int status;
        if (waitpid(pids[i], &status, 0) != pids[i]) {
            perror("waitpid");
            return 1;
        }
        if (!WIFEXITED(status)) {
            fprintf(stderr, "child %d did not exit normally: %#x\n", i, status);
            return 1;
        }
        if (WEXITSTATUS(status) != i % 256) {
            fprintf(stderr, "child %d exited %d\n", i, WEXITSTATUS(status));
            return 1;
        }
        sum += WEXITSTATUS(status);
        reaped++;
    }
    /* No children may be left. */
    if (wait(NULL) != -1) {
        fprintf(stderr, "unexpected extra child\n");
        return 1;
    }
    printf("reaped %d sum %ld\n", reaped, sum);
    return 0;
}
