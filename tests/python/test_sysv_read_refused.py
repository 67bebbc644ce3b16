# SPDX-License-Identifier: MIT
"""Where process_vm_readv(2) is refused (a seccomp filter, as systemd's
SystemCallFilter=@system-service or a container's default profile may install),
Subscriber.open('sysv:...') still works: the topic is read from the caller's own
mapping. And shmkit.stat of a SysV object left unread says why truly (attached,
not "nobody has it attached"). The filter is a raw BPF program set with prctl."""
import platform
import unittest

from pyhelp import Case, shmkit

# (AUDIT_ARCH_*, process_vm_readv's number) per machine
ARCH = {"x86_64": (0xC000003E, 310), "aarch64": (0xC00000B7, 270),
        "i686": (0x40000003, 347), "i386": (0x40000003, 347)}

CHILD = """
import ctypes, errno, struct, sys, shmkit
arch, nr = int(sys.argv[3]), int(sys.argv[4])
def ins(code, k, jt=0, jf=0):
    return struct.pack("=HBBI", code, jt, jf, k)
# ld arch; jeq ARCH ? next : allow; ld nr; jeq NR ? errno(EPERM) : allow
prog = b"".join([ins(0x20, 4), ins(0x15, arch, 1, 0), ins(0x06, 0x7FFF0000),
                 ins(0x20, 0), ins(0x15, nr, 0, 1), ins(0x06, 0x00050000 | errno.EPERM),
                 ins(0x06, 0x7FFF0000)])
buf = ctypes.create_string_buffer(prog)
class Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
fp = Fprog(len(prog) // 8, ctypes.addressof(buf))
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
if libc.prctl(38, 1, None, 0, 0) != 0 or libc.prctl(22, 2, ctypes.byref(fp), 0, 0) != 0:
    print("no seccomp"); sys.exit(0)                      # PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP
st = shmkit.stat(sys.argv[1])
assert st["managed"] is None, st
assert "nobody has it attached" not in st["header_status"], st["header_status"]
st = shmkit.stat(sys.argv[2])
assert st["header_status"].startswith("not read: nobody has it attached"), st["header_status"]
s = shmkit.Subscriber.open(sys.argv[1])
assert s.slot_size == 64, s.slot_size
s.close()
print("ok")
"""


class SysvReadRefused(Case):
    def test_subscribe_where_reading_others_is_refused(self):
        arch = ARCH.get(platform.machine())
        if arch is None:
            self.skipTest(f"no seccomp numbers for {platform.machine()}")
        topic, plain = self.uri("topic", "sysv"), self.uri("plain", "sysv")
        pub = shmkit.Publisher.create(topic, 64, 8)
        self.addCleanup(pub.close)
        other = shmkit.Publisher.create(plain, 64, 8)
        other.close()                                  # nobody has it attached
        out = self.wait_child(self.child(CHILD, topic, plain, str(arch[0]), str(arch[1])))
        if out.strip() == "no seccomp":
            self.skipTest("no seccomp filter can be installed here")
        self.assertEqual(out.strip(), "ok")


if __name__ == "__main__":
    unittest.main()
