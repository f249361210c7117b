"""Every binary scripts/package.sh built runs on glibc 2.17 and newer: read from the binaries
themselves (tests/packages/elf.py), the bare ones in dist/ and those inside the wheels and the
npm tarballs, each one's needed symbol versions are at most GLIBC_2.17, the libraries it names
are in the manylinux2014 set (nothing else to install or bundle), and its machine and loader
are its architecture's. The check itself is shown to fail on a binary of this machine
(Debian 12), which needs glibc 2.34.

    .venv/bin/python tests/packages/test_glibc_floor.py -v
"""
import sys
import tarfile
import tempfile
import unittest
import zipfile
from pathlib import Path

import elf
from support import ARCHES, GLIBC_FLOOR, VERSION, binary, npm_tarball, wheel

# The libraries manylinux2014 lets a wheel need from the system (PEP 599), those a Rust
# binary can name.
MANYLINUX2014_LIBRARIES = {"libc.so.6", "libm.so.6", "libdl.so.2", "librt.so.1",
                           "libpthread.so.0", "libgcc_s.so.1", "libutil.so.1"}
LOADERS = {"x86_64": "/lib64/ld-linux-x86-64.so.2", "aarch64": "/lib/ld-linux-aarch64.so.1"}


def problems(needs, arch):
    """What keeps a binary of ARCH from running on every glibc 2.17 system: [] when nothing."""
    found = []
    if needs.machine != arch:
        found.append(f"built for {needs.machine}, not {arch}")
    if needs.interpreter != LOADERS[arch]:
        found.append(f"loader {needs.interpreter}, not {LOADERS[arch]}")
    extra = set(needs.libraries) - MANYLINUX2014_LIBRARIES - {Path(LOADERS[arch]).name}
    if extra:
        found.append(f"needs libraries outside manylinux2014: {sorted(extra)}")
    floor = needs.glibc_floor()
    if floor is None or floor > GLIBC_FLOOR:
        found.append(f"needs glibc {'.'.join(map(str, floor or ()))}, over 2.17")
    return found


def extracted(arch, scratch):
    """ARCH's binaries: dist/'s bare one, the wheel's and the npm platform package's."""
    wheel_copy = scratch / f"wheel-{arch}"
    with zipfile.ZipFile(wheel(arch)) as z:
        wheel_copy.write_bytes(z.read(f"temporal_supervisor-{VERSION}.data/scripts/temporal-supervisor"))
    npm_copy = scratch / f"npm-{arch}"
    with tarfile.open(npm_tarball(arch)) as t:
        npm_copy.write_bytes(t.extractfile("package/bin/temporal-supervisor").read())
    return {"dist/" + str(binary(arch).relative_to(binary(arch).parents[1])): binary(arch),
            f"the {wheel(arch).name} wheel's": wheel_copy,
            f"the {npm_tarball(arch).name} tarball's": npm_copy}


class GlibcFloor(unittest.TestCase):
    def test_every_built_binary_needs_at_most_glibc_2_17(self):
        read = []
        with tempfile.TemporaryDirectory() as scratch:
            for arch in ARCHES:
                for name, path in extracted(arch, Path(scratch)).items():
                    with self.subTest(name):
                        needs = elf.read(path)
                        self.assertEqual(problems(needs, arch), [], f"{name}: {needs}")
                        read.append(f"  {name}: {arch}, glibc "
                                    f"{'.'.join(map(str, needs.glibc_floor()))} at most, "
                                    f"{' '.join(sorted(needs.libraries))}")
        print("", *read, sep="\n", file=sys.stderr)

    def test_the_check_fails_on_a_binary_that_needs_a_newer_glibc(self):
        needs = elf.read("/usr/bin/ls")  # Debian 12's: __libc_start_main@GLIBC_2.34
        self.assertEqual(needs.glibc_floor(), (2, 34))
        self.assertIn("needs glibc 2.34, over 2.17", problems(needs, "x86_64"))
        self.assertIn("built for x86_64, not aarch64", problems(needs, "aarch64"))


if __name__ == "__main__":
    unittest.main()
