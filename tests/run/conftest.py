from tests.storage.conftest import oci_config  # noqa: F401 - the same throwaway key and config
