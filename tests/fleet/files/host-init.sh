#!/bin/sh
# PID 1 of a fleet host's own PID namespace, in its own mount, UTS and IPC namespaces (unshare), inside the
# host's network namespace (ip netns exec). Gives the host its own /proc, /sys, /run and a minimal /dev (all
# private to this mount namespace: they vanish with the host), then chroots into the host's overlay root and
# becomes tini -> /usr/local/sbin/fleet-boot (boot steps, then sshd in the foreground).
set -eu
root=$1
name=$2
hostname "$name"
mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"
mount -t tmpfs -o mode=0755,nosuid,nodev,size=65536k tmpfs "$root/run"
mount -t tmpfs -o mode=0755,nosuid,size=1024k tmpfs "$root/dev"
for d in null zero full random urandom tty; do
  : > "$root/dev/$d"
  mount --bind "/dev/$d" "$root/dev/$d"
done
mkdir -p "$root/dev/pts" "$root/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$root/dev/pts"
ln -s pts/ptmx "$root/dev/ptmx"
ln -s /proc/self/fd "$root/dev/fd"
ln -s /proc/self/fd/0 "$root/dev/stdin"
ln -s /proc/self/fd/1 "$root/dev/stdout"
ln -s /proc/self/fd/2 "$root/dev/stderr"
mount -t tmpfs -o mode=1777,nosuid,nodev,size=65536k tmpfs "$root/dev/shm"
exec chroot "$root" /usr/bin/tini -g -- /usr/local/sbin/fleet-boot
