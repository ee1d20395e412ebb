"""The account contract against a real Supabase project (marked ``live``; needs the internet).

Skipped unless SUPABASE_URL, SUPABASE_ANON_KEY, SUPABASE_TEST_EMAIL and SUPABASE_TEST_PASSWORD
are set (a test user with email + password sign-in enabled). Not run in CI. Run it with:

    SUPABASE_URL=https://xyz.supabase.co SUPABASE_ANON_KEY=... \
    SUPABASE_TEST_EMAIL=... SUPABASE_TEST_PASSWORD=... .venv/bin/python -m pytest -m live tests/test_account_live.py
"""

from __future__ import annotations

import os

import pytest

from printmanager_account import SignInFailed, SupabaseProvider

NEEDED = ("SUPABASE_URL", "SUPABASE_ANON_KEY", "SUPABASE_TEST_EMAIL", "SUPABASE_TEST_PASSWORD")

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not all(os.environ.get(n) for n in NEEDED),
                       reason="live Supabase test: set " + ", ".join(NEEDED)),
]


def test_password_refresh_logout_contract_against_a_real_project() -> None:
    provider = SupabaseProvider(os.environ["SUPABASE_URL"], os.environ["SUPABASE_ANON_KEY"])
    try:
        email = os.environ["SUPABASE_TEST_EMAIL"]
        tokens = provider.sign_in_password(email, os.environ["SUPABASE_TEST_PASSWORD"])
        assert tokens.claims["email"].lower() == email.lower()
        assert provider.user(tokens.access_token)["email"].lower() == email.lower()
        rotated = provider.refresh(tokens.refresh_token)
        assert rotated.refresh_token != tokens.refresh_token
        provider.sign_out(rotated.access_token, scope="local")
        with pytest.raises(SignInFailed):
            provider.refresh(rotated.refresh_token)  # revoked by the sign-out
        with pytest.raises(SignInFailed):
            provider.sign_in_password(email, "not the password")
    finally:
        provider.close()


def test_a_user_cannot_delete_themself_on_a_real_project() -> None:
    """What `privacy delete`'s default rests on (docs/account.md): GoTrue's admin delete refuses the
    anon key and the user's own access token; the test user is not deleted."""
    from printmanager_account import AccountError

    provider = SupabaseProvider(os.environ["SUPABASE_URL"], os.environ["SUPABASE_ANON_KEY"])
    try:
        email = os.environ["SUPABASE_TEST_EMAIL"]
        tokens = provider.sign_in_password(email, os.environ["SUPABASE_TEST_PASSWORD"])
        for key in (os.environ["SUPABASE_ANON_KEY"], tokens.access_token):
            with pytest.raises(AccountError, match="refused to delete"):
                provider.delete_user_as_admin(str(tokens.claims["sub"]), key)
        assert provider.user(tokens.access_token)["email"].lower() == email.lower()  # still there
        provider.sign_out(tokens.access_token, scope="local")
    finally:
        provider.close()
