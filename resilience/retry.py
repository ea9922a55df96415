"""The retry decision every client shares: stamina's backoff hook, bounded by attempts and the overall budget.

A retry is only scheduled when the longest possible backoff (or the server's Retry-After) plus `min_attempt_s`
still fits in what is left of the lookup's budget, so a lookup never overruns its budget by waiting.
"""

from __future__ import annotations

import logging

import stamina

from .config import RetryConfig

logger = logging.getLogger("resilience.retry")


def retry_decision(
    *,
    retry: RetryConfig,
    label: str,
    code: str,
    retryable: bool,
    retry_after: float | None,
    attempt: int,
    remaining_s: float,
    next_wait_upper_s: float,
) -> bool | float:
    """False (give up), True (exponential backoff) or the seconds to wait (the server's Retry-After)."""
    if not retryable:
        return False
    if attempt >= retry.attempts:
        logger.info("%s: %s after %d attempts, giving up", label, code, attempt)
        return False
    if retry_after is not None and retry.honour_retry_after:
        if retry_after + retry.min_attempt_s <= remaining_s:
            logger.info("%s: %s; retrying after Retry-After %.2f s (attempt %d)", label, code, retry_after, attempt + 1)
            return float(retry_after)
        logger.info(
            "%s: %s; Retry-After %.2f s exceeds the remaining budget %.2f s, giving up",
            label,
            code,
            retry_after,
            remaining_s,
        )
        return False
    if next_wait_upper_s + retry.min_attempt_s > remaining_s:
        logger.info(
            "%s: %s; backoff up to %.2f s does not fit the remaining budget %.2f s, giving up",
            label,
            code,
            next_wait_upper_s,
            remaining_s,
        )
        return False
    logger.info("%s: %s; retrying (attempt %d)", label, code, attempt + 1)
    return True


def retry_context(retry: RetryConfig, budget_s: float, on):  # stamina's iterator (sync and async)
    """stamina's retry loop with the shared backoff settings; `on` is the hook deciding each retry."""
    return stamina.retry_context(
        on=on,
        attempts=retry.attempts,
        timeout=budget_s or None,  # the hook enforces the budget; this is a backstop
        wait_initial=retry.wait_initial_s,
        wait_max=retry.wait_max_s,
        wait_jitter=retry.wait_jitter_s,
        wait_exp_base=retry.wait_exp_base,
    )
