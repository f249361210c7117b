"""Exits 0 when every package given as NAME==VERSION is installed at that version, else 1:
how scripts/setup.sh knows whether .venv needs an install.

    python scripts/installed.py temporalio==1.35.0 maturin==1.16.0 ...
"""
import sys
from importlib.metadata import PackageNotFoundError, version


def installed(spec: str) -> bool:
    name, wanted = spec.split("==")
    try:
        return version(name) == wanted
    except PackageNotFoundError:
        return False


if __name__ == "__main__":
    sys.exit(0 if all(installed(spec) for spec in sys.argv[1:]) else 1)
