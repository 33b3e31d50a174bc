#!/usr/bin/env bash
# live/install.sh - the Debian packages of live mode: postfix, dovecot-imapd, dovecot-pop3d.
#
#   live/install.sh            as root: installs what is missing; otherwise prints the exact
#                              apt-get line and exits 3 ("missing", not "broken")
#   live/install.sh --check    only says what is missing (exit 0 all present, 3 missing)
#
# Installing postfix or dovecot on Debian starts their system services (port 25, 143, 110 ...)
# through invoke-rc.d / deb-systemd-invoke. Live mode runs its own private instances, so the
# install runs under a policy-rc.d that forbids every service start (exit 101, see
# /usr/share/doc/init-system-helpers/README.policy-rc.d), removed afterwards if it was ours.
# postfix is preseeded with "No configuration": no /etc/postfix/main.cf, no mail system set up.
set -euo pipefail
PKGS="postfix dovecot-core dovecot-imapd dovecot-pop3d openssl"

# a package is there when dpkg has it installed (its files alone can outlive a removal)
missing() {
    local p miss=""
    for p in $PKGS; do
        [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] || miss="$miss $p"
    done
    printf '%s' "${miss# }"
}

miss=$(missing)
[[ -z $miss ]] && exit 0
if [[ ${1:-} == --check ]]; then
    echo "live: missing Debian packages: $miss"
    exit 3
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo "live: missing Debian packages: $miss. Install them (services kept stopped) with:" >&2
    echo "    sudo live/install.sh        # or: sudo apt-get install -y $miss" >&2
    exit 3
fi
echo "live: installing $miss (system services kept from starting)"
ours=""
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\n# live/install.sh: no service starts during its apt-get install\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    ours=1
fi
cleanup() { [[ -n $ours ]] && rm -f /usr/sbin/policy-rc.d; return 0; }
trap cleanup EXIT
export DEBIAN_FRONTEND=noninteractive
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -q >/dev/null || { echo "live: apt-get update failed" >&2; exit 1; }
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $miss >/dev/null || { echo "live: apt-get install $miss failed" >&2; exit 1; }
miss=$(missing)
[[ -z $miss ]] || { echo "live: still missing after install: $miss" >&2; exit 1; }
echo "live: installed"
