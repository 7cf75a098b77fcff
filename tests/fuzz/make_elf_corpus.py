#!/usr/bin/env python3
"""Write the seed corpus of tests/fuzz/corpus/elf: tiny hand-made ELF images,
well-formed and broken, each a few hundred bytes.  Run from anywhere:
    tests/fuzz/make_elf_corpus.py
The files are committed; rerun only to change the seeds.  No ".elf"
suffix: the repository's .gitignore drops *.elf as build output."""
import os
import shutil
import struct
import subprocess
import tempfile

MIB = 1 << 20
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "elf")


def note(name, ntype, desc, align=4):
    name = name.encode() + b"\0"
    pad = lambda b: b + b"\0" * (-len(b) % align)
    return struct.pack("<III", len(name), len(desc), ntype) + pad(name) + pad(desc)


def pvh(addr, size=8):
    return note("Xen", 18, addr.to_bytes(8, "little")[:size])


def elf(is64=True, entry=MIB, segs=(), machine=None, etype=2):
    """segs: (p_type, paddr, data, memsz, align) tuples, bytes laid out after
    the program header table in order."""
    eh, ph = (64, 56) if is64 else (52, 32)
    off = eh + ph * len(segs)
    phdrs, body = b"", b""
    for ptype, paddr, data, memsz, align in segs:
        pad = -(off + len(body)) % 8
        body += b"\0" * pad
        o = off + len(body)
        if is64:
            phdrs += struct.pack("<IIQQQQQQ", ptype, 7, o, paddr, paddr, len(data), memsz, align)
        else:
            phdrs += struct.pack("<IIIIIIII", ptype, o, paddr, paddr, len(data), memsz, 7, align)
        body += data
    ident = b"\x7fELF" + bytes([2 if is64 else 1, 1, 1]) + b"\0" * 9
    m = machine if machine is not None else (62 if is64 else 3)
    if is64:
        hdr = ident + struct.pack("<HHIQQQIHHHHHH", etype, m, 1, entry, eh, 0, 0, eh, ph,
                                  len(segs), 0, 0, 0)
    else:
        hdr = ident + struct.pack("<HHIIIIIHHHHHH", etype, m, 1, entry, eh, 0, 0, eh, ph,
                                  len(segs), 0, 0, 0)
    return hdr + phdrs + body


def load(paddr, data, memsz=None, align=0x1000):
    return (1, paddr, data, len(data) if memsz is None else memsz, align)


def pt_note(data, align=4):
    return (4, 0, data, 0, align)


CODE = bytes(range(48))  # stands for the guest's code and data
SEEDS = {
    "elf64_min": elf(segs=[load(MIB, CODE)]),
    "elf64_pvh_bss": elf(entry=MIB + 4, segs=[load(MIB, CODE), load(2 * MIB, CODE[:8], 0x3000),
                                                  pt_note(pvh(MIB + 16))]),
    "elf64_notes8": elf(segs=[load(MIB, CODE),
                                  pt_note(note("GNU", 5, b"\1\2\3\4\5", 8) + pvh(MIB + 8), 8)]),
    "elf32_pvh": elf(is64=False, entry=0, segs=[load(MIB, CODE), pt_note(pvh(MIB, 4))]),
    "elf32_nopvh": elf(is64=False, segs=[load(MIB, CODE)]),
    "high_4g": elf(entry=4 << 30, segs=[load(4 << 30, CODE, 0x2000)]),
    "hole": elf(entry=(3 << 30) - 16, segs=[load((3 << 30) - 16, CODE)]),
    "below_1m": elf(entry=0x7000, segs=[load(0x7000, CODE)]),
    "overlap": elf(segs=[load(MIB, CODE), load(MIB + 8, CODE)]),
    "pvh_desc2": elf(segs=[load(MIB, CODE), pt_note(pvh(MIB, 2))]),
    "aarch64": elf(machine=183, segs=[load(MIB, CODE)]),
    "pie": elf(etype=3, segs=[load(MIB, CODE)]),
    "bss_only_entry": elf(entry=MIB + 0x800, segs=[load(MIB, CODE, 0x1000)]),
    "not_elf": b"MZ\x90\x00this is not an ELF file\n",
    "empty": b"",
}
SEEDS["truncated"] = SEEDS["elf64_pvh_bss"][:100]

# One seed laid out by a real toolchain (GNU ld: section headers, a note
# segment inside a PT_LOAD, GNU_STACK), built when gcc is at hand.
GUEST_S = """
	.text
	.globl _start
	.code64
_start:	hlt
	jmp _start
	.code32
pvh:	hlt
	jmp pvh
	.section .note.Xen, "a", @note
	.align 4
	.long 4, 4, 18
	.asciz "Xen"
	.long pvh
	.bss
	.space 64
"""


def linked_seed():
    if not shutil.which("gcc"):
        return None
    with tempfile.TemporaryDirectory() as d:
        src, out = os.path.join(d, "g.S"), os.path.join(d, "g.elf")
        with open(src, "w") as f:
            f.write(GUEST_S)
        subprocess.run(["gcc", "-nostdlib", "-static", "-no-pie", "-Wl,-Ttext=0x100000",
                        "-Wl,--build-id=none", "-Wl,-n", "-Wl,-z,noexecstack",
                        "-Wl,--no-warn-rwx-segments", "-s", "-o", out, src], check=True)
        with open(out, "rb") as f:
            return f.read()


if __name__ == "__main__":
    seed = linked_seed()
    if seed:
        SEEDS["gcc_ld_pvh"] = seed
    os.makedirs(OUT, exist_ok=True)
    for name, data in sorted(SEEDS.items()):
        assert len(data) < 4096, name
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(SEEDS)} seeds to {OUT}")
