from django.http import HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import ensure_csrf_cookie

from .api import request_owner
from .ratelimit import RateLimited
from .selectors import conversation_list_for_owner, recent_searches


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
    }


@ensure_csrf_cookie
def chat_page(request):
    try:
        owner = request_owner(request)
    except RateLimited as limited:
        return HttpResponse(limited.message, status=429, content_type="text/plain; charset=utf-8",
                            headers={"Retry-After": str(limited.wait)})
    conversations = list(conversation_list_for_owner(owner)[:20])
    context = {"conversations": conversations, "recent": recent_searches(owner), "chat_texts": _chat_texts()}
    return render(request, "chat/index.html", context)
