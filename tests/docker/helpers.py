"""What the container tests read: the supervisor's /readyz, its JSON log lines, the poller
identities Temporal lists, and the Debian archive apt is configured with.

One command is kept for the shell (tests/packages/debian11-root.sh makes its root from the
same archive):

    helpers.py apt-source SUITE    prints "URI KEYRING" of the first enabled Debian archive apt
                                   has for SUITE (KEYRING "-" when none)
"""
import glob
import json
import os
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path


def get(port, path):
    """(HTTP status, JSON document or None) of GET PATH at 127.0.0.1:PORT; (None, None) when
    nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as r:
            status, body = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read()
    except OSError:
        return None, None
    try:
        return status, json.loads(body)
    except ValueError:
        return status, None


def readyz(port):
    """/readyz's JSON document, or {} when nothing answers."""
    return get(port, "/readyz")[1] or {}


def field(doc, path):
    """A dotted path of a JSON document (restarts_by_reason.exited), None when missing."""
    for part in path.split("."):
        doc = doc.get(part) if isinstance(doc, dict) else None
    return doc


def identities(describe_json):
    """Each poller identity of `temporal task-queue describe -o json`'s output, once."""
    try:
        doc = json.loads(describe_json)
    except ValueError:
        return []
    return sorted({p.get("identity", "") for p in doc.get("pollers") or []})


def supervisor_lines(log):
    """The supervisor's own lines of a container's log: JSON objects with a message (the
    worker's output is not)."""
    for line in log.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and "message" in doc:
            yield doc


def log_count(log, prefix):
    """How many of the supervisor's lines have a message starting with PREFIX."""
    return sum(1 for doc in supervisor_lines(log) if doc["message"].startswith(prefix))


def log_values(log, message, name):
    """Field NAME of each of the supervisor's lines whose message is MESSAGE."""
    return [doc.get(name) for doc in supervisor_lines(log) if doc["message"] == message]


def apt_source(suite):
    """The archive apt is configured with for SUITE: deb822 .sources files, then one-line lists."""
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        for stanza in re.split(r"\n\s*\n", Path(path).read_text()):
            fields, key = {}, None
            for line in stanza.splitlines():
                if line.startswith("#") or not line.strip():
                    continue
                if line[0].isspace() and key:
                    fields[key] += " " + line.strip()
                    continue
                key, _, value = line.partition(":")
                key = key.strip().lower()
                fields[key] = value.strip()
            if (
                "deb" in fields.get("types", "").split()
                and suite in fields.get("suites", "").split()
                and fields.get("enabled", "yes").lower() != "no"
                and fields.get("uris")
            ):
                return fields["uris"].split()[0], fields.get("signed-by", "")
    for path in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")):
        if not os.path.exists(path):
            continue
        for line in Path(path).read_text().splitlines():
            m = re.match(r"\s*deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)", line)
            if m and m.group(3) == suite:
                signed = re.search(r"signed-by=(\S+)", m.group(1) or "")
                return m.group(2), signed.group(1) if signed else ""
    raise LookupError(f"apt has no archive for {suite} (in /etc/apt/sources.list or sources.list.d)")


def apt_source_and_keyring(suite):
    """(URI, KEYRING) for SUITE, KEYRING "-" unless it is a file."""
    uri, keyring = apt_source(suite)
    return uri, keyring if keyring and os.path.isfile(keyring) else "-"


def main():
    if sys.argv[1:2] != ["apt-source"] or len(sys.argv) != 3:
        sys.exit("usage: helpers.py apt-source SUITE")
    try:
        print(*apt_source_and_keyring(sys.argv[2]))
    except LookupError as e:
        sys.exit(str(e))


if __name__ == "__main__":
    main()
