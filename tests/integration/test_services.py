"""devtools.services against real servers: whatever MySQL it resolves to, a private MariaDB
(which must start here, so no skipping) and AWS's DynamoDB Local."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

import boto3
import pymysql
import pytest

from devtools.services import MySQLConfig, dynamodb_local, free_port, mysql_server

REPO = Path(__file__).resolve().parents[2]
SONG = "아이유 🎵"


def connect(config: MySQLConfig, database: str | None = None) -> pymysql.Connection:
    return pymysql.connect(
        host=config.host,
        port=config.port,
        user=config.user,
        password=config.password,
        database=database,
        charset="utf8mb4",
        autocommit=True,
    )


def query(conn: pymysql.Connection, sql: str, *args) -> tuple:
    with conn.cursor() as cursor:
        cursor.execute(sql, args)
        return cursor.fetchall()


def database_exists(conn: pymysql.Connection, name: str) -> bool:
    return bool(
        query(conn, "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", name)
    )


def accepts_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def dynamodb(endpoint: str):
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="ap-northeast-2",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def round_trip_song(config: MySQLConfig) -> str:
    with connect(config, config.database) as conn:
        query(conn, "CREATE TABLE songs (title VARCHAR(100)) CHARACTER SET utf8mb4")
        query(conn, "INSERT INTO songs VALUES (%s)", SONG)
        return query(conn, "SELECT title FROM songs")[0][0]


def test_config_hides_the_password_and_gives_the_environment():
    config = MySQLConfig("db.example", 3307, "app", "s3cret-pw", "music", "env")
    assert "s3cret-pw" not in repr(config)
    assert config.env() == {
        "MYSQL_HOST": "db.example",
        "MYSQL_PORT": "3307",
        "MYSQL_USER": "app",
        "MYSQL_PASSWORD": "s3cret-pw",
        "MYSQL_DATABASE": "music",
    }


def test_mysql_server_gives_a_fresh_utf8mb4_database_and_drops_it():
    with mysql_server() as config:
        assert config.source in {"env", "local-3306", "private"}
        assert config.database.startswith(f"kakao_music_test_{os.getpid()}_")
        with connect(config) as conn:
            charset = query(
                conn,
                "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME "
                "FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s",
                config.database,
            )
        assert charset == (("utf8mb4", "utf8mb4_unicode_ci"),)
        assert round_trip_song(config) == SONG
    if config.source == "private":
        assert not accepts_connections(config.port)  # the server took the database with it
    else:
        with connect(config) as conn:
            assert not database_exists(conn, config.database)


def test_private_server_starts_serves_and_leaves_nothing_behind():
    with mysql_server("private_check", force_private=True) as config:
        assert config.source == "private"
        assert config.port != 3306
        assert round_trip_song(config) == SONG
        with connect(config) as conn:
            ((datadir, pid_file),) = query(conn, "SELECT @@datadir, @@pid_file")
        pid = int(Path(pid_file).read_text())
        assert Path(datadir).is_dir()
    assert not Path(datadir).exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not accepts_connections(config.port)


@pytest.mark.parametrize("problem", ["wrong password", "nothing listening"])
def test_named_server_that_fails_is_an_error_without_the_password(monkeypatch, problem):
    password = "not-the-password-7f3a"
    with mysql_server() as config:
        port = config.port if problem == "wrong password" else free_port()
        monkeypatch.setenv("MYSQL_HOST", config.host)
        monkeypatch.setenv("MYSQL_PORT", str(port))
        monkeypatch.setenv("MYSQL_USER", config.user)
        monkeypatch.setenv("MYSQL_PASSWORD", password)
        with pytest.raises(RuntimeError) as error, mysql_server():
            pass
    message = str(error.value)
    assert f"{config.user}@{config.host}:{port}" in message
    assert password not in message
    assert password not in str(error.value.__cause__)


def test_named_server_is_used(monkeypatch):
    with mysql_server() as config:
        for name, value in config.env().items():
            monkeypatch.setenv(name, value)
        with mysql_server("named") as named:
            assert (named.source, named.host, named.port) == ("env", config.host, config.port)
            assert named.database.startswith("named_")
            assert round_trip_song(named) == SONG


def test_dynamodb_local_serves_items_and_ttl_and_stops(monkeypatch):
    monkeypatch.delenv("DYNAMODB_LOCAL_ENDPOINT", raising=False)
    with dynamodb_local() as endpoint:
        client = dynamodb(endpoint)
        client.create_table(
            TableName="cache",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        item = {"pk": {"S": "artist#아이유"}, "title": {"S": SONG}, "expires": {"N": "2000000000"}}
        client.put_item(TableName="cache", Item=item)
        got = client.get_item(TableName="cache", Key={"pk": item["pk"]}, ConsistentRead=True)
        assert got["Item"] == item
        client.update_time_to_live(
            TableName="cache",
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"},
        )
        ttl = client.describe_time_to_live(TableName="cache")["TimeToLiveDescription"]
        assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}
    port = int(endpoint.rsplit(":", 1)[1])
    assert not accepts_connections(port)


def test_dynamodb_local_endpoint_from_the_environment_is_used_as_is(monkeypatch):
    monkeypatch.setenv("DYNAMODB_LOCAL_ENDPOINT", "http://dynamodb.example:8000")
    with dynamodb_local() as endpoint:
        assert endpoint == "http://dynamodb.example:8000"


def test_script_prints_the_environment_and_cleans_up_on_ctrl_c():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("DYNAMODB_LOCAL_ENDPOINT", None)
    script = subprocess.Popen(
        [sys.executable, "-m", "devtools.services"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        while not lines or lines[-1] != "# Ctrl-C stops both.":
            line = script.stdout.readline()
            assert line, f"the script ended early after {lines}"
            lines.append(line.rstrip("\n"))
        script.send_signal(signal.SIGINT)
        assert script.wait(timeout=30) == 0
    finally:
        script.kill()
        script.wait()
    exported = dict(
        shlex.split(line)[1].split("=", 1) for line in lines if line.startswith("export ")
    )
    source = re.search(r"MySQL: ([\w-]+)", lines[0]).group(1)
    assert not accepts_connections(int(exported["AWS_ENDPOINT_URL_DYNAMODB"].rsplit(":", 1)[1]))
    if source == "private":
        assert not accepts_connections(int(exported["MYSQL_PORT"]))
        return
    password = os.environ.get("MYSQL_PASSWORD", "") if source == "env" else ""
    server = MySQLConfig(
        exported["MYSQL_HOST"],
        int(exported["MYSQL_PORT"]),
        exported["MYSQL_USER"],
        password,
        "",
        "",
    )
    with connect(server) as conn:
        assert not database_exists(conn, exported["MYSQL_DATABASE"])
