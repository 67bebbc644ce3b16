# SPDX-License-Identifier: MIT
"""Print the directory under PREFIX where this python3 looks for packages.

Debian's python3 looks in /usr/local/lib/python3.X/dist-packages and
/usr/lib/python3/dist-packages; other prefixes get the standard
PREFIX/lib/python3.X/site-packages (add it to PYTHONPATH)."""
import os
import sys
import sysconfig

prefix = os.path.normpath(sys.argv[1])
for path in sys.path:
    rel = os.path.relpath(path, prefix)
    if rel.startswith("lib" + os.sep) and path.endswith(("site-packages", "dist-packages")):
        print(path)
        break
else:
    print(sysconfig.get_path("purelib", "posix_prefix", vars={"base": prefix, "platbase": prefix}))
