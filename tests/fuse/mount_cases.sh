# mount(2) of tmpfs and bind mounts, run in the current directory as root
# of a user namespace: test_fuse_builtin_sandbox.py runs it natively
# (unshare -rm) and in the sandbox on a memfs mount, and compares.
mkdir t src b sub rb nb mv
echo hi > src/f
mount -t tmpfs -o size=1m,mode=700 x t; echo "tmpfs: $?"
stat -c '%a %F' t; echo data > t/file; cat t/file; ls t
df -k t | awk 'NR == 2 { print "size", $2 }'
mount -t tmpfs -o bogus=1 x sub; echo "bogus option: $?"
mount -t tmpfs x missing; echo "missing target: $?"
mount -t tmpfs x src/f; echo "file target: $?"
mount --bind src b; echo "bind: $?"; ls b; echo n > b/n; cat src/n
mount --bind src/f sub; echo "bind file on dir: $?"
mount --bind nothing sub; echo "bind missing: $?"
mkdir src/in; mount -t tmpfs y src/in; echo z > src/in/z
mount --rbind src rb; echo "rbind: $?"; ls rb/in
mount --bind src nb; echo "bind without the mount below: $?"; ls nb/in
cd t; umount ../t; echo "umount busy: $?"; cd ..
umount t; echo "umount: $?"; ls t
umount src; echo "umount not a mount: $?"
mount --make-private b; echo "make-private: $?"
mount --move b mv; echo "move: $?"; ls mv; ls b
mount --move mv mv/in; echo "move below itself: $?"
umount rb; echo "umount with a mount below: $?"
umount rb/in rb nb mv src/in; echo "umount all: $?"
ls src rb nb mv
mkdir busy; mount -t tmpfs x busy; rmdir busy; echo "rmdir a mount point: $?"
mv busy moved; echo "rename a mount point: $?"
umount busy
mkdir -p p/a; mount -t tmpfs x p/a; echo hi > p/a/f
mv p q; echo "rename the parent: $?"; ls q/a; umount q/a; echo "umount where it went: $?"
mkdir -p s; mount -t tmpfs x s; mkdir s/p; mount -t tmpfs z s/p; touch s/p/IS_Z
mount -t tmpfs y s; ls s/p; echo "stacked hides: $?"
umount s; echo "umount the top: $?"; ls s/p; umount s/p s; echo "umount the rest: $?"
mkdir -p c d; mount -t tmpfs b c; touch c/IS_B; mount -t tmpfs t c; touch c/IS_T
mount --move c d; echo "move the top: $?"; ls c d; umount c d
mkdir -p e g; mount -t tmpfs a e; echo hi > e/f; mount --bind e g; exec 3<e/f
umount e; echo "umount busy with a bind: $?"; exec 3<&-; umount g e; echo "umount both: $?"
mkdir -p h; ln -s h hl; mount -t tmpfs x hl; ls -d hl/.; umount hl; echo "umount by symlink: $?"
mkdir -p full; mount -t tmpfs -o size=64k x full
head -c 100000 /dev/zero > full/f; echo "write past size=: $?"; stat -c "size %s" full/f
rm full/f; head -c 20000 /dev/zero > full/g; echo "after rm: $?"
fallocate -l 100000 full/h; echo "fallocate past size=: $?"; umount full
grep -c " $PWD/" /proc/self/mounts
