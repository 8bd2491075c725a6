/* Dereference NULL: killed by SIGSEGV (a shell reports 139). */
#include <stdio.h>

int main(void)
{
    volatile int *p = NULL;
    printf("before\n");
    fflush(stdout);
    *p = 1;
    printf("after\n");
    return 0;
}
