"""Test certificates made with the openssl CLI into a temporary directory: a test CA, a leaf
for localhost and 127.0.0.1, a leaf with the wrong name, a leaf from a CA nobody trusts, an
expired leaf, a client certificate for mutual TLS, and leaves with any names asked for.
Every key is EC P-256 and mode 0600, as mcptap requires of a key file."""
import os
import shutil
import ssl
import subprocess
import tempfile

OPENSSL = shutil.which("openssl") or "openssl"

CA_EXTENSIONS = ["-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign"]

# `openssl ca` is the one way to give a leaf explicit dates with OpenSSL 3.0 (`x509 -req`
# has no -startdate/-enddate, and -days -1 yields notAfter before notBefore).
CA_CONFIG = """\
[ ca ]
default_ca = test_ca
[ test_ca ]
dir = {db}
database = $dir/index.txt
serial = $dir/serial
new_certs_dir = $dir
default_md = sha256
policy = any_name
unique_subject = no
copy_extensions = none
[ any_name ]
commonName = supplied
"""


def openssl(*args, cwd):
    done = subprocess.run([OPENSSL, *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def extensions(sans, client=False):
    """An extension file's text: SAN, leaf constraints, and the EKU of the role."""
    lines = []
    if sans:
        lines.append("subjectAltName=" + ",".join(sans))
    lines += ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature",
              "extendedKeyUsage=" + ("clientAuth" if client else "serverAuth")]
    return "\n".join(lines) + "\n"


class Pki:
    """Certificates in `directory` (a fresh temporary one by default). Paths are absolute.

    ca_crt/ca_key          the test CA ("CN=mcptap test CA")
    other_ca_crt/_key      a second CA that nothing trusts
    leaf_crt/_key          CN=localhost, SAN DNS:localhost, IP:127.0.0.1, from the test CA
    wrong_name_crt/_key    CN=wrong.example, SAN DNS:wrong.example, from the test CA
    unknown_ca_crt/_key    CN=localhost, SAN as leaf, from the other CA
    expired_crt/_key       CN=localhost, SAN as leaf, from the test CA, valid only in 2020
    client_crt/_key        CN=test client, clientAuth, from the test CA
    """

    def __init__(self, directory=None):
        if directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="mcptap-pki-")
            directory = self._tmp.name
        else:
            self._tmp = None
            os.makedirs(directory, exist_ok=True)
        self.dir = os.path.abspath(directory)
        self.ca_crt, self.ca_key = self.make_ca("ca", "mcptap test CA")
        self.other_ca_crt, self.other_ca_key = self.make_ca("other-ca", "mcptap untrusted CA")
        local = ["DNS:localhost", "IP:127.0.0.1"]
        self.leaf_crt, self.leaf_key = self.issue("leaf", "localhost", local)
        self.wrong_name_crt, self.wrong_name_key = self.issue("wrong-name", "wrong.example",
                                                              ["DNS:wrong.example"])
        self.unknown_ca_crt, self.unknown_ca_key = self.issue("unknown-ca", "localhost", local,
                                                              ca="other-ca")
        self.expired_crt, self.expired_key = self.issue(
            "expired", "localhost", local, dates=("20200101000000Z", "20200102000000Z"))
        self.client_crt, self.client_key = self.issue("client", "test client", [], client=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def make_ca(self, stem, common_name):
        crt, key = self.path(stem + ".crt"), self.path(stem + ".key")
        openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=" + common_name,
                *CA_EXTENSIONS, cwd=self.dir)
        os.chmod(key, 0o600)
        return crt, key

    def issue(self, stem, common_name, sans, ca="ca", client=False, dates=None):
        """A leaf signed by the CA `ca` (a stem made by make_ca); returns (crt, key) paths.
        dates = (start, end) in openssl's YYYYMMDDHHMMSSZ gives it those bounds."""
        crt, key = self.path(stem + ".crt"), self.path(stem + ".key")
        csr, ext = self.path(stem + ".csr"), self.path(stem + ".ext")
        with open(ext, "w") as f:
            f.write(extensions(sans, client))
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", key, "-out", csr, "-subj", "/CN=" + common_name, cwd=self.dir)
        os.chmod(key, 0o600)
        ca_crt, ca_key = self.path(ca + ".crt"), self.path(ca + ".key")
        if dates is None:
            openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
                    "-CAcreateserial", "-CAserial", self.path(ca + ".srl"), "-days", "1",
                    "-extfile", ext, "-out", crt, cwd=self.dir)
        else:
            db = self.path(ca + "-db")
            os.makedirs(db, exist_ok=True)
            if not os.path.exists(os.path.join(db, "index.txt")):
                open(os.path.join(db, "index.txt"), "w").close()
                with open(os.path.join(db, "serial"), "w") as f:
                    f.write("1000\n")
            config = os.path.join(db, "ca.cnf")
            with open(config, "w") as f:
                f.write(CA_CONFIG.format(db=db))
            openssl("ca", "-batch", "-config", config, "-cert", ca_crt, "-keyfile", ca_key,
                    "-in", csr, "-extfile", ext, "-notext", "-startdate", dates[0],
                    "-enddate", dates[1], "-out", crt, cwd=self.dir)
        return crt, key

    def encrypted_key(self, key, stem="encrypted"):
        """`key` encrypted with a passphrase (AES-256), mode 0600."""
        out = self.path(stem + ".key")
        openssl("pkey", "-in", key, "-aes256", "-passout", "pass:mcptap-test", "-out", out,
                cwd=self.dir)
        os.chmod(out, 0o600)
        return out

    def copy(self, path, stem, mode=0o600):
        """A copy of `path` named stem (extension kept) with the given mode."""
        out = self.path(stem + os.path.splitext(path)[1])
        shutil.copyfile(path, out)
        os.chmod(out, mode)
        return out

    # --- Python ssl contexts for the peers ---------------------------------------------------

    def server_context(self, crt=None, key=None, client_ca=None):
        """A server context with the given leaf (the localhost one by default); with
        client_ca, clients must present a certificate it signed."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(crt or self.leaf_crt, key or self.leaf_key)
        if client_ca:
            context.load_verify_locations(client_ca)
            context.verify_mode = ssl.CERT_REQUIRED
        return context

    def client_context(self, cafile=None, cert=None, key=None):
        """A client context trusting only `cafile` (the test CA by default)."""
        context = ssl.create_default_context(cafile=cafile or self.ca_crt)
        if cert:
            context.load_cert_chain(cert, key)
        return context

    def cleanup(self):
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()


def verify(ca, crt, name=None):
    """`openssl verify` of crt against ca (optionally for a host name): (ok, output)."""
    args = [OPENSSL, "verify", "-CAfile", ca]
    if name:
        args += ["-verify_hostname", name]
    done = subprocess.run(args + [crt], capture_output=True, text=True, timeout=30)
    return done.returncode == 0, (done.stdout + done.stderr).strip()


if __name__ == "__main__":
    # Self-check: each certificate verifies, or fails, as its name says.
    with Pki() as pki:
        for crt, ca, name, want in ((pki.leaf_crt, pki.ca_crt, "localhost", True),
                                    (pki.client_crt, pki.ca_crt, None, True),
                                    (pki.wrong_name_crt, pki.ca_crt, "localhost", False),
                                    (pki.unknown_ca_crt, pki.ca_crt, None, False),
                                    (pki.expired_crt, pki.ca_crt, None, False)):
            ok, text = verify(ca, crt, name)
            reason = [line for line in text.splitlines() if line.startswith("error ")][:1] or ["OK"]
            print(("ok  " if ok == want else "BAD ") + os.path.basename(crt) + ": " + reason[0])
