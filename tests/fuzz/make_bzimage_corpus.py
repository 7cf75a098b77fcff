#!/usr/bin/env python3
"""Write the seed corpus of tests/fuzz/corpus/bzimage: tiny bzImages whose
payload is a small ELF in each of the kernel's seven formats, the raw
payloads alone (fuzz_bzimage feeds those to the decompressors directly),
and broken variants.  Run from anywhere:
    tests/fuzz/make_bzimage_corpus.py
The files are committed; rerun only to change the seeds.  lz4, lzo and
zstd are written by hand in their simplest valid forms (literal-only,
stored and raw blocks) so that Python's standard library suffices."""
import bz2
import gzip
import lzma
import os
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus", "bzimage")
sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, HERE)
from make_elf_corpus import elf, load  # noqa: E402

MIB = 1 << 20


def trailer(data):
    return struct.pack("<I", len(data))


def lz4_legacy(data):
    n = len(data)
    token = bytes([min(n, 15) << 4])
    ext = b""
    if n >= 15:
        rest = n - 15
        ext = b"\xff" * (rest // 255) + bytes([rest % 255])
    block = token + ext + data
    return struct.pack("<II", 0x184C2102, len(block)) + block


def lzop_stored(data):
    hdr = bytes([0x10, 0x40, 0x20, 0xA0, 0x09, 0x40, 1, 5, 0, 0, 0, 1,
                 0, 0, 0x81, 0xA4, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    out = b"\x89LZO\x00\r\n\x1a\n" + hdr + struct.pack(">I", zlib.adler32(hdr))
    out += struct.pack(">III", len(data), len(data), zlib.adler32(data)) + data
    return out + struct.pack(">I", 0)


def zstd_raw(data):
    assert len(data) < 65536 + 256
    fhd, fcs = (0x20, bytes([len(data)])) if len(data) < 256 else (0x60, struct.pack("<H", len(data) - 256))
    block = struct.pack("<I", 1 | (len(data) << 3))[:3]
    return b"\x28\xb5\x2f\xfd" + bytes([fhd]) + fcs + block + data


def payload(fmt, data):
    if fmt == "gzip":
        return gzip.compress(data, mtime=0)  # ISIZE is the trailer
    body = {
        "bzip2": lambda d: bz2.compress(d, 9),
        "lzma": lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE),
        "xz": lambda d: lzma.compress(d, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32),
        "lzo": lzop_stored,
        "lz4": lz4_legacy,
        "zstd": zstd_raw,
    }[fmt](data)
    return body + trailer(data)


def bzimage(pl, version=0x020F, xlf=3, init_size=None, setup_sects=1):
    stub = b"\x90" * 0x40
    code = stub + pl
    code += b"\0" * (-len(code) % 16)
    pm_offset = (setup_sects + 1) * 512
    b = bytearray(pm_offset)
    b[0x1F1] = setup_sects
    struct.pack_into("<I", b, 0x1F4, len(code) // 16)
    struct.pack_into("<H", b, 0x1FE, 0xAA55)
    b[0x200], b[0x201] = 0xEB, 0x6A
    struct.pack_into("<IH", b, 0x202, 0x53726448, version)
    b[0x211] = 1
    struct.pack_into("<IIBBHI", b, 0x22C, 0x7FFFFFFF, 0x200000, 1, 21, xlf, 2047)
    struct.pack_into("<II", b, 0x248, len(stub), len(pl))
    struct.pack_into("<QI", b, 0x258, 16 * MIB, init_size if init_size is not None else 4 * MIB)
    return bytes(b) + code


def seeds():
    vmlinux = elf(entry=16 * MIB, segs=(load(16 * MIB, b"\xf4" * 64, 0x1000),))
    out = {}
    for fmt in ("gzip", "bzip2", "lzma", "xz", "lzo", "lz4", "zstd"):
        pl = payload(fmt, vmlinux)
        out[f"{fmt}-bzimage"] = bzimage(pl)
        out[f"{fmt}-payload"] = pl
        out[f"{fmt}-payload-short-trailer"] = pl[:-4] + struct.pack("<I", len(vmlinux) - 1)
        out[f"{fmt}-payload-cut"] = pl[: len(pl) // 2] + pl[-4:]
    out["unknown-payload-bzimage"] = bzimage(b"not compressed" * 4)
    out["old-protocol"] = bzimage(b"x" * 16, version=0x0205)
    out["no-kernel-64"] = bzimage(b"x" * 16, xlf=0)
    out["bomb-payload"] = payload("zstd", b"\0" * 200)[:-4] + struct.pack("<I", 0xFFFFFFF0)
    out["initrd-place"] = struct.pack("<IIII", 0x10000, 0x1000000, 0x37FFFFFF, 0x100000)
    return out


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    s = seeds()
    for name, data in s.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(s)} seeds to {OUT}")
