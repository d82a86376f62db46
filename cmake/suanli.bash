# bash completion for suanli: commands, each command's options (read from its --help), and
# files or fixed values for the options that take them.
_suanli() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
  local commands="info list run conformance rate compare export certify keygen verify"
  local cmd="" w
  for w in "${COMP_WORDS[@]:1:COMP_CWORD-1}"; do
    case " $commands " in *" $w "*) cmd=$w; break ;; esac
  done
  if [[ -z $cmd ]]; then
    COMPREPLY=($(compgen -W "$commands --help --version" -- "$cur"))
    return
  fi
  case $prev in
    --suite) COMPREPLY=($(compgen -W "quick standard kernels models" -f -- "$cur")); return ;;
    --profile) COMPREPLY=($(compgen -W "quick standard datacenter" -f -- "$cur")); return ;;
    --dtype) COMPREPLY=($(compgen -W "fp64 fp32 tf32 fp16 bf16 fp8_e4m3 fp8_e5m2 int8" -- "$cur")); return ;;
    --backend) COMPREPLY=($(compgen -W "cpu cuda opencl" -f -- "$cur")); return ;;
    --format)
      case $cmd in
        run) COMPREPLY=($(compgen -W "table json csv md" -- "$cur")) ;;
        export) COMPREPLY=($(compgen -W "csv md openmetrics gbench-json" -- "$cur")) ;;
        rate) COMPREPLY=($(compgen -W "text json md html csv" -- "$cur")) ;;
        *) COMPREPLY=($(compgen -W "text json md" -- "$cur")) ;;
      esac
      return ;;
    -o|--out|--report|--claims|--inventory|--key|--pubkey|--total)
      COMPREPLY=($(compgen -f -- "$cur")); return ;;
  esac
  if [[ $cur == -* ]]; then
    local opts
    opts=$("${COMP_WORDS[0]}" "$cmd" --help 2>/dev/null | grep -oE -- '--?[A-Za-z][A-Za-z0-9-]*' | sort -u)
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  elif [[ $cmd == list ]]; then
    COMPREPLY=($(compgen -W "suites workloads" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -o filenames -F _suanli suanli
