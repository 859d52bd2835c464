#!/bin/sh
# Opens Ferry's TCP ports (or with --close removes what it opened) in whichever
# firewall this host uses: ufw, firewalld, nftables or iptables. Every change
# is printed as the exact command, so --dry-run shows what a real run would do.

PROG=open-firewall.sh
COMMENT=ferry
NFT_CHAIN_SPEC='{ type filter hook input priority 0 ; policy accept ; }'

usage() {
  cat <<EOF
Usage: $PROG [--dry-run] [--close] [--backend ufw|firewalld|nftables|iptables] [PORT...]

Opens TCP ports for Ferry in the host firewall, or with --close removes the
rules it added. The ports default to the service, ops and web client ports:
\$FERRY_PORT (8080), \$FERRY_OPS_PORT (8081) and \$FERRY_WEB_PORT (8443).

Options:
  --dry-run    print the commands, one per line, instead of running them
               (the current rules are still read, to know what is there)
  --close      remove Ferry's rules for the ports instead of adding them
  --backend B  use firewall B instead of the detected one
  --help       show this help

The firewall is detected in this order: ufw when \`ufw status\` says active,
firewalld when \`firewall-cmd --state\` says running, nftables when \`nft\` is
installed (and \`nft --version\` says nftables: npm puts node_modules/.bin first on
PATH, where nft can be a Node file tracer), iptables when \`iptables\` is
installed. What each one gets:

  ufw        ufw allow PORT/tcp comment ferry          (close: ufw delete allow PORT/tcp)
  firewalld  firewall-cmd --add-port=PORT/tcp, the same with --permanent
             (close: --remove-port=PORT/tcp, both)
  iptables   iptables -I INPUT 1 -p tcp --dport PORT -j ACCEPT -m comment --comment ferry
             at the top of INPUT, so it comes before any DROP there
             (close: iptables -D with the same rule); IPv4 only
  nftables   an accept rule (tcp dport PORT accept comment ferry) at the top of
             EVERY filter chain on the input hook (families ip, ip6, inet):
             an accept in one base chain does not stop another base chain from
             dropping the packet, so each chain that filters input must accept.
             When no chain filters input, nothing blocks the ports; the rules then
             go into a table of Ferry's own, inet ferry, so they are on record.
             (close: deletes those rules by handle, and the inet ferry table once
             it is empty.) The INPUT chain that iptables-nft keeps in table
             ip filter is one of those chains; iptables -S lists the rule too.

ufw and firewalld keep the rules across reboots. The iptables and nftables
rules last until the next reboot or firewall reload: save them the host's way
(netfilter-persistent, /etc/nftables.conf) to keep them.

Opening a port that is already open, or closing one that is not, changes nothing.
Changing the firewall needs root; --dry-run does not, except that reading the
nftables or iptables rules, or whether ufw is active, does.

Exit status: 0 on success, 1 when the firewall could not be read or changed,
2 on a usage error such as an invalid port.
EOF
}

die() {
  printf '%s: %s\n' "$PROG" "$1" >&2
  exit 1
}

usage_error() {
  printf '%s: %s\nTry: %s --help\n' "$PROG" "$1" "$PROG" >&2
  exit 2
}

have() {
  command -v "$1" >/dev/null 2>&1
}

# Adds $1 to $ports once; $2 names where it came from, for the error message.
add_port() {
  case $1 in
    '' | 0* | *[!0-9]*) bad=1 ;;
    ??????*) bad=1 ;;
    *) if [ "$1" -le 65535 ]; then bad=0; else bad=1; fi ;;
  esac
  [ "$bad" = 0 ] || usage_error "invalid port '$1'${2:+ in $2}: a port is a whole number from 1 to 65535"
  case " $ports " in
    *" $1 "*) ;;
    *) ports="${ports:+$ports }$1" ;;
  esac
}

# Prints the command as one shell line, then runs it unless this is a dry run.
# Words with characters a shell would interpret are single-quoted (no word here
# contains a single quote).
changes=0
run() {
  line=
  for word in "$@"; do
    case $word in
      '' | *[!A-Za-z0-9_./=:,@%+-]*) word="'$word'" ;;
    esac
    line="${line:+$line }$word"
  done
  printf '%s\n' "$line"
  changes=$((changes + 1))
  [ "$dry_run" = 1 ] && return 0
  "$@" </dev/null || die "failed: $line"
}

# A Node project's node_modules/.bin, which npm puts first on PATH, can hold
# @vercel/nft (a file tracer) under the same name as nftables' nft.
is_nftables() {
  case $(nft --version 2>/dev/null) in
    nftables*) return 0 ;;
  esac
  return 1
}

detect_backend() {
  if have ufw; then
    status=$(ufw status 2>&1) || die "cannot read \`ufw status\` ($status); run as root, or choose with --backend"
    case $status in
      *'Status: active'*) backend=ufw; return ;;
    esac
  fi
  if have firewall-cmd && [ "$(firewall-cmd --state 2>/dev/null)" = running ]; then
    backend=firewalld
  elif have nft && is_nftables; then
    backend=nftables
  elif have iptables; then
    backend=iptables
  else
    die "found no firewall to change (none of ufw, firewall-cmd, nft, iptables is installed): nothing here blocks the ports"
  fi
}

apply_ufw() {
  for port in $ports; do
    if [ "$close" = 1 ]; then
      run ufw delete allow "$port/tcp"
    else
      run ufw allow "$port/tcp" comment "$COMMENT"
    fi
  done
}

apply_firewalld() {
  action=--add-port
  [ "$close" = 1 ] && action=--remove-port
  for port in $ports; do
    run firewall-cmd "$action=$port/tcp"
    run firewall-cmd --permanent "$action=$port/tcp"
  done
}

# Runs the command in $2... followed by Ferry's iptables rule for port $1.
with_iptables_rule() {
  rule_port=$1
  shift
  "$@" -p tcp --dport "$rule_port" -j ACCEPT -m comment --comment "$COMMENT"
}

apply_iptables() {
  iptables -S INPUT >/dev/null 2>&1 || die "cannot read the iptables INPUT chain (run as root)"
  for port in $ports; do
    if with_iptables_rule "$port" iptables -C INPUT 2>/dev/null; then
      [ "$close" = 1 ] && with_iptables_rule "$port" run iptables -D INPUT
    else
      [ "$close" = 1 ] || with_iptables_rule "$port" run iptables -I INPUT 1
    fi
  done
}

# Reads `nft -a list ruleset` and prints, for each filter chain on the input
# hook of an ip, ip6 or inet table, "chain FAMILY TABLE CHAIN", then for each
# rule in it "rule FAMILY TABLE CHAIN PORT HANDLE" when it is one of Ferry's
# and "other FAMILY TABLE CHAIN" otherwise.
scan_nft_ruleset() {
  awk -v ferry_rule="^tcp dport [0-9]+ accept comment \"$COMMENT\" # handle [0-9]+\$" '
    { line = $0; sub(/^[ \t]+/, "", line) }
    depth == 0 && $1 == "table" { family = $2; table = $3 }
    depth == 1 && $1 == "chain" { chain = $2 }
    depth == 2 && chain != "" && line ~ /^type filter hook input[ ;]/ && family ~ /^(ip|ip6|inet)$/ {
      filtering = 1
      print "chain", family, table, chain
    }
    depth == 2 && filtering && line ~ /# handle [0-9]+$/ {
      if (line ~ ferry_rule) print "rule", family, table, chain, $3, $NF
      else print "other", family, table, chain
    }
    {
      depth += gsub(/[{]/, "{", line) - gsub(/[}]/, "}", line)
      if (depth < 2) { chain = ""; filtering = 0 }
    }
  '
}

# Prints the handles of Ferry's rules for port $4 in chain $1 $2 $3.
nft_ferry_handles() {
  printf '%s\n' "$scan" | awk -v family="$1" -v table="$2" -v chain="$3" -v port="$4" '
    $1 == "rule" && $2 == family && $3 == table && $4 == chain && $5 == port { print $6 }
  '
}

apply_nftables() {
  ruleset=$(nft -a list ruleset 2>&1) || die "cannot read the nftables ruleset: $ruleset"
  scan=$(printf '%s\n' "$ruleset" | scan_nft_ruleset)
  chains=$(printf '%s\n' "$scan" | awk '$1 == "chain" { print $2, $3, $4 }')
  if [ "$close" = 0 ] && [ -z "$chains" ]; then
    run nft add table inet "$COMMENT"
    run nft add chain inet "$COMMENT" input "$NFT_CHAIN_SPEC"
    chains="inet $COMMENT input"
  fi
  while read -r family table chain; do
    [ -n "$family" ] || continue
    for port in $ports; do
      handles=$(nft_ferry_handles "$family" "$table" "$chain" "$port")
      if [ "$close" = 1 ]; then
        for handle in $handles; do
          run nft delete rule "$family" "$table" "$chain" handle "$handle"
        done
      elif [ -z "$handles" ]; then
        run nft insert rule "$family" "$table" "$chain" tcp dport "$port" accept comment "$COMMENT"
      fi
    done
  done <<EOF
$chains
EOF
  if [ "$close" = 1 ]; then
    # Ferry's own table goes once no rule is left in it.
    left=$(printf '%s\n' "$scan" | awk -v ports=" $ports " -v table="$COMMENT" '
      $1 == "chain" && $2 == "inet" && $3 == table { exists = 1 }
      ($1 == "rule" || $1 == "other") && $2 == "inet" && $3 == table && !($1 == "rule" && index(ports, " " $5 " ")) { left++ }
      END { print exists ? left + 0 : "none" }
    ')
    [ "$left" = 0 ] && run nft delete table inet "$COMMENT"
  fi
}

dry_run=0
close=0
backend=
ports=
while [ $# -gt 0 ]; do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --dry-run) dry_run=1 ;;
    --close) close=1 ;;
    --backend) [ $# -ge 2 ] || usage_error "--backend needs a value"; backend=$2; shift ;;
    --backend=*) backend=${1#--backend=} ;;
    --) shift; break ;;
    -*) usage_error "unknown option $1" ;;
    *) add_port "$1" ;;
  esac
  shift
done
for port in "$@"; do
  add_port "$port"
done
if [ -z "$ports" ]; then
  add_port "${FERRY_PORT:-8080}" FERRY_PORT
  add_port "${FERRY_OPS_PORT:-8081}" FERRY_OPS_PORT
  add_port "${FERRY_WEB_PORT:-8443}" FERRY_WEB_PORT
fi

case $backend in
  '') ;;
  ufw | firewalld | nftables | iptables) ;;
  *) usage_error "unknown backend '$backend': choose ufw, firewalld, nftables or iptables" ;;
esac

if [ "$dry_run" = 0 ] && [ "$(id -u)" != 0 ]; then
  die "changing the firewall needs root: run it with sudo (or add --dry-run to see the commands)"
fi

if [ -z "$backend" ]; then
  detect_backend
else
  case $backend in
    firewalld) tool=firewall-cmd ;;
    nftables) tool=nft ;;
    *) tool=$backend ;;
  esac
  have "$tool" || die "--backend $backend needs \`$tool\`, which is not installed"
  if [ "$backend" = nftables ] && ! is_nftables; then
    die "the nft first on PATH ($(command -v nft)) is not nftables' nft: put /usr/sbin before it in PATH"
  fi
fi

"apply_$backend"

verb=opened
[ "$close" = 1 ] && verb=closed
if [ "$changes" = 0 ]; then
  printf '%s: nothing to do: TCP %s already %s (%s)\n' "$PROG" "$ports" "$verb" "$backend" >&2
elif [ "$dry_run" = 1 ]; then
  printf '%s: dry run with %s: nothing was changed\n' "$PROG" "$backend" >&2
else
  printf '%s: %s TCP %s with %s\n' "$PROG" "$verb" "$ports" "$backend" >&2
fi
