#!/usr/bin/env bash
# bench/record/record_bench's report is well formed (its figures are not judged: speed is
# never asserted in a test). A short run (tiny rounds, two record sizes, every suite) must give:
#  - the command, the round set-up and the load average at start and at end;
#  - one row per suite and size, in order, each with four MB/s columns and three ratio columns
#    ("median [q1-q3]" with q1 <= median <= q3), "-" exactly where a competitor cannot run the
#    suite (BoringSSL: EtM and the SHA-256/384 CBC suites; OpenSSL: 3DES and TLS 1.3);
#  - a goals column naming the issue's goals that apply to the row (and only those);
#  - an HTML file with the same rows, names and load averages.
set -euo pipefail
ROOT=${MXFUZZ_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${MXFUZZ_BUILD:-$ROOT/build/test}
bench=$BUILD/bench/record_bench
[[ -x $bench && -x $BUILD/bench/ossl_read ]] || { echo "FAIL: $bench or its ossl_read helper is not built"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

nice -n 10 "$bench" --mb 0.02 --rounds 3 --sizes 256,1024 --html "$work/t.html" >"$work/t.txt"
# an unknown option is refused with the usage and exit status 2, nothing printed on stdout
set +e
"$bench" --bogus 1 >"$work/bad.out" 2>"$work/bad.err"
rc=$?
set -e
[[ $rc -eq 2 && ! -s $work/bad.out ]] && grep -q '^usage: record_bench' "$work/bad.err" \
    || { echo "FAIL: --bogus gave status $rc"; exit 1; }

python3 - "$work/t.txt" "$work/t.html" <<'PY'
import html.parser, re, sys
text, page = open(sys.argv[1]).read().splitlines(), open(sys.argv[2]).read()
fails = []
def check(cond, what):
    if not cond:
        fails.append(what)

suites = ["TLS1.2 AES128-CBC-SHA", "TLS1.2 AES256-CBC-SHA", "TLS1.0 AES128-CBC-SHA", "TLS1.2 3DES-CBC-SHA",
          "TLS1.2 AES128-GCM", "TLS1.2 AES256-GCM", "TLS1.2 CHACHA20-POLY1305", "TLS1.3",
          "TLS1.2 AES128-CBC-SHA EtM", "TLS1.0 AES128-CBC-SHA EtM", "TLS1.2 AES128-CBC-SHA256",
          "TLS1.2 AES128-CBC-SHA256 EtM", "TLS1.2 AES256-CBC-SHA384", "TLS1.2 AES256-CBC-SHA384 EtM"]
sizes = [256, 1024]
load = r"\d+\.\d\d \d+\.\d\d \d+\.\d\d"
check(text[0].startswith("# ") and "--rounds 3" in text[0], "first line: the command")
check(any(re.fullmatch(r"# load average at start: " + load, l) for l in text), "load average at start")
check(re.fullmatch(r"# load average at end: " + load, text[-1]) is not None, "load average at end (last line)")
check(any("3 rounds + 1 warm-up" in l and "thread CPU time" in l for l in text), "round set-up and clock")
header = [l for l in text if l.startswith("suite ")]
check(len(header) == 1 and header[0].split()[:10] ==
      ["suite", "record", "libmx", "SSL_read", "OpenSSL", "floor", "mx/SSL_read", "mx/OpenSSL", "mx/floor", "goals"],
      "column header")
num = r"\d+\.\d"
ratio = r"(\d+\.\d\d) \[(\d+\.\d\d)-(\d+\.\d\d)\]|-"
row_re = re.compile(r"(?P<name>\S.*?)\s+(?P<rec>\d+)\s+(?P<mx>%s|-)\s+(?P<ssl>%s|-)\s+(?P<ossl>%s|-)\s+(?P<floor>%s|-)"
                    r"\s+(?P<r1>%s)\s+(?P<r2>%s)\s+(?P<r3>%s)\s*(?P<goals>.*)" % (num, num, num, num, ratio, ratio, ratio))
rows = [l for l in text if l and not l.startswith("#") and not l.startswith("suite ")]
check(len(rows) == len(suites) * len(sizes), "%d rows, want %d" % (len(rows), len(suites) * len(sizes)))
names = []
for i, l in enumerate(rows):
    m = row_re.fullmatch(l)
    if not m:
        fails.append("row not well formed: %r" % l)
        continue
    s, z = suites[i // len(sizes)] if i // len(sizes) < len(suites) else "?", sizes[i % len(sizes)]
    name = m["name"]
    names.append(name)
    check(name == s or (s == "TLS1.3" and re.fullmatch(r"TLS1\.3 \S+ \(0x130[123]\)", name)), "row %d: %r is not %r" % (i, name, s))
    check(int(m["rec"]) == z, "%s: record size %s, want %d" % (name, m["rec"], z))
    model = "EtM" in s or "SHA256" in s or "SHA384" in s
    no_ossl = "3DES" in s or s == "TLS1.3"
    check(m["mx"] != "-" and m["floor"] != "-" and m["r3"] != "-", "%s: libmx and floor always measured" % name)
    check((m["ssl"] == "-") == model and (m["r1"] == "-") == model, "%s: SSL_read '-' iff BoringSSL lacks the suite" % name)
    check((m["ossl"] == "-") == no_ossl and (m["r2"] == "-") == no_ossl, "%s: OpenSSL '-' iff it lacks the suite" % name)
    for key in ("r1", "r2", "r3"):
        r = re.fullmatch(ratio, m[key])
        if r and r.group(1):
            med, q1, q3 = map(float, r.groups())
            check(q1 <= med <= q3 and med > 0, "%s: %s quartiles out of order" % (name, m[key]))
    goals = m["goals"]
    want = []
    if not model and z == 1024:
        want.append("SSL>=1.0")
    if "EtM" in s and z == 1024:
        want.append("OSSL>=1.0")
    if not ("GCM" in s or "CHACHA" in s or s == "TLS1.3") and "EtM" not in s and z == 1024:
        want.append("floor>")
    got = [g.strip() for g in goals.split(",")] if goals else []
    check(len(got) == len(want) and all(g.startswith(w) and re.search(r" (ok|MISS)$", g) for g, w in zip(got, want)),
          "%s %d: goals %r, want %r" % (name, z, goals, want))

class Table(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.cell, self.in_td = [], None, False
    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.rows[-1].append("")
            self.in_td = True
    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.in_td = False
    def handle_data(self, data):
        if self.in_td:
            self.rows[-1][-1] += data
t = Table()
t.feed(page)
check(page.rstrip().endswith("</html>"), "HTML complete")
body = t.rows[1:]
check(len(body) == len(rows), "HTML has %d rows, text %d" % (len(body), len(rows)))
check([r[0] for r in body] == names, "HTML row names match the text table")
check(all(len(r) == 10 for r in body), "HTML rows have 10 cells")
check(re.search(r"Load average at start: " + load + r"; at end: " + load, page) is not None, "HTML load averages")
for f in fails:
    print("FAIL:", f)
print("%d rows checked, %d failures" % (len(rows), len(fails)))
sys.exit(1 if fails else 0)
PY
