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
