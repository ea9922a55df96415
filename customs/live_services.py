"""The live KCS service clients of this deployment, built from the settings (one key per service).

A service whose key is unset has no client: nothing calls it, and the pages say it is not connected.
"""

from __future__ import annotations

import threading

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from kcs import live
from kcs import service_errors as codes
from kcs.client import KcsServiceClient, KcsServiceConfig
from resilience.config import BreakerConfig, CacheConfig, RetryConfig

_KEY_SETTINGS = {
    live.CCCT_GW: "KCS_CCCT_KEY",
    live.CCCT_UNIPASS: "KCS_API029_KEY",
    live.NITEMTRADE: "KCS_NITEMTRADE_KEY",
    live.FX_GW: "KCS_FX_KEY",
    live.TARIFF_UNIPASS: "KCS_API030_KEY",
}
# What each source is, for "출처" lines (Korean name as the portal publishes it).
SOURCE_NAMES = {
    live.CCCT_GW: "관세청_세관장확인대상물품(GW), 공공데이터포털 15101589",
    live.CCCT_UNIPASS: "관세청 UNI-PASS API029 세관장확인대상 법령코드 조회",
    live.NITEMTRADE: "관세청_품목별 국가별 수출입실적(GW), 공공데이터포털 15100475",
    live.FX_GW: "관세청_관세환율정보(GW), 공공데이터포털 15101230",
    live.TARIFF_UNIPASS: "관세청 UNI-PASS API030 관세율 기본 조회",
}
# What a person reads when a call fails: one message per error code, never the key or an operator command.
PERSON_MESSAGES = {
    codes.NOT_CONFIGURED: _("이 자료를 제공하는 관세청 서비스가 이 사이트에 연결되어 있지 않습니다."),
    codes.TIMEOUT: _("관세청 서비스가 제시간에 응답하지 않았습니다. 잠시 후 다시 시도해 주세요."),
    codes.NETWORK: _("관세청 서비스에 연결하지 못했습니다. 잠시 후 다시 시도해 주세요."),
    codes.UNIPASS_KEY_REFUSED: _(
        "관세청 UNI-PASS가 이 사이트의 인증키를 받지 않았습니다. 운영자에게 알려졌습니다."
    ),
    codes.UNIPASS_ERROR: _("관세청 UNI-PASS가 요청을 처리하지 못했습니다."),
    codes.GATEWAY_KEY_NOT_REGISTERED: _(
        "공공데이터포털이 이 사이트의 인증키를 받지 않았습니다. 운영자에게 알려졌습니다."
    ),
    codes.GATEWAY_QUOTA: _("공공데이터포털의 오늘 조회 한도를 모두 썼습니다. 내일 다시 시도해 주세요."),
    codes.GATEWAY_ERROR: _("공공데이터포털이 오류를 돌려주었습니다. 잠시 후 다시 시도해 주세요."),
    codes.PROVIDER_ERROR: _("관세청 서비스가 오류를 돌려주었습니다. 잠시 후 다시 시도해 주세요."),
    codes.SPAN_TOO_LONG: _("관세청 통계 서비스가 조회 기간을 받지 않았습니다(한 번에 12개월까지)."),
    codes.UNAVAILABLE: _(
        "관세청 서비스가 점검 중이거나 일시적으로 이용할 수 없습니다. 잠시 후 다시 시도해 주세요."
    ),
    codes.MALFORMED: _("관세청 서비스의 응답을 읽을 수 없었습니다. 잠시 후 다시 시도해 주세요."),
    codes.CHECKSUM_MISMATCH: _(
        "관세청 통계 응답이 총계와 맞지 않아(응답이 잘린 것으로 보입니다) 사용하지 않았습니다."
    ),
    codes.CIRCUIT_OPEN: _(
        "관세청 서비스가 최근 계속 실패해 잠시 호출을 멈췄습니다. 잠시 후 다시 시도해 주세요."
    ),
}

_lock = threading.Lock()
_clients: dict[tuple, KcsServiceClient] = {}


def person_message(code: str) -> str:
    return str(PERSON_MESSAGES.get(code, PERSON_MESSAGES[codes.UNAVAILABLE]))


def service_key(service: str) -> str:
    return getattr(settings, _KEY_SETTINGS[service], "") or ""


def service_configured(service: str) -> bool:
    return bool(service_key(service))


def requirements_service() -> str | None:
    """data.go.kr 15101589 when its key is set (better evidence, §11), else UNI-PASS API029, else None."""
    for service in (live.CCCT_GW, live.CCCT_UNIPASS):
        if service_configured(service):
            return service
    return None


def service_config(service: str) -> KcsServiceConfig:
    base = settings.KCS_DATA_GO_KR_URL if service in live.GATEWAY_SERVICES else settings.KCS_UNIPASS_URL
    return KcsServiceConfig(
        service=service,
        base_url=base,
        key=service_key(service),
        budget_s=settings.KCS_BUDGET_S,
        connect_timeout_s=settings.KCS_CONNECT_TIMEOUT_S,
        read_timeout_s=settings.KCS_READ_TIMEOUT_S,
        retry=RetryConfig(attempts=settings.KCS_RETRY_ATTEMPTS, wait_initial_s=0.2, wait_max_s=1.0),
        breaker=BreakerConfig(fail_max=settings.KCS_BREAKER_FAIL_MAX, reset_timeout_s=settings.KCS_BREAKER_RESET_S),
        cache=CacheConfig(ttl_s=settings.KCS_CACHE_TTL_S, empty_ttl_s=max(60, settings.KCS_CACHE_TTL_S // 4)),
        redis_url=settings.REDIS_URL,
        redis_prefix=settings.KCS_REDIS_PREFIX,
    )


def service_client(service: str) -> KcsServiceClient:
    """The process's client of `service` (rebuilt when its settings change, e.g. in tests)."""
    config = service_config(service)
    identity = (service, config.base_url, config.key, config.budget_s, config.read_timeout_s, config.redis_url,
                config.redis_prefix, config.retry, config.breaker, config.cache)
    with _lock:
        client = _clients.get(identity)
        if client is None:
            client = _clients[identity] = KcsServiceClient(config)
        return client
