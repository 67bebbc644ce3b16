# SPDX-License-Identifier: MIT
"""A careless or hostile user of the binding: odd arguments, handles closed under a waiting
thread or coroutine, several coroutines on one handle. Each case must end in a clear Python
exception or the right result -- never a crash, a hang, a wrong object or a silently wrapped
number."""
import asyncio
import copy
import ctypes
import decimal
import errno
import fractions
import gc
import numbers
import os
import pickle
import signal
import subprocess
import threading
import time
import unittest
from unittest import mock

from pyhelp import WAIT, Case, check_no_leftovers, has_fd, shmkit


def tearDownModule():
    check_no_leftovers()


class ArgumentTest(Case):
    def test_nul_byte_in_uri_is_refused(self):
        # ctypes passes bytes as char *: the C library saw only the part before the NUL,
        # so "posix:/a\0b" created "posix:/a" and remove("posix:/a\0c") removed it.
        u = self.uri()
        for bad in (u + "\0tail", (u + "\0tail").encode()):
            with self.assertRaises(ValueError):
                shmkit.Segment(bad, 4096, create=True)
        self.assertFalse(os.path.exists("/dev/shm/" + u.split("/", 1)[1]))
        shmkit.Segment(u, 4096, create=True).close()
        for call in (shmkit.remove, shmkit.stat, shmkit.Queue.open, shmkit.Map.open,
                     shmkit.Subscriber.open, shmkit.Publisher.open):
            with self.assertRaises(ValueError):
                call(u + "\0other")
        with self.assertRaises(ValueError):
            shmkit.Queue.create(u + "x\0y", 4, 16)
        self.assertTrue(os.path.exists("/dev/shm/" + u.split("/", 1)[1]))  # not removed

    def test_sizes_past_size_t_are_refused_not_wrapped(self):
        # A size_t argument took an int modulo 2**64: Segment(u, 2**64 + 4096) made a
        # 4096-byte segment, Queue.create(u, 2**64 + 8, 2**64 + 16) a queue of 8 x 16.
        u = self.uri()
        with self.assertRaises(OverflowError):
            shmkit.Segment(u, 2**64 + 4096, create=True)
        with self.assertRaises(ValueError):
            shmkit.Segment(u, -1, create=True)
        with self.assertRaises(OverflowError):
            shmkit.Queue.create(u, 2**64 + 8, 16)
        with self.assertRaises(OverflowError):
            shmkit.Queue.create(u, 8, 2**64 + 16)
        with self.assertRaises(ValueError):
            shmkit.Queue.create(u, -8, 16)
        with self.assertRaises(OverflowError):
            shmkit.Publisher.create(u, 2**64 + 64, 8)
        with self.assertRaises(OverflowError):
            shmkit.Publisher.create(u, 64, 8, max_subs=2**32 + 1)
        with self.assertRaises(OverflowError):
            shmkit.Map.create(u, 2**64 + 65536)
        with self.assertRaises(TypeError):
            shmkit.Segment(u, 4096.0, create=True)
        self.assertFalse(os.path.exists("/dev/shm/" + u.split("/", 1)[1]))

    def test_a_mode_that_is_not_an_int_says_so(self):
        # Queue/Publisher/Map.create(mode="0600") raised TypeError "'<=' not supported
        # between instances of 'int' and 'str'", mode=None the same, and mode=384.0 "unsupported
        # operand type(s) for |": none named the mode (Segment says "mode must be an int").
        u = self.uri()
        for make in (lambda m: shmkit.Queue.create(u, 4, 16, mode=m),
                     lambda m: shmkit.Publisher.create(u, 16, 4, mode=m),
                     lambda m: shmkit.Map.create(u, 1 << 16, mode=m)):
            for bad in ("0600", None, 384.0):
                with self.subTest(mode=bad), self.assertRaisesRegex(TypeError, "^mode must"):
                    make(bad)
        self.assertFalse(os.path.exists("/dev/shm/" + u.split("/", 1)[1]))

    def test_reserve_past_size_t_leaves_no_reservation(self):
        # reserve(2**64 + 5) reserved 5 bytes in the library, then failed making the
        # 2**64 + 5 byte view: the slot stayed reserved and every later reserve was EBUSY.
        with shmkit.Queue.create(self.uri("q"), 4, 32) as q:
            for bad, exc in ((2**64 + 5, OverflowError), (-1, ValueError), (1.5, TypeError),
                             ("5", TypeError), (None, TypeError)):
                with self.assertRaises(exc):
                    q.reserve(bad)
            v = q.reserve(5)
            v[:] = b"hello"
            del v
            q.commit()
            self.assertEqual(q.recv(0), b"hello")
        with shmkit.Publisher.create(self.uri("t"), 64, 8) as p:
            for bad, exc in ((2**64 + 5, OverflowError), (-1, ValueError), (1.5, TypeError)):
                with self.assertRaises(exc):
                    p.loan(bad)
            v = p.loan(4)
            del v
            p.publish()

    def test_commit_or_publish_with_a_bad_size_keeps_the_slot(self):
        # commit(1.5) passed the range check, released the view and forgot the slot,
        # then ctypes refused the float: the library kept the slot reserved while the
        # binding had none (every commit "without a reservation", every reserve EBUSY).
        with shmkit.Queue.create(self.uri("q"), 4, 32) as q:
            v = q.reserve(4)
            for bad in (1.5, "2"):
                with self.assertRaises(TypeError):
                    q.commit(bad)
                v[:] = b"kept"                  # the view and the slot are still ours
            del v
            q.commit(4)
            self.assertEqual(q.recv(0), b"kept")
        u = self.uri("t")
        with shmkit.Publisher.create(u, 32, 4) as p, shmkit.Subscriber.open(u) as s:
            v = p.loan(4)
            with self.assertRaises(TypeError):
                p.publish(2.0)
            v[:] = b"kept"
            del v
            p.publish()
            self.assertEqual(s.recv(0), b"kept")

    def test_timeouts_of_other_number_types(self):
        # numpy.int64(1) or Fraction(1, 20) as a timeout: TypeError "timeout must be a
        # number of seconds or None, not 1" -- they are numbers of seconds.
        class Int64:                         # what numpy.int64 is to Python: an Integral
            def __init__(self, v):
                self.v = v

            def __index__(self):
                return self.v

            def __ne__(self, other):
                return self.v != other

            def __eq__(self, other):
                return self.v == other

            def __lt__(self, other):
                return self.v < other

            def __ge__(self, other):
                return self.v >= other

            __hash__ = None
        numbers.Integral.register(Int64)
        with shmkit.Queue.create(self.uri("q"), 4, 32) as q:
            t0 = time.monotonic()
            with self.assertRaises(TimeoutError):
                q.recv(timeout=fractions.Fraction(1, 20))
            self.assertGreaterEqual(time.monotonic() - t0, 0.05)
            q.send(b"x", timeout=Int64(1))
            self.assertEqual(q.recv(timeout=Int64(1)), b"x")
            with self.assertRaises(TimeoutError):
                q.recv(timeout=Int64(1))
            for bad in ("1", b"1", decimal.Decimal(1), 1j, [1]):
                with self.assertRaises(TypeError):
                    q.recv(timeout=bad)

    def test_wrong_buffer_types_say_what_is_wanted(self):
        # q.send("text") said "memoryview: a bytes-like object is required", and
        # recv_into of a strided view "memoryview: casts are restricted to C-contiguous
        # views": errors about memoryview, which the caller never used.
        with shmkit.Queue.create(self.uri("q"), 4, 32) as q:
            with self.assertRaisesRegex(TypeError, "message is a bytes-like.*encode"):
                q.send("text")
            with self.assertRaisesRegex(TypeError, "message is a bytes-like.*NoneType"):
                q.send(None)
            q.send(b"abcd")
            with self.assertRaisesRegex(TypeError, "recv_into needs a writable buffer"):
                q.recv_into(b"1234", 0)
            with self.assertRaisesRegex(TypeError, "recv_into needs a writable bytes-like"):
                q.recv_into(None, 0)
            with self.assertRaisesRegex(BufferError, "recv_into needs a contiguous"):
                q.recv_into(memoryview(bytearray(16))[::2], 0)
            buf = bytearray(8)
            self.assertEqual(q.recv_into(memoryview(buf)[2:], 0), 4)   # still in the queue
            self.assertEqual(bytes(buf), b"\0\0abcd\0\0")

    def test_huge_timeouts_wait_like_none(self):
        # 1e300 s overflowed to inf nanoseconds and 10**400 could not become a float:
        # OverflowError instead of a wait.
        with shmkit.Queue.create(self.uri("q"), 4, 32) as q:
            for t in (1e300, 10**400, 2**70, float("inf")):
                q.send(b"x", timeout=t)
                self.assertEqual(q.recv(timeout=t), b"x")
            stop = threading.Timer(0.2, q.send, (b"late",))
            stop.start()
            try:
                self.assertEqual(q.recv(timeout=1e300), b"late")   # it waits, not raises
            finally:
                stop.join()


class OwnStateErrorTest(Case):
    """A second reserve() (or send, recv, loan) while this handle's own zero-copy
    operation is half done was refused by the library with a bare "Device or resource
    busy" / "Invalid argument", which reads as another process's doing."""

    def assertSays(self, code, words, fn, *args):
        with self.assertRaises(OSError) as e:
            fn(*args)
        self.assertEqual(e.exception.errno, code)
        self.assertIn(words, str(e.exception))

    def test_queue_and_publisher_say_what_is_outstanding(self):
        with shmkit.Queue.create(self.uri("q"), 4, 16) as q:
            v = q.reserve(4)
            self.assertSays(errno.EBUSY, "commit() it first", q.reserve, 4)
            self.assertSays(errno.EBUSY, "commit() it first", q.send, b"x")
            v[:] = b"peek"
            del v
            q.commit()
            q.peek()
            self.assertSays(errno.EBUSY, "consume() it first", q.recv, 0)
            self.assertSays(errno.EBUSY, "consume() it first", q.recv_into, bytearray(8), 0)
            q.consume()
        with shmkit.Publisher.create(self.uri("t"), 16, 4) as p:
            v = p.loan(4)
            self.assertSays(errno.EINVAL, "publish() it first", p.send, b"x")
            self.assertSays(errno.EINVAL, "publish() it first", p.loan, 4)
            del v
            p.publish()


class ConstructorTest(Case):
    """shmkit.Map(uri, size), written like shmkit.Segment(uri, size), made a Map whose
    library handle was the URI string's address: len() read garbage and close() aborted
    in free() (Publisher/Queue/Subscriber(uri, n): TypeError "cannot be converted to
    pointer"). Only create() and open() make these handles."""

    def test_direct_construction_is_refused_clearly(self):
        u = self.uri()
        for cls in (shmkit.Map, shmkit.Queue, shmkit.Publisher, shmkit.Subscriber):
            for args in ((u, 65536), (12345, u), (None, u)):
                with self.subTest(cls.__name__, args=args):
                    with self.assertRaises(TypeError) as e:
                        cls(*args)
                    self.assertIn(f"{cls.__name__}.open", str(e.exception))
        self.assertFalse(os.path.exists("/dev/shm/" + u.split("/", 1)[1]))


class CallbackExceptionTest(Case):
    """An exception inside the ctypes callbacks of Map iteration and shmkit.list() (a
    Ctrl-C, a MemoryError) was printed as "Exception ignored on calling ctypes callback
    function" and the walk went on: list(m) returned the keys less the one it failed on,
    and the KeyboardInterrupt was lost."""

    def test_map_iteration(self):
        with shmkit.Map.create(self.uri("m"), 1 << 16) as m:
            for i in range(10):
                m[b"k%d" % i] = b"v"
            real, calls = ctypes.string_at, []

            def flaky(*a):
                calls.append(1)
                if len(calls) == 4:
                    raise KeyboardInterrupt
                return real(*a)

            with mock.patch("ctypes.string_at", side_effect=flaky):
                with self.assertRaises(KeyboardInterrupt):
                    list(m)
            self.assertEqual(len(list(m)), 10)

    def test_list_segments(self):
        for _ in range(3):
            shmkit.Segment(self.uri(), 4096, create=True).close()
        from shmkit import segment
        real, calls = segment._new_stat, []

        def flaky():
            calls.append(1)
            if len(calls) == 2:
                raise MemoryError
            return real()

        with mock.patch.object(segment, "_new_stat", side_effect=flaky):
            with self.assertRaises(MemoryError):
                shmkit.list()


class CopyTest(Case):
    """copy.copy, copy.deepcopy and pickle made a second object holding the same library
    handle: closing one freed it under the other (a crash on the next call, or a double
    free when both were closed), and an unpickled handle in another process held an
    address of this one's."""

    def test_handles_cannot_be_copied_or_pickled(self):
        u = self.uri()
        with shmkit.Publisher.create(self.uri("t"), 16, 4) as p:
            handles = [shmkit.Map.create(self.uri("m"), 1 << 16),
                       shmkit.Segment(u, 4096, create=True),
                       shmkit.Queue.create(self.uri("q"), 4, 16), p,
                       shmkit.Subscriber.open(p.uri)]
            for h in handles:
                for dup in (copy.copy, copy.deepcopy, pickle.dumps):
                    with self.subTest(type(h).__name__, dup=dup.__name__):
                        with self.assertRaises(TypeError):
                            dup(h)
                self.assertFalse(h.closed)
            handles[0][b"k"] = b"v"
            self.assertEqual(handles[0][b"k"], b"v")
            handles[1].buf[0] = 1
            for h in handles:
                h.close()


class HalfBuiltHandleTest(Case):
    """A MemoryError (or Ctrl-C) while the Python object was being built around a handle
    the library had just opened left that handle open for good: __del__ -> close() failed
    on an attribute not set yet (the error swallowed), so the process stayed attached."""

    def attached(self, u):
        return [a["pid"] for a in shmkit.stat(u)["attached_processes"] or []]

    def test_failed_init_still_closes_the_library_handle(self):
        uq, ut = self.uri("q"), self.uri("t")
        shmkit.Queue.create(uq, 4, 16).close()
        with shmkit.Publisher.create(ut, 16, 4):
            for opener, u in ((lambda: shmkit.Queue.open(uq), uq),
                              (lambda: shmkit.Subscriber.open(ut), ut)):
                before = self.attached(u)
                with mock.patch("ctypes.create_string_buffer", side_effect=MemoryError):
                    with self.assertRaises(MemoryError):
                        opener()
                gc.collect()
                self.assertEqual(self.attached(u), before, u)


class CloseUnderAWaitTest(Case):
    """close() from another thread while a call waits inside the library: the library's
    handle was freed under the waiting thread (SIGSEGV; ASan: heap-use-after-free in
    sc_try_peek). Now close() waits for the call to give up, which it does within one
    50 ms slice with ValueError."""

    def close_under(self, handle, wait, *args):
        got = []

        def run():
            try:
                got.append(wait(*args))
            except BaseException as e:      # noqa: B036 - the result to check
                got.append(e)

        t = threading.Thread(target=run)
        t.start()
        time.sleep(0.3)                     # let it wait inside the library
        self.assertTrue(t.is_alive(), f"did not wait: {got}")
        t0 = time.monotonic()
        handle.close()
        took = time.monotonic() - t0
        t.join(10)
        self.assertFalse(t.is_alive(), "the waiting call did not end after close()")
        self.assertTrue(handle.closed)
        self.assertEqual(len(got), 1)
        self.assertIsInstance(got[0], ValueError, got[0])
        self.assertIn("closed", str(got[0]))
        self.assertLess(took, 5.0)

    def attached(self, u):
        return [a["pid"] for a in shmkit.stat(u)["attached_processes"] or []]

    def test_queue_recv_send_peek_reserve(self):
        u = self.uri("q")
        shmkit.Queue.create(u, 1, 16).close()
        for name, fill in (("recv", False), ("recv_into", False), ("peek", False),
                           ("send", True), ("reserve", True)):
            with self.subTest(name):
                q = shmkit.Queue.open(u)
                if fill:
                    q.send(b"full")
                args = {"recv": (), "recv_into": (bytearray(16),), "peek": (),
                        "send": (b"more",), "reserve": (4,)}[name]
                self.close_under(q, getattr(q, name), *args)
                self.assertNotIn(os.getpid(), self.attached(u))
                with self.assertRaises(ValueError):
                    q.recv(0)
                if fill:
                    with shmkit.Queue.open(u) as q2:
                        self.assertEqual(q2.recv(0), b"full")

    def test_view_given_out_while_close_waits_is_released(self):
        # close() waited for a reserve() in another thread, which then succeeded and
        # returned its view; close() unmapped the queue under that view (SIGSEGV on use).
        u = self.uri("q")
        q = shmkit.Queue.create(u, 1, 16)
        q.send(b"full")
        views, errors = [], []
        started = threading.Event()

        def reserve():
            started.set()
            try:
                views.append(q.reserve(8))
            except ValueError as e:             # closed before it got the slot: fine
                errors.append(e)

        t = threading.Thread(target=reserve)
        t.start()
        started.wait()
        time.sleep(0.2)                         # waiting inside the library for room
        with shmkit.Queue.open(u) as consumer:
            self.assertEqual(consumer.recv(0), b"full")   # room: the reserve succeeds
            q.close()                           # ... while close() waits for it
        t.join(10)
        self.assertTrue(q.closed)
        self.assertEqual(len(views) + len(errors), 1)
        for v in views:                         # released, not pointing at unmapped memory
            with self.assertRaises(ValueError):
                v[0] = 1

    def test_subscriber_recv_and_reliable_publisher_send(self):
        u = self.uri("t")
        with shmkit.Publisher.create(u, 32, 2, reliable=True) as p:
            s = shmkit.Subscriber.open(u)
            self.close_under(s, s.recv)
            s = shmkit.Subscriber.open(u)    # a live subscriber that reads nothing
            p.send(b"1")
            p.send(b"2")
            self.close_under(p, p.send, b"3")
            s.close()

    def test_close_from_a_signal_handler_during_the_wait(self):
        # The handler runs in the waiting thread between two slices: close() cannot wait
        # for that call to end, so the call closes the handle as it leaves.
        u = self.uri("q")
        q = shmkit.Queue.create(u, 4, 16)
        old = signal.signal(signal.SIGALRM, lambda *_: q.close())
        try:
            signal.setitimer(signal.ITIMER_REAL, 0.2)
            with self.assertRaises(ValueError):
                q.recv()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        self.assertTrue(q.closed)
        self.assertNotIn(os.getpid(), self.attached(u))
        q.close()

    def test_ctrl_c_while_close_waits(self):
        # A KeyboardInterrupt in close()'s wait for another thread's call left the handle
        # closing for good: refusing every call, never closed (close() returned at once).
        # The interrupt comes from close()'s own wait: a SIGALRM timed to come while
        # close() waited missed it whenever the process was held up as long as the timer
        # (a loaded machine): it came before close() began (the thread's recv() then
        # waited for good, and the process hung at exit) or after close() was done
        # ("KeyboardInterrupt not raised").
        from shmkit import _handle
        u = self.uri("q")
        q = shmkit.Queue.create(u, 4, 16)
        t = threading.Thread(target=lambda: self.assertRaises(ValueError, q.recv), daemon=True)
        sleeps = []

        def sleep(s):                   # close()'s wait between two looks at the calls
            sleeps.append(s)
            if len(sleeps) == 1:
                raise KeyboardInterrupt
            time.sleep(s)

        with mock.patch("shmkit._wait.SLICE_NS", 1_000_000_000):   # slow to give up
            t.start()
            time.sleep(0.3)
            with mock.patch.object(_handle, "time", mock.Mock(sleep=sleep)):
                with self.assertRaises(KeyboardInterrupt):
                    q.close()
            self.assertEqual(len(sleeps), 1)
            t.join(10)
        self.assertFalse(t.is_alive())
        self.assertTrue(q.closed)
        self.assertNotIn(os.getpid(), self.attached(u))     # the waiting call closed it

    def test_exit_with_a_daemon_thread_waiting(self):
        # close() waits for the calls of other threads; at interpreter exit a daemon
        # thread never comes back from its call, so a close() made then (by a __del__)
        # must not wait for it: the process hung instead of exiting.
        code = """if 1:
            import sys, threading, time, shmkit
            q = shmkit.Queue.create(sys.argv[1], 8, 64)
            class Owner:
                def __del__(self):
                    q.close()
            owner = Owner()
            threading.Thread(target=q.recv, daemon=True).start()
            time.sleep(0.2)
            print("exiting")
            """
        p = self.child(code, self.uri("q"))
        self.assertEqual(self.wait_child(p, timeout=20).strip(), "exiting")

    def test_close_in_a_child_forked_while_a_thread_waits(self):
        # The child inherits the record of the parent's waiting thread, a thread it does
        # not have: close() in the child waited for it forever.
        u = self.uri("q")
        q = shmkit.Queue.create(u, 8, 64, multi_consumer=True)
        got = []
        t = threading.Thread(target=lambda: got.append(q.recv(timeout=WAIT)))
        t.start()
        time.sleep(0.2)
        pid = os.fork()
        if pid == 0:                        # the child: close, say how it went, leave
            try:
                signal.alarm(20)
                q.close()
                os._exit(0 if q.closed else 1)
            finally:
                os._exit(2)
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                time.sleep(0.05)
            else:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                self.fail("close() in the forked child hung")
            self.assertEqual(os.waitstatus_to_exitcode(status), 0)
        finally:
            q.send(b"done")
            t.join(10)
            q.close()
        self.assertEqual(got, [b"done"])

    def test_gc_freeing_a_map_while_close_waits(self):
        # The flaky hang of test_queue_recv_send_peek_reserve: close() looked for the
        # threads of its waiting calls with sys._current_frames(), which (CPython before
        # 3.11.9) holds the runtime's lock while it makes frame objects; the GC such an
        # allocation started freed a Map left in a reference cycle by an earlier test, and
        # its threading.local took that lock again. The closing thread waited for itself,
        # holding the GIL (gdb: local_clear <- subtype_clear <- delete_garbage <-
        # _PyThread_CurrentFrames). Here the GC is made due right then.
        code = """if 1:
            import gc, sys, threading, time, shmkit
            gc.disable()
            m = shmkit.Map.create(sys.argv[1], 1 << 16)
            m[b"k"] = b"v"
            m[b"k"]                         # its threading.local holds a buffer
            m.close()
            m.cycle = m                     # garbage only the cyclic GC frees
            del m
            q = shmkit.Queue.create(sys.argv[2], 4, 16)
            got = []
            def wait():
                try:
                    q.recv()
                except ValueError as e:
                    got.append(e)
            t = threading.Thread(target=wait, daemon=True)
            t.start()
            time.sleep(0.3)
            real = sys.is_finalizing
            def due():                      # called by close() as it waits
                gc.enable()
                gc.set_threshold(gc.get_count()[0] + 1)   # due at the 2nd allocation
                return real()
            sys.is_finalizing = due
            q.close()
            sys.is_finalizing = real
            t.join(10)
            print("closed", q.closed, got)
            """
        p = self.child(code, self.uri("m"), self.uri("q"))
        try:
            out = self.wait_child(p, timeout=20)
        except subprocess.TimeoutExpired:
            self.fail("close() deadlocked in a GC that freed a Map")
        self.assertEqual(out.strip(), "closed True [ValueError('shmkit.Queue closed while "
                                      "waiting')]")

    def test_close_in_a_forked_child_that_started_a_thread(self):
        # The child kept the record of the parent's waiting thread, and close() took it
        # for a call still running when a live thread had its ident: the child's first
        # new thread has it (glibc gives it the gone thread's stack), so close() in a
        # child that had started a thread waited forever.
        u = self.uri("q")
        q = shmkit.Queue.create(u, 8, 64, multi_consumer=True)
        got = []
        t = threading.Thread(target=lambda: got.append(q.recv(timeout=WAIT)))
        t.start()
        time.sleep(0.2)
        pid = os.fork()
        if pid == 0:
            try:
                signal.alarm(20)
                stop = threading.Event()
                other = threading.Thread(target=stop.wait)
                other.start()
                q.close()
                stop.set()
                other.join()
                os._exit(0 if q.closed and not q._users else 1)
            finally:
                os._exit(2)
        try:
            _, status = os.waitpid(pid, 0)
            self.assertEqual(os.waitstatus_to_exitcode(status), 0,
                             "close() in the forked child hung (-14: its alarm)")
        finally:
            q.send(b"done")
            t.join(10)
            q.close()
        self.assertEqual(got, [b"done"])

    def test_map_closed_under_busy_threads(self):
        m = shmkit.Map.create(self.uri("m"), 1 << 16)
        stop = threading.Event()
        errors = []

        def hammer():
            i = 0
            while not stop.is_set():
                try:
                    m[b"k%d" % (i % 50)] = b"v" * (i % 300)
                    m.get(b"k1")
                    len(m)
                except ValueError:
                    return
                except BaseException as e:  # noqa: B036
                    errors.append(e)
                    return
                i += 1

        ts = [threading.Thread(target=hammer) for _ in range(2)]
        for t in ts:
            t.start()
        time.sleep(0.2)
        m.close()
        stop.set()
        for t in ts:
            t.join(10)
        self.assertEqual(errors, [])


class RefusedReleaseChangesNothingTest(Case):
    """close(), commit(), consume() and publish() refuse with BufferError while something
    made from a view they gave out is alive, "changing nothing" (README). But they released
    the views first and checked afterwards: after the refusal seg.buf, the reserve()d or
    loan()ed view and the peek()ed view were released memoryviews (ValueError on any use),
    and a reserved slot could no longer be written at all."""

    def test_segment_close(self):
        s = shmkit.Segment(self.uri(), 4096, create=True)
        for keep in (lambda: s.buf[10:20], lambda: memoryview(s.buf),
                     lambda: ctypes.c_uint8.from_buffer(s.buf, 3), lambda: s.buf.obj):
            held = keep()
            with self.assertRaises(BufferError):
                s.close()
            self.assertFalse(s.closed)
            s.buf[0] = 7                    # still the usable view of the segment
            self.assertEqual(s.buf[0], 7)
            del held
        s.close()
        with self.assertRaises(ValueError):
            s.buf[0]

    def test_queue_commit_and_consume(self):
        with shmkit.Queue.create(self.uri("q"), 4, 32) as q:
            v = q.reserve(8)
            part = v[:4]
            with self.assertRaises(BufferError):
                q.commit()
            v[:] = b"written!"              # the reservation's view still works
            del part
            q.commit()
            self.assertEqual(q.recv(0), b"written!")
            q.send(b"peeked")
            m = q.peek()
            keep = m[1:]
            with self.assertRaises(BufferError):
                q.consume()
            self.assertEqual(bytes(m), b"peeked")
            self.assertEqual(bytes(keep), b"eeked")
            del keep
            with self.assertRaises(BufferError):   # close refuses for the same reason
                held = m[:1]
                q.close()
            del held
            self.assertEqual(bytes(m), b"peeked")
            q.consume()
            with self.assertRaises(BlockingIOError):
                q.recv(0)

    def test_publisher_publish(self):
        u = self.uri("t")
        with shmkit.Publisher.create(u, 32, 4) as p, shmkit.Subscriber.open(u) as sub:
            v = p.loan(5)
            c = ctypes.c_char.from_buffer(v, 1)
            with self.assertRaises(BufferError):
                p.publish()
            v[:] = b"loans"
            del c
            p.publish()
            self.assertEqual(sub.recv(0), b"loans")


@unittest.skipUnless(has_fd(), "this libshmkit has no pollable descriptors")
class AsyncioTest(Case):
    """recv_async registered the handle's own descriptor with loop.add_reader: a second
    coroutine on the same handle replaced the first one's reader (the first then waited
    forever), and a close() under an awaiting coroutine left it waiting forever, with the
    closed descriptor's number still in the loop's selector."""

    @staticmethod
    def watched(loop) -> int:
        return len(loop._selector.get_map())    # the loop's own wake-up pipe included

    def test_two_coroutines_on_one_handle(self):
        u = self.uri("q")

        async def main():
            loop = asyncio.get_running_loop()
            base = self.watched(loop)
            with shmkit.Queue.create(u, 8, 32, multi_consumer=True) as q:
                tasks = [asyncio.create_task(q.recv_async()) for _ in range(3)]
                await asyncio.sleep(0.1)
                for m in (b"1", b"2", b"3"):
                    q.send(m)
                got = await asyncio.wait_for(asyncio.gather(*tasks), 10)
                self.assertEqual(sorted(got), [b"1", b"2", b"3"])
                self.assertEqual(self.watched(loop), base)
            p = shmkit.Publisher.create(self.uri("t"), 32, 8)
            with p, shmkit.Subscriber.open(p.uri) as s:
                tasks = [asyncio.create_task(s.recv_async()) for _ in range(2)]
                await asyncio.sleep(0.1)
                p.send(b"a")
                p.send(b"b")
                got = await asyncio.wait_for(asyncio.gather(*tasks), 10)
                self.assertEqual(sorted(got), [b"a", b"b"])
                self.assertEqual(self.watched(loop), base)

        asyncio.run(main())

    def test_close_while_a_coroutine_awaits(self):
        async def main():
            loop = asyncio.get_running_loop()
            base = self.watched(loop)
            q1 = shmkit.Queue.create(self.uri("q"), 8, 32)
            t1 = asyncio.create_task(q1.recv_async())
            await asyncio.sleep(0.1)
            q1.close()
            # A new handle may get the closed descriptor's number while t1 has not run yet.
            with shmkit.Queue.create(self.uri("q"), 8, 32) as q2:
                t2 = asyncio.create_task(q2.recv_async())
                with self.assertRaises(ValueError):
                    await asyncio.wait_for(t1, 5)
                await asyncio.sleep(0.05)
                q2.send(b"two")
                self.assertEqual(await asyncio.wait_for(t2, 5), b"two")
            self.assertEqual(self.watched(loop), base)

        asyncio.run(main())

    def test_close_from_another_thread_while_a_coroutine_awaits(self):
        async def main():
            q = shmkit.Queue.create(self.uri("q"), 8, 32)
            t = asyncio.create_task(q.recv_async())
            await asyncio.sleep(0.1)
            closer = threading.Thread(target=q.close)
            closer.start()
            with self.assertRaises(ValueError):
                await asyncio.wait_for(t, 5)
            closer.join(5)
            self.assertTrue(q.closed)

        asyncio.run(main())

    def test_interrupt_as_the_descriptor_closes_loses_nothing(self):
        # recv_async() closed its duplicate descriptor in a finally after try_now() had
        # taken the message out of the handle: a KeyboardInterrupt raised as that
        # os.close returned (a signal handler runs there) replaced the return, and the
        # message was gone (queue depth 0, received 1, never returned). Here os.close
        # raises right after closing, once the message has been sent.
        from shmkit import _aio
        real_close = os.close

        def check(handle, send, sent):
            class OS:
                dup = staticmethod(os.dup)

                @staticmethod
                def close(fd):
                    real_close(fd)
                    if sent():
                        raise KeyboardInterrupt

            async def main():
                asyncio.get_running_loop().call_later(0.1, send, b"precious")
                return await handle.recv_async()

            loop = asyncio.new_event_loop()
            try:
                task = loop.create_task(main())
                loop.call_later(10, task.cancel)
                with mock.patch.object(_aio, "os", OS), self.assertRaises(KeyboardInterrupt):
                    loop.run_until_complete(task)
                self.assertIsInstance(task.exception(), KeyboardInterrupt)
            finally:
                loop.close()
            self.assertEqual(handle.recv(0), b"precious")

        with shmkit.Queue.create(self.uri("q"), 4, 16) as q:
            check(q, q.send, lambda: q.stats()["sent"])
        p = shmkit.Publisher.create(self.uri("t"), 16, 4)
        with p, shmkit.Subscriber.open(p.uri) as s:
            check(s, p.send, lambda: p.published)

    def test_cancelled_recv_leaves_nothing_behind(self):
        async def main():
            loop = asyncio.get_running_loop()
            base = self.watched(loop)
            with shmkit.Queue.create(self.uri("q"), 8, 32) as q:
                t = asyncio.create_task(q.recv_async())
                await asyncio.sleep(0.05)
                t.cancel()
                with self.assertRaises(asyncio.CancelledError):
                    await t
                self.assertEqual(self.watched(loop), base)
                with self.assertRaises(asyncio.TimeoutError):
                    await asyncio.wait_for(q.recv_async(), 0.1)
                q.send(b"after")
                self.assertEqual(await asyncio.wait_for(q.recv_async(), 5), b"after")
                self.assertEqual(self.watched(loop), base)

        asyncio.run(main())


class InterruptedLendTest(Case):
    """A signal handler runs as each C call returns: a KeyboardInterrupt right after the
    library reserved a queue slot (or lent a topic slot) reached the caller before the
    binding recorded the slot, and the handle stayed reserved in the library for good:
    every reserve() and send() EBUSY (a publisher's loan() and send() EINVAL) with no
    word of why, commit() "without a reservation", until close(). After a peek, recv()
    was EBUSY with no word of why and consume() said "without a peeked message"."""

    @staticmethod
    def interrupted(real):
        done = []

        def call(*a):
            r = real(*a)
            if not done:                # once, as a handler would, the call having returned
                done.append(1)
                raise KeyboardInterrupt
            return r
        return call

    def test_queue_reserve(self):
        from shmkit import _lib
        with shmkit.Queue.create(self.uri("q"), 4, 16) as q:
            with mock.patch.object(_lib, "queue_reserve", self.interrupted(_lib.queue_reserve)):
                with self.assertRaises(KeyboardInterrupt):
                    q.reserve(4)
            # its caller never got the slot's view: reserve() again gives it (up to its
            # size), and what is written there is what goes
            with self.assertRaisesRegex(OSError, "interrupted reserve\\(\\) holds a slot of 4"):
                q.reserve(5)
            with self.assertRaisesRegex(OSError, "interrupted reserve\\(\\) took: reserve\\(\\)"):
                q.send(b"x", 0)
            mv = q.reserve(4)
            mv[:] = b"mine"
            del mv
            q.commit()
            q.send(b"next", 0)
            self.assertEqual(q.recv(0), b"mine")
            self.assertEqual(q.recv(0), b"next")
            mv = q.reserve(4)           # a reservation whose view was returned: not again
            del mv
            with self.assertRaisesRegex(OSError, "commit\\(\\) it first"):
                q.reserve(4)
            q.commit()
            self.assertEqual(len(q.recv(0)), 4)
            with mock.patch.object(_lib, "queue_reserve", self.interrupted(_lib.queue_reserve)):
                with self.assertRaises(KeyboardInterrupt):
                    q.reserve(4)
        with shmkit.Queue.open(q.uri) as q:     # close() gave that one back
            q.send(b"after", 0)
            self.assertEqual(q.recv(0), b"after")

    def test_queue_peek(self):
        from shmkit import _lib
        with shmkit.Queue.create(self.uri("q"), 4, 16) as q:
            q.send(b"first")
            q.send(b"second")
            with mock.patch.object(_lib, "queue_peek", self.interrupted(_lib.queue_peek)):
                with self.assertRaises(KeyboardInterrupt):
                    q.peek()
            with self.assertRaisesRegex(OSError, "consume\\(\\) it first"):
                q.recv(0)
            self.assertEqual(bytes(q.peek(0)), b"first")
            q.consume()
            self.assertEqual(q.recv(0), b"second")

    def test_publisher_loan(self):
        from shmkit import _lib
        p = shmkit.Publisher.create(self.uri("t"), 16, 4)
        with p, shmkit.Subscriber.open(p.uri) as s:
            with mock.patch.object(_lib, "pub_loan", self.interrupted(_lib.pub_loan)):
                with self.assertRaises(KeyboardInterrupt):
                    p.loan(3)
            with self.assertRaisesRegex(OSError, "interrupted loan\\(\\) holds a slot of 3"):
                p.loan(4)
            with self.assertRaisesRegex(OSError, "interrupted loan\\(\\) took: loan\\(\\)"):
                p.send(b"x")
            mv = p.loan(2)              # the slot it took, cut to the size asked now
            mv[:] = b"ab"
            del mv
            p.publish()
            p.send(b"next")
            self.assertEqual(s.recv(0), b"ab")
            self.assertEqual(s.recv(0), b"next")
            mv = p.loan(3)
            del mv
            with self.assertRaisesRegex(OSError, "publish\\(\\) it first"):
                p.loan(3)
            p.publish()
            self.assertEqual(len(s.recv(0)), 3)

    def test_interrupted_reserve_sends_no_old_message(self):
        # The slot an interrupted reserve() took still held the last message that went
        # through it: committed as it was ("commit() it first", the hint said), that
        # message was received a second time.
        from shmkit import _lib
        with shmkit.Queue.create(self.uri("q"), 1, 16) as q:
            q.send(b"old message 123!", 0)
            self.assertEqual(q.recv(0), b"old message 123!")
            with mock.patch.object(_lib, "queue_reserve", self.interrupted(_lib.queue_reserve)):
                with self.assertRaises(KeyboardInterrupt):
                    q.reserve(16)
            mv = q.reserve(16)
            mv[:] = b"N" * 16
            del mv
            q.commit()
            self.assertEqual(q.recv(0), b"N" * 16)


if __name__ == "__main__":
    unittest.main()
