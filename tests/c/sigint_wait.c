/* Print "ready", then wait for SIGINT; the handler prints "got SIGINT" and
 * exits 3. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void on_sigint(int sig)
{
    (void)sig;
    static const char msg[] = "got SIGINT\n";
    write(1, msg, sizeof msg - 1);
    _exit(3);
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0) {
        perror("sigaction");
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    for (;;)
        pause();
}
