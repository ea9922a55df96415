"""Every path through the chat page in a real browser (Debian's Chromium via Playwright), each with a reload in
the middle: a typed code, an uncertain product with candidates and a pick, a greeting, a Context7 failure, and
English mode. Each ends with no spinner left; screenshots are kept under var/screenshots."""

from __future__ import annotations

import re

import pytest

from tests.browser.test_chat_page import SCREENSHOTS, browser  # noqa: F401  (the module-scoped browser fixture)
from tests.conftest import side_stack
from tests.fakes.context7_server import FakeContext7Server

pytestmark = [pytest.mark.browser, pytest.mark.integration]

HANGUL = re.compile(r"[\uac00-\ud7a3]")
STREAMING = "() => { const a = document.querySelector('.answer'); return a && !a.hidden && " \
            "a.dataset.state === 'streaming' && a.querySelector('.answer-text').textContent.length > 3; }"


@pytest.fixture
def page_for(browser):  # noqa: F811
    contexts = []
    errors: list[str] = []

    def make(base_url: str, language: str = "ko"):
        context = browser.new_context(locale="ko-KR" if language == "ko" else "en-US")
        if language == "en":
            context.add_cookies([{"name": "django_language", "value": "en", "url": base_url}])
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(base_url + "/")
        page.wait_for_selector("#connection-state[data-state='open']", timeout=15_000)
        return page

    yield make
    for context in contexts:
        context.close()
    assert errors == [], "the page script failed"


def _send(page, text: str) -> None:
    page.fill("#chat-input", text)
    page.press("#chat-input", "Enter")


def _reload(page) -> None:
    page.reload()
    page.wait_for_selector("#connection-state[data-state='open']", timeout=15_000)


def _settled(page, count: int = 1) -> None:
    """Every message's answer complete and no preparation pending; then no spinner may be visible."""
    try:
        page.wait_for_function(
            f"() => document.querySelectorAll('.answer[data-state=complete]').length >= {count}", timeout=45_000
        )
    except Exception:
        print("messages when the wait ran out:", page.locator("#messages").inner_html())
        raise
    page.wait_for_function("() => !document.querySelector('.button-slot.pending')", timeout=45_000)
    visible_spinners = page.locator(".spinner").evaluate_all(
        "nodes => nodes.filter(n => n.offsetParent !== null).length"
    )
    assert visible_spinners == 0


def _detail_types(page) -> set[str]:
    links = page.locator(".button-slot:not(.candidate) a.detail-button")
    return {links.nth(i).get_attribute("data-button-type") for i in range(links.count())}


def test_a_typed_code_gets_three_buttons_and_a_reload_midway_shows_the_same(page_for, llm_stack, llm, hsk_table,
                                                                            transactional_db):
    llm.set(mode="stream", delay=0.12)
    page = page_for(llm_stack.base_url)
    _send(page, "8517.13 관세율 알려줘")
    page.wait_for_function(STREAMING, timeout=20_000)
    _reload(page)
    _settled(page)
    assert _detail_types(page) == {"HS_CODE", "REGULATION", "STATISTICS"}
    assert page.locator(".candidate").count() == 0
    assert "8517.13" in page.locator(".message .status").inner_text()
    assert page.locator(".message").count() == 1
    page.screenshot(path=str(SCREENSHOTS / "path-typed-code.png"), full_page=True)


def test_an_uncertain_product_offers_candidates_and_the_pick_leads_to_the_right_code(page_for, llm_stack, llm,
                                                                                    hsk_table, transactional_db):
    llm.set(mode="stream", delay=0.12)
    page = page_for(llm_stack.base_url)
    live_tab = page.context.new_page()  # a second tab of the same person, on the same conversation
    live_tab.goto(llm_stack.base_url + "/")
    live_tab.wait_for_selector("#connection-state[data-state='open']", timeout=15_000)
    _send(page, "냉동 삼겹살 수입하려면 어떤 규제가 있어?")
    page.wait_for_selector(".candidate", timeout=20_000)
    page.wait_for_function(STREAMING, timeout=20_000)
    _reload(page)  # candidates shown, the answer still streaming
    _settled(page)
    candidates = page.locator(".candidate")
    assert 1 <= candidates.count() <= 3
    right = page.locator(".candidate[data-hscode='0203.29']")
    assert right.count() == 1
    assert HANGUL.search(right.locator("a.detail-button").inner_text())  # its Korean name
    assert "신뢰도" in right.inner_text()
    follow_up = page.locator(".follow-up").inner_text()
    assert "재질" not in follow_up and "스테인리스" not in follow_up
    page.screenshot(path=str(SCREENSHOTS / "path-candidates.png"), full_page=True)

    # The live viewer in the second tab (never reloaded) sees exactly what the reloaded page shows.
    _settled(live_tab)
    assert live_tab.locator(".message").inner_text() == page.locator(".message").inner_text()

    right.locator("button.choose").click()  # 이 코드로 보기
    page.wait_for_function(
        "() => document.querySelectorAll('.button-slot.ready:not(.candidate)').length === 3", timeout=30_000
    )
    _settled(page)
    assert _detail_types(page) == {"HS_CODE", "REGULATION", "STATISTICS"}
    assert page.locator(".candidate").count() == 0
    assert "0203.29" in page.locator(".message .status").inner_text()

    page.click(".bookmark-action")  # 관심 품목에 추가
    page.wait_for_selector("#saved-codes li[data-code='0203.29']", timeout=15_000)
    assert page.locator(".bookmark-action").is_disabled()

    _reload(page)  # the pick and the saved item are stored: a reload shows the same
    _settled(page)
    assert _detail_types(page) == {"HS_CODE", "REGULATION", "STATISTICS"}
    assert page.locator(".candidate").count() == 0
    assert page.locator("#saved-codes li[data-code='0203.29']").count() == 1
    assert page.locator(".bookmark-action").is_disabled()
    page.screenshot(path=str(SCREENSHOTS / "path-candidate-picked.png"), full_page=True)
    page.click(".button-slot:not(.candidate) a.detail-button[data-button-type='HS_CODE']")
    page.wait_for_url("**/detail/hscode/0203.29/**")


def test_a_greeting_gets_a_how_to_without_buttons_or_spinner(page_for, llm_stack, llm, hsk_table, transactional_db):
    llm.set(mode="stream", delay=0.12)
    page = page_for(llm_stack.base_url)
    _send(page, "안녕하세요")
    page.wait_for_function(STREAMING, timeout=20_000)
    _reload(page)
    _settled(page)
    page.wait_for_selector(".notice-warn .suggestions li", timeout=20_000)
    assert page.locator(".buttons:not([hidden])").count() == 0
    assert page.locator(".spinner").count() == 0
    notice = page.locator(".notice").inner_text()
    assert "제품명" in notice and "재질" not in notice
    page.screenshot(path=str(SCREENSHOTS / "path-greeting.png"), full_page=True)


@pytest.fixture(scope="module")
def context7():
    with FakeContext7Server() as server:
        yield server


@pytest.fixture(scope="module")
def context7_stack(live_stack, context7, tmp_path_factory):
    with side_stack(tmp_path_factory, "browser-context7-stack", 9, CONTEXT7_API_URL=context7.url,
                    CONTEXT7_API_KEY="ctx7sk-test", CONTEXT7_LIBRARY_ID="/wco/hs-nomenclature-2022",
                    CONTEXT7_BUDGET_S="3", CONTEXT7_BREAKER_FAIL_MAX="1000", DETAIL_CACHE_TTL_S="0",
                    CONTEXT7_CACHE_ENABLED="0") as stack:
        yield stack


def test_a_context7_failure_shows_the_fallback_and_the_buttons_after_a_reload_while_it_waits(
    page_for, context7_stack, context7, hsk_table, transactional_db
):
    context7.reset()
    context7.set_fault("latency", delay=15)
    page = page_for(context7_stack.base_url)
    _send(page, "스마트폰 8517.13 수출 요건")
    page.wait_for_selector(".button-slot.pending", timeout=15_000)  # Context7 is being waited for
    _reload(page)
    page.wait_for_selector(".notice-warn", timeout=20_000)
    _settled(page)
    assert _detail_types(page) == {"HS_CODE", "REGULATION", "STATISTICS"}
    assert page.locator(".notice-warn").count() == 1
    page.screenshot(path=str(SCREENSHOTS / "path-context7-failure.png"), full_page=True)
    _reload(page)  # the fallback notice is stored state too
    _settled(page)
    assert page.locator(".notice-warn").count() == 1
    assert _detail_types(page) == {"HS_CODE", "REGULATION", "STATISTICS"}


def test_english_mode_shows_english_candidates_buttons_and_how_to(page_for, llm_stack, llm, hsk_table,
                                                                  transactional_db):
    llm.set(mode="stream", delay=0.12)
    page = page_for(llm_stack.base_url, "en")
    assert page.locator("html").get_attribute("lang") == "en"
    _send(page, "stainless steel bottle opener")
    page.wait_for_selector(".candidate", timeout=20_000)
    page.wait_for_function(STREAMING, timeout=20_000)
    _reload(page)
    _settled(page)
    right = page.locator(".candidate[data-hscode='8205.51']")
    assert right.count() == 1  # the right code, one click away
    for i in range(page.locator(".candidate").count()):
        assert not HANGUL.search(page.locator(".candidate").nth(i).inner_text())
    assert right.locator("button.choose").inner_text() == "View this code"
    follow_up = page.locator(".follow-up").inner_text()
    assert "frozen" not in follow_up.lower() and "chilled" not in follow_up.lower()
    right.locator("button.choose").click()
    page.wait_for_function(
        "() => document.querySelectorAll('.button-slot.ready:not(.candidate)').length === 3", timeout=30_000
    )
    _settled(page)
    assert not HANGUL.search(page.locator(".buttons").first.inner_text())
    assert "HS code details" in page.locator(".buttons").first.inner_text()

    _send(page, "hello")
    page.wait_for_selector(".notice-warn .suggestions li", timeout=30_000)
    _settled(page, count=2)
    assert not HANGUL.search(page.locator(".notice").nth(1).inner_text())
    _reload(page)
    _settled(page, count=2)
    assert not HANGUL.search(page.locator(".notice").nth(1).inner_text())
    assert page.locator(".notice-warn").count() == 1
    page.screenshot(path=str(SCREENSHOTS / "path-english.png"), full_page=True)
