# Programs and scripts executed from the current directory (a FUSE mount):
# test_fuse_builtin_sandbox.py runs it natively and in the sandbox, and
# compares the output (Linux is the oracle).
cp /bin/true t && ./t; echo "true: $?"
cp /bin/echo e && ./e hello world; echo "echo: $?"
printf '#!/bin/sh\necho "script $0 $*"\n' > s.sh && chmod +x s.sh && ./s.sh a b; echo "script: $?"
printf '#!%s/e -n opt\n' "$PWD" > s2 && chmod +x s2 && ./s2 x y; echo "nested: $?"
printf '#!%s/s2\n' "$PWD" > s3 && chmod +x s3 && ./s3 z; echo "two levels: $?"
printf '#!   %s/e\t \n' "$PWD" > s4 && chmod +x s4 && ./s4 spaces; echo "spaces: $?"
ln -s /usr/bin/python3 py && ./py -c 'import sys; print(sys.argv)'; echo "py: $?"
mkdir bin && cp /bin/cat bin/ && PATH=$PWD/bin:$PATH cat s.sh | wc -c; echo "PATH: $?"
printf 'echo noshebang\n' > ns && chmod +x ns && ./ns; echo "ns: $?"
printf 'x' > nx && ./nx; echo "nx: $?"
mkdir dd && ./dd; echo "dir: $?"
./missing; echo "missing: $?"
printf '#!\n' > empty && chmod +x empty && ./empty; echo "empty: $?"
printf '#!%s/missing\n' "$PWD" > mi && chmod +x mi && ./mi; echo "missing interpreter: $?"
sh -c 'exec ./e exec replaces'; echo "exec: $?"
python3 -c 'import os,subprocess; print(subprocess.run(["./e","sub"],capture_output=True).stdout); os.execv("./t",["t"])'; echo "execv: $?"
python3 -c 'import os
try: os.execv("./nx",["nx"])
except OSError as e: print("nx", e.errno)
try: os.execv("./dd",["dd"])
except OSError as e: print("dd", e.errno)
try: os.execv("./ns",["ns"])
except OSError as e: print("ns", e.errno)
try: os.execv("./empty",["empty"])
except OSError as e: print("empty", e.errno)
try: os.execv("./mi",["mi"])
except OSError as e: print("mi", e.errno)
'
printf '#!%s/e\ta\t b \t\n' "$PWD" > tabs && chmod +x tabs && ./tabs; echo "tabs: $?"
printf '#!%s/e a\0b\n' "$PWD" > nul && chmod +x nul && ./nul; echo "nul: $?"
printf '#!%s/e\0 a\n' "$PWD" > nul2 && chmod +x nul2 && ./nul2; echo "nul after name: $?"
printf '#!%s/e %0300d' "$PWD" 7 > long && chmod +x long && ./long | wc -c; echo "long arg: $?"
printf '#!/%0300d' 7 > longname && chmod +x longname && ./longname; echo "long name: $?"
printf '#! \t \n' > blank && chmod +x blank && ./blank; echo "blank: $?"
python3 -c 'import os
try: os.execv("./longname",["longname"])
except OSError as e: print("longname", e.errno)
try: os.execv("./blank",["blank"])
except OSError as e: print("blank", e.errno)
'
cat > argv.c <<'EOS'
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
int main(void) {
    static char *envp[] = {0};
    setvbuf(stdout, NULL, _IONBF, 0);
    /* argv's last pointer crosses into a page with no access: EFAULT */
    char *page = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(page + 4096, 4096, PROT_NONE);
    char **cross = (char **)(page + 4096 - 12);
    cross[0] = "t";
    errno = 0;
    execve("./t", cross, envp);
    printf("cross: %d\n", errno);
    /* the same array, readable across the page: runs */
    mprotect(page + 4096, 4096, PROT_READ | PROT_WRITE);
    cross[1] = 0;
    /* a script, so that sentry reads the app's argv itself */
    static char *big[1 << 22];
    for (long i = 0; i < (1 << 22) - 1; i++) big[i] = "x";
    errno = 0;
    execve("./s.sh", big, envp);
    printf("big: %d\n", errno);
    execve("./s.sh", cross, envp);
    printf("aligned: %d\n", errno);
    return 1;
}
EOS
cc -o argv argv.c && ./argv; echo "argv: $?"
# The new program's name (comm) is the base name of the path exec'd, for a
# program, a script and a symlink to a host program alike.
cp /bin/cat a-long-program-name && ./a-long-program-name /proc/self/comm; echo "comm: $?"
printf '#!/bin/sh\ncat /proc/$$/comm\n' > named.sh && chmod +x named.sh && ./named.sh
ln -s /bin/cat kitty && ./kitty /proc/self/comm
python3 -c 'import os; os.execv("./a-long-program-name", ["x", "/proc/self/status"])' | head -1
