"""Entitlement and storage credential sources of the account plugin (hook registration)."""

from __future__ import annotations

from printmanager_account.entitlement import AccessTokenSource, ServiceSource, entitlement_sources
from printmanager_account.storage import account_storage_source
from printmanager_sync.storage_credentials import credential_source_registry


def test_register_entitlement_sources_gives_the_builtins_in_order() -> None:
    assert list(entitlement_sources().items()) == [("service", ServiceSource), ("access-token", AccessTokenSource)]


def test_register_storage_credential_sources_gives_the_account_source() -> None:
    assert credential_source_registry().get("account") is account_storage_source
