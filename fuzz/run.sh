#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser a server's bytes reach (libFuzzer through cargo-fuzz).
#
#   fuzz/run.sh TARGET SECONDS   run one target for SECONDS
#   fuzz/run.sh all SECONDS      run every target, one after the other, SECONDS each
#   fuzz/run.sh list             name the targets
#   fuzz/run.sh seeds            capture the seed corpora again from the crate's emulators
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). On a stable toolchain it runs with RUSTC_BOOTSTRAP=1 and
# `--sanitizer none` (the targets are safe Rust; what is looked for is panics and broken invariants).
# Seeds are in fuzz/seeds/TARGET (committed); the growing corpus in fuzz/corpus/TARGET and crashes in
# fuzz/artifacts/TARGET (both ignored by git). Prints, per target, the executions and the crashes.
set -euo pipefail
cd "$(dirname "$0")"

TARGETS=(uipath_login aa_login oauth_token pyramid_login jwt_lifetime retry_after ntlm_challenge spnego negotiate_final redact)
export RUSTC_BOOTSTRAP=1
FUZZ_FLAGS=(--sanitizer none -O --debug-assertions)

usage() {
    sed -n '4,8p' "$0" >&2
    exit 2
}

run_one() {
    local target=$1 seconds=$2
    mkdir -p "corpus/$target" "artifacts/$target" logs
    local log="logs/$target.log"
    local status=0
    cargo fuzz run "${FUZZ_FLAGS[@]}" "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="artifacts/$target/" >"$log" 2>&1 || status=$?
    local execs crashes
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    crashes=$(find "artifacts/$target" -type f -name 'crash-*' | wc -l)
    printf '%-16s executions %12s  crashes %s  exit %s\n' "$target" "${execs:-?}" "$crashes" "$status"
    return "$status"
}

case "${1:-}" in
    list)
        printf '%s\n' "${TARGETS[@]}"
        ;;
    seeds)
        (cd .. && cargo run --quiet --example capture-fuzz-seeds --features fuzzing)
        ;;
    all)
        [[ $# -eq 2 ]] || usage
        cargo fuzz build "${FUZZ_FLAGS[@]}"
        failed=0
        for target in "${TARGETS[@]}"; do
            run_one "$target" "$2" || failed=1
        done
        exit "$failed"
        ;;
    "")
        usage
        ;;
    *)
        [[ $# -eq 2 ]] || usage
        printf '%s\n' "${TARGETS[@]}" | grep -qx "$1" || { echo "unknown target $1" >&2; usage; }
        run_one "$1" "$2"
        ;;
esac
