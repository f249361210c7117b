"""Small helpers for scripts/docker-test.sh: the supervisor's /readyz and its JSON log lines.

    helpers.py readyz PORT FIELD...      prints each field of /readyz's JSON document (dotted
                                         paths, e.g. restarts_by_reason.temporal-lost), one a
                                         line; "none" for a missing field; "no-answer" when
                                         nothing answers
    helpers.py code PORT PATH            prints the HTTP status of GET PATH at 127.0.0.1:PORT
                                         ("no-answer" when nothing answers)
    helpers.py identities                reads `temporal task-queue describe -o json` on
                                         stdin, prints each poller identity once
    helpers.py log-count PREFIX          reads `docker logs` on stdin, prints how many of the
                                         supervisor's JSON lines have a message starting so
    helpers.py log-values MESSAGE FIELD  prints FIELD of each line whose message is MESSAGE
    helpers.py apt-source SUITE          prints "URI KEYRING" of the first enabled Debian
                                         archive apt has for SUITE (KEYRING "-" when none)
"""
import glob
import json
import os
import re
import sys
import urllib.error
import urllib.request


def readyz(port, fields):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=3) as r:
            doc = json.load(r)
    except urllib.error.HTTPError as e:
        doc = json.load(e)
    except (OSError, ValueError):
        print("\n".join("no-answer" for _ in fields))
        return
    for field in fields:
        value = doc
        for part in field.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        print("none" if value is None else json.dumps(value) if isinstance(value, (dict, list)) else value)


def code(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as r:
            print(r.status)
    except urllib.error.HTTPError as e:
        print(e.code)
    except OSError:
        print("no-answer")


def identities():
    try:
        doc = json.load(sys.stdin)
    except ValueError:
        return
    for identity in sorted({p.get("identity", "") for p in doc.get("pollers") or []}):
        print(identity)


def supervisor_lines():
    """The supervisor's own lines: JSON objects with a message (the worker's output is not)."""
    for line in sys.stdin:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and "message" in doc:
            yield doc


def apt_source(suite):
    """The archive apt is configured with for SUITE: deb822 .sources files, then one-line lists."""
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        for stanza in re.split(r"\n\s*\n", open(path).read()):
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
        for line in open(path):
            m = re.match(r"\s*deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)", line)
            if m and m.group(3) == suite:
                signed = re.search(r"signed-by=(\S+)", m.group(1) or "")
                return m.group(2), signed.group(1) if signed else ""
    sys.exit(f"apt has no archive for {suite} (in /etc/apt/sources.list or sources.list.d)")


def main():
    command, args = sys.argv[1], sys.argv[2:]
    if command == "readyz":
        readyz(args[0], args[1:])
    elif command == "code":
        code(args[0], args[1])
    elif command == "identities":
        identities()
    elif command == "log-count":
        print(sum(1 for doc in supervisor_lines() if doc["message"].startswith(args[0])))
    elif command == "log-values":
        for doc in supervisor_lines():
            if doc["message"] == args[0]:
                print(doc.get(args[1], "none"))
    elif command == "apt-source":
        uri, keyring = apt_source(args[0])
        print(uri, keyring if keyring and os.path.isfile(keyring) else "-")
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
