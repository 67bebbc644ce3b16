# SPDX-License-Identifier: MIT
"""The structs the binding declares in ctypes have the sizes the C headers give them, and
the enums it names have the values they have in C
(so a field added to a public struct fails here, by name, not as garbage elsewhere)."""
import ctypes
import unittest

from pyhelp import Case
from shmkit import _lib


class AbiTest(Case):
    def test_struct_sizes_match_the_headers(self):
        c = dict(line.split() for line in self.c_peer("sizes").stdout.decode().splitlines())
        mine = {
            "shmkit_stat": ctypes.sizeof(_lib.Stat),
            "shmkit_mapper": ctypes.sizeof(_lib.Mapper),
            "shmkit_queue_opts": ctypes.sizeof(_lib.QueueOpts),
            "shmkit_queue_stats": ctypes.sizeof(_lib.QueueStats),
            "shmkit_topic_opts": ctypes.sizeof(_lib.TopicOpts),
            "shmkit_topic_info": ctypes.sizeof(_lib.TopicInfo),
            "shmkit_topic_sub_info": ctypes.sizeof(_lib.TopicSubInfo),
            "shmkit_attacher": ctypes.sizeof(_lib.Attacher),
            "shmkit_heap_stats": ctypes.sizeof(_lib.HeapStats),
            "shmkit_heap_stats.n_named": _lib.HeapStats.n_named.offset,
            "shmkit_stat.header_status": _lib.Stat.header_status.offset,
        }
        from shmkit.segment import BACKENDS, LIFETIMES
        mine.update({f"backend.{v}": k for k, v in BACKENDS.items()})
        mine.update({f"lifetime.{v}": k for k, v in LIFETIMES.items()})
        self.assertEqual(mine, {k: int(v) for k, v in c.items()})


if __name__ == "__main__":
    unittest.main()
