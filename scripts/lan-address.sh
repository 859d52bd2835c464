#!/bin/sh
# Prints the IPv4 addresses other devices on the LAN can use to reach this host,
# one per line as ADDRESS<TAB>INTERFACE: what a person would otherwise dig out
# of `ip addr` or `ifconfig` to tell a phone or laptop where Ferry is.

PROG=lan-address.sh

usage() {
  cat <<EOF
Usage: $PROG [--help]

Prints the IPv4 addresses that other devices on the LAN can use to reach this
host, one per line as ADDRESS<TAB>INTERFACE, for example

  192.168.1.20	wlan0

Skipped: loopback (127.0.0.0/8), link-local addresses (169.254.0.0/16, which a
host gives itself when no network answered), interfaces that are down or have
no link (cable out, Wi-Fi not joined), and the bridges that containers and
virtual machines use (docker*, br-*, virbr*, veth*, podman*, cni*, lxcbr*,
lxdbr*), which other devices on the LAN cannot reach.

Reads \`ip -4 -o addr show\` and \`ip -o link show\`; where \`ip\` is missing or
fails (macOS, BSD) it reads \`ifconfig -a\` instead.

Exit status: 0 when it printed at least one address, 1 when it found none,
2 on a usage error.
EOF
}

# ip: the link flags say whether an interface is up with a link (UP and
# LOWER_UP); the address lines come after a "--" separator.
from_ip() {
  links=$(ip -o link show 2>/dev/null) || return 1
  addrs=$(ip -4 -o addr show 2>/dev/null) || return 1
  printf '%s\n--\n%s\n' "$links" "$addrs" | awk '
    $0 == "--" { reading_addrs = 1; next }
    !reading_addrs {
      name = $2; sub(/:$/, "", name); sub(/@.*/, "", name)
      flags = $3
      connected[name] = (flags ~ /[<,]UP[,>]/ && flags ~ /[<,]LOWER_UP[,>]/ && flags !~ /[<,]LOOPBACK[,>]/)
      next
    }
    $3 == "inet" && connected[$2] { address = $4; sub(/\/.*/, "", address); print address "\t" $2 }
  '
}

# ifconfig, in the Linux net-tools (old and new), macOS and BSD layouts: a block
# per interface, starting on an unindented line; addresses come before macOS's
# "status:" line, so a block is judged when the next one starts.
from_ifconfig() {
  ifconfig -a 2>/dev/null | awk '
    function judge(   i) {
      if (name != "" && up && running && !loopback && !inactive)
        for (i = 1; i <= count; i++) print addresses[i] "\t" name
    }
    /^[^ \t]/ { judge(); name = $1; sub(/:$/, "", name); up = running = loopback = inactive = count = 0 }
    {
      words = " " $0 " "; gsub(/[<>,]/, " ", words)
      if (words ~ / UP /) up = 1
      if (words ~ / RUNNING /) running = 1
      if (words ~ / LOOPBACK /) loopback = 1
    }
    /status: inactive/ { inactive = 1 }
    $1 == "inet" { address = $2; sub(/^addr:/, "", address); addresses[++count] = address }
    END { judge() }
  '
}

# Addresses and interfaces that no other device on the LAN can use.
reachable_only() {
  awk -F '\t' '
    $1 ~ /^127\./ || $1 ~ /^169\.254\./ { next }
    $2 ~ /^(docker|br-|virbr|veth|podman|cni|lxcbr|lxdbr)/ { next }
    { print }
  '
}

case ${1-} in
  -h | --help) usage; exit 0 ;;
  '') ;;
  *) printf '%s: unknown argument %s\nTry: %s --help\n' "$PROG" "$1" "$PROG" >&2; exit 2 ;;
esac

if command -v ip >/dev/null 2>&1 && found=$(from_ip); then
  :
elif command -v ifconfig >/dev/null 2>&1; then
  found=$(from_ifconfig)
else
  printf '%s: needs ip (iproute2) or ifconfig to list the network interfaces\n' "$PROG" >&2
  exit 1
fi

found=$(printf '%s\n' "$found" | reachable_only)
if [ -z "$found" ]; then
  printf '%s: no LAN IPv4 address found: every interface is down, loopback, link-local or a container bridge.\n' "$PROG" >&2
  printf 'Join a network (Wi-Fi or cable) and run it again.\n' >&2
  exit 1
fi
printf '%s\n' "$found"
