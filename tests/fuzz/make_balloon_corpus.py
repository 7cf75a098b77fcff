#!/usr/bin/env python3
"""Write the seed corpus of tests/fuzz/corpus/balloon (see fuzz_balloon.c for
the layout): inflate, deflate, stats and report chains, good and hostile.
Run from anywhere:  tests/fuzz/make_balloon_corpus.py
The files are committed; rerun only to change the seeds."""
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "balloon")
MEM = 0x10000
NEXT, WRITE = 1, 2
STATS, REPORTING, DEFLATE = 1, 2, 4


def seed(name, feats, page, kicks, queues, extra=()):
    """queues: {q: [chain, ...]}, a chain a list of (addr, len, flags) buffers;
    extra: (gpa, bytes) written as they are."""
    mem = bytearray(MEM)
    for q, chains in queues.items():
        desc, avail = 0x1000 * q, 0x1000 * q + 0x400
        i = 0
        for k, chain in enumerate(chains):
            struct.pack_into("<H", mem, avail + 4 + 2 * k, i)
            for j, (addr, ln, fl) in enumerate(chain):
                last = j == len(chain) - 1
                struct.pack_into("<QIHH", mem, desc + 16 * i, addr, ln, fl | (0 if last else NEXT), i + 1)
                i += 1
        struct.pack_into("<H", mem, avail + 2, len(chains))
    for gpa, data in extra:
        mem[gpa:gpa + len(data)] = data
    head = bytes([feats, page] + list(kicks) + [0] * (6 - len(kicks)))
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(head + bytes(mem))


def pfns(*p):
    return struct.pack("<%dI" % len(p), *p)


os.makedirs(OUT, exist_ok=True)
# inflate pages 8..11 and a bad one, then deflate 9
seed("inflate_deflate", 0, 0, [0, 1], {0: [[(0x5000, 20, 0)]], 1: [[(0x5100, 4, 0)]]},
     [(0x5000, pfns(8, 9, 10, 11, 0xffffffff)), (0x5100, pfns(9))])
# a huge page of 16 KiB (page byte 2): four 4 KiB pages fill one
seed("inflate_huge", 0, 2, [0], {0: [[(0x5000, 16, 0)]]}, [(0x5000, pfns(12, 13, 14, 15))])
# reports (queue 2 without stats): one good range, one misaligned, one readable
seed("report", REPORTING, 0, [2], {2: [[(0x8000, 0x2000, WRITE), (0xa800, 0x1000, WRITE)], [(0xc000, 0x1000, 0)]]})
# stats then reports on queue 3
st = struct.pack("<HQHQ", 4, 123456, 77, 1)
seed("stats_report", STATS | REPORTING | DEFLATE, 1, [2, 3, 2], {2: [[(0x5000, len(st), 0)]],
                                                                   3: [[(0x8000, 0x4000, WRITE)]]},
     [(0x5000, st)])
# a PFN array of stray bytes and a chain that loops (the device breaks)
seed("stray_and_loop", STATS, 0, [0, 1], {0: [[(0x5000, 6, 0)]], 1: [[(0x5100, 4, NEXT)]]},
     [(0x5000, pfns(3) + b"\x01\x02")])
# more shapes: deflate of pages never inflated with DEFLATE_ON_OOM, reports
# of huge-page backing not aligned to it, pfns past memory, two chains at once
seed("deflate_not_inflated", DEFLATE, 0, [1, 0, 1], {0: [[(0x5000, 8, 0)]], 1: [[(0x5100, 12, 0)], [(0x5200, 4, 0)]]},
     [(0x5000, pfns(4, 5)), (0x5100, pfns(5, 6, 7)), (0x5200, pfns(4))])
seed("report_2m_unaligned", REPORTING, 1, [2, 2], {2: [[(0x3000, 0x1000, WRITE)], [(0x9000, 0x7000, WRITE)]]})
seed("inflate_past_memory", 0, 0, [0], {0: [[(0x5000, 16, 0), (0x5100, 8, 0)]]},
     [(0x5000, pfns(15, 16, 0x7fffffff, 0x100000)), (0x5100, pfns(1, 1))])
seed("all_queues", STATS | REPORTING | DEFLATE, 2, [3, 0, 1, 2, 3, 0],
     {0: [[(0x5000, 8, 0)], [(0x5008, 4, 0)]], 1: [[(0x5100, 4, 0)]], 2: [[(0x8000, 0x1000, WRITE)]],
      3: [[(0x5200, len(st), 0)]]},
     [(0x5000, pfns(9, 10, 11)), (0x5100, pfns(10)), (0x5200, st)])
