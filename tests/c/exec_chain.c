/* Exec itself N times, counting in argv[1], then print "done N". */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int total = argc > 1 ? atoi(argv[1]) : 10;
    int count = argc > 2 ? atoi(argv[2]) : 0;
    if (count < total) {
        char total_s[16], next_s[16];
        snprintf(total_s, sizeof total_s, "%d", total);
        snprintf(next_s, sizeof next_s, "%d", count + 1);
        char *const args[] = {argv[0], total_s, next_s, NULL};
        execv("/proc/self/exe", args);
        perror("execv");
        return 1;
    }
    printf("done %d\n", count);
    return 0;
}
