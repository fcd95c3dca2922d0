"""Typed L1 bindings for the oracle/oci Terraform provider, generated from ``cdk/oci/schema/``.

Import the service module you need (``cdk.oci.core``, ``cdk.oci.datascience``, ...); this package
re-exports nothing so that importing one service does not load the others.
"""
