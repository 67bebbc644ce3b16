#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The ABI is what src/libshmkit.map says, nothing more and nothing less:
#  - every name in the map is exported by libshmkit.so, with a version node;
#  - every symbol the library's objects define with default visibility
#    (SHMKIT_API), and every function a public header declares SHMKIT_API,
#    is in the map — a new function without a map entry fails here, and the
#    message says exactly what line to add;
#  - libshmkit.so exports nothing else.
set -uo pipefail
BUILD=${SHMKIT_BINARY_DIR:?run from ctest}
SRC=${SHMKIT_SOURCE_DIR:?run from ctest}
for t in nm readelf python3; do
	command -v $t >/dev/null || { echo "skip: $t not installed (make deps installs it)"; exit 77; }
done
SO=$BUILD/libshmkit.so
AR=$BUILD/libshmkit.a
[ -e "$SO" ] && [ -e "$AR" ] || { echo "FAIL: $SO or $AR not built"; exit 1; }

python3 - "$SRC" "$SO" "$AR" <<'PY'
import glob, re, subprocess, sys

src, so, ar = sys.argv[1:4]
mapfile = src + "/src/libshmkit.map"
fails = []

# The map: nodes in order, each with its global names.
text = re.sub(r"/\*.*?\*/", "", open(mapfile).read(), flags=re.S)
nodes, mapped = [], {}
for m in re.finditer(r"([\w.]+)\s*\{(.*?)\}\s*([\w.]*)\s*;", text, re.S):
    node, body = m.group(1), m.group(2)
    nodes.append(node)
    glob_part = body.split("local:")[0].replace("global:", "")
    for name in re.findall(r"[A-Za-z_]\w*", glob_part):
        if name in mapped:
            fails.append(f"{name} is listed twice in src/libshmkit.map ({mapped[name]}, {node})")
        mapped[name] = node
    if "*" in glob_part:
        fails.append(f"node {node} of src/libshmkit.map exports a glob: list names instead")
last = nodes[-1] if nodes else "SHMKIT_0.1"

def add_line(name):
    return (f"add the line `\t\t{name};` to the newest node ({last}) of src/libshmkit.map "
            f"if it is not yet released, else to a new node that inherits {last} "
            f"(see the comment at the top of the map)")

# What the shared library exports, with its version node.
exported = {}
for line in subprocess.run(["nm", "-D", "--defined-only", so], capture_output=True,
                           text=True, check=True).stdout.splitlines():
    parts = line.split()
    if len(parts) < 3 or parts[1] == "A":
        continue
    name, _, ver = parts[2].partition("@")
    exported[name] = ver.lstrip("@")
for name, ver in sorted(exported.items()):
    if name not in mapped:
        fails.append(f"libshmkit.so exports {name}, which src/libshmkit.map does not list: {add_line(name)}")
    elif ver != mapped[name]:
        fails.append(f"{name} is exported with version '{ver}', the map says {mapped[name]}")
for name, node in sorted(mapped.items()):
    if name not in exported:
        fails.append(f"src/libshmkit.map lists {name} ({node}) but libshmkit.so does not export it: "
                     f"define it (SHMKIT_API) or, if it was never released, remove the line")

# Symbols the objects define with default visibility: what SHMKIT_API marks.
out = subprocess.run(["readelf", "-sW", ar], capture_output=True, text=True, check=True).stdout
for line in out.splitlines():
    f = line.split()
    # Num: Value Size Type Bind Vis Ndx Name
    if len(f) >= 8 and f[4] == "GLOBAL" and f[5] == "DEFAULT" and f[6] != "UND":
        name = f[7]
        if name not in mapped:
            fails.append(f"the library defines {name} with default visibility (SHMKIT_API) but "
                         f"src/libshmkit.map does not list it, so it is not exported: {add_line(name)}")

# Functions the public headers declare with SHMKIT_API.
for h in sorted(glob.glob(src + "/include/**/*.h", recursive=True)):
    body = re.sub(r"/\*.*?\*/", "", open(h).read(), flags=re.S)
    body = re.sub(r"^\s*#.*$", "", body, flags=re.M)  # the SHMKIT_API definition itself
    for decl in re.findall(r"SHMKIT_API\b([^;{]*?)\(", body):
        name = re.findall(r"[A-Za-z_]\w*", decl)[-1]
        if name not in mapped:
            fails.append(f"{h[len(src) + 1:]} declares {name} SHMKIT_API, but src/libshmkit.map "
                         f"does not list it: {add_line(name)}")

for f in dict.fromkeys(fails):
    print("FAIL:", f)
print(f"test_abi: {len(mapped)} symbols in {len(nodes)} node(s), {len(exported)} exported, "
      f"{len(set(fails))} failure(s)")
sys.exit(1 if fails else 0)
PY
