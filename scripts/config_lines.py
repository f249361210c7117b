"""Counts the configuration's code lines: src/cli.rs and src/config/, without blank lines,
comment lines, or test code (files declared `#[cfg(test)] mod NAME;`, and `#[cfg(test)]`
items inside a file). With --each, also prints the count per file.

    python3 scripts/config_lines.py [--each]
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FILES = [ROOT / "src/cli.rs", *sorted((ROOT / "src/config").rglob("*.rs"))]


def test_modules(text: str) -> set[str]:
    """The modules a file declares under `#[cfg(test)]` (`mod NAME;`)."""
    return set(re.findall(r"#\[cfg\(test\)\]\s*(?:pub\s+)?mod\s+(\w+)\s*;", text))


def code_lines(text: str) -> int:
    """Lines that are neither blank nor comments, outside `#[cfg(test)]` items."""
    count = 0
    skipping = False
    depth = 0
    for line in text.splitlines():
        stripped = line.strip()
        if skipping:
            depth += stripped.count("{") - stripped.count("}")
            if depth <= 0 and ("}" in stripped or stripped.endswith(";")):
                skipping = False
            continue
        if stripped == "#[cfg(test)]":
            skipping, depth = True, 0
            continue
        if stripped and not stripped.startswith("//"):
            count += 1
    return count


def main() -> None:
    texts = {path: path.read_text() for path in FILES}
    excluded = {"tests"}
    for text in texts.values():
        excluded |= test_modules(text)
    total = 0
    for path, text in texts.items():
        if path.stem in excluded or any(part in excluded for part in path.parts[-2:-1]):
            continue
        lines = code_lines(text)
        total += lines
        if "--each" in sys.argv:
            print(f"{lines:5} {path.relative_to(ROOT)}")
    print(total)


if __name__ == "__main__":
    main()
