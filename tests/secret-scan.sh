#!/usr/bin/env bash
# Looks for secrets where they must not be: every secret a site keeps in its keystore (API tokens, peer tokens, private
# keys, the journal key, passphrases) is searched for in every other file under the given directories (logs, journal
# databases, event and state files, spools, reports). Used at the end of the quickstart and after every process-level test
# (tests/SiteRecovery.Chaos.Tests, TempDir), so a secret that leaks into a log or the journal fails a run.
#
#   tests/secret-scan.sh DIR...
#
# The keystore, where secrets belong: files under a directory named keys, *.token files, *.key files and peer-tokens
# files; a keystore file named *.passphrase is a secret as a whole. Files over 64 MiB are disk images, replicas and spool
# segments of the tests' synthetic data; they are not read.
# Prints one line "secret scan: F files, S secrets, N outside the keystore" and, for each finding, which secret (by the
# file it belongs to, never its value) was found in which file. Exit 0 when nothing was found, 1 when something was,
# 2 on bad usage.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: secret-scan.sh DIR..." >&2; exit 2; }
for d in "$@"; do [ -d "$d" ] || { echo "secret-scan: '$d' is not a directory" >&2; exit 2; }; done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
in_keystore=( \( -path '*/keys/*' -o -name '*.token' -o -name '*.key' -o -name 'peer-tokens*' \) )

# Secrets, one per line in $work/secrets with the keystore file each came from in $work/origins (same line number).
# A secret kept in two keystore files (a node's admin token is also a peer's token) is one secret, named by the first.
add() { [ ${#1} -ge 16 ] || return 0; grep -qxF -e "$1" "$work/secrets" && return 0; printf '%s\n' "$1" >>"$work/secrets"; printf '%s\n' "$2" >>"$work/origins"; }
: >"$work/secrets"; : >"$work/origins"
while IFS= read -r -d '' f; do
  # Token secrets: the part after the dot of srt_ID.SECRET (the id is public: lists and audits show it).
  while IFS= read -r t; do add "${t#*.}" "$f"; done < <(grep -aoE 'srt_[0-9a-f]+\.[A-Za-z0-9_-]+' "$f" 2>/dev/null || true)
  # Private keys in PEM: each full line of the base64 body.
  if grep -q 'PRIVATE KEY-----' "$f" 2>/dev/null; then
    while IFS= read -r line; do add "$line" "$f"; done < <(grep -avE -- '-----|^$' "$f" | grep -aE '^[A-Za-z0-9+/=]{40,}$' || true)
  fi
  # A configuration server's passphrase kept as NAME.passphrase in the keystore (the quickstart's): the whole file.
  case "$f" in *.passphrase) add "$(tr -d '\r\n' <"$f")" "$f" ;; esac
  # The journal key: 32 raw bytes; searched as hex and base64, the forms a log or a JSON document would carry.
  if [ "$(basename "$f")" = journal.key ] && [ "$(stat -c %s "$f")" = 32 ]; then
    add "$(od -An -v -tx1 "$f" | tr -d ' \n')" "$f"
    add "$(base64 -w0 "$f")" "$f"
  fi
done < <(find "$@" -type f "${in_keystore[@]}" -print0 2>/dev/null)
find "$@" -type f ! "${in_keystore[@]}" -size -65537k -print0 2>/dev/null >"$work/files"

files=$(tr -cd '\0' <"$work/files" | wc -c); secrets=$(wc -l <"$work/secrets"); found=0
if [ "$secrets" -gt 0 ] && [ "$files" -gt 0 ]; then
  # One pass over the files with every secret; only the files that hold one are searched again, secret by secret.
  while IFS= read -r -d '' hit; do
    n=0
    while IFS= read -r secret; do
      n=$((n + 1))
      grep -qaF -e "$secret" -- "$hit" || continue
      echo "secret-scan: a secret of $(sed -n "${n}p" "$work/origins") is in $hit"
      found=$((found + 1))
    done <"$work/secrets"
  done < <(xargs -0 -r grep -laF -f "$work/secrets" -- <"$work/files" 2>/dev/null | tr '\n' '\0' || true)
fi
echo "secret scan: $files files, $secrets secrets, $found outside the keystore"
[ "$found" -eq 0 ]
