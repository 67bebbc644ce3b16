#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The header a man3 page's SYNOPSIS names declares every public constant and
# function the page tells its reader to use: a program that includes only
# what the page says compiles. shmkit_heap(3) named <shmkit/heap.h>, and its
# own EXAMPLE's SHMKIT_CREATE was 'undeclared' there (it lived in
# <shmkit/seg.h> only); shmkit_map(3)'s SHMKIT_RDONLY, the SHMKIT_PERSIST the
# queue, topic, heap and map pages add to a mode, and the
# shmkit_last_error_detail() every page reads were the same (found by a
# helper compiling the pages' examples, round 36).
set -uo pipefail
SRC=${SHMKIT_SOURCE_DIR:-.}
CC=${CC:-cc}
command -v "$CC" >/dev/null || { echo "skip: no C compiler ($CC)"; exit 77; }
command -v python3 >/dev/null || { echo "skip: no python3"; exit 77; }
CC="$CC" python3 - "$SRC" <<'PY'
import glob, os, re, subprocess, sys

src = sys.argv[1]
# Pages that name what belongs to the layers above them, as pointers to
# those pages (shmkit_seg(3) says which objects SHMKIT_PERSIST and gc
# apply to): their SYNOPSIS header is below those names by design.
CROSS = {"shmkit_seg.3": {"SHMKIT_PERSIST", "shmkit_gc", "shmkit_map_open_flags",
                          "shmkit_queue_create", "shmkit_queue_open", "shmkit_queue_stat"}}
hdr = ""
for h in glob.glob(src + "/include/**/*.h", recursive=True):
    hdr += re.sub(r"/\*.*?\*/", "", open(h).read(), flags=re.S)
consts = {c for c in re.findall(r"\b(SHMKIT_[A-Z0-9_]+)\b", hdr)
          if not c.endswith("_H") and not c.endswith("_API") and "DECLS" not in c}
funcs = set(re.findall(r"SHMKIT(?:_BRIDGE)?_API[^;(]*?\b(shmkit_[a-z0-9_]+)\s*\(", hdr))
fails = n = 0
for page in sorted(glob.glob(src + "/man/man3/*.3")):
    raw = open(page).read()
    text = re.sub(r"\\f[BIRP]", "", raw.replace("\\-", "-"))
    incs = re.findall(r"^\.B #include <([^>]+)>", raw, flags=re.M)
    skip = CROSS.get(os.path.basename(page), set())
    cs = sorted(c for c in set(re.findall(r"\b(SHMKIT_[A-Z0-9_]+)\b", text)) if c in consts - skip)
    fs = sorted(f for f in set(re.findall(r"\b(shmkit_[a-z0-9_]+)\s*\(", text)) if f in funcs - skip)
    if not incs:
        print(f"FAIL: {os.path.basename(page)}: no #include in its SYNOPSIS")
        fails += 1
        continue
    n += 1
    tu = "".join(f"#include <{i}>\n" for i in incs) + "void use_all(void);\nvoid use_all(void)\n{\n"
    tu += "".join(f"\t(void)({c});\n" for c in cs) + "".join(f"\t(void)&{f};\n" for f in fs) + "}\n"
    r = subprocess.run([os.environ.get("CC", "cc"), "-std=c11", "-fsyntax-only",
                        "-Werror=implicit-function-declaration", "-I" + src + "/include", "-x", "c", "-"],
                       input=tu, capture_output=True, text=True)
    if r.returncode:
        names = sorted(set(re.findall(r"[‘'](\w+)[’'] undeclared|function [‘'](\w+)[’']", r.stderr)))
        names = sorted({x for t in names for x in t if x and x != "use_all"})
        print(f"FAIL: {os.path.basename(page)} names {' '.join(names) or '?'}, which its SYNOPSIS "
              f"header{'s' if len(incs) > 1 else ''} ({', '.join(incs)}) do{'' if len(incs) > 1 else 'es'} not declare")
        if not names:
            print(r.stderr[:600])
        fails += 1
print(f"test_man_headers: {n} page(s), {fails} failure(s)")
sys.exit(1 if fails or n == 0 else 0)
PY
