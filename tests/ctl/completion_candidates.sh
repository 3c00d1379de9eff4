#!/usr/bin/env bash
# What the bash completion offers, per command, subcommand and position: each line of
# PROBES is 'WORDS => CANDIDATES', WORDS the command line with the word being completed
# last ('' for an empty word), CANDIDATES what COMPREPLY holds, sorted. File and
# directory names are completed in an empty directory holding policy-probe.yaml and
# state-probe.d/. Lines starting with '#' are comments.
# SEKISHO_UPDATE_GOLDEN=1 rewrites the candidates from COMPLETION (review the diff).
#
#   usage: completion_candidates.sh COMPLETION PROBES
set -u
if [ $# -ne 2 ]; then
  echo "usage: $0 COMPLETION PROBES" >&2
  exit 2
fi
completion=$(realpath -- "$1")
probes=$(realpath -- "$2")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'exit 1' HUP INT TERM
mkdir "$work/cwd" "$work/cwd/state-probe.d"
: >"$work/cwd/policy-probe.yaml"

function=$(bash --norc --noprofile -c 'source "$1" >/dev/null 2>&1; complete -p sekishoctl' _ \
  "$completion" 2>/dev/null | sed -n 's/.*-F \([^ ]*\).*/\1/p')
if [ -z "$function" ]; then
  echo "FAIL: sourcing $completion registers no 'complete -F FUNCTION sekishoctl'"
  exit 1
fi

# One bash for every probe: COMP_WORDS/COMP_CWORD in, COMPREPLY out.
# shellcheck disable=SC2016
(cd "$work/cwd" && LC_ALL=C bash --norc --noprofile -c '
  source "$1" >/dev/null 2>&1
  function=$2
  while IFS= read -r line; do
    if [[ -z $line || $line == "#"* ]]; then
      printf "%s\n" "$line"
      continue
    fi
    left=${line%% =>*}
    read -ra words <<<"$left"
    for i in "${!words[@]}"; do
      if [[ ${words[i]} == "'"''"'" ]]; then
        words[i]=""
      fi
    done
    COMP_WORDS=("${words[@]}")
    COMP_CWORD=$((${#words[@]} - 1))
    COMP_LINE="${words[*]}"
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    "$function" sekishoctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}" \
      >/dev/null 2>&1
    offered=""
    if ((${#COMPREPLY[@]} > 0)); then
      while IFS= read -r candidate; do
        offered+=" $candidate"
      done < <(printf "%s\n" "${COMPREPLY[@]}" | sort -u)
    fi
    printf "%s =>%s\n" "$left" "$offered"
  done
' _ "$completion" "$function" <"$probes") >"$work/offered"

if [ -n "${SEKISHO_UPDATE_GOLDEN:-}" ]; then
  cp "$work/offered" "$probes"
fi
probes_total=$(grep -cv '^\(#\|$\)' "$probes")
if [ "$probes_total" -lt 1 ]; then
  echo "FAIL: $probes holds no probe"
  exit 1
fi
if diff -u "$probes" "$work/offered" >"$work/diff"; then
  echo "ok: $probes_total probes offer what $probes records"
  exit 0
fi
echo "FAIL: the completion offers otherwise than $probes records (- recorded, + offered):"
grep '^[-+][^-+]' "$work/diff"
exit 1
