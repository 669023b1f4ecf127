"""The README's plain build command and the scripts' (tests/run.sh, deploy/demo.sh, both
through deploy/configure.sh) share one build directory in either order: a directory keeps
the generator it was made with instead of stopping with "generator does not match"."""
import os
import shutil
import subprocess
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
QUICK = ["-DMCPTAP_BUILD_TESTS=OFF"]  # configuring is what is checked; tests add nothing to it


def readme_configure(build_dir):
    """The README's and the contract's command, with CMake's default generator."""
    return subprocess.run(["cmake", "-S", ROOT, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release",
                           *QUICK], capture_output=True, text=True, timeout=300)


def scripts_configure(build_dir):
    return subprocess.run([os.path.join(ROOT, "deploy", "configure.sh"), build_dir, *QUICK],
                          capture_output=True, text=True, timeout=300)


def generator_of(build_dir):
    with open(os.path.join(build_dir, "CMakeCache.txt")) as cache:
        for line in cache:
            if line.startswith("CMAKE_GENERATOR:"):
                return line.split("=", 1)[1].strip()
    return None


class BuildDirectoryTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="mcptap-build-dirs-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def test_readme_first_then_the_scripts(self):
        build = os.path.join(self.dir, "build")
        first = readme_configure(build)
        self.assertEqual(first.returncode, 0, first.stderr)
        default = generator_of(build)
        second = scripts_configure(build)
        self.assertEqual(second.returncode, 0, second.stderr)
        self.assertNotIn("does not match the generator", second.stderr)
        self.assertEqual(generator_of(build), default)

    def test_scripts_first_then_the_readme(self):
        build = os.path.join(self.dir, "build")
        first = scripts_configure(build)
        self.assertEqual(first.returncode, 0, first.stderr)
        self.assertEqual(generator_of(build), "Ninja")
        second = readme_configure(build)
        self.assertEqual(second.returncode, 0, second.stderr)
        self.assertEqual(generator_of(build), "Ninja")


if __name__ == "__main__":
    unittest.main(verbosity=2)
