"""The mcptap binary's start-up errors and help text: a mistake in the configuration or in a
PostgreSQL URL stops the command with one line naming it (exit 2, no password shown), and
--help points at a manual page that exists and lists every subcommand's options."""
import json
import os
import re
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
BINARY = os.environ.get("MCPTAP_BIN") or os.path.join(HERE, "../../build/bin/mcptap")
SOURCE_ROOT = os.path.normpath(os.path.join(HERE, "../.."))
PASSWORD = "hunter2-not-shown"
MESSAGE_ID = "0193e1c2-7a4b-7c3d-9e8f-0123456789ab"


def route(**overrides):
    return dict({"name": "a", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"}, **overrides)


class CliErrorsTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix="mcptap-cli-errors-")
        self.addCleanup(self.dir.cleanup)
        self.env = {k: v for k, v in os.environ.items() if k != "MCPTAP_PG_URL"}

    def config_file(self, document):
        path = os.path.join(self.dir.name, "mcptap.json")
        with open(path, "w") as f:
            json.dump(document, f)
        return path

    def mcptap(self, *args, env=None):
        return subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=30,
                              env=dict(self.env, **(env or {})))

    def assert_one_line(self, result, exit_code, line):
        """One line on stderr, exactly `line` after the "mcptap: " prefix, and the exit code."""
        self.assertEqual(result.returncode, exit_code, result.stderr)
        self.assertEqual(result.stderr.splitlines(), ["mcptap: " + line])
        self.assertNotIn(PASSWORD, result.stderr + result.stdout)

    def run_config(self, document, env=None):
        path = self.config_file(document)
        return path, self.mcptap("run", "--config", path, env=env)

    def test_typo_in_a_required_key_is_named_as_unknown(self):
        path, result = self.run_config({"routes": [{"name": "a", "listen": "127.0.0.1:0",
                                                    "upsteam": "127.0.0.1:3101"}]})
        self.assert_one_line(result, 2,
                             f'{path}: routes[0].upsteam: unknown key (did you mean "upstream"?)')
        path, result = self.run_config({"routes": [route()], "snk": {}})
        self.assert_one_line(result, 2, f'{path}: snk: unknown key (did you mean "sink"?)')
        path, result = self.run_config({"routes": [route()], "sink": {"spool-dir": "/x"}})
        self.assert_one_line(result, 2,
                             f'{path}: sink.spool-dir: unknown key (did you mean "spool_dir"?)')

    def test_unknown_key_comes_before_a_missing_one(self):
        path, result = self.run_config({"routes": [{"name": "a", "listen": "127.0.0.1:0"}],
                                        "retention": {"day": 3}})
        self.assert_one_line(result, 2,
                             f'{path}: retention.day: unknown key (did you mean "days"?)')
        path, result = self.run_config({"routes": [{"name": "a", "listen": "127.0.0.1:0"}]})
        self.assert_one_line(result, 2, f"{path}: routes[0].upstream: missing")

    def test_url_as_upstream_names_the_host_port(self):
        path, result = self.run_config({"routes": [route(upstream="http://127.0.0.1:3101/mcp")]})
        self.assert_one_line(
            result, 2, f'{path}: routes[0].upstream: "http://127.0.0.1:3101/mcp" is a URL; '
                       'upstream is host:port - did you mean "127.0.0.1:3101"?')
        path, result = self.run_config({"routes": [route(upstream="https://mcp.example.com/mcp")]})
        self.assertIn('did you mean "mcp.example.com:443"?', result.stderr)
        path, result = self.run_config({"routes": [route()],
                                        "admin": {"listen": "http://127.0.0.1:9901"}})
        self.assert_one_line(
            result, 2, f'{path}: admin.listen: "http://127.0.0.1:9901" is a URL; '
                       'listen is host:port - did you mean "127.0.0.1:9901"?')

    def test_malformed_postgres_url_in_the_configuration(self):
        bad = f"postgress://mcptap:{PASSWORD}@db/mcptap"
        path, result = self.run_config({"routes": [route()], "sink": {"postgres": bad}})
        self.assert_one_line(result, 2, f'{path}: sink.postgres: invalid PostgreSQL URL: unknown '
                                        'scheme "postgress://" (did you mean postgresql://?)')
        path, result = self.run_config({"routes": [route()], "sink": {
            "postgres": f"postgresql://mcptap:{PASSWORD}@[::1/mcptap"}})
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertTrue(result.stderr.startswith(f"mcptap: {path}: sink.postgres: invalid "),
                        result.stderr)
        self.assert_one_line(result, 2, result.stderr.strip()[len("mcptap: "):])
        # The environment overrides the file, and is named when it is the one at fault.
        path, result = self.run_config({"routes": [route()],
                                        "sink": {"postgres": "postgresql://db/mcptap"}},
                                       env={"MCPTAP_PG_URL": bad})
        self.assert_one_line(result, 2, 'MCPTAP_PG_URL: invalid PostgreSQL URL: unknown scheme '
                                        '"postgress://" (did you mean postgresql://?)')

    def test_malformed_postgres_url_of_the_database_commands(self):
        bad = f"postgress://mcptap:{PASSWORD}@db/mcptap"
        reason = 'invalid PostgreSQL URL: unknown scheme "postgress://" (did you mean postgresql://?)'
        commands = {
            "query": ["query", "--route", "a"],
            "query --trace": ["query", "--trace", MESSAGE_ID],
            "diff": ["diff", MESSAGE_ID, MESSAGE_ID],
            "migrate": ["migrate"],
        }
        for name, args in commands.items():
            with self.subTest(command=name):
                command = args[0]
                self.assert_one_line(self.mcptap(*args, "--pg", bad), 2,
                                     f"{command}: --pg: {reason}")
                self.assert_one_line(self.mcptap(*args, env={"MCPTAP_PG_URL": bad}), 2,
                                     f"{command}: MCPTAP_PG_URL: {reason}")
        # A DSN that libpq cannot parse: its reason, the password left out.
        result = self.mcptap("query", "--pg", f"host=db password={PASSWORD} dbname")
        self.assert_one_line(result, 2, 'query: --pg: invalid PostgreSQL DSN: missing "=" after '
                                        '"dbname" in connection info string')
        # migrate --config: the file's sink.postgres.
        path = self.config_file({"routes": [route()], "sink": {"postgres": bad}})
        self.assert_one_line(self.mcptap("migrate", "--config", path), 2,
                             f"{path}: sink.postgres: {reason}")

    def test_help_names_the_manual_in_the_source_tree(self):
        result = self.mcptap("--help")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("man ./deploy/mcptap.1", result.stdout)
        self.assertTrue(os.path.exists(os.path.join(SOURCE_ROOT, "deploy/mcptap.1")))

    def test_usage_lines_show_every_option_of_each_subcommand(self):
        footer = self.mcptap("--help").stdout
        usage = {}  # subcommand -> the text of its usage lines
        current = None
        for line in footer.splitlines():
            match = re.match(r"  mcptap (\w+)", line)
            if match:
                current = match.group(1)
                usage[current] = usage.get(current, "") + line + "\n"
            elif current and line.startswith("      "):
                usage[current] += line + "\n"
            else:
                current = None
        self.assertIn("--config FILE", usage["capture"])
        self.assertIn("--config FILE", usage["tail"])
        for subcommand in ["run", "stdio", "routes", "capture", "status", "tail", "query", "diff",
                           "migrate"]:
            with self.subTest(subcommand=subcommand):
                text = self.mcptap(subcommand, "--help").stdout
                options = set(re.findall(r"^\s+(?:-\w,\s*)?(--[\w-]+)", text, re.MULTILINE))
                options.discard("--help")
                self.assertTrue(options or subcommand == "version", text)
                for option in options:
                    self.assertIn(option, usage.get(subcommand, ""),
                                  f"mcptap {subcommand} --help lists {option}; its usage line "
                                  f"does not:\n{usage.get(subcommand)}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
