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
        return Reply(
            200,
            {
                "secretId": OCID,
                "versionNumber": 1,
                "stages": ["CURRENT"],
                "secretBundleContent": {"contentType": "BASE64", "content": content},
            },
        )
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


def test_inside_a_job_run_the_resource_principal_signs(tmp_path, monkeypatch) -> None:
    """With OCI_RESOURCE_PRINCIPAL_VERSION set (as in a job run) no config file is read: requests
    are signed with the resource principal session token (keyId "ST$<token>")."""
    import time

    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "rp.pem"
    pem.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    now = int(time.time())
    token = jwt.encode(
        {"iat": now, "exp": now + 3600, "res_tenant": "ocid1.tenancy.oc1..t", "sub": "jobrun"}, key, algorithm="RS256"
    )
    for name, value in {
        "OCI_RESOURCE_PRINCIPAL_VERSION": "2.2",
        "OCI_RESOURCE_PRINCIPAL_RPST": token,
        "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM": str(pem),
        "OCI_RESOURCE_PRINCIPAL_REGION": "us-ashburn-1",
        "OCI_CONFIG_FILE": str(tmp_path / "no-config"),
    }.items():
        monkeypatch.setenv(name, value)
    with RecordingServer(vault) as server:
        assert resolve({"HF_TOKEN": OCID}, endpoint=server.url) == {"HF_TOKEN": TOKEN}
    assert f'keyId="ST${token}"' in server.requests[0].headers["authorization"]
