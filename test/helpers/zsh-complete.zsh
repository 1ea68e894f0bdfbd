# zsh -f zsh-complete.zsh SCRIPT LINE...: what zsh's completion offers after each LINE (an unfinished command
# line): for each, a line "@@LINE" and then one match per line. An interactive zsh in a pseudo-terminal runs
# compinit and loads SCRIPT; compadd is wrapped to print each match it adds, between two marker lines.
zmodload zsh/zpty || exit 3
zpty z zsh -f -i || exit 3
local init='
setopt interactivecomments
PS1= RPS1= PROMPT_EOL_MARK=
autoload -Uz compinit && compinit -u -D
source '"${(q)1}"'
bindkey "^I" complete-word
zstyle ":completion:*" list-grouped false
zstyle ":completion:*" insert-tab false
# _main_complete empties both arrays before calling them: each arms the other for the next completion.
krepro_begin() { print -r -- "@@krepro-begin@@"; comppostfuncs=( krepro_end ) }
krepro_end() { print -r -- "@@krepro-end@@"; compprefuncs=( krepro_begin ) }
compprefuncs=( krepro_begin )
comppostfuncs=( krepro_end )
compadd() {
  # Calls that only fill arrays for the completer (-O, -A, -D) add no match.
  local arg hit
  for arg in "$@"; do
    case $arg in
      (-|--) break ;;
      (-[OAD]) builtin compadd "$@"; return ;;
    esac
  done
  local -a krepro_hits
  builtin compadd -A krepro_hits "$@"
  for hit in $krepro_hits; do print -r -- "@@krepro-hit@@$hit"; done
  builtin compadd "$@"
}
print -r -- @@krepro-ready@@
'
zpty -w z "$init"
local line
integer tries=0
# The ready line itself, not the echo of the text that prints it.
while ! zpty -r -t z line || [[ $line != @@krepro-ready@@* ]]; do (( ++tries > 600 )) && { print -u2 'zsh did not start'; exit 3 }; sleep 0.05; done
shift
for typed in "$@"; do
  print -r -- "@@$typed"
  # ^U clears what the last completion left on the line.
  zpty -w -n z $'\C-u'"$typed"$'\t'
  integer inside=0 done=0
  tries=0
  while (( !done && tries < 600 )); do
    if ! zpty -r -t z line; then (( tries++ )); sleep 0.05; continue; fi
    line=${line%$'\n'}
    line=${line%$'\r'}
    [[ $line == *@@krepro-begin@@* ]] && { inside=1; continue }
    [[ $line == *@@krepro-end@@* ]] && { done=1; continue }
    (( inside )) && [[ $line == *@@krepro-hit@@* ]] && print -r -- "${line#*@@krepro-hit@@}"
  done
  (( done )) || { print -u2 "no completion came back for $typed"; zpty -d z; exit 2 }
done
zpty -d z
exit 0
