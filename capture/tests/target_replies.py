#!/usr/bin/env python3
"""A seed's recorded server replies against the starttls target's, by reply unit.

    target_replies.py SEED ANSWERED OUT.json

ANSWERED is what tools/starttls-replies wrote for SEED: the same client writes, each followed by
the replies libmx's machine gave in the starttls target's run engine (checked against its RFC
model on the way). The recorded replies after each client write (and the greeting before the
first) are cut into reply units as tools/session-send.py --units cuts them, and set against the
target's after the same write, unit by unit; where the recorded server took TLS up (a T event)
the target must have too. OUT.json gets the pairs in session-send's --units format ("after",
"want", "got", "same_status"), so shipped_captures.py explain names the differences the same
way it does for mx-serve. Exit 0; 2 when the two sessions do not hold the same client writes.
"""
import importlib.util
import json
import os
import sys

sys.dont_write_bytecode = True
tools = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools")
sys.path.insert(0, tools)
import mxsession  # noqa: E402

# the unit cutting and statuses of session-send --units: one definition
_spec = importlib.util.spec_from_file_location("session_send", os.path.join(tools, "session-send.py"))
session_send = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(session_send)


def blocks(s):
    """[(client write before, server bytes after it, TLS came up after them)]; the first entry's
    client write is None (the greeting)."""
    out = [[None, b"", False]]
    for kind, p in s.events:
        if kind == "C":
            out.append([bytes(p), b"", False])
        elif kind == "S":
            out[-1][1] += bytes(p)
        elif kind == "T":
            out[-1][2] = True
    return out


def main():
    seed, answered, dest = sys.argv[1:4]
    s, a = mxsession.parse(open(seed, "rb").read()), mxsession.parse(open(answered, "rb").read())
    want, got = blocks(s), blocks(a)
    # the target stops reading at its close: it may hold fewer writes, never other ones
    if len(got) > len(want) or any(w[0] != g[0] for w, g in zip(want, got)):
        print("target_replies: %s and %s do not hold the same client writes" % (seed, answered), file=sys.stderr)
        return 2
    pairs, sent = [], False
    for k, (cw, wb, wt) in enumerate(want):
        gb, gt = (got[k][1], got[k][2]) if k < len(got) else (b"", False)
        last = [l[:200] for l in cw.split(b"\r\n")[:-1]] or [cw[:200]] if cw is not None else [b""]
        wu = session_send.reply_units(s.proto, wb, greeting=not sent)
        gu = session_send.reply_units(s.proto, gb, greeting=not sent)
        for j, wunit in enumerate(wu):
            gunit = gu[j] if j < len(gu) else []
            same = bool(gunit) and session_send.unit_status(s.proto, gunit) == session_send.unit_status(s.proto, wunit)
            pairs.append({"after": (last[j] if j < len(last) else last[0]).decode("latin-1"),
                          "want": [l.decode("latin-1") for l in wunit],
                          "got": [l.decode("latin-1") for l in gunit], "same_status": same})
        for gunit in gu[len(wu):]:  # the target answered more than the recorded server
            pairs.append({"after": last[0].decode("latin-1"), "want": [],
                          "got": [l.decode("latin-1") for l in gunit], "same_status": False})
        if wt or gt:
            pairs.append({"after": "(TLS handshake)", "want": ["(TLS up)"] if wt else [],
                          "got": ["(TLS up)"] if gt else ["(no TLS)"], "same_status": wt == gt})
        sent = sent or cw is not None
    tmp = dest + ".tmp"
    with open(tmp, "w") as f:
        json.dump(pairs, f, indent=1)
    os.replace(tmp, dest)
    print("target_replies: %d unit(s), %d status difference(s)" % (len(pairs), sum(not p["same_status"] for p in pairs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
