/*
 * The app of test_parking.py. getppid() is served by a handler that parks
 * the caller for a while and returns 4242. Prints what each call returned.
 * With argument "kill", it calls getppid once and is SIGKILLed meanwhile.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static volatile int spins_done;

static void on_alarm(int sig) { (void)sig; }

/* Runs while the main thread is parked: it must not be held up. */
static void *spinner(void *arg)
{
    struct timespec t = {0, 1000000};
    (void)arg;
    for (int i = 0; i < 20; i++)
        nanosleep(&t, NULL);
    spins_done = 1;
    return NULL;
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    pthread_t thread;
    long r;

    if (argc > 1 && strcmp(argv[1], "kill") == 0) {
        printf("parking\n");
        fflush(stdout);
        syscall(SYS_getppid);
        printf("not reached\n");
        return 1;
    }
    pthread_create(&thread, NULL, spinner, NULL);
    r = syscall(SYS_getppid);
    printf("parked: %ld, other thread done meanwhile: %d\n", r, spins_done);
    pthread_join(thread, NULL);

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    ualarm(50000, 0);
    errno = 0;
    r = syscall(SYS_getppid);
    printf("signal, no SA_RESTART: %ld %s\n", r, strerror(errno));

    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    ualarm(50000, 0);
    errno = 0;
    r = syscall(SYS_getppid);
    printf("signal, SA_RESTART: %ld %s\n", r, strerror(errno));
    return 0;
}
