"""`mcptap ca init`: writes a usable local CA (ca.key 0600, ca.crt 0644, in a 0700 directory),
never overwrites or follows a link, and prints a configuration snippet naming the files."""
import json
import os
import re
import stat
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
BINARY = os.environ.get("MCPTAP_BIN") or os.path.join(HERE, "../../build/bin/mcptap")


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def openssl(*args):
    return subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=30)


class CaInitTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix="mcptap-ca-init-")
        self.addCleanup(self.dir.cleanup)

    def ca_init(self, out, *extra, umask=0o022):
        return subprocess.run([BINARY, "ca", "init", "--out", out, *extra], capture_output=True,
                              text=True, timeout=30, preexec_fn=lambda: os.umask(umask))

    def test_writes_a_ca_with_private_modes(self):
        out = os.path.join(self.dir.name, "new", "ca")
        # A restrictive umask must not take the certificate's read bits away.
        result = self.ca_init(out, umask=0o077)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stderr, "")
        key, cert = os.path.join(out, "ca.key"), os.path.join(out, "ca.crt")
        self.assertEqual(mode(out), 0o700)
        self.assertEqual(mode(os.path.dirname(out)), 0o700)
        self.assertEqual(mode(key), 0o600)
        self.assertEqual(mode(cert), 0o644)
        with open(key) as f:
            self.assertTrue(f.read().startswith("-----BEGIN PRIVATE KEY-----\n"))

        text = openssl("x509", "-in", cert, "-noout", "-text")
        self.assertEqual(text.returncode, 0, text.stderr)
        self.assertRegex(text.stdout, r"X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0")
        self.assertRegex(text.stdout,
                         r"X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign")
        self.assertIn("X509v3 Subject Key Identifier", text.stdout)
        self.assertIn("ASN1 OID: prime256v1", text.stdout)
        # Ten years by default: valid in 3649 days, not in 3651.
        self.assertEqual(openssl("x509", "-in", cert, "-noout",
                                 "-checkend", str(3649 * 86400)).returncode, 0)
        self.assertNotEqual(openssl("x509", "-in", cert, "-noout",
                                    "-checkend", str(3651 * 86400)).returncode, 0)
        # The key is the certificate's.
        cert_public = openssl("x509", "-in", cert, "-noout", "-pubkey").stdout
        key_public = openssl("pkey", "-in", key, "-pubout").stdout
        self.assertTrue(cert_public.startswith("-----BEGIN PUBLIC KEY-----"))
        self.assertEqual(cert_public, key_public)

        # The printed snippet is valid JSON naming both files, and the trust steps are there.
        line = next(l for l in result.stdout.splitlines() if '"listen_tls"' in l)
        snippet = json.loads("{" + line.strip() + "}")
        self.assertEqual(snippet, {"listen_tls": {"intercept": {"ca_cert_file": cert,
                                                                "ca_key_file": key}}})
        for step in ["update-ca-certificates", "NODE_EXTRA_CA_CERTS=" + cert, "SSL_CERT_FILE",
                     "REQUESTS_CA_BUNDLE", '"upstream": "original_dst"']:
            self.assertIn(step, result.stdout)

    def test_days_sets_the_validity(self):
        out = os.path.join(self.dir.name, "short")
        result = self.ca_init(out, "--days", "2")
        self.assertEqual(result.returncode, 0, result.stderr)
        cert = os.path.join(out, "ca.crt")
        self.assertEqual(openssl("x509", "-in", cert, "-noout", "-checkend", str(86400)).returncode,
                         0)
        self.assertNotEqual(openssl("x509", "-in", cert, "-noout",
                                    "-checkend", str(3 * 86400)).returncode, 0)
        result = self.ca_init(os.path.join(self.dir.name, "zero"), "--days", "0")
        self.assertEqual(result.returncode, 2)
        self.assertFalse(os.path.exists(os.path.join(self.dir.name, "zero")))

    def test_a_second_run_refuses_to_overwrite(self):
        out = os.path.join(self.dir.name, "ca")
        self.assertEqual(self.ca_init(out).returncode, 0)
        files = {name: open(os.path.join(out, name), "rb").read() for name in ["ca.key", "ca.crt"]}
        result = self.ca_init(out)
        self.assertEqual(result.returncode, 1)
        key = os.path.join(out, "ca.key")
        self.assertEqual(result.stderr.splitlines(),
                         [f"mcptap: ca init: {key} already exists; not overwriting it "
                          "(move it away or choose another --out)"])
        self.assertEqual(result.stdout, "")
        for name, content in files.items():
            with open(os.path.join(out, name), "rb") as f:
                self.assertEqual(f.read(), content, name)

    def test_an_existing_certificate_alone_is_not_overwritten(self):
        out = self.dir.name
        cert = os.path.join(out, "ca.crt")
        with open(cert, "w") as f:
            f.write("keep me\n")
        os.chmod(out, 0o755)
        result = self.ca_init(out)
        self.assertEqual(result.returncode, 1)
        self.assertEqual(len(result.stderr.splitlines()), 1)
        self.assertIn(f"{cert} already exists", result.stderr)
        self.assertFalse(os.path.exists(os.path.join(out, "ca.key")))
        with open(cert) as f:
            self.assertEqual(f.read(), "keep me\n")
        self.assertEqual(mode(out), 0o755)  # an existing directory is left as it was

    def test_a_link_in_place_of_the_key_is_not_followed(self):
        out = os.path.join(self.dir.name, "ca")
        os.mkdir(out, 0o700)
        target = os.path.join(self.dir.name, "elsewhere")
        os.symlink(target, os.path.join(out, "ca.key"))  # dangling: open would create target
        result = self.ca_init(out)
        self.assertEqual(result.returncode, 1)
        self.assertIn("ca.key already exists", result.stderr)
        self.assertFalse(os.path.exists(target))
        self.assertFalse(os.path.exists(os.path.join(out, "ca.crt")))

    def test_out_is_required_and_help_states_the_default(self):
        result = subprocess.run([BINARY, "ca", "init"], capture_output=True, text=True,
                                timeout=30)
        self.assertEqual(result.returncode, 2)
        self.assertIn("--out", result.stderr)
        help_text = subprocess.run([BINARY, "ca", "init", "--help"], capture_output=True,
                                   text=True, timeout=30).stdout
        self.assertIn("3650", help_text)
        usage = subprocess.run([BINARY, "--help"], capture_output=True, text=True,
                               timeout=30).stdout
        self.assertTrue(re.search(r"^  mcptap ca init --out DIR \[--days N\]$", usage,
                                  re.MULTILINE), usage)


if __name__ == "__main__":
    unittest.main(verbosity=2)
