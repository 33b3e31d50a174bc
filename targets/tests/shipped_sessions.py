#!/usr/bin/env python3
"""The session files the repository ships, as session bytes (corpus/FORMAT.md).

    targets/tests/shipped_sessions.py ROOT OUTDIR

Writes OUTDIR/<path> for every shipped file that holds a session: corpus/{starttls,imap}/* and
repro/{starttls,imap}/* as they are, corpus/imap_tls/* and repro/imap_tls/* without their
imap_tls prefix (targets/imap_tls.c: 149 fixed bytes, then prefix[148] % 8 cut sizes; a short
file has an empty session). Prints the relative paths, sorted. Used by the tests that pin and
cross-check the session parsers (v1_sessions_decode_unchanged.sh, session_parsers_agree.sh)."""
import os
import sys

PLAIN = ("corpus/starttls", "corpus/imap", "repro/starttls", "repro/imap")
PREFIXED = ("corpus/imap_tls", "repro/imap_tls")
IMAP_TLS_PREFIX_FIXED = 2 + 144 + 3  # suite, seq, keys, iv_seed, pad, ncuts


def imap_tls_session(data):
    ncuts = data[IMAP_TLS_PREFIX_FIXED - 1] % 8 if len(data) >= IMAP_TLS_PREFIX_FIXED else 0
    return data[min(len(data), IMAP_TLS_PREFIX_FIXED + ncuts):]


def main():
    root, out = sys.argv[1], sys.argv[2]
    paths = []
    for d in PLAIN + PREFIXED:
        full = os.path.join(root, d)
        if not os.path.isdir(full):
            continue
        for name in sorted(os.listdir(full)):
            if name.startswith(".") or name.endswith((".txt", ".md")):
                continue
            with open(os.path.join(full, name), "rb") as f:
                data = f.read()
            if d in PREFIXED:
                data = imap_tls_session(data)
            os.makedirs(os.path.join(out, d), exist_ok=True)
            with open(os.path.join(out, d, name), "wb") as f:
                f.write(data)
            paths.append(d + "/" + name)
    for p in sorted(paths):
        print(p)


if __name__ == "__main__":
    main()
