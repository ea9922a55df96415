"""`KCS_FAKE=1 make run`: the stack starts the fake KCS services and points every KCS_* setting at it."""

from __future__ import annotations

import httpx

from devtools.stack import kcs_fake_start, process_group_stop


def test_the_fake_starts_and_the_environment_points_at_it():
    env: dict[str, str] = {"PATH": "/usr/bin:/bin"}
    fake = kcs_fake_start(env)
    try:
        assert env["KCS_UNIPASS_URL"].startswith("http://127.0.0.1:")
        assert env["KCS_DATA_GO_KR_URL"] == env["KCS_UNIPASS_URL"] + "/1220000"
        answer = httpx.get(
            env["KCS_DATA_GO_KR_URL"] + "/retrieveCcctLworCd/getRetrieveCcctLworCd",
            params={"serviceKey": env["KCS_CCCT_KEY"], "hsSgn": "0203291000", "imexTpcd": "2"},
            timeout=5,
        )
        assert answer.status_code == 200 and "수입검역증명서" in answer.text
        assert all(env[name] for name in ("KCS_API029_KEY", "KCS_NITEMTRADE_KEY", "KCS_FX_KEY", "KCS_API030_KEY"))
    finally:
        process_group_stop(fake)
    assert fake.poll() is not None
