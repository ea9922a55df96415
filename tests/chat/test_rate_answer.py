"""A rate question is answered, through the live stack, with the rates of the code's HSK lines."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from django.core.management import call_command

from conversations import contracts
from customs.models import TariffRate
from tests.support.kcs_files import sample_tariff_rows, write_tariff_xlsx
from tests.support.live import frames_until

pytestmark = [pytest.mark.integration, pytest.mark.asyncio]

DONE = {contracts.BUTTONS_COMPLETE, contracts.BUTTONS_ERROR, contracts.ANSWER_COMPLETE}


async def _answer(chat_client, text: str) -> str:
    conversation_id = chat_client.conversation_create()
    async with chat_client.connect(conversation_id) as ws:
        await ws.send(json.dumps({"type": "chat.message", "message": text}))
        frames = await frames_until(ws, DONE, count=2)
    return next(f["data"]["content"] for f in frames if f["event"] == contracts.ANSWER_COMPLETE)


@pytest.fixture
def rates_loaded(hsk_table, tmp_path):
    path = write_tariff_xlsx(tmp_path / "관세청_품목번호별 관세율표.xlsx", {"Sheet1": sample_tariff_rows()})
    call_command("import_tariff_rates", str(path), "--no-progress", verbosity=0)
    return path


async def test_korean_rate_question_lists_the_hsk_lines_rates_and_asks_which(chat_client, rates_loaded):
    answer = await _answer(chat_client, "0203.29 관세율 알려줘")

    assert "0203.29 아래 HSK 10단위 세번 2개의 관세율" in answer and " 기준):" in answer
    assert "- 0203.29-1000 삼겹살: 기본세율(A) 25%, WTO협정세율(C) 22.5%, FTA 최저 0%(" in answer
    assert "- 0203.29-9000 기타(삼겹살 외): 기본세율(A) 25%, WTO협정세율(C) 22.5%, FTA 최저 0%(" in answer
    assert "어느 세번에 해당하는 물품인지 알려 주시면" in answer
    assert "출처: 관세청 관세율표 (관세청_품목번호별 관세율표.xlsx)" in answer
    assert "분류 위치: 제02류 › 제0203호 › 소호 0203.29" in answer


async def test_english_duty_rate_question_on_one_line_names_the_lowest_fta(chat_client, rates_loaded):
    answer = await _answer(chat_client, "What is the duty rate for 8517.13?")

    assert "Tariff rates of 8517.13-0000 Smartphones (as of " in answer
    assert "basic rate (A) 8%, WTO rate (C) 0%, lowest FTA rate 0% (Korea–EU FTA rate (option 1) and 1 more)" in answer
    assert "2 FTA rates apply" in answer
    assert "Source: Korea Customs Service tariff schedule" in answer


async def test_without_a_rate_file_the_answer_says_so_and_points_to_the_portal(chat_client, hsk_table):
    answer = await _answer(chat_client, "8517.13 관세율 알려줘")

    assert "입력하신 코드 8517.13는 관세청 HSK에서 다음과 같습니다: 스마트폰" in answer
    assert "관세청 관세율표 파일이 이 서비스에 적재되어 있지 않아 세율을 안내할 수 없습니다." in answer
    assert "https://unipass.customs.go.kr/clip/index.do" in answer
    assert await database_sync_to_async(TariffRate.objects.count)() == 0
