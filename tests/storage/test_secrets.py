from __future__ import annotations

import base64
import io

import pytest

from launcher import log
from launcher.secrets import SecretsError, resolve
from tests.storage.fakes import RecordingServer, Reply, Request

TOKEN = "hf_SuperSecretValue123"
OCID = "ocid1.vaultsecret.oc1.iad.amaaaaaatoken"
OTHER = "ocid1.vaultsecret.oc1.iad.amaaaaaamissing"


def vault(req: Request) -> Reply:
    secret_id = req.path.rsplit("/", 1)[-1]
    if req.method == "GET" and req.path.startswith("/20190301/secretbundles/") and secret_id == OCID:
        content = base64.b64encode(TOKEN.encode()).decode()
        return Reply(200, {"secretId": OCID, "versionNumber": 1, "stages": ["CURRENT"],
                           "secretBundleContent": {"contentType": "BASE64", "content": content}})
    return Reply(404, {"code": "NotAuthorizedOrNotFound", "message": "no such secret"})


@pytest.fixture
def log_stream() -> io.StringIO:
    stream = io.StringIO()
    log.configure(stream=stream)
    yield stream
    log._stream = None  # back to stderr (configure() only ever sets a stream)


def test_resolve_reads_vault_and_never_logs_the_value(oci_config, monkeypatch, log_stream: io.StringIO) -> None:
    with RecordingServer(vault) as server:
        monkeypatch.setenv("OCI_SECRETS_ENDPOINT", server.url)
        values = resolve({"HF_TOKEN": OCID})
    assert values == {"HF_TOKEN": TOKEN}
    [request] = server.requests
    assert request.method == "GET" and request.path == f"/20190301/secretbundles/{OCID}" and request.signed
    log.event("oops", detail=f"token is {TOKEN}")  # even if some code tries to print it
    text = log_stream.getvalue()
    assert TOKEN not in text and "secret_resolved" in text and "HF_TOKEN" in text and "***" in text


def test_errors_name_variable_and_ocid_not_value(oci_config, monkeypatch) -> None:
    with RecordingServer(vault) as server:
        monkeypatch.setenv("OCI_SECRETS_ENDPOINT", server.url)
        with pytest.raises(SecretsError) as info:
            resolve({"HF_TOKEN": OCID, "WANDB_API_KEY": OTHER})
    message = str(info.value)
    assert "WANDB_API_KEY" in message and OTHER in message and "404" in message and TOKEN not in message


def test_nothing_to_resolve_needs_no_credentials(monkeypatch) -> None:
    monkeypatch.setenv("OCI_CONFIG_FILE", "/nonexistent")
    assert resolve({}) == {}
