#!/usr/bin/env python3
"""Write the seed corpus of tests/fuzz/corpus/virtq (see fuzz_virtq.c for the
layout): well-formed queues with direct, indirect and event-idx chains, and
a few hostile ones.  Run from anywhere:  tests/fuzz/make_virtq_corpus.py
The files are committed; rerun only to change the seeds."""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "virtq")
MEM = 0x4000  # seeds need not fill the 64 KiB: the rest is zeros
DESC, AVAIL, USED, BUF = 0x0, 0x1000, 0x2000, 0x3000
NEXT, WRITE, INDIRECT = 1, 2, 4


def seed(name, log2num, feats, descs, heads, extra=(), avail_idx=None, used_event=None):
    """descs: {index: (addr, len, flags, next)} in the queue's table;
    extra: (gpa, bytes) written as they are."""
    num = 1 << log2num
    mem = bytearray(MEM)
    for i, (addr, ln, fl, nx) in descs.items():
        struct.pack_into("<QIHH", mem, DESC + 16 * i, addr, ln, fl, nx)
    for k, h in enumerate(heads):
        struct.pack_into("<H", mem, AVAIL + 4 + 2 * (k % num), h)
    struct.pack_into("<H", mem, AVAIL + 2, len(heads) if avail_idx is None else avail_idx)
    if used_event is not None:
        struct.pack_into("<H", mem, AVAIL + 4 + 2 * num, used_event)
    for gpa, data in extra:
        mem[gpa:gpa + len(data)] = data
    head = struct.pack("<BBHIII", log2num, feats, 0, DESC, AVAIL, USED)
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(head + bytes(mem))


def table(entries):
    return b"".join(struct.pack("<QIHH", *e) for e in entries)


os.makedirs(OUT, exist_ok=True)
seed("direct_out_in", 4, 0, {0: (BUF, 16, NEXT, 1), 1: (BUF + 0x100, 64, WRITE, 0)}, [0])
seed("two_chains_event_idx", 3, 2, {0: (BUF, 8, WRITE, 0), 5: (BUF + 0x40, 8, NEXT, 6),
                                    6: (BUF + 0x80, 8, WRITE, 0)}, [0, 5], used_event=1)
seed("indirect", 4, 1, {2: (BUF + 0x800, 48, INDIRECT, 0)}, [2],
     extra=[(BUF + 0x800, table([(BUF, 16, NEXT, 1), (BUF + 0x100, 32, NEXT | WRITE, 2),
                                 (BUF + 0x200, 32, WRITE, 0)]))])
seed("full_ring", 2, 3, {i: (BUF + 0x100 * i, 4, WRITE, 0) for i in range(4)}, [3, 2, 1, 0])
seed("loop", 3, 0, {0: (BUF, 8, NEXT, 1), 1: (BUF, 8, NEXT, 0)}, [0])
seed("write_then_read", 3, 0, {0: (BUF, 8, WRITE | NEXT, 1), 1: (BUF, 8, 0, 0)}, [0])
seed("out_of_range", 3, 0, {0: (0xfff0, 0x100, WRITE, 0)}, [0])
seed("nested_indirect", 3, 1, {0: (BUF + 0x800, 16, INDIRECT, 0)}, [0],
     extra=[(BUF + 0x800, table([(BUF + 0x900, 16, INDIRECT, 0)]))])
seed("avail_jump", 3, 0, {}, [], avail_idx=9)
