"""Run a list of file operations from two processes on one file and print
each result, for test_page_cache.py's model-based test.

Usage: python3 cache_model.py PATH OPS_JSON

OPS_JSON is a list of operations ``[name, proc, args...]``; ``proc`` 0 is
this process and 1 a child forked at the start. Each process opens PATH on
its own (two open file descriptions, two offsets). The results, one line
per operation, go to stdout in order; data read is shown as its length and
a hash, failures as ``-1 ENAME``.
"""

import errno
import hashlib
import json
import os
import sys


def pattern(n, seed):
    """n bytes that depend on seed and position."""
    block = hashlib.sha256(str(seed).encode()).digest() * (n // 32 + 1)
    return block[:n]


def shown(data):
    return f"{len(data)} {hashlib.sha1(data).hexdigest()[:12]}"


def run(fd, op):
    name, args = op[0], op[2:]
    try:
        if name == "write":
            return str(os.write(fd, pattern(args[0], args[1])))
        if name == "pwrite":
            return str(os.pwrite(fd, pattern(args[1], args[2]), args[0]))
        if name == "writev":
            data = pattern(args[0] + args[1], args[2])
            return str(os.writev(fd, [data[: args[0]], data[args[0] :]]))
        if name == "read":
            return shown(os.read(fd, args[0]))
        if name == "pread":
            return shown(os.pread(fd, args[1], args[0]))
        if name == "readv":
            bufs = [bytearray(args[0]), bytearray(args[1])]
            n = os.readv(fd, bufs)
            return shown(bytes(bufs[0] + bufs[1])[:n])
        if name == "truncate":
            os.ftruncate(fd, args[0])
            return "0"
        if name == "fsync":
            os.fsync(fd)
            return "0"
        if name == "lseek":
            return str(os.lseek(fd, args[0], args[1]))
        if name == "fstat":
            return str(os.fstat(fd).st_size)
    except OSError as err:
        return f"-1 {errno.errorcode[err.errno]}"
    raise ValueError(name)


def main():
    path, ops = sys.argv[1], json.loads(sys.argv[2])
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(to_child_w)
        os.close(from_child_r)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        with os.fdopen(to_child_r) as requests, os.fdopen(from_child_w, "w") as replies:
            for line in requests:
                replies.write(run(fd, json.loads(line)) + "\n")
                replies.flush()
        os._exit(0)
    os.close(to_child_r)
    os.close(from_child_w)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    requests, replies = os.fdopen(to_child_w, "w"), os.fdopen(from_child_r)
    for i, op in enumerate(ops):
        if op[1] == 0:
            result = run(fd, op)
        else:
            requests.write(json.dumps(op) + "\n")
            requests.flush()
            result = replies.readline().rstrip("\n")
        print(i, op[0], op[1], "->", result, flush=True)
    requests.close()
    os.waitpid(pid, 0)
    os.close(fd)


if __name__ == "__main__":
    main()
