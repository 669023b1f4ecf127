#!/usr/bin/python3
"""The layering check passes on this tree and catches a lower layer reaching up."""
import pathlib
import subprocess
import sys
import tempfile
import unittest

HERE = pathlib.Path(__file__).resolve().parent
CHECK = HERE / "check_layering.py"
LAYERS = ("base", "capture", "proxy", "sink", "cli")


def run_check(root):
    return subprocess.run([sys.executable, str(CHECK), str(root)], capture_output=True, text=True)


def make_tree(root, sources, cmake):
    for layer in LAYERS:
        (root / layer).mkdir()
        (root / layer / "CMakeLists.txt").write_text(cmake.get(layer, ""))
    for path, text in sources.items():
        (root / path).write_text(text)


class LayeringTest(unittest.TestCase):
    def test_this_tree_respects_its_layers(self):
        result = run_check(HERE.parent)
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_an_include_from_a_higher_layer_fails(self):
        with tempfile.TemporaryDirectory() as temp:
            root = pathlib.Path(temp)
            make_tree(root, {"base/log.cpp": '#include "capture/record.h"\n',
                             "sink/spool.cpp": '#include "proxy/session.h"\n',
                             "cli/main.cpp": '#include "proxy/session.h"\n'}, {})
            result = run_check(root)
            self.assertEqual(result.returncode, 1)
            self.assertIn("base/log.cpp includes capture/", result.stderr)
            self.assertIn("sink/spool.cpp includes proxy/", result.stderr)
            self.assertNotIn("cli/main.cpp", result.stderr)

    def test_a_link_to_a_higher_layer_fails(self):
        with tempfile.TemporaryDirectory() as temp:
            root = pathlib.Path(temp)
            make_tree(root, {}, {
                "capture": "target_link_libraries(mcptap_capture PUBLIC mcptap_base mcptap_sink)\n",
                "cli": "target_link_libraries(mcptap_cli PUBLIC mcptap_proxy mcptap_sink)\n"})
            result = run_check(root)
            self.assertEqual(result.returncode, 1)
            self.assertIn("mcptap_capture links mcptap_sink", result.stderr)
            self.assertNotIn("mcptap_cli", result.stderr)


if __name__ == "__main__":
    unittest.main()
