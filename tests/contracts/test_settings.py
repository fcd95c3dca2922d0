import pytest

from contract.settings import LauncherSettings, SettingsError

SECRET = "ocid1.vaultsecret.oc1.eu-frankfurt-1.amaaaaaaexample"


def test_env_round_trip_only_non_defaults():
    settings = LauncherSettings(output_uri="oci://out@ns/run1", cpu_procs_per_node=2, secrets={"HF_TOKEN": SECRET})
    env = settings.to_env()
    assert env == {
        "OCIFT_OUTPUT_URI": "oci://out@ns/run1",
        "OCIFT_CPU_PROCS_PER_NODE": "2",
        "OCIFT_SECRETS": f"HF_TOKEN={SECRET}",
    }
    assert LauncherSettings.from_env({**env, "PATH": "/bin"}) == settings


def test_bad_env_names_each_variable():
    with pytest.raises(SettingsError) as info:
        LauncherSettings.from_env({"OCIFT_RDZV_PORT": "0", "OCIFT_TYPO": "1", "OCIFT_CLUSTER_TIMEOUT_S": "soon"})
    text = str(info.value)
    assert "unknown setting OCIFT_TYPO" in text
    assert "OCIFT_RDZV_PORT" in text and "OCIFT_CLUSTER_TIMEOUT_S" in text


def test_secrets_must_be_vault_references_not_values():
    with pytest.raises(ValueError, match="HF_TOKEN: 'hf_abcdefgh' is not a vault secret OCID"):
        LauncherSettings(secrets={"HF_TOKEN": "hf_abcdefgh"})
