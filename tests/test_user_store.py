"""The user store taking changes from several threads at once (the portal redeems invitations
in worker threads): every user added is kept."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fieldrelay.users import UserStore
from tests.conftest import TEST_PASSWORD_COST
from tests.live import PASSWORD


def test_users_added_at_once_from_threads_are_all_kept(tmp_path: Path) -> None:
    store = UserStore(tmp_path, TEST_PASSWORD_COST, roles=("party",))
    names = [f"p{i}" for i in range(24)]
    with ThreadPoolExecutor(8) as pool:
        added = list(pool.map(lambda name: store.add(name, "party", PASSWORD), names))
    assert [u.name for u in added] == names
    assert [u.name for u in UserStore(tmp_path).all()] == sorted(names)
