#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs every shell example of README.md and of the man pages as written.

README.md: every ```sh and ```console block, unless the line before it is
<!-- examples-test: skip (why) -->. man/*/*.[1-9]: every .nf/.fi block whose
lines are shmkit commands (optionally after "$ ").

A block runs in one bash process, line by line as a script; a console block
("$ " prompts) runs each command separately, and the lines after a command,
if any, are the output it must print (stdout and stderr, exactly). A command
exits 0 unless its expected output is a "shmkit: ..." error line (then 1).
Background jobs a block starts must end and exit 0. Each block has a time
limit and runs in its own private mount, IPC and pid namespaces with an empty
/dev/shm and /tmp, so the examples' fixed names (posix:/jobs, sysv:0x44,
/tmp/kv.map) neither collide with each other nor touch anything else.
"""
import os
import re
import shlex
import shutil
import subprocess
import sys

LIMIT = 60  # seconds per block (all of README.md in order: IN_ORDER_LIMIT)
IN_ORDER_LIMIT = 180


def readme_blocks(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        m = re.match(r"^```(sh|console)\s*$", lines[i])
        if not m:
            i += 1
            continue
        skip = i > 0 and "examples-test: skip" in lines[i - 1]
        start = i + 1
        i = start
        while not lines[i].startswith("```"):
            i += 1
        if not skip:
            yield f"{path}:{start}", m.group(1), lines[start:i]
        i += 1


def man_unescape(line):
    return (line.replace("\\-", "-").replace("\\e", "\\").replace("\\&", "")
            .replace("\\(dq", '"'))


def man_blocks(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    start = None
    for n, line in enumerate(lines):
        if line.startswith(".nf"):
            start = n + 1
        elif line.startswith(".fi") and start is not None:
            body = [man_unescape(x) for x in lines[start:n]]
            cmds = [x for x in body if x.strip()]
            if cmds and re.match(r"^(\$ )?shmkit ", cmds[0]):
                console = any(x.startswith("$ ") for x in body)
                yield f"{path}:{start}", "console" if console else "sh", body
            start = None


# The source and build trees stay visible when they live under /tmp (a CI
# clone may): bound back into the block's empty /tmp at the same paths, so
# the tool and the library it was linked with by path are still found.
def keep_under_tmp():
    tool = shutil.which("shmkit")
    paths = {os.getcwd()} | ({os.path.dirname(os.path.realpath(tool))} if tool else set())
    keep = sorted(p for p in paths if p.startswith("/tmp/"))
    if not keep:
        return ""
    binds = " && ".join(f"mkdir -p {shlex.quote(p)} && mount --bind "
                        f"/dev/shm/.keep{shlex.quote(p[4:])} {shlex.quote(p)}" for p in keep)
    return ("mkdir /dev/shm/.keep && mount --bind /tmp /dev/shm/.keep && "
            "mount -t tmpfs tmpfs /tmp && " + binds +
            " && umount -l /dev/shm/.keep && rmdir /dev/shm/.keep && ")


# A fresh world for one block: private mounts, SysV IPC and pids.
PRIVATE = ["unshare", "--mount", "--ipc", "--pid", "--fork", "--kill-child", "--mount-proc",
           "--propagation", "private", "bash", "-c",
           'mount -t tmpfs -o size=256m tmpfs /dev/shm && ' +
           (keep_under_tmp() or 'mount -t tmpfs tmpfs /tmp && ') +
           'exec bash -c "$0"']


def run(script, where, limit=LIMIT):
    try:
        p = subprocess.run(PRIVATE + [script], capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return None, "", f"{where}: still running after {limit} s"
    return p.returncode, p.stdout + p.stderr, ""


# After a block's commands: every background job must end and exit 0.
WAIT_JOBS = '\nfor j in $(jobs -p); do wait "$j" || exit 1; done\n'


def run_sh(where, body):
    script = "set -e\n" + "\n".join(body) + WAIT_JOBS
    rc, out, err = run(script, where)
    if rc != 0:
        return [f"{where}: block failed (exit {rc}): {err}\n{out[-2000:]}"]
    return []


def run_console(where, body):
    """All commands of the block in one world; each one's output and status
    framed by NUL bytes on stdout, then compared with what the block shows."""
    cmds, wants, script = [], [], ""
    for line in body:
        if line.startswith("$ "):
            cmds.append(line[2:])
            wants.append([])
        elif cmds:
            wants[-1].append(line)
    for cmd in cmds:
        script += ("{ " + cmd + "\n} >/tmp/.example-out 2>&1; rc=$?" + WAIT_JOBS.replace("exit 1", "rc=99")
                   + "printf '\\0%d\\0' $rc; cat /tmp/.example-out\n")
    rc, out, err = run(script, where)
    if rc is None:
        return [err]
    parts = out.split("\0")[1:]
    fails = []
    for i, (cmd, want) in enumerate(zip(cmds, wants)):
        if 2 * i + 1 >= len(parts):
            fails.append(f"{where}: '{cmd}' did not run: {out[-2000:]}")
            break
        got_rc, got = int(parts[2 * i]), parts[2 * i + 1]
        while want and not want[-1].strip():
            want.pop()
        want_rc = 1 if want and want[0].startswith("shmkit: ") else 0
        if got_rc != want_rc:
            fails.append(f"{where}: '{cmd}' exited {got_rc} (want {want_rc}):\n{got[-2000:]}")
        elif want and got.rstrip("\n").split("\n") != want:
            fails.append(f"{where}: '{cmd}' printed:\n{got}\nthe example shows:\n"
                         + "\n".join(want))
    return fails


def run_in_order(blocks):
    """A new user reads README.md top to bottom and runs each example in turn,
    in one world: an example must not trip over what an earlier one left
    (the Python example made posix:/jobs, which the queue example had made
    and kept: FileExistsError). Each block runs as in run_sh (a console
    block: each command, with the exit status its output implies), all of
    them one after the other in one set of namespaces."""
    script = ""
    for where, kind, body in blocks:
        if kind == "console":
            cmds, wants = [], []
            for line in body:
                if line.startswith("$ "):
                    cmds.append(line[2:])
                    wants.append(None)
                elif cmds and wants[-1] is None:
                    wants[-1] = line
            for cmd, first in zip(cmds, wants):
                want_rc = 1 if first and first.startswith("shmkit: ") else 0
                script += (f"{{ {cmd}\n}} >/tmp/.example-out 2>&1; rc=$?\n"
                           f"[ $rc = {want_rc} ] || {{ echo {shlex.quote(where)}: "
                           f"{shlex.quote(cmd)} exited $rc; cat /tmp/.example-out; exit 1; }}\n")
        else:
            block = "set -e\n" + "\n".join(body) + WAIT_JOBS
            script += (f"bash -c {shlex.quote(block)} >/tmp/.example-out 2>&1 || "
                       f"{{ echo {shlex.quote(where)}: block failed, run after the ones "
                       f"above it; cat /tmp/.example-out; exit 1; }}\n")
    rc, out, err = run(script, "README.md in order", IN_ORDER_LIMIT)
    if rc != 0:
        return [f"README.md, every example in order: {err}{out[-2000:]}"]
    return []


def main():
    readme, mans = sys.argv[1], sys.argv[2:]
    blocks = list(readme_blocks(readme))
    in_order = list(blocks)
    for m in mans:
        blocks += list(man_blocks(m))
    fails = []
    for where, kind, body in blocks:
        fails += (run_console if kind == "console" else run_sh)(where, body)
        print(f"ran {where} ({kind}, {len(body)} lines)")
    fails += run_in_order(in_order)
    print(f"ran README.md in order ({len(in_order)} examples)")
    for f in fails:
        print("FAIL:", f, file=sys.stderr)
    print(f"{len(blocks)} examples, {len(fails)} failure(s)")
    return 1 if fails or not blocks else 0


if __name__ == "__main__":
    sys.exit(main())
