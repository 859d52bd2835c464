/**
 * `ferry completion bash|zsh|fish|powershell` prints a script that completes
 * ferry's commands and options, saved server names after -s, local paths for
 * local arguments, and remote names for remote arguments. The scripts are made
 * from the command line's own definition, so they never fall behind it.
 *
 * Remote names come from a hidden command, `ferry __complete remote PREFIX`,
 * run with the connection options typed before the command (so `-s nas`
 * works); it must never ask anything, so it reads no terminal and stays silent
 * when it cannot log in (the password comes from FERRY_PASSWORD,
 * FERRY_PASSWORD_FILE or a profile's password command).
 */

import type { Command } from 'commander';
import { ferryError } from '../protocol/errors.js';
import type { FerryClient } from '../client/client.js';

const SHELLS = ['bash', 'zsh', 'fish', 'powershell'] as const;
export type Shell = (typeof SHELLS)[number];

/** Commands whose arguments are remote paths. */
const REMOTE_COMMANDS = ['download', 'get', 'ls', 'list', 'stat', 'rm', 'mv', 'mkdir'];

/** What the scripts need to know of the command line. */
export interface CompletionSpec {
  commands: { names: string[]; options: string[] }[];
  globalOptions: string[];
  /** Global options that take a value (that value is not a command word). */
  valueOptions: string[];
}

function optionFlags(command: Command): { all: string[]; withValue: string[] } {
  const all: string[] = [];
  const withValue: string[] = [];
  for (const option of command.options) {
    const flags = [option.short, option.long].filter((flag): flag is string => flag !== undefined);
    all.push(...flags);
    if (option.required || option.optional) withValue.push(...flags);
  }
  return { all, withValue };
}

export function completionSpec(program: Command): CompletionSpec {
  const global = optionFlags(program);
  return {
    commands: program.commands
      .filter((command) => !command.name().startsWith('__'))
      .map((command) => ({ names: [command.name(), ...command.aliases()], options: optionFlags(command).all })),
    globalOptions: [...global.all, '--help'],
    valueOptions: global.withValue,
  };
}

export function parseShell(value: string): Shell {
  if ((SHELLS as readonly string[]).includes(value)) return value as Shell;
  throw ferryError('USAGE', `ferry completion knows ${SHELLS.join(', ')}, not "${value}"`);
}

const words = (list: readonly string[]): string => list.join(' ');

function bash(spec: CompletionSpec): string {
  const commandOptions = spec.commands.map(({ names, options }) => `    ${names.join('|')}) opts="${words(options)} --help" ;;`).join('\n');
  return `# ferry completion for bash. Load it with:  source <(ferry completion bash)
# or save it as ~/.local/share/bash-completion/completions/ferry
_ferry() {
  local cur prev cmd="" i opts
  local -a conn=()
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in
      ${spec.valueOptions.join('|')}) conn+=("\${COMP_WORDS[i]}" "\${COMP_WORDS[i+1]}"); ((i++)) ;;
      -*) conn+=("\${COMP_WORDS[i]}") ;;
      *) cmd="\${COMP_WORDS[i]}"; break ;;
    esac
  done
  case "$prev" in
    -s|--server) COMPREPLY=($(compgen -W "$(ferry __complete profiles 2>/dev/null </dev/null)" -- "$cur")); return ;;
    --ca|-o|--output) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --progress) COMPREPLY=($(compgen -W "bars json none" -- "$cur")); return ;;
  esac
  if [[ -z "$cmd" ]]; then
    if [[ "$cur" == -* ]]; then COMPREPLY=($(compgen -W "${words(spec.globalOptions)}" -- "$cur"))
    else COMPREPLY=($(compgen -W "${words(spec.commands.flatMap((command) => command.names))}" -- "$cur")); fi
    return
  fi
  if [[ "$cur" == -* ]]; then
    case "$cmd" in
${commandOptions}
      *) opts="--help" ;;
    esac
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    return
  fi
  case "$cmd" in
    ${REMOTE_COMMANDS.join('|')})
      local name
      COMPREPLY=()
      # Quoted as the command line needs them: a name with spaces stays one argument.
      while IFS= read -r name; do COMPREPLY+=("$(printf '%q' "$name")"); done < <(ferry "\${conn[@]}" __complete remote "$cur" 2>/dev/null </dev/null)
      [[ "\${COMPREPLY[*]}" == */ ]] && compopt -o nospace 2>/dev/null ;;
    completion) COMPREPLY=($(compgen -W "${words(SHELLS)}" -- "$cur")) ;;
    config) COMPREPLY=($(compgen -W "add remove" -- "$cur")) ;;
    *) COMPREPLY=($(compgen -f -- "$cur")) ;;
  esac
}
complete -o default -F _ferry ferry
`;
}

function zsh(spec: CompletionSpec): string {
  const commandOptions = spec.commands.map(({ names, options }) => `      ${names.join('|')}) compadd -- ${words(options)} --help ;;`).join('\n');
  return `#compdef ferry
# ferry completion for zsh. Load it with:  source <(ferry completion zsh)  (after compinit)
# or save it as _ferry in a folder of $fpath
_ferry() {
  local i cmd="" cur=\${words[CURRENT]}
  local -a conn names
  for (( i = 2; i < CURRENT; i++ )); do
    case \${words[i]} in
      ${spec.valueOptions.join('|')}) conn+=(\${words[i]} \${words[i+1]}); (( i++ )) ;;
      -*) conn+=(\${words[i]}) ;;
      *) cmd=\${words[i]}; break ;;
    esac
  done
  case \${words[CURRENT-1]} in
    -s|--server) compadd -- \${(f)"$(ferry __complete profiles 2>/dev/null </dev/null)"}; return ;;
    --ca|-o|--output) _files; return ;;
    --progress) compadd -- bars json none; return ;;
  esac
  if [[ -z $cmd ]]; then
    if [[ $cur == -* ]]; then compadd -- ${words(spec.globalOptions)}
    else compadd -- ${words(spec.commands.flatMap((command) => command.names))}; fi
    return
  fi
  if [[ $cur == -* ]]; then
    case $cmd in
${commandOptions}
    esac
    return
  fi
  case $cmd in
    ${REMOTE_COMMANDS.join('|')})
      names=(\${(f)"$(ferry $conn __complete remote $cur 2>/dev/null </dev/null)"})
      compadd -Q -S '' -- $names ;;
    completion) compadd -- ${words(SHELLS)} ;;
    config) compadd -- add remove ;;
    *) _files ;;
  esac
}
if (( $+functions[compdef] )); then compdef _ferry ferry; fi
`;
}

function fish(spec: CompletionSpec): string {
  const lines = [
    '# ferry completion for fish. Load it with:  ferry completion fish | source',
    '# or save it as ~/.config/fish/completions/ferry.fish',
    'function __ferry_connection',
    '    set -l tokens (commandline -opc)',
    '    set -e tokens[1]',
    '    while set -q tokens[1]',
    '        switch $tokens[1]',
    `            case ${spec.valueOptions.join(' ')}`,
    // printf, not echo: echo would take "-s" as its own option.
    "                printf '%s\\n' $tokens[1..2]",
    '                set -e tokens[1..2]',
    '            case "-*"',
    "                printf '%s\\n' $tokens[1]",
    '                set -e tokens[1]',
    '            case "*"',
    '                return',
    '        end',
    '    end',
    'end',
    'function __ferry_remote',
    '    ferry (__ferry_connection) __complete remote (commandline -ct) 2>/dev/null </dev/null',
    'end',
    'complete -c ferry -f',
    `complete -c ferry -n __fish_use_subcommand -a "${words(spec.commands.flatMap((command) => command.names))}"`,
    'complete -c ferry -s s -l server -x -a "(ferry __complete profiles 2>/dev/null </dev/null)"',
    'complete -c ferry -l progress -x -a "bars json none"',
    'complete -c ferry -l ca -r -F',
    `complete -c ferry -n "__fish_seen_subcommand_from ${REMOTE_COMMANDS.join(' ')}" -a "(__ferry_remote)"`,
    `complete -c ferry -n "__fish_seen_subcommand_from completion" -a "${words(SHELLS)}"`,
    'complete -c ferry -n "__fish_seen_subcommand_from config" -a "add remove"',
    'complete -c ferry -n "__fish_seen_subcommand_from upload put sync" -F',
  ];
  for (const { names, options } of spec.commands) {
    const longs = options.filter((flag) => flag.startsWith('--')).map((flag) => flag.slice(2));
    for (const long of longs) lines.push(`complete -c ferry -n "__fish_seen_subcommand_from ${names.join(' ')}" -l ${long}`);
  }
  return `${lines.join('\n')}\n`;
}

function powershell(spec: CompletionSpec): string {
  const list = (items: readonly string[]): string => items.map((item) => `'${item}'`).join(', ');
  return `# ferry completion for PowerShell. Load it with:  ferry completion powershell | Out-String | Invoke-Expression
# or add that line to your $PROFILE
Register-ArgumentCompleter -Native -CommandName ferry -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)
    $commands = @(${list(spec.commands.flatMap((command) => command.names))})
    $globalOptions = @(${list(spec.globalOptions)})
    $valueOptions = @(${list(spec.valueOptions)})
    $remoteCommands = @(${list(REMOTE_COMMANDS)})
    $elements = @($commandAst.CommandElements | Select-Object -Skip 1 | ForEach-Object { $_.ToString() })
    if ($wordToComplete -ne '' -and $elements.Count -gt 0) { $elements = @($elements | Select-Object -SkipLast 1) }
    $conn = @()
    $cmd = $null
    for ($i = 0; $i -lt $elements.Count; $i++) {
        $word = $elements[$i]
        if ($valueOptions -contains $word) { $conn += $word; if ($i + 1 -lt $elements.Count) { $conn += $elements[$i + 1] }; $i++ }
        elseif ($word.StartsWith('-')) { $conn += $word }
        else { $cmd = $word; break }
    }
    $previous = if ($elements.Count -gt 0) { $elements[-1] } else { '' }
    if ($previous -eq '-s' -or $previous -eq '--server') { $candidates = @(ferry __complete profiles 2>$null) }
    elseif ($previous -eq '--progress') { $candidates = @('bars', 'json', 'none') }
    elseif (-not $cmd) { $candidates = if ($wordToComplete.StartsWith('-')) { $globalOptions } else { $commands } }
    elseif ($remoteCommands -contains $cmd) { $candidates = @(ferry @conn __complete remote $wordToComplete 2>$null) }
    elseif ($cmd -eq 'completion') { $candidates = @(${list(SHELLS)}) }
    elseif ($cmd -eq 'config') { $candidates = @('add', 'remove') }
    else { return }
    $candidates | Where-Object { $_ -like "$wordToComplete*" } | ForEach-Object {
        [System.Management.Automation.CompletionResult]::new($_, $_, 'ParameterValue', $_)
    }
}
`;
}

export function completionScript(shell: Shell, spec: CompletionSpec): string {
  switch (shell) {
    case 'bash':
      return bash(spec);
    case 'zsh':
      return zsh(spec);
    case 'fish':
      return fish(spec);
    case 'powershell':
      return powershell(spec);
  }
}

/**
 * The remote names that complete `prefix`: the entries of its folder part whose
 * names start with the rest, folders with a trailing "/" so the next Tab goes in.
 */
export async function remoteCompletions(client: FerryClient, prefix: string): Promise<string[]> {
  const cut = prefix.lastIndexOf('/');
  const folder = cut < 0 ? '' : prefix.slice(0, cut + 1);
  const start = prefix.slice(cut + 1);
  const entries = await client.list(folder === '' ? '/' : folder);
  return entries
    .filter((entry) => entry.name.startsWith(start))
    .map((entry) => `${folder}${entry.name}${entry.type === 'dir' ? '/' : ''}`)
    .sort();
}
