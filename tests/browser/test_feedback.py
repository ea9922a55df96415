"""Answer feedback in a real browser (Debian's Chromium via Playwright) against the live stack: 👎 with a reason
under a finished answer, the state restored after a reload (in Korean, then in English), and a staff member finding
the message in the admin's review queue with the reason; pressing 👎 again withdraws the vote."""

from __future__ import annotations

import pytest

from conversations.models import AnswerFeedback, ChatMessage
from tests.browser.test_chat_page import SCREENSHOTS, browser  # noqa: F401  (the module-scoped browser fixture)

pytestmark = [pytest.mark.browser, pytest.mark.integration]

DOWN = ".feedback-vote[data-vote='down']"
UP = ".feedback-vote[data-vote='up']"


def _open(page) -> None:
    page.wait_for_selector("#connection-state[data-state='open']", timeout=20_000)


def test_a_down_vote_with_a_reason_survives_a_reload_and_reaches_the_review_queue(
    browser, live, hsk_table, transactional_db, django_user_model  # noqa: F811
):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(locale="ko-KR")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(live.base_url + "/")
        _open(page)
        page.fill("#chat-input", "8517.13 관세율 알려줘")
        page.press("#chat-input", "Enter")
        page.wait_for_selector(".answer[data-state='complete'] " + DOWN, timeout=60_000)

        group = page.locator(".feedback[role='group']")
        assert group.get_attribute("aria-label") == "이 답변이 도움이 되었나요?"
        assert page.locator(DOWN).get_attribute("aria-label") == "도움이 안 됐어요"
        assert page.locator(UP).get_attribute("aria-pressed") == "false"
        assert page.locator(DOWN).get_attribute("aria-pressed") == "false"
        assert page.locator(".feedback-reason").is_hidden()  # a reason is asked for once there is a vote

        page.click(DOWN)
        page.wait_for_selector(DOWN + "[aria-pressed='true']", timeout=15_000)
        assert page.locator(UP).get_attribute("aria-pressed") == "false"
        page.get_by_label("이유 (선택)").fill("관세율이 실제와 다릅니다")
        page.click(".feedback-send")
        page.wait_for_function(
            "() => document.querySelector('.feedback-status').textContent.includes('평가를 보냈습니다')",
            timeout=15_000)
        answer = ChatMessage.objects.get(role="assistant")
        stored = AnswerFeedback.objects.get(message=answer)
        assert (stored.vote, stored.reason) == ("down", "관세율이 실제와 다릅니다")
        page.screenshot(path=str(SCREENSHOTS / "feedback-down.png"), full_page=True)

        page.reload()
        _open(page)
        page.wait_for_selector(DOWN + "[aria-pressed='true']", timeout=20_000)
        assert page.locator(UP).get_attribute("aria-pressed") == "false"
        assert page.locator(".feedback-reason textarea").input_value() == "관세율이 실제와 다릅니다"
        assert page.locator(".feedback").count() == 1  # one answer, one set of buttons

        # English: the same stored state, in the other language.
        context.add_cookies([{"name": "django_language", "value": "en", "url": live.base_url}])
        page.reload()
        _open(page)
        page.wait_for_selector(DOWN + "[aria-pressed='true']", timeout=20_000)
        assert page.locator(DOWN).get_attribute("aria-label") == "Not helpful"
        assert page.locator(".feedback").get_attribute("aria-label") == "Was this answer helpful?"
        page.screenshot(path=str(SCREENSHOTS / "feedback-restored-en.png"), full_page=True)

        # Staff find it in the review queue, with the reason.
        django_user_model.objects.create_superuser("staff", "staff@example.com", "staff-password-123")
        staff = browser.new_context(locale="ko-KR").new_page()
        staff.goto(live.base_url + "/admin/login/")
        staff.fill("#id_username", "staff")
        staff.fill("#id_password", "staff-password-123")
        staff.click("input[type=submit]")
        staff.wait_for_url("**/admin/")
        staff.goto(live.base_url + "/admin/chat/chatmessage/")
        staff.click("#feedback-summary a")  # 검토 대기 (👎): 1
        staff.wait_for_url("**feedback=queue**")
        assert staff.locator("#feedback-summary [data-count='queue']").inner_text() == "1"
        rows = staff.locator("#result_list tbody tr")
        assert rows.count() == 1 and "8517.13 관세율 알려줘" in rows.first.inner_text()
        staff.screenshot(path=str(SCREENSHOTS / "feedback-review-queue.png"), full_page=True)
        rows.first.locator("th a").first.click()
        staff.wait_for_selector(".answer-feedback")
        assert "관세율이 실제와 다릅니다" in staff.locator(".answer-feedback").inner_text()
        staff.context.close()

        # Pressing the standing vote again withdraws it.
        page.click(DOWN)
        page.wait_for_selector(DOWN + "[aria-pressed='false']", timeout=15_000)
        assert page.locator(".feedback-reason").is_hidden()
        assert not AnswerFeedback.objects.exists()
    finally:
        context.close()
    assert errors == [], "the page script failed"
