"""What a Linux ELF binary needs from the system it runs on, read from the file itself (any
architecture, no binutils): its machine, its interpreter (the dynamic loader), the libraries it
names (DT_NEEDED) and the symbol versions it needs from each (.gnu.version_r), such as
GLIBC_2.17. The newest GLIBC_ version needed is the oldest glibc it starts on.

    python tests/packages/elf.py BINARY...    prints each one's needs
"""
import re
import struct
import sys
from dataclasses import dataclass, field
from pathlib import Path

MACHINES = {62: "x86_64", 183: "aarch64"}
PT_INTERP = 3
SHT_DYNAMIC = 6
SHT_GNU_VERNEED = 0x6FFFFFFE
DT_NEEDED = 1


@dataclass
class Needs:
    machine: str
    interpreter: str | None
    libraries: list[str]
    versions: dict[str, set[str]] = field(default_factory=dict)  # library -> version names

    def glibc_floor(self):
        """The newest GLIBC_x.y needed, as a tuple of numbers: (2, 17)."""
        found = [tuple(int(n) for n in m.group(1).split("."))
                 for names in self.versions.values() for name in names
                 if (m := re.fullmatch(r"GLIBC_(\d+(?:\.\d+)*)", name))]
        return max(found, default=None)


def read(path):
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError(f"{path}: not a 64-bit little-endian ELF file")
    machine, = struct.unpack_from("<H", data, 18)
    phoff, shoff = struct.unpack_from("<QQ", data, 32)
    phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", data, 54)

    def cstr(offset):
        return data[offset:data.index(b"\0", offset)].decode()

    interpreter = None
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        if p_type == PT_INTERP:
            interpreter = data[p_offset:p_offset + p_filesz].rstrip(b"\0").decode()

    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    libraries, versions = [], {}
    for _, sh_type, _, _, offset, size, link, info, _, entsize in sections:
        strings = sections[link][4] if sh_type in (SHT_DYNAMIC, SHT_GNU_VERNEED) else 0
        if sh_type == SHT_DYNAMIC:
            for at in range(offset, offset + size, entsize):
                tag, value = struct.unpack_from("<qQ", data, at)
                if tag == DT_NEEDED:
                    libraries.append(cstr(strings + value))
        elif sh_type == SHT_GNU_VERNEED:
            at = offset
            for _ in range(info):  # one Elf64_Verneed per library, each with its Vernaux list
                _, count, file, aux, following = struct.unpack_from("<HHIII", data, at)
                names = versions.setdefault(cstr(strings + file), set())
                entry = at + aux
                for _ in range(count):
                    _, _, _, name, next_aux = struct.unpack_from("<IHHII", data, entry)
                    names.add(cstr(strings + name))
                    entry += next_aux
                at += following
    return Needs(MACHINES.get(machine, f"machine {machine}"), interpreter, libraries, versions)


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        needs = read(arg)
        floor = needs.glibc_floor()
        print(f"{arg}: {needs.machine}, interpreter {needs.interpreter}, "
              f"glibc {'.'.join(map(str, floor)) if floor else 'none'}")
        for library in needs.libraries:
            print(f"  {library}: {' '.join(sorted(needs.versions.get(library, ())))}")
