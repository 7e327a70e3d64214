"""The argon2id cost is a setting; a hash keeps the cost it was made with, so changing it locks no one out."""

from argon2 import extract_parameters

from services import auth


def test_the_configured_cost_is_used_and_hashes_made_at_another_cost_still_verify():
    auth.configure_password_hashing(time_cost=3, memory_kib=65536)
    strong = auth.hash_password("correct horse battery")
    try:
        auth.configure_password_hashing(time_cost=1, memory_kib=32)
        cheap = auth.hash_password("correct horse battery")
        assert (extract_parameters(cheap).time_cost, extract_parameters(cheap).memory_cost) == (1, 32)
        assert (extract_parameters(strong).time_cost, extract_parameters(strong).memory_cost) == (3, 65536)
        assert auth.verify_password(strong, "correct horse battery")
        assert auth.verify_password(cheap, "correct horse battery")
        assert not auth.verify_password(strong, "wrong horse battery")
        # the unknown-email path verifies against a dummy made at the current cost, so it takes as long
        assert extract_parameters(auth._DUMMY_HASH).memory_cost == 32
    finally:
        auth.configure_password_hashing(time_cost=1, memory_kib=32)  # as the tests' settings have it
