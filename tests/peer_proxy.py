# SPDX-License-Identifier: MIT
"""A TCP proxy LISTEN_PORT -> 127.0.0.1:PORT; killing it breaks every connection."""
import selectors
import socket
import sys


def main(lport, tport):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", lport))
    ls.listen(16)
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ, None)
    while True:
        for key, _ in sel.select():
            if key.data is None:
                c, _ = ls.accept()
                try:
                    t = socket.create_connection(("127.0.0.1", tport))
                except OSError:
                    c.close()
                    continue
                sel.register(c, selectors.EVENT_READ, t)
                sel.register(t, selectors.EVENT_READ, c)
                continue
            a, b = key.fileobj, key.data
            try:
                d = a.recv(65536)
            except OSError:
                d = b""
            if d:
                try:
                    b.sendall(d)
                    continue
                except OSError:
                    pass
            for s in (a, b):
                try:
                    sel.unregister(s)
                except (KeyError, ValueError):
                    pass
                s.close()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
