#!/usr/bin/env bash
# The man pages and the bash completion say what the programs do today.
#
# usage: docs_in_sync.sh SEKISHOCTL SEKISHOD SRC COMPLETION
#
# COMPLETION is the bash completion the build wrote (sekisho_gen_completion).
#
# Everything is taken from what the binaries print (so a command that lands later is
# checked once the binary lists it) and from the policy's JSON Schema ($SEKISHO_POLICY_SCHEMA,
# the one the build writes with the plugins' keys; configs/policy.schema.json without it;
# sekisho-policy.5 likewise from $SEKISHO_POLICY_PAGE):
# - every command of 'sekishoctl --help' has a .SS (or .TP) heading in sekishoctl.1 and is
#   completed by the bash completion;
# - every --option of 'sekishod --help' is in sekishod.8, every --option of 'sekishoctl
#   COMMAND --help' and of the global options is in sekishoctl.1 and is completed after
#   its command (and audit subcommand); options with a FILE, PATH or DIR value, and FILE
#   arguments, complete file or directory names;
# - every top-level key of the schema has a .SS section in sekisho-policy.5, and every key
#   at any depth is named there; the example policy in it passes 'sekishoctl check';
# - each man page renders without warnings; the completion passes bash -n (and shellcheck
#   when it is installed).
# One "ok:" or "FAIL:" line per check; exit 1 when any failed.
set -u

if [ $# -ne 4 ]; then
  echo "usage: $0 SEKISHOCTL SEKISHOD SRC COMPLETION" >&2
  exit 2
fi
ctl=$1
daemon=$2
src=$3
man1=$src/docs/man/sekishoctl.1
man5=${SEKISHO_POLICY_PAGE:-$src/docs/man/sekisho-policy.5}
man8=$src/docs/man/sekishod.8
completion=$4
schema=${SEKISHO_POLICY_SCHEMA:-$src/configs/policy.schema.json}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
ok() {
  echo "ok: $*"
  passed=$((passed + 1))
}
fail() {
  echo "FAIL: $*"
  failed=$((failed + 1))
}

for file in "$man1" "$man5" "$man8" "$completion" "$schema"; do
  if [ ! -r "$file" ]; then
    fail "$file is missing"
  fi
done
if [ "$failed" -ne 0 ]; then
  echo "$passed passed, $failed failed"
  exit 1
fi

# roff source as text: \- is -, font changes and zero-width escapes go.
plain() {
  sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\f(..//g' -e 's/\\f\[[A-Z]*\]//g' \
    -e 's/\\&//g' -e 's/\\(aq/'"'"'/g' "$1"
}
plain "$man1" >"$work/sekishoctl.1.txt"
plain "$man5" >"$work/sekisho-policy.5.txt"
plain "$man8" >"$work/sekishod.8.txt"

# Whether FILE names OPTION (a whole --word, not the start of a longer one).
names_option() {
  grep -qE -- "(^|[^a-z0-9-])$2([^a-z0-9-]|\$)" "$1"
}

# The first word of every .SS heading and of every .TP tag in sekishoctl.1, without a
# leading "sekishoctl".
awk '
  /^\.SS / { h = $0; sub(/^\.SS +"?/, "", h); sub(/^sekishoctl +/, "", h)
             split(h, w, /[ "]/); print w[1]; next }
  tag { h = $0; sub(/^\.[A-Z]+ +"?/, "", h); sub(/^sekishoctl +/, "", h)
        split(h, w, /[ ",]/); print w[1]; tag = 0; next }
  /^\.TP/ { tag = 1 }
' "$work/sekishoctl.1.txt" | sort -u >"$work/headings"

# --- the completion, driven directly: COMP_WORDS/COMP_CWORD in, COMPREPLY out --------
if bash -n "$completion" 2>"$work/bash-n"; then
  ok "completion: bash -n"
else
  fail "completion: bash -n: $(cat "$work/bash-n")"
fi
if command -v shellcheck >/dev/null 2>&1; then
  if shellcheck -s bash -S warning "$completion" >"$work/shellcheck" 2>&1; then
    ok "completion: shellcheck"
  else
    fail "completion: shellcheck"
    cat "$work/shellcheck"
  fi
else
  echo "skip: completion: shellcheck is not installed"
fi
function=$(bash --norc --noprofile -c 'source "$1" >/dev/null 2>&1; complete -p sekishoctl' _ \
  "$completion" 2>/dev/null | sed -n 's/.*-F \([^ ]*\).*/\1/p')
if [ -n "$function" ]; then
  ok "completion: 'complete -F $function sekishoctl'"
else
  fail "completion: sourcing it registers no 'complete -F FUNCTION sekishoctl'"
  function=_sekishoctl
fi

# Prints what the completion offers for the words given, the last one being completed.
complete_words() {
  (cd "$work" && bash --norc --noprofile -c '
    source "$1" >/dev/null 2>&1
    function=$2
    shift 2
    COMP_WORDS=("$@")
    COMP_CWORD=$(($# - 1))
    COMP_LINE="$*"
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    "$function" sekishoctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}" \
      >/dev/null 2>&1
    printf "%s\n" "${COMPREPLY[@]}"
  ' _ "$completion" "$function" "$@")
}

# 'sekishoctl au<TAB>' gives exactly 'audit'.
offered=$(complete_words sekishoctl au)
if [ "$offered" = audit ]; then
  ok "completion: 'sekishoctl au<TAB>' -> audit"
else
  fail "completion: 'sekishoctl au<TAB>' gives '$(echo "$offered" | tr '\n' ' ')', not 'audit'"
fi

# A file and a directory for FILE/PATH and DIR completion.
: >"$work/policy-probe.yaml"
mkdir "$work/state-probe.d"
# Checks that completing WORDS... (the last one a prefix of the probes) offers KIND.
offers_path() {
  local what=$1 kind=$2
  shift 2
  local offered expected
  if [ "$kind" = DIR ]; then
    expected=$work/state-probe.d
    offered=$(complete_words "$@" "$work/state-")
  else
    expected=$work/policy-probe.yaml
    offered=$(complete_words "$@" "$work/policy-")
  fi
  if grep -qxF -- "$expected" <<<"$offered"; then
    ok "completion: $what completes $([ "$kind" = DIR ] && echo directories || echo files)"
  else
    fail "completion: $what does not complete $([ "$kind" = DIR ] && echo directories || echo files)"
  fi
}

# --- sekishoctl: commands and options ----------------------------------------------------
"$ctl" --help >"$work/overview" 2>&1
awk '/^commands:/ { f = 1; next } f && /^$/ { exit } f { print $1 }' "$work/overview" \
  >"$work/commands"
awk '/^global options:/ { f = 1; next } f && /^$/ { exit } f { print }' "$work/overview" \
  >"$work/globals"
if [ "$(wc -l <"$work/commands")" -ge 5 ]; then
  ok "sekishoctl --help lists $(wc -l <"$work/commands") commands"
else
  fail "sekishoctl --help lists no commands (the test cannot read its 'commands:' section)"
fi
complete_words sekishoctl "" >"$work/offered-commands"
declare -A seen=()

while read -r command; do
  if grep -qxF -- "$command" "$work/headings"; then
    ok "sekishoctl.1 has a heading for '$command'"
  else
    fail "sekishoctl.1 has no .SS or .TP heading for the command '$command'"
  fi
  if grep -qxF -- "$command" "$work/offered-commands"; then
    ok "completion offers the command '$command'"
  else
    fail "completion does not offer the command '$command'"
  fi
  if ! "$ctl" "$command" --help >"$work/help-$command" 2>&1; then
    fail "'sekishoctl $command --help' fails"
    continue
  fi
  # Every option the help names is in the man page.
  while read -r option; do
    if names_option "$work/sekishoctl.1.txt" "$option"; then
      ok "sekishoctl.1 names '$command $option'"
    else
      fail "sekishoctl.1 does not name '$option' of '$command'"
    fi
  done < <(grep -oE -- '--[a-z][a-z0-9-]*' "$work/help-$command" | sort -u)
  # The usage lines (up to the first empty line): one per form, continuation lines
  # indented. Each form's options are completed after its command (and subcommand).
  awk -v command="$command" '
    /^$/ { exit }
    {
      line = $0; sub(/^usage:/, "", line)
      if (line ~ "sekishoctl " command "( |$)") { if (form != "") print form; form = line }
      else { form = form " " line }
    }
    END { if (form != "") print form }
  ' "$work/help-$command" >"$work/forms-$command"
  while read -r form; do
    # Split the form into words, without expanding "[--json]" as a glob.
    set -f
    # shellcheck disable=SC2086
    set -- $form
    set +f
    shift 2 # "sekishoctl COMMAND"
    words=(sekishoctl "$command")
    if [ $# -gt 0 ] && [[ $1 =~ ^[a-z][a-z-]*$ ]]; then
      words+=("$1") # audit show|verify|export|pubkey
    fi
    name="${words[*]:1}"
    if [ $# -gt 0 ] && [ "${words[*]}" = "sekishoctl $command" ] && [ "$1" = FILE ]; then
      offers_path "'$name FILE'" FILE "${words[@]}"
    fi
    offered=$(complete_words "${words[@]}" --)
    previous=""
    for word in "$@"; do
      word=${word#[\[(]}
      word=${word%%[\]|)]*}
      key="$name $word"
      if [[ $word != --* ]]; then
        key="$name $previous $word" # "--bundle FILE", "--pubkey FILE"
      fi
      if [[ -n ${seen["$key"]-} ]]; then
        previous=$word
        continue # named again in another form ("--proto", "audit verify --json")
      fi
      seen["$key"]=1
      if [[ $word == --* ]]; then
        if grep -qxF -- "$word" <<<"$offered"; then
          ok "completion offers '$name $word'"
        else
          fail "completion does not offer '$word' after '$name'"
        fi
      elif [[ $previous == --* ]] && [[ $word =~ ^(FILE|PATH|DIR)$ ]]; then
        offers_path "'$name $previous $word'" "$word" "${words[@]}" "$previous"
      fi
      previous=$word
    done
  done <"$work/forms-$command"
done <"$work/commands"

# The global options.
global_offered=$(complete_words sekishoctl --)
while read -r option value _; do
  if [[ $option != --* ]]; then
    continue
  fi
  if names_option "$work/sekishoctl.1.txt" "$option"; then
    ok "sekishoctl.1 names the global option '$option'"
  else
    fail "sekishoctl.1 does not name the global option '$option'"
  fi
  if grep -qxF -- "$option" <<<"$global_offered"; then
    ok "completion offers the global option '$option'"
  else
    fail "completion does not offer the global option '$option'"
  fi
  if [[ $value =~ ^(FILE|PATH|DIR)$ ]]; then
    offers_path "'$option $value'" "$value" sekishoctl "$option"
  fi
done <"$work/globals"

# --- sekishod: options ---------------------------------------------------------------------
if "$daemon" --help >"$work/daemon-help" 2>&1; then
  ok "sekishod --help"
else
  fail "sekishod --help fails"
fi
while read -r option; do
  if names_option "$work/sekishod.8.txt" "$option"; then
    ok "sekishod.8 names '$option'"
  else
    fail "sekishod.8 does not name '$option'"
  fi
done < <(grep -oE -- '--[a-z][a-z0-9-]*' "$work/daemon-help" | sort -u)

# --- the policy file: schema keys and the example ------------------------------------------
# Top-level keys, then every key at any depth.
if command -v jq >/dev/null 2>&1; then
  jq -r '.properties | keys[]' "$schema" >"$work/top-keys"
  jq -r '.. | objects | select(has("properties")) | .properties | keys[]' "$schema" |
    sort -u >"$work/all-keys"
elif command -v python3 >/dev/null 2>&1; then
  python3 - "$schema" "$work/top-keys" "$work/all-keys" <<'EOF'
import json, sys
schema = json.load(open(sys.argv[1]))
keys = set()
def walk(node):
    if isinstance(node, dict):
        if isinstance(node.get("properties"), dict):
            keys.update(node["properties"])
        for value in node.values():
            walk(value)
    elif isinstance(node, list):
        for value in node:
            walk(value)
walk(schema)
open(sys.argv[2], "w").write("".join(k + "\n" for k in schema["properties"]))
open(sys.argv[3], "w").write("".join(k + "\n" for k in sorted(keys)))
EOF
else
  # The schema's own layout: top-level properties are indented by four spaces.
  awk '/^  "properties": \{/ { f = 1; next } f && /^  [}]/ { exit }
       f && /^    "[a-z_]+": / { gsub(/[" :{]/, "", $1); print $1 }' "$schema" >"$work/top-keys"
  : >"$work/all-keys"
  echo "skip: keys below the top level (neither jq nor python3 is installed)"
fi
if [ "$(wc -l <"$work/top-keys")" -ge 5 ]; then
  ok "the schema has $(wc -l <"$work/top-keys") top-level keys"
else
  fail "cannot read the top-level keys of $schema"
fi
while read -r key; do
  if grep -qE "^\.SS \"?$key\"?\$" "$work/sekisho-policy.5.txt"; then
    ok "sekisho-policy.5 has a section for '$key'"
  else
    fail "sekisho-policy.5 has no .SS section for the top-level key '$key'"
  fi
done <"$work/top-keys"
while read -r key; do
  if grep -qE -- "(^|[^a-z_])$key([^a-z_]|\$)" "$work/sekisho-policy.5.txt"; then
    ok "sekisho-policy.5 names the key '$key'"
  else
    fail "sekisho-policy.5 does not name the key '$key'"
  fi
done <"$work/all-keys"

# The example: the .EX block after the "example-policy" comment.
awk '/example-policy/ { f = 1 } f && /^\.EX/ { p = 1; next } p && /^\.EE/ { exit } p' \
  "$work/sekisho-policy.5.txt" >"$work/example.yaml"
if [ -s "$work/example.yaml" ] && "$ctl" check "$work/example.yaml" >/dev/null \
  2>"$work/example.err" && [ ! -s "$work/example.err" ]; then
  ok "the example in sekisho-policy.5 passes 'sekishoctl check' without a warning"
else
  fail "the example in sekisho-policy.5 does not pass 'sekishoctl check' cleanly"
  cat "$work/example.err"
fi

# Every policy in it (an .EX block that starts with "version: 1") is valid.
mkdir "$work/policies"
awk -v dir="$work/policies" '
  /^\.EX/ { p = 1; first = 1; next }
  /^\.EE/ { p = 0; next }
  p && first { first = 0; if ($0 != "version: 1") { p = 0; next } file = dir "/" NR }
  p { print > file }
' "$work/sekisho-policy.5.txt"
for policy in "$work"/policies/*; do
  [ -e "$policy" ] || continue
  if "$ctl" check "$policy" >/dev/null 2>"$work/policy.err"; then
    ok "the policy at line $(basename "$policy") of sekisho-policy.5 is valid"
  else
    fail "the policy at line $(basename "$policy") of sekisho-policy.5 is invalid:"
    cat "$work/policy.err"
  fi
done

# --- rendering ----------------------------------------------------------------------------
for page in "$man1" "$man5" "$man8"; do
  if command -v man >/dev/null 2>&1; then
    out=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z \
      "$page" 2>&1 >/dev/null)
    if [ -z "$out" ]; then
      ok "$(basename "$page") renders with man without a warning"
    else
      fail "$(basename "$page") renders with warnings (man):"
      echo "$out"
    fi
  else
    echo "skip: $(basename "$page"): man is not installed"
  fi
  if command -v groff >/dev/null 2>&1; then
    out=$(groff -man -ww -z "$page" 2>&1)
    if [ -z "$out" ]; then
      ok "$(basename "$page") renders with groff -ww without a warning"
    else
      fail "$(basename "$page") renders with warnings (groff):"
      echo "$out"
    fi
  else
    echo "skip: $(basename "$page"): groff is not installed"
  fi
done

# --- source comments cite docs/architecture.md ------------------------------------------
# Comments point at the repository's own map, by heading: "(docs/architecture.md, Time)".
# A citation of a heading the page lacks, or of a design brief outside the repository,
# fails. The sources: everything under SRC but build trees and git's own files.
arch=$src/docs/architecture.md
sources=$(find "$src" \( -path "$src/.git" -o -path "$src/build*" -o -path "$src/obj-*" \
  -o -path "$src/debian" -o -path "$src/dist" -o -path "$src/tests/packaging/docs_in_sync.sh" \
  \) -prune -o -type f \
  \( -name '*.cpp' -o -name '*.hpp' -o -name '*.sh' -o -name '*.py' -o -name '*.in' \
  -o -name 'CMakeLists.txt' \) -print)
outside=$(grep -l 'DESIGN\.md' $sources 2>/dev/null || true)
if [ -n "$outside" ]; then
  fail "comments cite DESIGN.md, which is not in the repository: $(echo $outside)"
else
  ok "no comment cites DESIGN.md"
fi
headings=$(sed -n 's/^##\{1,3\} //p' "$arch")
cited=$(grep -ho 'docs/architecture\.md, "\?[A-Z][a-z]*\( [a-z][a-z]*\)*' $sources 2>/dev/null |
  sed 's/^docs\/architecture\.md, "\?//' | sort -u)
if [ -z "$cited" ]; then
  fail "no comment cites a heading of docs/architecture.md (is the pattern still right?)"
fi
for heading in $(echo "$cited" | tr ' ' '_'); do
  heading=${heading//_/ }
  if echo "$headings" | grep -qxF "$heading" ||
    echo "$headings" | grep -q "^$heading[:(]"; then
    ok "docs/architecture.md has the heading \"$heading\" that comments cite"
  else
    fail "comments cite \"$heading\" of docs/architecture.md, which has no such heading"
  fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
