"""Secrets Manager and SSM Parameter Store look-alikes on loopback, for the secret tests.

boto3 reaches it through AWS_ENDPOINT_URL_SECRETS_MANAGER / AWS_ENDPOINT_URL_SSM and speaks its
real wire protocol (JSON 1.1, signed requests) to it: GetSecretValue and GetParameter, with
AWS's error shapes. A SecureString read without WithDecryption returns ciphertext, as AWS
does. `hang_seconds` makes every answer slow, to test timeouts.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ACCOUNT = "123456789012"
REGION = "ap-northeast-2"


class AwsSecretsStub:
    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}  # name -> SecretString
        self.parameters: dict[str, str] = {}  # name -> SecureString value
        self.calls: list[str] = []  # X-Amz-Target of each request
        self.hang_seconds = 0.0
        self._server: ThreadingHTTPServer | None = None

    def secret_arn(self, name: str) -> str:
        return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-AbCdEf"

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> AwsSecretsStub:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> AwsSecretsStub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # The two operations: (status, body).
    def get_secret_value(self, request: dict) -> tuple[int, dict]:
        wanted = str(request.get("SecretId", ""))
        for name, value in self.secrets.items():
            if wanted in (name, self.secret_arn(name)):
                return 200, {
                    "ARN": self.secret_arn(name),
                    "Name": name,
                    "VersionId": "00000000-0000-0000-0000-000000000001",
                    "SecretString": value,
                    "VersionStages": ["AWSCURRENT"],
                    "CreatedDate": 1.7e9,
                }
        return 400, {
            "__type": "ResourceNotFoundException",
            "Message": "Secrets Manager can't find the specified secret.",
        }

    def get_parameter(self, request: dict) -> tuple[int, dict]:
        name = str(request.get("Name", ""))
        if name not in self.parameters:
            return 400, {"__type": "ParameterNotFound", "message": ""}
        value = self.parameters[name]
        if not request.get("WithDecryption"):
            value = base64.b64encode(b"\x01\x02\x03kms-ciphertext" + value.encode()[:8]).decode()
        return 200, {
            "Parameter": {
                "Name": name,
                "Type": "SecureString",
                "Value": value,
                "Version": 1,
                "ARN": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/{name.lstrip('/')}",
                "DataType": "text",
                "LastModifiedDate": 1.7e9,
            }
        }


def _handler_for(stub: AwsSecretsStub):
    operations = {
        "secretsmanager.GetSecretValue": stub.get_secret_value,
        "AmazonSSM.GetParameter": stub.get_parameter,
    }

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            target = self.headers.get("X-Amz-Target", "")
            stub.calls.append(target)
            length = int(self.headers.get("Content-Length") or 0)
            request = json.loads(self.rfile.read(length) or b"{}")
            if stub.hang_seconds:
                time.sleep(stub.hang_seconds)
            operation = operations.get(target)
            if "Authorization" not in self.headers:
                status, body = 400, {"__type": "MissingAuthenticationTokenException"}
            elif operation is None:
                status, body = 400, {"__type": "UnknownOperationException"}
            else:
                status, body = operation(request)
            payload = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:  # the client gave up waiting
                pass

        def log_message(self, *args):
            pass

    return Handler
