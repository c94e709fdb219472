"""MySQL over TLS (MYSQL_SSL_CA, MYSQL_ALLOW_PLAINTEXT) against a real MariaDB that takes TLS only.

The server is devtools.services.mysql_server_with_tls(): a private mariadbd with
require_secure_transport and a certificate for 127.0.0.1 and localhost from a throwaway CA.
Everything else (DynamoDB Local, the Spotify stub) comes from conftest's `env`; each test then
points MYSQL_* at the TLS server. The store is best effort, so every answer must stay valid
whatever MySQL does; what changes is whether the store took part and what the log says.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pymysql
import pytest

from devtools.containers import new_container
from devtools.local_gateway import LambdaContext
from devtools.services import make_ca, mysql_server_with_tls

from .conftest import ask, card_artist

UNAVAILABLE = "mysql unavailable, answering without it"


@pytest.fixture(scope="module")
def tls_mysql():
    """The TLS-only server with the skill's schema and the curated artists, as `init-db` and
    `load-artists` make them, through the skill's own (verified TLS) connection."""
    with mysql_server_with_tls() as config:
        skill = new_container()
        store = skill.ArtistStore(skill.Settings.from_env(config.env()))
        store.create_schema()
        counts = store.load_artists(list(skill.read_curated_file()))
        store.close()
        assert counts["artists_added"] > 0, counts
        yield config


@pytest.fixture
def tls_env(env, tls_mysql, monkeypatch):
    """conftest's layers, with MYSQL_* naming the TLS server and its CA."""
    for name, value in tls_mysql.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MYSQL_ALLOW_PLAINTEXT", raising=False)
    return tls_mysql


def log_lines(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line[:1] == "{"]


def ask_iu(capsys) -> tuple[object, list[dict]]:
    """Ask for 아이유 in a new container; it must be a valid answer about IU whatever MySQL
    does. Returns the container and the log lines of the request."""
    capsys.readouterr()
    container = new_container()
    status, body = ask(container, "아이유")
    assert status == 200
    assert card_artist(body) == "IU"
    container.skill_app().store.settled()  # the store's background notes are logged too
    return container, log_lines(capsys)


def unavailable(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["message"] == UNAVAILABLE]


def answered(lines: list[dict]) -> dict:
    (line,) = [line for line in lines if line["message"] == "skill answered"]
    return line


def mysql_check(container) -> dict:
    report = container.lambda_handler({"operator": "doctor"}, LambdaContext())
    (check,) = [check for check in report["checks"] if check["name"] == "mysql"]
    assert report["ok"] == all(c["ok"] for c in report["checks"])
    return check


def ssl_cipher(cursor) -> str:
    cursor.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
    return cursor.fetchone()[1]


def test_with_the_servers_ca_the_store_answers_over_verified_tls(tls_env, capsys):
    container, lines = ask_iu(capsys)
    assert unavailable(lines) == []
    summary = answered(lines)
    assert summary["layers"].get("name") == "mysql" or summary["mysql_calls"] > 0, summary
    # The server's own view of the container's connection: a TLS cipher, not plaintext.
    store = container.skill_app().store
    cipher = store.use("tls check", ssl_cipher, None, container.Trace(), None)
    assert cipher, f"the store's session has no TLS cipher: {cipher!r}"
    check = mysql_check(container)
    assert check["ok"], check
    assert "verified TLS" in check["detail"]


def test_a_ca_that_did_not_sign_the_server_is_refused_and_the_answer_goes_on(
    tls_env, monkeypatch, tmp_path, capsys
):
    monkeypatch.setenv("MYSQL_SSL_CA", str(make_ca(tmp_path, "stranger")))
    container, lines = ask_iu(capsys)
    (warning,) = unavailable(lines)
    assert warning["level"] == "WARNING"
    assert "certificate verify failed" in warning["detail"].lower(), warning
    check = mysql_check(container)
    assert not check["ok"], check
    assert "certificate verify failed" in check["detail"].lower(), check
    assert check["fix"] == container.TLS_FAILED


def test_plaintext_to_loopback_is_tried_and_the_tls_only_server_refuses_it(
    tls_env, monkeypatch, capsys
):
    monkeypatch.delenv("MYSQL_SSL_CA")
    monkeypatch.setenv("MYSQL_HOST", "localhost")  # loopback: the skill allows plaintext
    container, lines = ask_iu(capsys)
    (warning,) = unavailable(lines)
    assert warning["level"] == "WARNING"
    assert warning["error"] == "OperationalError", warning  # the server's answer, not ours
    assert answered(lines)["layers"].get("name") != "mysql"
    # MariaDB words require_secure_transport's refusal as "Access denied" (1045): the same
    # user and password over verified TLS to the same host name do get in.
    with (
        pymysql.connect(
            host="localhost",
            port=tls_env.port,
            user=tls_env.user,
            password=tls_env.password,
            ssl_ca=tls_env.ssl_ca,
            ssl_verify_identity=True,
        ) as conn,
        conn.cursor() as cursor,
    ):
        assert ssl_cipher(cursor)
    assert "1045" in warning["detail"], warning
    assert "server requires TLS" in mysql_check(container)["fix"]


def test_no_ca_and_a_network_host_is_refused_before_connecting(tls_env, monkeypatch, capsys):
    skill = new_container()
    monkeypatch.delenv("MYSQL_SSL_CA")
    monkeypatch.setenv("MYSQL_HOST", "db.internal.example")  # nothing listens there
    check = mysql_check(new_container())
    assert not check["ok"], check
    assert check["fix"] == skill.PLAINTEXT_REFUSED
    assert check["detail"].startswith("PlaintextRefused"), check
    assert check["ms"] < 500, check  # refused before any connection was tried
    container, lines = ask_iu(capsys)
    (warning,) = unavailable(lines)
    assert warning["error"] == "PlaintextRefused", warning

    monkeypatch.setenv("MYSQL_ALLOW_PLAINTEXT", "true")
    allowed = mysql_check(new_container())
    assert not allowed["ok"], allowed
    assert allowed["fix"] != skill.PLAINTEXT_REFUSED, allowed
    assert "Can't connect to MySQL server on 'db.internal.example'" in allowed["detail"], allowed


def test_the_tls_server_refuses_plaintext_and_leaves_nothing_behind():
    with mysql_server_with_tls("tls_check") as config:
        ca = Path(config.ssl_ca)
        assert ca.is_file() and config.database.startswith("tls_check_")
        assert config.env()["MYSQL_SSL_CA"] == str(ca)
        with pytest.raises(pymysql.OperationalError):
            pymysql.connect(host=config.host, port=config.port, user=config.user, ssl_disabled=True)
    assert not ca.parent.exists()
    with pytest.raises(OSError):
        socket.create_connection((config.host, config.port), timeout=1).close()
