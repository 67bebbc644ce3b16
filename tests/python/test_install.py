# SPDX-License-Identifier: MIT
"""`cmake --install` puts the package where the prefix's python3 finds it, and the installed
package finds the installed library by itself (no $SHMKIT_LIBRARY, no ldconfig)."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from pyhelp import BUILD, SRC


@unittest.skipIf(not shutil.which("cmake") or not os.path.exists(os.path.join(BUILD, "CMakeCache.txt")),
                 "needs cmake and a configured build tree")
class InstallTest(unittest.TestCase):
    def install(self, prefix, destdir=None):
        env = dict(os.environ)
        if destdir:
            env["DESTDIR"] = destdir
        subprocess.run(["cmake", "--install", BUILD, "--prefix", prefix], check=True, env=env,
                       capture_output=True)

    def site(self, prefix):
        py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
        out = subprocess.run([py, os.path.join(SRC, "python", "sitedir.py"), prefix],
                             check=True, capture_output=True, text=True).stdout.strip()
        self.assertTrue(out.startswith(prefix + "/lib"), out)
        return out

    def test_installed_package_loads_installed_library(self):
        with tempfile.TemporaryDirectory() as tmp:
            prefix = os.path.join(tmp, "prefix")
            self.install(prefix)
            site = self.site(prefix)
            self.assertTrue(os.path.exists(os.path.join(site, "shmkit", "__init__.py")))
            env = {k: v for k, v in os.environ.items() if k not in ("SHMKIT_LIBRARY", "PYTHONPATH")}
            env["PYTHONPATH"] = site
            code = ("import shmkit\nprint(shmkit.library_path)\n"
                    "with shmkit.Segment('anon:', 4096, create=True) as s:\n"
                    "    s.buf[:2] = b'ok'; print(bytes(s.buf[:2]).decode())\n")
            out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp,
                                 capture_output=True, text=True)
            self.assertEqual(out.returncode, 0, out.stderr)
            lib, ok = out.stdout.split()
            self.assertTrue(lib.startswith(prefix), lib)
            self.assertEqual(ok, "ok")

    def test_destdir_staging(self):
        with tempfile.TemporaryDirectory() as tmp:
            self.install("/usr/local", destdir=tmp)
            site = self.site("/usr/local")
            staged = os.path.join(tmp, site.lstrip("/"), "shmkit")
            self.assertTrue(os.path.exists(os.path.join(staged, "queue.py")), staged)
            with open(os.path.join(staged, "_install.py")) as f:
                self.assertIn("LIBDIR = '/usr/local/", f.read())   # the final place, not tmp


if __name__ == "__main__":
    unittest.main()
