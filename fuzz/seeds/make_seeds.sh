#!/usr/bin/env bash
# Builds the fuzz seed corpora from real OTP bytes into DIR (default
# fuzz/seeds/corpus): captured EPMD requests, handshakes and dist frames
# (capture.py) and a term_to_binary zoo (zoo.erl). The corpora in
# fuzz/corpus/ grew from these seeds by fuzzing, then `cargo fuzz cmin`;
# tests/fuzz_corpus.rs replays both.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/corpus}"
mkdir -p "$out"
python3 "$here/capture.py" "$out"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
erlc -o "$tmp" "$here/zoo.erl"
# A distributed node, so pids and refs carry a real node name.
erl -noshell -sname "zoo$$" -pa "$tmp" -run zoo main "$out"
# EPMD sequences: register, look up, list, dump, kill, from local and remote
# peers on two connections (control byte: bit 0 local, bit 1 close, 2..4 conn).
python3 - "$out/epmd_server" <<'PY'
import os, struct, sys
d = sys.argv[1]
def req(body): return struct.pack(">H", len(body)) + body
def alive(name, port, highest=6):
    n = name.encode()
    return req(struct.pack(">BHBBHHH", 120, port, 77, 0, highest, 5, len(n)) + n + struct.pack(">H", 2) + b"xy")
seqs = {
    "seq_register_lookup": [(1, alive("a", 4001)), (5, alive("b", 4002, 5)), (0, req(b"za")),
                            (0, req(b"n")), (1, req(b"d")), (3, req(b"k")), (2, req(b"zb")),
                            (7, req(b"d")), (1, req(b"k"))],
    "seq_limits": [(1 | (i << 2), alive("n%d" % i, 4000 + i)) for i in range(6)] + [(1, req(b"n"))],
    "seq_reregister": [(3, alive("a", 1)), (1, alive("a", 2)), (5, alive("a", 3)), (1, req(b"d"))],
}
for name, rs in seqs.items():
    with open(os.path.join(d, name), "wb") as f:
        f.write(b"".join(bytes([c]) + r for c, r in rs))
PY
echo "seeds in $out: $(find "$out" -type f | wc -l) files"
