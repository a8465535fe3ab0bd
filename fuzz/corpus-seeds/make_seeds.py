#!/usr/bin/env python3
"""Builds fuzz seed inputs from real perf.data files (records the kernel wrote into its
ring, copied verbatim into the file's data section by `perf record`).

usage: make_seeds.py OUT_DIR PERF_DATA...
Writes OUT_DIR/ring_reader/* and OUT_DIR/record_parser/* in the input layouts of
fuzz/fuzz_targets/ring_reader.rs and record_parser.rs.
"""
import os
import struct
import sys


def attrs_and_records(path):
    raw = open(path, "rb").read()
    magic, size, attr_size = struct.unpack_from("<8sQQ", raw, 0)
    assert magic == b"PERFILE2", path
    a_off, a_size, d_off, d_size = struct.unpack_from("<QQQQ", raw, 24)
    attrs = []
    for off in range(a_off, a_off + a_size, attr_size):
        sample_type, read_format, flags = struct.unpack_from("<QQQ", raw, off + 24)
        branch, regs_user = struct.unpack_from("<QQ", raw, off + 72)
        attr_len = struct.unpack_from("<I", raw, off + 4)[0]
        regs_intr = struct.unpack_from("<Q", raw, off + 96)[0] if attr_len >= 104 else 0
        sample_id_all = (flags >> 18) & 1
        attrs.append((sample_type, read_format, regs_user, regs_intr, branch, sample_id_all))
    records = []
    pos = d_off
    while pos + 8 <= d_off + d_size:
        rtype, misc, rsize = struct.unpack_from("<IHH", raw, pos)
        if rsize < 8:
            break
        records.append((rtype, raw[pos:pos + rsize]))
        pos += rsize
    return attrs, records


def main():
    out, files = sys.argv[1], sys.argv[2:]
    rr = os.path.join(out, "ring_reader")
    rp = os.path.join(out, "record_parser")
    os.makedirs(rr, exist_ok=True)
    os.makedirs(rp, exist_ok=True)
    for f in files:
        name = os.path.splitext(os.path.basename(f))[0]
        attrs, records = attrs_and_records(f)
        # ring_reader: data_size 4096 (8 << 9), records from the start of the ring, and the
        # same bytes rotated so that records straddle the end of the data area.
        blob = b""
        for _, r in records:
            if len(blob) + len(r) > 4096:
                break
            blob += r
        for i, start in enumerate([0, 4096 - 40, 4096 - 4]):
            data = bytearray(4096)
            for k, b in enumerate(blob):
                data[(start + k) % 4096] = b
            tail = 4096 * 3 + start
            head = tail + len(blob)
            seed = bytes([9, 0]) + struct.pack("<QQ", head, tail) + bytes(data)
            open(os.path.join(rr, f"{name}-{i}"), "wb").write(seed)
        # record_parser: the first event's format and up to 4 records of each type.
        fmt = struct.pack("<6Q", *attrs[0])
        seen = {}
        for rtype, r in records:
            n = seen.get(rtype, 0)
            if n >= 4:
                continue
            seen[rtype] = n + 1
            open(os.path.join(rp, f"{name}-type{rtype}-{n}"), "wb").write(fmt + r)


if __name__ == "__main__":
    main()
