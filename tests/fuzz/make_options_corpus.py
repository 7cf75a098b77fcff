#!/usr/bin/env python3
"""Write the seed corpus of tests/fuzz/corpus/options (see fuzz_options.c:
the arguments after `gmvm run`, NUL-separated): every option with a value
it takes, and a few it refuses.  Run from anywhere:
tests/fuzz/make_options_corpus.py.  The files are committed; rerun only to
change the seeds."""
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "options")
UUID = "0f3c2a6e-1d4b-4c8e-9a7f-2b6d8e1c5a30"

SEEDS = {
    "elf_only": ["guest.elf"],
    "help": ["--help"],
    "short_flags": ["-m", "size=512M", "-c", "2", "-a", "console=ttyS0", "guest.elf"],
    "memory_full": ["--memory", "size=2G,backend=memfd,hugepages=1G,prealloc=on,numa-node=1,bind=mapped", "g.elf"],
    "memory_inline": ["--memory=size=64M,backend=anon,movable=off", "g.elf"],
    "memory_private": ["--memory", "size=1G,direct-map=off,private=on", "g.elf"],
    "memory_bad_unit": ["--memory", "size=1Q", "g.elf"],
    "memory_twice": ["--memory", "size=1G", "--memory", "size=2G", "g.elf"],
    "regions": ["--region", "name=extra,size=64M,backend=memfd,hugepages=2M,prealloc=on,numa-node=0",
                "--region", "name=pinned,size=64M,backend=anon,movable=off", "--region",
                "name=hidden,size=64M,direct-map=off,private=on", "g.elf"],
    "region_refused": ["--region", "name=Bad,size=1M", "g.elf"],
    "region_ram": ["--region", "name=ram,size=1M", "g.elf"],
    "cpus": ["--cpus", "64", "--cpu", "minimal,+avx2,-x2apic", "g.elf"],
    "cpus_bad": ["--cpus", "99999999999999999999", "g.elf"],
    "cpu_host": ["--cpu=host", "g.elf"],
    "cmdline_initrd": ["--kernel", "bzImage", "--cmdline", "console=ttyS0 root=/dev/vda", "--initrd", "initrd.img",
                       "--entry", "linux64"],
    "disks": ["--disk", "path=a.img,readonly=on,direct=off", "--disk", "b.img", "--disk",
              "path=c.img,direct=on", "g.elf"],
    "disk_bad": ["--disk", "path=a.img,readonly=maybe", "g.elf"],
    "devices": ["--device", "virtio-console", "--device", "virtio-rng", "g.elf"],
    "net_user": ["--net", "user,hostfwd=tcp:0.0.0.0:2222-10.0.2.15:22,hostfwd=:8081-:81,mac=52:54:00:12:34:56",
                 "g.elf"],
    "net_udp": ["--net", "user,hostfwd=udp:6-7,hostfwd=udp:127.0.0.1:7-7", "--net", "tap=tap0", "g.elf"],
    "net_tap": ["--net", "tap=a.b-c_D123456,mac=52:54:00:12:34:56", "g.elf"],
    "net_bad": ["--net", "tap=a/b", "g.elf"],
    "balloon": ["--balloon", "g.elf"],
    "balloon_opts": ["--balloon,free-page-reporting=off,deflate-on-oom=on", "g.elf"],
    "balloon_twice": ["--balloon", "--balloon=deflate-on-oom=on", "g.elf"],
    "console_file": ["--console", "file:/tmp/console.log", "--timeout", "2.5", "--trace-startup", "g.elf"],
    "console_self": ["--console", "file:g.elf", "g.elf"],
    "console_none": ["--console=none", "--dirty-log", "ring", "g.elf"],
    "api_events": ["--api-sock", "/tmp/api.sock", "--event-monitor", "path=/tmp/ev", "--uuid", UUID, "g.elf"],
    "event_fd": ["--event-monitor", "fd=3", "--dirty-log=bitmap", "g.elf"],
    "restore_chain": ["--restore", "/snap/base", "--restore", "/snap/diff1", "--new-identity", "--restore-mode",
                      "ondemand", "--memory", "size=1G,backend=memfd"],
    "restore_region": ["--restore", "/snap", "--region", "name=extra,backend=anon", "--restore-mode=map"],
    "restore_uuid_new": ["--restore", "/snap", "--uuid", UUID, "--new-identity"],
    "incoming_tcp": ["--incoming", "tcp:[::1]:4444", "--incoming-identity", UUID, "--incoming-timeout", "30"],
    "incoming_unix": ["--incoming=unix:/run/gmvm.sock", "--memory", "backend=memfd"],
    "incoming_elf": ["--incoming", "tcp:host:1", "g.elf"],
    "takeover": ["--takeover", "3", "--test-update-die", "check"],
    "takeover_api": ["--takeover", "3", "--api-sock", "/tmp/a"],
    "takeover_memory": ["--takeover=7", "--memory", "size=1G"],
    "dashdash": ["--cpus", "2", "--", "-weird.elf"],
    "unknown": ["--colour", "g.elf"],
    "needs_value": ["g.elf", "--cpus"],
    "two_elves": ["--kernel", "a.elf", "b.elf"],
    "seccomp": ["--seccomp", "log", "g.elf"],
    "net_hostfwd_many": ["--net", "user," + ",".join("hostfwd=:%d-22" % (2200 + i) for i in range(9)), "g.elf"],
    "escapes": ["--console", "t\xe9l\xe9\n", "g.elf"],
}

os.makedirs(OUT, exist_ok=True)
for name, args in SEEDS.items():
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(b"\0".join(a.encode("utf-8", "surrogateescape") for a in args))
print(f"{len(SEEDS)} seeds in {OUT}")
