from django.http import HttpResponse
from django.shortcuts import render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.csrf import ensure_csrf_cookie

from conversations import contracts
from conversations.selectors import bookmark_list, conversation_list_for_owner, recent_searches

from .api import request_owner
from .ratelimit import RateLimited


def _chat_texts() -> dict[str, str]:
    """Texts the page script shows, translated on the server (json_script keeps them safe)."""
    return {
        "connecting": _("연결 중…"),
        "connected": _("연결됨"),
        "reconnecting": _("연결이 끊어졌습니다. 다시 연결하는 중…"),
        "preparing": _("상세페이지 버튼 준비 중…"),
        "thinking": _("분석 중…"),
        "noHscode": _("HS 코드를 찾지 못했습니다."),
        "fallback": _("외부 문서 조회에 실패해 자체 분석 결과로 버튼을 만들었습니다."),
        "sendFailed": _("메시지를 보내지 못했습니다. 연결을 확인해 주세요."),
        "confidence": _("신뢰도"),
        "you": _("나"),
        "assistant": _("도우미"),
        "detected": _("감지된 HS 코드"),
        "suggestions": _("이렇게 해 보세요"),
        "stopped": _("(생성을 멈췄습니다)"),
        "candidate": _("후보"),
        "bookmark": _("관심 품목에 추가"),
        "bookmarked": _("관심 품목에 저장됨"),
        "chooseThis": _("이 코드로 보기"),
        "chosen": _("직접 고른 HS 코드"),
        "followUp": _("이것을 알려 주시면 코드를 정할 수 있습니다"),
        "feedbackQuestion": _("이 답변이 도움이 되었나요?"),
        "feedbackUp": _("도움이 됐어요"),
        "feedbackDown": _("도움이 안 됐어요"),
        "feedbackReason": _("이유 (선택)"),
        "feedbackReasonPlaceholder": _("좋았던 점이나 아쉬운 점을 알려 주세요"),
        "feedbackSend": _("이유 보내기"),
        "feedbackSaved": _("평가를 보냈습니다. 고맙습니다."),
        "feedbackWithdrawn": _("평가를 취소했습니다."),
        "lang": "en" if (get_language() or "ko").startswith("en") else "ko",
        "buttonTitles": {
            "HS_CODE": _("HS Code 상세정보"),
            "REGULATION": _("규제 정보 상세보기"),
            "STATISTICS": _("무역 통계 상세보기"),
        },
        "buttonDescriptions": {
            "HS_CODE": _("관세율, 규제정보 등 상세 조회"),
            "REGULATION": _("수출입 규제, 허가사항 등"),
            "STATISTICS": _("수출입 현황, 트렌드 분석"),
        },
    }


@ensure_csrf_cookie
def chat_page(request):
    try:
        owner = request_owner(request)
    except RateLimited as limited:
        return HttpResponse(limited.message, status=429, content_type="text/plain; charset=utf-8",
                            headers={"Retry-After": str(limited.wait)})
    conversations = list(conversation_list_for_owner(owner)[:20])
    context = {"conversations": conversations, "recent": recent_searches(owner), "chat_texts": _chat_texts(),
               "chat_contract": contracts.client_contract(), "bookmarks": bookmark_list(owner)}
    return render(request, "chat/index.html", context)
