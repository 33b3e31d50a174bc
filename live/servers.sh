# live/servers.sh - the three servers of live mode, private and on loopback. Source it.
#
#   live_servers_init DIR        DIR (under build/): configs, spools, state, logs; a throwaway
#                                certificate; free loopback ports per listener; DIR/test-user
#                                ("user password" of every server); a trap that stops
#                                whatever was started here, also on Ctrl-C,
#                                SIGTERM and SIGHUP
#   live_start_mxserve BIN       mx-serve BIN (two processes: the TLS-required submission listener
#                                needs --tls-required, which is per process); also the
#                                LIVE_TLSDOWN and LIVE_LMINUS listeners
#   live_start_postfix NAME [main.cf lines...]
#                                postfix's master (as root) on DIR/NAME/{etc,spool,data}: its own
#                                config_directory, queue_directory, data_directory
#   live_start_dovecot NAME [dovecot.conf lines...]
#                                dovecot -c DIR/NAME/dovecot.conf, base_dir and state under DIR/NAME
#   live_stop_all                stops every server started here; fails if one is left running
#   live_port SERVER LISTENER    the port of a listener: smtp smtp-nocert submission smtps imap
#                                imaps pop3 pop3s (the same set mx-serve is started with in
#                                serve/README.md); postfix has the SMTP ones, dovecot the others;
#                                mx-serve also LIVE_TLSDOWN and LIVE_LMINUS
#
# Nothing outside DIR is changed: postfix -c and dovecot -c read only the files written here, the
# spools live in DIR, every listener is on 127.0.0.1. postfix's master and dovecot's run as root
# (they drop to their own users: postfix, dovecot, dovenull - created by their Debian packages);
# the test mailbox belongs to the system user mxfuzz-live, created when missing (live_user).
set -u
LIVE_LISTENERS="smtp smtp-nocert submission smtps imap imaps pop3 pop3s"
# mx-serve's too: STARTTLS listeners whose certificate cannot be used (its tls-unavailable
# option; sessions of version 3 with flags bit 3, live/run.py)
LIVE_TLSDOWN="smtp-tlsdown imap-tlsdown pop3-tlsdown"
# mx-serve's too: IMAP listeners with the literal-minus option, which advertise LITERAL- and refuse
# a {N+} over 4096 octets (RFC 7888 4); sessions of version 3 with flags bit 2 go there
# (live/run.py). postfix has no IMAP, and dovecot here keeps its default imap_literal_minus = no
# (LITERAL+ on every listener; the setting is per protocol, not per listener), so such a session
# is n.a. on them rather than judged under rules their listeners do not follow.
LIVE_LMINUS="imap-lminus imaps-lminus"
LIVE_STARTED=()   # "kind name" of each server started, for live_stop_all
LIVE_TEST_USER=alice LIVE_TEST_PASS=secret
LIVE_FREE_PORTS=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tools/free_ports.py

live_die() { echo "live: $*" >&2; exit 1; }

# live_register_stop PIDFILE EXE-GLOB: a test killed outright (ctest's timeout SIGKILLs the whole
# test, no trap runs) leaves the daemonized masters; tools/test_group.sh's watchdog runs this line
# afterwards: SIGTERM to the master in PIDFILE if that process is still EXE-GLOB (postfix's and
# dovecot's masters stop their children on SIGTERM). Outside test_group.sh: nothing.
live_register_stop() {
    [[ -n ${MXFUZZ_TEST_STOPS:-} && -w $MXFUZZ_TEST_STOPS ]] || return 0
    printf 'p=$(tr -d " \\n" 2>/dev/null <%q) && [[ -n $p && $(readlink /proc/$p/exe) == %s ]] && kill -TERM "$p"\n' \
        "$1" "$2" >>"$MXFUZZ_TEST_STOPS"
}

live_servers_init() {
    mkdir -p "$1"
    LIVE_DIR=$(cd "$1" && pwd)   # absolute: postfix and dovecot refuse relative paths
    # postfix and dovecot drop to their own users, which must reach their directories here
    chmod 755 "$LIVE_DIR"
    trap 'live_stop_all >/dev/null 2>&1 || true' EXIT
    # each ignores further signals first: a second one must not cut the stop short
    trap 'trap "" INT TERM HUP; live_stop_all >/dev/null 2>&1; exit 130' INT
    trap 'trap "" INT TERM HUP; live_stop_all >/dev/null 2>&1; exit 143' TERM
    trap 'trap "" INT TERM HUP; live_stop_all >/dev/null 2>&1; exit 129' HUP
    mkdir -p "$LIVE_DIR/certs"
    # a throwaway self-signed certificate for every TLS listener of the three servers; an EC
    # key: an RSA key took 30 s to generate on a loaded machine
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -sha256 -days 2 -nodes -subj "/CN=mx-serve.test/O=mxfuzz live throwaway" \
        -addext subjectAltName=DNS:mx-serve.test -keyout "$LIVE_DIR/certs/key.pem" \
        -out "$LIVE_DIR/certs/cert.pem" 2>/dev/null || live_die "openssl req failed"
    cat "$LIVE_DIR/certs/key.pem" "$LIVE_DIR/certs/cert.pem" >"$LIVE_DIR/certs/test.pem"
    chmod 644 "$LIVE_DIR/certs/cert.pem"
    chmod 600 "$LIVE_DIR/certs/key.pem" "$LIVE_DIR/certs/test.pem"
    : >"$LIVE_DIR/ports"
    # the test user, for live/run.py's login prefix (the IMAP reader's sessions run logged in)
    echo "$LIVE_TEST_USER $LIVE_TEST_PASS" >"$LIVE_DIR/test-user"
}

# live_alloc_ports SERVER LISTENER...: a free loopback port per listener, appended to DIR/ports
live_alloc_ports() {
    local srv=$1 i=0 p names
    shift
    names=("$@")
    while read -r p; do
        echo "$srv ${names[$i]} $p" >>"$LIVE_DIR/ports"
        i=$((i + 1))
    done < <(python3 "$LIVE_FREE_PORTS" ${#names[@]})
}

live_port() { awk -v s="$1" -v l="$2" '$1 == s && $2 == l {print $3; f = 1} END {exit !f}' "$LIVE_DIR/ports"; }

# live_wait_ports SERVER WHAT: every listener of SERVER accepts connections within 20 s
live_wait_ports() {
    local srv=$1 l p
    for l in $LIVE_LISTENERS $LIVE_TLSDOWN $LIVE_LMINUS; do
        p=$(live_port "$srv" "$l") || continue
        for _ in $(seq 200); do
            (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue 2
            sleep 0.1
        done
        live_die "$srv: $l (127.0.0.1:$p) did not listen within 20 s (logs in ${LIVE_DIR})"
    done
}

live_user() {
    if ! getent passwd mxfuzz-live >/dev/null; then
        useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin mxfuzz-live ||
            live_die "useradd mxfuzz-live failed"
        echo "live: created the system user mxfuzz-live (owner of the dovecot test mailbox)"
    fi
}

# ---------------------------------------------------------------- mx-serve
live_start_mxserve() {
    local bin=$1 d="$LIVE_DIR/mx-serve" l p
    mkdir -p "$d"
    live_alloc_ports mx-serve $LIVE_LISTENERS $LIVE_TLSDOWN $LIVE_LMINUS
    : >"$d/serve.conf"
    : >"$d/submission.conf"
    for l in smtp smtp-nocert smtps imap imaps pop3 pop3s $LIVE_TLSDOWN $LIVE_LMINUS; do
        p=$(live_port mx-serve "$l")
        case $l in
        *-tlsdown) echo "listen 127.0.0.1 $p starttls ${l%-tlsdown} tls-unavailable" ;;
        imap-lminus) echo "listen 127.0.0.1 $p starttls imap literal-minus" ;;
        imaps-lminus) echo "listen 127.0.0.1 $p implicit imap literal-minus" ;;
        smtp | smtp-nocert) echo "listen 127.0.0.1 $p starttls smtp" ;;
        smtps) echo "listen 127.0.0.1 $p implicit smtp" ;;
        imap | pop3) echo "listen 127.0.0.1 $p starttls $l" ;;
        imaps | pop3s) echo "listen 127.0.0.1 $p implicit ${l%s}" ;;
        esac >>"$d/serve.conf"
        [[ $l == smtp-nocert ]] || echo "cert test 127.0.0.1 $p" >>"$d/serve.conf"
    done
    p=$(live_port mx-serve submission)
    printf 'listen 127.0.0.1 %s starttls smtp\ncert test 127.0.0.1 %s\n' "$p" "$p" >"$d/submission.conf"
    local conf
    for conf in serve submission; do
        local extra=()
        [[ $conf == submission ]] && extra=(--tls-required)
        rm -f "$d/$conf.ready"
        # --any-rcpt: every recipient accepted, as postfix here (permit_mynetworks); --auth-delay 0:
        # no wait after a refused login, as postfix and dovecot here (timing only)
        LIVE_STARTED+=("mx-serve $conf")   # before the start, as for postfix
        "$bin" -c "$d/$conf.conf" --cert-dir "$LIVE_DIR/certs" -m "$d/md-$conf" --log "$d/$conf.log" \
            -u "$LIVE_TEST_USER:$LIVE_TEST_PASS" --any-rcpt --auth-delay 0 --grace 1 --ready "$d/$conf.ready" \
            "${extra[@]}" 2>>"$d/$conf.stderr" &
        echo $! >"$d/$conf.pid"
        for _ in $(seq 100); do
            [[ -f $d/$conf.ready ]] && break
            kill -0 "$(cat "$d/$conf.pid")" 2>/dev/null || { cat "$d/$conf.stderr" >&2; live_die "mx-serve ($conf) exited at start"; }
            sleep 0.1
        done
        [[ -f $d/$conf.ready ]] || live_die "mx-serve ($conf) did not get ready in 10 s"
    done
}

live_stop_mxserve() {
    local d="$LIVE_DIR/mx-serve" conf pid
    for conf in serve submission; do
        [[ -f $d/$conf.pid ]] || continue
        pid=$(cat "$d/$conf.pid")
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        rm -f "$d/$conf.pid"
    done
}

# ---------------------------------------------------------------- postfix
live_start_postfix() {
    local name=$1 d="$LIVE_DIR/$1" l p
    shift
    [[ $(id -u) -eq 0 ]] || live_die "postfix's master must run as root (its queue belongs to postfix)"
    rm -rf "$d"
    mkdir -p "$d/etc" "$d/spool" "$d/data"
    chown postfix: "$d/data"   # postfix's own state (master.lock, tls caches)
    live_alloc_ports "$name" smtp smtp-nocert submission smtps
    # main.cf: every path private, loopback only, mail accepted for any recipient and thrown
    # away (the discard transport), no DNS, no delivery attempt, nothing in /etc read
    cat >"$d/etc/main.cf" <<EOF
# rendered by live/servers.sh: a private postfix for live mode (do not edit: rewritten each run)
compatibility_level = 3.6
queue_directory = $d/spool
data_directory = $d/data
mail_owner = postfix
setgid_group = postdrop
myhostname = $name.live.test
mydomain = live.test
myorigin = \$myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains =
smtpd_relay_restrictions = permit_mynetworks, reject
default_transport = discard:live mode
relay_transport = discard:live mode
local_transport = discard:live mode
virtual_transport = discard:live mode
disable_dns_lookups = yes
smtp_dns_support_level = disabled
alias_maps =
alias_database =
maillog_file_prefixes = $d
maillog_file = $d/maillog
# timing only: postfix sleeps 1 s per error after smtpd_soft_error_limit errors, which would
# push its replies past the live client's quiet window
smtpd_error_sleep_time = 0
smtpd_tls_cert_file = $LIVE_DIR/certs/cert.pem
smtpd_tls_key_file = $LIVE_DIR/certs/key.pem
smtpd_tls_security_level = may
smtpd_tls_loglevel = 0
EOF
    local line
    for line in "$@"; do echo "$line" >>"$d/etc/main.cf"; done
    {
        echo "# rendered by live/servers.sh: the live-mode listeners, the services they need"
        p=$(live_port "$name" smtp);        echo "127.0.0.1:$p inet n - n - - smtpd"
        p=$(live_port "$name" smtp-nocert); echo "127.0.0.1:$p inet n - n - - smtpd -o smtpd_tls_security_level=none -o smtpd_tls_cert_file= -o smtpd_tls_key_file="
        p=$(live_port "$name" submission);  echo "127.0.0.1:$p inet n - n - - smtpd -o smtpd_tls_security_level=encrypt"
        p=$(live_port "$name" smtps);       echo "127.0.0.1:$p inet n - n - - smtpd -o smtpd_tls_wrappermode=yes"
        cat <<'EOF'
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
    } >"$d/etc/master.cf"
    # postfix check creates the queue's subdirectories with their owners (post-install)
    postfix -c "$d/etc" check >"$d/check.log" 2>&1 || { cat "$d/check.log" >&2; live_die "$name: postfix check failed"; }
    # listed before the start: a signal's trap runs as soon as the start command returns
    LIVE_STARTED+=("postfix $name")
    live_register_stop "$d/spool/pid/master.pid" "*/master"
    postfix -c "$d/etc" start >"$d/start.log" 2>&1 || { cat "$d/start.log" "$d/maillog" >&2 2>/dev/null; live_die "$name: postfix start failed"; }
    live_wait_ports "$name"
}

live_stop_postfix() {
    local d="$LIVE_DIR/$1" pid=""
    [[ -f $d/spool/pid/master.pid ]] && pid=$(tr -d ' \n' <"$d/spool/pid/master.pid")
    postfix -c "$d/etc" stop >/dev/null 2>&1 || true
    if [[ -n $pid ]]; then
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
}

# ---------------------------------------------------------------- dovecot
live_start_dovecot() {
    local name=$1 d="$LIVE_DIR/$1" line
    shift
    [[ $(id -u) -eq 0 ]] || live_die "dovecot's master must run as root"
    live_user
    rm -rf "$d"
    mkdir -p "$d/run" "$d/state" "$d/mail"
    chown mxfuzz-live: "$d/mail"
    live_alloc_ports "$name" imap imaps pop3 pop3s
    printf '%s:{PLAIN}%s\n' "$LIVE_TEST_USER" "$LIVE_TEST_PASS" >"$d/users"
    chmod 644 "$d/users"
    local dh=""
    [[ -f /usr/share/dovecot/dh.pem ]] && dh="ssl_dh = </usr/share/dovecot/dh.pem"
    cat >"$d/dovecot.conf" <<EOF
# rendered by live/servers.sh: a private dovecot for live mode (do not edit: rewritten each run)
protocols = imap pop3
listen = 127.0.0.1
base_dir = $d/run
state_dir = $d/state
instance_name = $name
log_path = $d/log
ssl = yes
ssl_cert = <$LIVE_DIR/certs/cert.pem
ssl_key = <$LIVE_DIR/certs/key.pem
$dh
first_valid_uid = 1
passdb {
  driver = passwd-file
  args = scheme=PLAIN $d/users
}
userdb {
  driver = static
  args = uid=mxfuzz-live gid=mxfuzz-live home=$d/mail/%u
}
mail_location = maildir:~/Maildir
# timing only: a failed login is answered after a delay (auth_failure_delay, 2 s)
auth_failure_delay = 0
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $(live_port "$name" imap)
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $(live_port "$name" imaps)
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $(live_port "$name" pop3)
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = $(live_port "$name" pop3s)
    ssl = yes
  }
}
EOF
    for line in "$@"; do echo "$line" >>"$d/dovecot.conf"; done
    LIVE_STARTED+=("dovecot $name")   # before the start, as for postfix
    live_register_stop "$d/run/master.pid" "*/dovecot"
    dovecot -c "$d/dovecot.conf" >"$d/start.log" 2>&1 || { cat "$d/start.log" "$d/log" >&2 2>/dev/null; live_die "$name: dovecot failed to start"; }
    live_wait_ports "$name"
}

live_stop_dovecot() {
    local d="$LIVE_DIR/$1" pid=""
    [[ -f $d/run/master.pid ]] && pid=$(tr -d ' \n' <"$d/run/master.pid")
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}

# ---------------------------------------------------------------- all
live_stop_all() {
    local s kind name left=""
    for s in "${LIVE_STARTED[@]}"; do
        read -r kind name <<<"$s"
        case $kind in
        mx-serve) [[ $name == serve ]] && live_stop_mxserve ;;
        postfix) live_stop_postfix "$name" ;;
        dovecot) live_stop_dovecot "$name" ;;
        esac
    done
    LIVE_STARTED=()
    # nothing of ours may listen any more
    [[ -f ${LIVE_DIR:-/nonexistent}/ports ]] || return 0
    local p
    while read -r _ _ p; do
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && left="$left $p"
    done <"$LIVE_DIR/ports"
    [[ -z $left ]] || { echo "live: still listening after the stop:$left" >&2; return 1; }
    return 0
}
