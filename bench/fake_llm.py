"""The test suite's fake OpenAI-compatible LLM endpoint (tests/fakes/llm_server.py) as a process of its own, for the
bench's message mix: a long streamed answer of DELTAS words (one chunk each, DELAY seconds apart).

    python -m bench.fake_llm --deltas 50 --delay 0.025    # prints "READY http://127.0.0.1:<port>/v1"

A process of its own so the load generator's event loop does not serve the fake's streams.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from tests.fakes.llm_server import FakeLlmServer

# Words of a plausible grounded answer, repeated to the length asked for.
WORDS = ("스마트폰은 HS 8517.13에 분류되며 기본관세율은 0%입니다. 수출할 때는 전파법에 따른 적합성평가를 "
         "확인하고, 수입할 때는 세관장확인대상 여부와 원산지 표시 요건을 함께 점검해야 합니다. 자세한 통계와 "
         "규제는 아래 버튼에서 확인할 수 있습니다.").split()


def answer_text(deltas: int) -> str:
    return " ".join(WORDS[i % len(WORDS)] for i in range(deltas))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.fake_llm")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--deltas", type=int, default=50)
    parser.add_argument("--delay", type=float, default=0.025)
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with FakeLlmServer(args.port) as server:
        server.set(mode="stream", delay=args.delay, text=answer_text(args.deltas))
        print(f"READY {server.base_url}", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
