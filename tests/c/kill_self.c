/* raise(SIGKILL): killed by SIGKILL (a shell reports 137). */
#include <signal.h>
#include <stdio.h>

int main(void)
{
    printf("before\n");
    fflush(stdout);
    raise(SIGKILL);
    printf("after\n");
    return 0;
}
