"""Takes the binary out of each release wheel in dist/ (scripts/cross-build.sh) and lays out
what scripts/package.sh packs and sums:

  - dist/linux-amd64/temporal-supervisor and dist/linux-arm64/temporal-supervisor, the bare
    binaries, in Docker's names for the platforms (the Dockerfile's `prebuilt` stage takes
    dist/linux-$TARGETARCH/temporal-supervisor);
  - dist/npm/: the npm packages, ready for `npm pack`: the launcher package and one platform
    package per wheel, with Cargo.toml's version and description in their package.json, the
    binary in the platform package's bin/, the licence texts in each.

    python scripts/stage_packages.py      (from the repository's root)
"""
import json
import re
import shutil
import tomllib
import zipfile
from pathlib import Path

DIST = Path("dist")
# A wheel's architecture as Docker and npm name it.
ARCHES = {"x86_64": ("amd64", "x64"), "aarch64": ("arm64", "arm64")}
LICENCES = ("LICENSE-MIT", "LICENSE-APACHE")


def main():
    crate = tomllib.loads(Path("Cargo.toml").read_text())["package"]
    version = crate["version"]
    stage = DIST / "npm"
    main_package = stage_folder("temporal-supervisor", stage)
    main_package["description"] = crate["description"]
    main_package["optionalDependencies"] = {}

    wheels = sorted(DIST.glob(f"temporal_supervisor-{version}-py3-none-*.whl"))
    arches = [re.search(r"_(x86_64|aarch64)\.whl$", w.name).group(1) for w in wheels]
    if sorted(arches) != sorted(ARCHES):
        raise SystemExit(f"stage: expected one wheel per architecture {sorted(ARCHES)} in dist/, "
                         f"found {[w.name for w in wheels]}")
    for wheel, arch in zip(wheels, arches):
        docker, npm = ARCHES[arch]
        with zipfile.ZipFile(wheel) as z:
            data = z.read(f"temporal_supervisor-{version}.data/scripts/temporal-supervisor")
        write_binary(DIST / f"linux-{docker}" / "temporal-supervisor", data)

        folder = f"linux-{npm}"
        platform = stage_folder(folder, stage)
        platform["description"] = (f"The {folder} (glibc 2.17 or newer) binary of "
                                   f"{main_package['name']}: {crate['description']}")
        write_binary(stage / folder / "bin" / "temporal-supervisor", data)
        write_json(stage / folder, platform, version)
        main_package["optionalDependencies"][platform["name"]] = version
    write_json(stage / "temporal-supervisor", main_package, version)


def stage_folder(name, stage):
    """Copies npm/NAME and the licence texts into the stage; returns its package.json."""
    shutil.copytree(Path("npm") / name, stage / name)
    for licence in LICENCES:
        shutil.copy(licence, stage / name)
    package = json.loads((stage / name / "package.json").read_text())
    del package["//"]
    return package


def write_json(folder, package, version):
    package["version"] = version
    (folder / "package.json").write_text(json.dumps(package, indent=2) + "\n")


def write_binary(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(0o755)


if __name__ == "__main__":
    main()
