"""The chat page in a real browser: Debian's Chromium driven by Playwright, against the live stack."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from conversations.models import ChatMessage

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


@pytest.fixture(scope="module")
def browser():
    import os

    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the ORM calls the test and its
    # fixtures make are still plain blocking calls, so Django's async guard does not apply.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed: apt-get install chromium (the CI script does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="ko-KR")
    page = context.new_page()
    yield page
    context.close()


def _answer_length(page) -> int:
    return page.evaluate("() => (document.querySelector('.answer-text') || {textContent: ''}).textContent.length")


def test_question_streams_an_answer_survives_a_reload_and_leads_to_the_hs_code_page(
    page, llm_stack, llm, transactional_db
):
    llm.set(mode="stream", delay=0.12)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(llm_stack.base_url + "/")
    page.wait_for_selector("#connection-state[data-state='open']", timeout=15_000)
    assert page.locator("html").get_attribute("lang") == "ko"

    page.fill("#chat-input", "아이폰 15 프로의 HS Code가 뭐야?")
    page.press("#chat-input", "Enter")

    # The answer grows: it is seen with some text, and later with more.
    page.wait_for_function("() => (document.querySelector('.answer-text')||{textContent:''}).textContent.length > 5",
                           timeout=15_000)
    first_length = _answer_length(page)
    page.wait_for_function(
        f"() => document.querySelector('.answer-text').textContent.length > {first_length}", timeout=15_000
    )
    page.screenshot(path=str(SCREENSHOTS / "chat-streaming.png"), full_page=True)

    page.reload()  # midway: the answer is still streaming
    page.wait_for_selector("#connection-state[data-state='open']", timeout=15_000)
    page.wait_for_selector(".answer[data-state='complete']", timeout=30_000)
    page.wait_for_selector("a.detail-button[data-button-type='STATISTICS']", timeout=30_000)
    links = page.locator("a.detail-button")
    assert links.count() == 3
    assert {links.nth(i).get_attribute("data-button-type") for i in range(3)} == {"HS_CODE", "REGULATION",
                                                                                   "STATISTICS"}

    stored = ChatMessage.objects.get(role="assistant")
    assert page.locator(".answer-text").inner_text().strip() == stored.content.strip()
    assert page.locator(".message").count() == 1  # nothing shown twice after the reload
    page.screenshot(path=str(SCREENSHOTS / "chat-complete.png"), full_page=True)

    page.click("a.detail-button[data-button-type='HS_CODE']")
    page.wait_for_url("**/detail/hscode/**")
    assert "8517.13" in page.locator("h1").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "hscode-detail.png"), full_page=True)


def test_hostile_text_is_shown_as_text_not_markup(page, llm_stack, llm, transactional_db):
    llm.set(mode="stream", delay=0.01)
    page.goto(llm_stack.base_url + "/")
    page.wait_for_selector("#connection-state[data-state='open']", timeout=15_000)
    hostile = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> 8517.13'
    page.fill("#chat-input", hostile)
    page.press("#chat-input", "Enter")
    page.wait_for_selector(".answer[data-state='complete']", timeout=30_000)
    assert page.evaluate("() => window.__pwned") is None
    assert hostile in page.locator(".message .content").first.inner_text()
    assert page.locator(".message img").count() == 0


@pytest.mark.parametrize("language", ["ko", "en"])
def test_detail_pages_render_in_korean_and_english(browser, live, transactional_db, language):
    context = browser.new_context(locale="ko-KR")
    if language == "en":
        context.add_cookies([{"name": "django_language", "value": "en", "url": live.base_url}])
    page = context.new_page()
    pages = {
        "hscode": ("/detail/hscode/8517.13/", {"ko": "분류 체계", "en": "classification"}),
        "regulation": ("/regulation?hscode=7208.51&country=ALL", {"ko": "규제", "en": "Regulation"}),
        "statistics": ("/statistics?hscode=8517.13", {"ko": "무역 통계", "en": "Trade statistics"}),
    }
    try:
        for name, (path, expected) in pages.items():
            response = page.goto(live.base_url + path)
            assert response.status == 200, path
            assert page.locator("html").get_attribute("lang") == language
            assert expected[language].lower() in page.locator("main").inner_text().lower(), (name, language)
            page.screenshot(path=str(SCREENSHOTS / f"{name}-{language}.png"), full_page=True)
    finally:
        context.close()


def test_hostile_text_in_messages_and_analyses_is_inert_in_the_admin(browser, live, transactional_db,
                                                                    django_user_model):
    from conversations.models import Conversation

    hostile = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
    django_user_model.objects.create_superuser("staff", "staff@example.com", "staff-password-123")
    conversation = Conversation.objects.create(owner_session_key="s" * 32, title=hostile)
    message = ChatMessage.objects.create(
        conversation=conversation, role="user", content=hostile, status="completed",
        hscode_analysis={"detected_hscode": "8517.13", "product_name": hostile, "classification_confidence": 0.9,
                         "detail_buttons": [], "analysis_source": "local", "fallback_used": False},
    )
    context = browser.new_context(locale="ko-KR")
    page = context.new_page()
    try:
        page.goto(live.base_url + "/admin/login/")
        page.fill("#id_username", "staff")
        page.fill("#id_password", "staff-password-123")
        page.click("input[type=submit]")
        for path in ["/admin/chat/chatmessage/", f"/admin/chat/chatmessage/{message.pk}/change/",
                     "/admin/chat/conversation/"]:
            response = page.goto(live.base_url + path)
            assert response.status == 200, path
            assert page.evaluate("() => window.__pwned") is None, path
            assert page.locator("#content img[src='x']").count() == 0, path
        assert "<script>" in page.locator("#content").inner_text()  # shown as text
        page.screenshot(path=str(SCREENSHOTS / "admin-message.png"), full_page=True)
    finally:
        context.close()
