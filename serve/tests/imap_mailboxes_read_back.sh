#!/usr/bin/env bash
# mx-serve as an IMAP server that real clients store mail in and read it back from (issue 13):
#  - Python imaplib over STARTTLS and over implicit TLS, in INBOX and in a second mailbox
#    (a modified UTF-7 name, RFC 3501 5.1.3): APPEND (UIDPLUS APPENDUID), SELECT, FETCH
#    BODY.PEEK[] by sequence number and UID FETCH BODY[] by the APPENDUID; each message read
#    back must equal what was sent (sha256) at 16383, 16384, 16385 (the TLS record boundary) and
#    70000 bytes; RFC822.SIZE, BODY[HEADER], a partial BODY[]<n.m> across the 16384 boundary,
#    \Seen set by BODY[] and not by BODY.PEEK[], STORE \Deleted + EXPUNGE (the message is gone
#    from the mailbox and the disk, UIDs are never reused), STATUS, LIST with % and *, CLOSE;
#  - curl fetches a message by UID over implicit TLS (imaps://.../INBOX;UID=n);
#  - mailbox names that try to leave the Maildir root (.., absolute paths, /, NUL through a
#    literal, over-long, bad modified UTF-7) are refused and create nothing outside it.
# The oracle is the client's own bytes (hashed before sending) and the RFCs' response shapes.
set -euo pipefail
source "$MXFUZZ_ROOT/serve/tests/testlib.sh"
serve_init
serve_ports 2
P_IMAP=${PORTS[0]} P_IMAPS=${PORTS[1]}
cat >"$W/serve.conf" <<CONF
listen 127.0.0.1 $P_IMAP starttls imap
listen 127.0.0.1 $P_IMAPS implicit imap
cert test * *
CONF
serve_start "$W/serve.conf"
for size in 16383 16384 16385 70000; do gen_message "$W/m$size" $size; done
T="timeout 60"

$T python3 - "$P_IMAP" "$P_IMAPS" "$CERT" "$W" <<'PY' || fail "python imaplib read-back"
import hashlib, imaplib, re, ssl, sys
p, ps, cert, w = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=cert)
ctx.check_hostname = False
msgs = {n: open("%s/m%d" % (w, n), "rb").read() for n in (16383, 16384, 16385, 70000)}
sha = lambda b: hashlib.sha256(b).hexdigest()

def ok(r, what):
    assert r[0] == "OK", (what, r)
    return r[1]

def connect(tls):
    if tls == "starttls":
        c = imaplib.IMAP4("127.0.0.1", p)
        c.starttls(ssl_context=ctx)
    else:
        c = imaplib.IMAP4_SSL("127.0.0.1", ps, ssl_context=ctx)
    ok(c.login("alice", "secret"), "login")
    return c

def bodies(data):
    """FETCH data -> [(response head, literal)]"""
    return [d for d in data if isinstance(d, tuple)]

for tls, box in (("starttls", "INBOX"), ("implicit", "Entw&APw-rfe.Work"), ("implicit", "INBOX"), ("starttls", "Entw&APw-rfe.Work")):
    c = connect(tls)
    if box != "INBOX" and tls == "implicit":
        ok(c.create('"%s"' % box), "create")
        r = c.create('"%s"' % box)
        assert r[0] == "NO" and b"ALREADYEXISTS" in r[1][0], r
    c.select('"%s"' % box)
    typ, data = c.status('"%s"' % box, "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN)")
    st = dict(re.findall(rb"(MESSAGES|UIDNEXT|UIDVALIDITY|UNSEEN) (\d+)", data[0]))
    before, uidnext = int(st[b"MESSAGES"]), int(st[b"UIDNEXT"])
    uids = {}
    for n, m in msgs.items():
        typ, data = c.append('"%s"' % box, None, None, m)
        assert typ == "OK", data
        code = re.search(rb"\[APPENDUID (\d+) (\d+)\]", data[0])
        assert code and int(code.group(1)) == int(st[b"UIDVALIDITY"]), data
        uids[n] = int(code.group(2))
    assert sorted(uids.values()) == list(uids.values()) and min(uids.values()) >= uidnext, (uids, uidnext)
    typ, data = c.select('"%s"' % box)
    assert typ == "OK" and int(data[0]) == before + 4, (data, before)
    # FETCH BODY.PEEK[] by sequence number: byte for byte, \Seen not set
    typ, data = c.fetch("%d:*" % (before + 1), "(UID RFC822.SIZE FLAGS BODY.PEEK[])")
    assert typ == "OK", data
    got = bodies(data)
    assert len(got) == 4, data
    for head, lit in got:
        u = int(re.search(rb"UID (\d+)", head).group(1))
        n = [k for k, v in uids.items() if v == u][0]
        assert sha(lit) == sha(msgs[n]), "%s %s: BODY.PEEK[] of %d bytes differs" % (tls, box, n)
        assert int(re.search(rb"RFC822.SIZE (\d+)", head).group(1)) == n, head
        assert b"\\Seen" not in head, head
    # UID FETCH BODY[] by the APPENDUID: byte for byte, and now \Seen
    for n, u in uids.items():
        typ, data = c.uid("FETCH", str(u), "(BODY[])")
        got = bodies(data)
        assert typ == "OK" and len(got) == 1, data
        assert sha(got[0][1]) == sha(msgs[n]), "%s %s: UID FETCH %d differs" % (tls, box, u)
        typ, data = c.uid("FETCH", str(u), "(FLAGS)")
        assert b"\\Seen" in data[0], data
    # BODY[HEADER] and a partial fetch across the record boundary
    u = uids[70000]
    typ, data = c.uid("FETCH", str(u), "(BODY.PEEK[HEADER] BODY.PEEK[]<16380.10> BODY.PEEK[TEXT])")
    got = bodies(data)
    hend = msgs[70000].index(b"\r\n\r\n") + 4
    assert got[0][1] == msgs[70000][:hend], got[0]
    assert b"BODY[]<16380>" in got[1][0] and got[1][1] == msgs[70000][16380:16390], got[1]
    assert got[2][1] == msgs[70000][hend:], "BODY[TEXT]"
    # STORE \Deleted + EXPUNGE of the 16384-byte one
    d = uids[16384]
    typ, data = c.uid("STORE", str(d), "+FLAGS", "(\\Deleted)")
    assert typ == "OK" and b"\\Deleted" in data[0], data
    typ, data = c.expunge()
    assert typ == "OK" and len([x for x in data if x]) == 1, data
    typ, data = c.uid("FETCH", str(d), "(UID)")
    assert typ == "OK" and data == [None], ("expunged message still there", data)
    typ, data = c.select('"%s"' % box)
    assert int(data[0]) == before + 3, data
    typ, data = c.uid("SEARCH", "ALL")
    assert d not in [int(x) for x in data[0].split()], data
    ok(c.close(), "close")
    c.logout()

# the mailbox is on disk where Maildir++ puts it, and the expunged files are gone
c = connect("implicit")
typ, data = c.list('""', "*")
names = [re.search(rb'"\." "?(.*?)"?$', x).group(1) for x in data]
assert b"INBOX" in names and b"Entw&APw-rfe.Work" in names, data
typ, data = c.list('""', "%")
names = [re.search(rb'"\." "?(.*?)"?$', x).group(1) for x in data]
assert b"Entw&APw-rfe.Work" not in names, ("% matched across the delimiter", data)
typ, data = c.list('"Entw&APw-rfe."', "%")
assert len(data) == 1 and b"Entw&APw-rfe.Work" in data[0], data
typ, data = c.status('"Entw&APw-rfe.Work"', "(MESSAGES)")
assert b"MESSAGES 6" in data[0], data
# UIDs are never reused: a new message gets a UID above every earlier one, even expunged ones
c.select("INBOX")
typ, data = c.append("INBOX", None, None, b"Subject: after\r\n\r\nafter\r\n")
u = int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1))
assert u == 9, ("UID after 8 messages (two expunged)", data)
# DELETE removes the mailbox; INBOX cannot be deleted
ok(c.delete('"Entw&APw-rfe.Work"'), "delete")
assert c.delete("INBOX")[0] == "NO"
assert c.select('"Entw&APw-rfe.Work"')[0] == "NO"
c.logout()
PY
[[ -d $W/md/.Entw\&APw-rfe.Work ]] && fail "DELETE left the folder on disk"
[[ $(stored_count) -eq 7 ]] || fail "INBOX holds $(stored_count) files, want 7 (8 appended, 2 expunged, 1 more)"
echo "ok: imaplib STARTTLS + implicit TLS, INBOX + a modified-UTF-7 mailbox: APPEND/APPENDUID, SELECT, FETCH BODY.PEEK[] and UID FETCH BODY[] byte-identical at 16383/16384/16385/70000, HEADER, TEXT, partial, STORE, EXPUNGE, STATUS, LIST %/*, CLOSE, DELETE"

# --- curl: fetch by UID over implicit TLS
R=(--resolve "mx-serve.test:$P_IMAPS:127.0.0.1")
uid=$(cd "$W/md" && ls new cur | sed -n 's/.*,S=70000,U=\([0-9]*\).*/\1/p' | head -n 1)
[[ -n $uid ]] || fail "no 70000-byte message in INBOX"
$T curl -sS --cacert "$CERT" "${R[@]}" -u alice:secret "imaps://mx-serve.test:$P_IMAPS/INBOX;UID=$uid" -o "$W/curl.out" ||
    fail "curl imaps fetch UID $uid"
cmp -s "$W/curl.out" "$W/m70000" || fail "curl imaps UID $uid differs from what was appended"
echo "ok: curl imaps fetch by UID $uid byte-identical"

# --- mailbox names that try to leave the Maildir root
$T python3 - "$P_IMAPS" "$CERT" <<'PY' || fail "traversal attempts"
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2]); ctx.check_hostname = False
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15))
f = s.makefile("rb")
def upto(tag):
    while True:
        l = f.readline()
        assert l, "connection closed"
        if l.startswith(tag + b" ") or l.startswith(b"+"):
            return l
assert f.readline().startswith(b"* OK")
s.sendall(b"a LOGIN alice secret\r\n"); assert upto(b"a").startswith(b"a OK")
bad = [b"..", b"../evil", b"../../etc/mx-evil", b"/tmp/mx-evil", b"a/../../mx-evil", b"a/b", b".hidden",
       b"a..b", b"tail.", b"x" * 201, b"&", b"&Jjo", b"&A-", b"caf\xc3\xa9", b"a\\b", b"wild*", b"wild%",
       b"tab\tname"]
for i, name in enumerate(bad):
    for verb in (b"CREATE", b"SELECT", b"DELETE", b"STATUS", b"APPEND"):
        tag = b"t%d%s" % (i, verb[:2])
        arg = b"{%d+}\r\n%s" % (len(name), name)
        tail = b" (MESSAGES)" if verb == b"STATUS" else b" {1+}\r\nx" if verb == b"APPEND" else b""
        s.sendall(tag + b" " + verb + b" " + arg + tail + b"\r\n")
        l = upto(tag)
        assert l.startswith(tag + b" NO") or l.startswith(tag + b" BAD"), (name, verb, l)
# NUL inside a literal mailbox name
s.sendall(b"n CREATE {5+}\r\nab\x00cd\r\n"); l = upto(b"n"); assert l.startswith(b"n NO"), l
# accepted: modified UTF-7 and an escaped "&"
for i, name in enumerate([b"&Jjo-", b"R&-D", b"Entw&APw-rfe"]):
    tag = b"g%d" % i
    s.sendall(tag + b" CREATE {%d+}\r\n%s\r\n" % (len(name), name)); l = upto(tag); assert l.startswith(tag + b" OK"), (name, l)
s.sendall(b"z LOGOUT\r\n"); upto(b"z")
PY
# nothing was created outside the Maildir, and inside it only the three accepted folders
find "$W" -name '*mx-evil*' -o -name evil | grep . && fail "a traversal name created a file"
[[ ! -e /tmp/mx-evil ]] || fail "/tmp/mx-evil exists"
extra=$(cd "$W/md" && ls -A | grep -v -x -e tmp -e new -e cur -e mx-uids -e '.&Jjo-' -e '.R&-D' -e '.Entw&APw-rfe' || true)
[[ -z $extra ]] || fail "unexpected entries in the Maildir root: $extra"
echo "ok: 18 hostile mailbox names x CREATE/SELECT/DELETE/STATUS/APPEND refused, NUL refused, modified UTF-7 accepted; nothing outside the root"

# --- mail another writer delivered (no U= in its name, Maildir spec): it gets the next UIDs on
# the next SELECT, in the order the walk finds it, keeps its bytes and its cur/ flags (":2,S")
printf 'Subject: dropped\r\n\r\nnew/ by another MDA\r\n' >"$W/md/tmp/drop1" && mv "$W/md/tmp/drop1" "$W/md/new/1700000000.M1P1.elsewhere"
printf 'Subject: seen\r\n\r\ncur/ by another MDA\r\n' >"$W/md/tmp/drop2" && mv "$W/md/tmp/drop2" "$W/md/cur/1700000001.M1P1.elsewhere:2,S"
$T python3 - "$P_IMAPS" "$CERT" <<'PY' || fail "mail of another writer"
import imaplib, re, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2]); ctx.check_hostname = False
c = imaplib.IMAP4_SSL("127.0.0.1", int(sys.argv[1]), ssl_context=ctx)
c.login("alice", "secret"); c.select("INBOX")
typ, data = c.uid("FETCH", "10:*", "(UID FLAGS BODY.PEEK[])")
got = {}
for d in data:
    if isinstance(d, tuple):
        got[int(re.search(rb"UID (\d+)", d[0]).group(1))] = (d[0], d[1])
assert sorted(got) == [10, 11], ("two new UIDs after 9", sorted(got), data)
bodies = sorted(v[1] for v in got.values())
assert bodies == sorted([b"Subject: dropped\r\n\r\nnew/ by another MDA\r\n", b"Subject: seen\r\n\r\ncur/ by another MDA\r\n"]), bodies
for head, body in got.values():
    assert (b"\\Seen" in head) == (b"cur/" in body), ("flags from the name", head, body)
c.logout()
PY
ls "$W/md/new" "$W/md/cur" | grep >/dev/null 'elsewhere,U=1[01]' || fail "the dropped files did not get their UIDs in their names"
echo "ok: two messages another writer dropped into new/ and cur/ got UIDs 10 and 11, bytes and \\Seen kept"

serve_stop
echo "PASS imap_mailboxes_read_back"
