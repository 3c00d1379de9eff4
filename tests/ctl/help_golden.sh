#!/usr/bin/env bash
# What sekishoctl prints about itself, byte for byte: 'sekishoctl --help', each command's
# --help and 'sekishoctl methods' (plain and --json), against the files in GOLDEN_DIR.
# A command without a golden file, or a golden file without a command, fails too.
# SEKISHO_UPDATE_GOLDEN=1 rewrites the files from the binary (review the diff).
#
#   usage: help_golden.sh SEKISHOCTL GOLDEN_DIR
set -u
if [ $# -ne 2 ]; then
  echo "usage: $0 SEKISHOCTL GOLDEN_DIR" >&2
  exit 2
fi
ctl=$1
golden=$2
update=${SEKISHO_UPDATE_GOLDEN:-}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'exit 1' HUP INT TERM
passed=0
failed=0

# compare NAME -- COMMAND...: COMMAND's stdout (exit 0 wanted) against GOLDEN_DIR/NAME.
compare() {
  local name=$1
  shift 2
  if ! "$@" >"$work/$name" 2>"$work/err"; then
    failed=$((failed + 1))
    echo "FAIL: '$*' fails: $(cat "$work/err")"
    return
  fi
  if [ -n "$update" ]; then
    cp "$work/$name" "$golden/$name"
  fi
  if cmp -s "$work/$name" "$golden/$name"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: '$*' differs from $golden/$name:"
    diff -u "$golden/$name" "$work/$name" | head -40
  fi
}

mkdir -p "$golden"
compare overview.txt -- "$ctl" --help
compare methods.txt -- "$ctl" methods
compare methods.json -- "$ctl" methods --json

commands=$(awk '/^commands:/ { f = 1; next } f && /^$/ { exit } f { print $1 }' "$work/overview.txt")
if [ "$(wc -w <<<"$commands")" -lt 5 ]; then
  failed=$((failed + 1))
  echo "FAIL: cannot read the commands of 'sekishoctl --help'"
fi
for command in $commands; do
  compare "help-$command.txt" -- "$ctl" "$command" --help
done

# Each golden file belongs to what the binary prints now.
for file in "$golden"/*; do
  name=$(basename "$file")
  case $name in
    overview.txt | methods.txt | methods.json) continue ;;
    help-*.txt)
      command=${name#help-}
      command=${command%.txt}
      if grep -qxF -- "$command" <<<"$commands"; then
        continue
      fi
      ;;
  esac
  if [ -n "$update" ]; then
    rm -f "$file"
  else
    failed=$((failed + 1))
    echo "FAIL: $file belongs to no command of 'sekishoctl --help'"
  fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
