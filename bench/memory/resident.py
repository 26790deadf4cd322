#!/usr/bin/env python3
"""Where a running process's memory is: PSS per mapping, and the resident pages of its own
executable attributed to the modules whose code and data they hold.

    sudo bench/memory/resident.py PID [--top 25]

Static Swift binaries carry the Swift runtime, Foundation, NIO and every package in one file,
so /proc/PID/smaps shows one big mapping; this script reads /proc/PID/pagemap (root) to see
which pages of that file are resident, maps them to ELF symbols with `nm`, and names the module
of each symbol (Swift mangling, C++ namespaces, and C prefixes for SQLite, BoringSSL, ICU…).
A page shared by symbols of two modules is split between them by bytes.
"""
import argparse, bisect, collections, os, re, struct, subprocess, sys

PAGE = os.sysconf("SC_PAGE_SIZE")


def mappings(pid):
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split(maxsplit=5)
            start, end = (int(x, 16) for x in parts[0].split("-"))
            yield start, end, parts[1], int(parts[2], 16), parts[5].strip() if len(parts) > 5 else ""


def pss_by_mapping(pid):
    totals = collections.Counter()
    with open(f"/proc/{pid}/smaps") as f:
        name = ""
        for line in f:
            head = line.split()
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                name = head[5] if len(head) > 5 else "[anonymous]"
                perms = head[1]
                name = f"{name} ({perms})" if name.startswith("/") else name
            elif head[0] == "Pss:":
                totals[name] += int(head[1])
    return totals


def present_pages(pid, start, end):
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        f.seek(start // PAGE * 8)
        data = f.read((end - start) // PAGE * 8)
    for i, (entry,) in enumerate(struct.iter_unpack("<Q", data)):
        if entry >> 63 & 1:
            yield start + i * PAGE


def load_segments(binary):
    """(file offset, virtual address, file size) of each PT_LOAD segment."""
    out = subprocess.run(["readelf", "-lW", binary], capture_output=True, text=True, check=True).stdout
    segments = []
    for line in out.splitlines():
        fields = line.split()
        if fields and fields[0] == "LOAD":
            segments.append((int(fields[1], 16), int(fields[2], 16), int(fields[4], 16)))
    return segments


def sections(binary):
    out = subprocess.run(["readelf", "-SW", binary], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)", line)
        if m and int(m.group(2), 16):
            found.append((int(m.group(2), 16), int(m.group(2), 16) + int(m.group(3), 16), m.group(1)))
    return sorted(found)


C_PREFIXES = [
    ("sqlite3", "C: SQLite"), ("CNIOBoringSSL", "C: BoringSSL"), ("yaml_", "C: libyaml"), ("swift_", "Swift runtime"),
    ("_swift_", "Swift runtime"), ("c_nio", "C: NIO shims"), ("CNIO", "C: NIO shims"), ("ops_", "C: opsd shims"),
    ("u_", "C: ICU"), ("ucol_", "C: ICU"), ("ures_", "C: ICU"), ("uprv_", "C: ICU"), ("icu", "C: ICU"),
    ("_dispatch", "C: libdispatch"), ("dispatch_", "C: libdispatch"), ("_CF", "C: CoreFoundation"), ("CF", "C: CoreFoundation"),
    ("__CF", "C: CoreFoundation"), ("_NS", "C: CoreFoundation"), ("git_", "C: libgit2"),
]


def module_of(symbol):
    if symbol.startswith("$s"):
        rest = symbol[2:]
        m = re.match(r"(\d+)", rest)
        if m:
            n = int(m.group(1))
            return rest[len(m.group(1)):len(m.group(1)) + n] or "Swift ?"
        return "Swift (stdlib)"
    if symbol.startswith("_Z"):
        m = re.match(r"_ZN?K?(?:St|(\d+))", symbol)
        if m and m.group(1):
            n = int(m.group(1))
            start = symbol.index(m.group(1)) + len(m.group(1))
            name = symbol[start:start + n]
            if name.startswith("icu"):
                return "C: ICU"
            if name == "swift" or name == "__swift":
                return "Swift runtime"
            return f"C++: {name}"
        return "C++: std"
    if re.search(r"_7\d$", symbol):
        return "C: ICU"
    for prefix, name in C_PREFIXES:
        if symbol.startswith(prefix):
            return name
    return "C: other"


def symbols(binary):
    out = subprocess.run(["nm", "--defined-only", "-n", "-S", binary], capture_output=True, text=True, check=True).stdout
    entries = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) == 4:
            entries.append((int(fields[0], 16), int(fields[1], 16), fields[3]))
        elif len(fields) == 3:
            entries.append((int(fields[0], 16), 0, fields[2]))
    entries.sort()
    # Symbols without a size reach to the next symbol.
    fixed = []
    for i, (address, size, name) in enumerate(entries):
        if size == 0 and i + 1 < len(entries):
            size = min(entries[i + 1][0] - address, 1 << 20)
        fixed.append((address, size, name))
    return fixed


def attribute(pid, binary):
    segments = load_segments(binary)
    secs = sections(binary)
    sec_starts = [s[0] for s in secs]
    syms = symbols(binary)
    sym_starts = [s[0] for s in syms]
    by_module = collections.Counter()
    by_section = collections.Counter()
    real = os.path.realpath(binary)
    for start, end, perms, offset, path in mappings(pid):
        if os.path.realpath(path) != real:
            continue
        for page in present_pages(pid, start, end):
            file_offset = offset + (page - start)
            vaddr = None
            for seg_off, seg_vaddr, seg_size in segments:
                if seg_off <= file_offset < seg_off + max(seg_size, PAGE):
                    vaddr = seg_vaddr + file_offset - seg_off
                    break
            if vaddr is None:
                by_module["(beyond segments)"] += PAGE
                continue
            lo, hi = vaddr, vaddr + PAGE
            i = bisect.bisect_right(sec_starts, lo) - 1
            # Sections overlapping this page.
            j = max(i, 0)
            while j < len(secs) and secs[j][0] < hi:
                s_lo, s_hi, s_name = secs[j]
                overlap = min(hi, s_hi) - max(lo, s_lo)
                if overlap > 0:
                    by_section[s_name] += overlap
                j += 1
            covered = 0
            k = bisect.bisect_right(sym_starts, lo) - 1
            k = max(k, 0)
            # Walk back over large symbols that may still cover this page.
            back = k
            while back > 0 and k - back < 64:
                back -= 1
            for address, size, name in syms[back:]:
                if address >= hi:
                    break
                overlap = min(hi, address + size) - max(lo, address)
                if overlap > 0:
                    by_module[module_of(name)] += overlap
                    covered += overlap
            if covered < PAGE:
                by_module["(no symbol)"] += PAGE - min(covered, PAGE)
    return by_module, by_section


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pid", type=int)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    binary = os.readlink(f"/proc/{args.pid}/exe")
    print(f"# {binary} (pid {args.pid})\n")
    totals = pss_by_mapping(args.pid)
    print(f"PSS {sum(totals.values()) / 1024:.1f} MiB; by mapping (KiB):")
    for name, kib in totals.most_common(args.top):
        print(f"  {kib:8d}  {name}")
    by_module, by_section = attribute(args.pid, binary)
    total = sum(by_module.values())
    print(f"\nresident pages of the executable: {total / 1048576:.1f} MiB; by module (KiB):")
    for name, size in by_module.most_common(args.top):
        print(f"  {size // 1024:8d}  {name}")
    print("\nby section (KiB):")
    for name, size in by_section.most_common(args.top):
        print(f"  {size // 1024:8d}  {name}")


if __name__ == "__main__":
    main()
