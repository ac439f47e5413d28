"""Throughput of the Postmark and SendGrid adapters against local fakes, and the ceiling.

For each provider: start its fake (bench mode: counts recipients, keeps nothing), send one
realistic instalment (~40 KB HTML) to N readers through the adapter in max_batch batches on a
few threads, then post pre-built batch bodies (built before timing) with a bare httpx client
to the same fake. Prints messages/s for both, their ratio and peak RSS (of this process).

The fake runs in its own process, as a real provider would: in-process, its socket reads
would queue behind the client's threads for the GIL and measure that contention instead.

    python bench/bench_http.py --n 100000 --threads 4
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fakes.httpserver import FakeHandler, serve
from fakes.postmark import TOKEN, PostmarkHandler, PostmarkState
from fakes.sendgrid import API_KEY, SendgridHandler, SendgridState
from run import in_child
from seriespub.config import (
    DeliverySettings,
    PostmarkSettings,
    Secrets,
    SendgridSettings,
    SeriesSettings,
    Settings,
)
from seriespub.message import PreparedMessage
from seriespub.models import Recipient, Subscriber
from seriespub.providers import Provider, ProviderContext, make_provider
from seriespub.providers.base import Batch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from example import example_instalment


def realistic_message() -> PreparedMessage:
    """The repository's example instalment, rendered by the real pipeline (~12 KB HTML)."""
    return example_instalment()


def _settings(name: str, url: str) -> Settings:
    delivery = DeliverySettings(
        provider=name,
        timeout=120.0,
        postmark=PostmarkSettings(api_url=url, message_stream="outbound"),
        sendgrid=SendgridSettings(api_url=url),
    )
    return Settings(SeriesSettings("Bench", "Author <author@example.com>"), delivery)


def _provider(name: str, url: str) -> Provider:
    secrets = Secrets({"POSTMARK_SERVER_TOKEN": TOKEN, "SENDGRID_API_KEY": API_KEY})
    context = ProviderContext(_settings(name, url), secrets, Path("."))
    return make_provider(name, context)


def _batches(message: PreparedMessage, recipients: list[Recipient], size: int) -> list[Batch]:
    return [
        Batch(f"b{i}", message, recipients[i : i + size]) for i in range(0, len(recipients), size)
    ]


def _timed(threads: int, work: Callable[[Any], object], items: Sequence[Any]) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(work, items):
            pass
    return time.perf_counter() - start


def _postmark_body(message: PreparedMessage, batch: Batch) -> bytes:
    """The straightforward way: one dict per reader, one json.dumps (built before timing)."""
    return json.dumps(
        [
            {
                "From": message.from_header,
                "To": message.to_header(r),
                "Subject": message.subject,
                "HtmlBody": message.html_for(r),
                "TextBody": message.text_for(r),
                "MessageStream": "outbound",
                "Tag": "part-7",
                "Metadata": {"seriespub_delivery": r.delivery_id},
                "Headers": [
                    {"Name": k, "Value": v} for k, v in message.list_unsubscribe_headers(r)
                ],
            }
            for r in batch.recipients
        ]
    ).encode()


def _sendgrid_body(message: PreparedMessage, batch: Batch) -> bytes:
    """The straightforward way: content once, one dict per reader, one json.dumps."""
    import html

    def token(kind: str) -> Callable[[int], str]:
        return lambda i: f"-sp{i}{kind}-"

    def personalization(r: Recipient) -> dict[str, Any]:
        values = message.slot_values(r)
        subs = {f"-sp{i}h-": html.escape(v) for i, v in enumerate(values)}
        subs.update({f"-sp{i}t-": v for i, v in enumerate(values)})
        return {
            "to": [{"email": r.email, "name": r.name}],
            "substitutions": subs,
            "custom_args": {"seriespub_delivery": r.delivery_id},
            "headers": dict(message.list_unsubscribe_headers(r)),
        }

    return json.dumps(
        {
            "from": {"email": "blog@example.com", "name": "Impact4Health"},
            "subject": message.subject,
            "content": [
                {"type": "text/plain", "value": message.text.with_tokens(token("t"))},
                {"type": "text/html", "value": message.html.with_tokens(token("h"))},
            ],
            "personalizations": [personalization(r) for r in batch.recipients],
        }
    ).encode()


CASES: dict[
    str,
    tuple[
        type[FakeHandler],
        Callable[[], Any],
        dict[str, str],
        str,
        Callable[[PreparedMessage, Batch], bytes],
    ],
] = {
    "postmark": (
        PostmarkHandler,
        lambda: PostmarkState(bench=True),
        {"X-Postmark-Server-Token": TOKEN},
        "/email/batch",
        _postmark_body,
    ),
    "sendgrid": (
        SendgridHandler,
        lambda: SendgridState(bench=True),
        {"Authorization": f"Bearer {API_KEY}"},
        "/v3/mail/send",
        _sendgrid_body,
    ),
}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _fake_main(name: str, conn: Connection) -> None:
    """Child process: serve the fake; answer 'count' and 'stop' over the pipe."""
    handler, state_factory = CASES[name][0], CASES[name][1]
    with serve(handler, state_factory()) as (url, state):
        conn.send(url)
        while (command := conn.recv()) != "stop":
            conn.send(state.bench_count)
            if command == "reset":
                state.bench_count = 0


@contextmanager
def _fake(name: str) -> Iterator[tuple[str, Callable[[str], int]]]:
    """Run provider `name`'s fake in a child process; yields (url, ask)."""
    with in_child(_fake_main, name, join=5) as (url, ask):
        yield url, ask


def bench_one(
    name: str, message: PreparedMessage, recipients: list[Recipient], threads: int
) -> dict[str, Any]:
    """Adapter vs ceiling for one provider; both against the same fake."""
    _, _, auth, path, build = CASES[name]
    with _fake(name) as (url, ask):
        provider = _provider(name, url)
        batches = _batches(message, recipients, provider.max_batch)
        provider.send_batch(batches[0])  # warm: connection, stream lookup
        ask("reset")
        adapter = _timed(threads, provider.send_batch, batches)
        sent = ask("reset")
        assert sent == len(recipients), (sent, len(recipients))
        provider.close()
        bodies = [build(message, b) for b in batches[:threads]]
        headers = {**auth, "Content-Type": "application/json"}
        with httpx.Client(base_url=url, headers=headers, timeout=120.0) as client:
            client.post(path, content=bodies[0])
            ask("reset")

            def post(i: int) -> None:
                client.post(path, content=bodies[i % len(bodies)]).raise_for_status()

            ceiling = _timed(threads, post, range(len(batches)))
        ceiling_sent = ask("count")
    return {
        "provider": name,
        "messages": len(recipients),
        "batches": len(batches),
        "threads": threads,
        "adapter_msgs_per_s": len(recipients) / adapter,
        "ceiling_msgs_per_s": ceiling_sent / ceiling,
        "ratio": (len(recipients) / adapter) / (ceiling_sent / ceiling),
        "batch_body_mb": len(bodies[0]) / 1e6,
        "peak_rss_mb": _peak_rss_mb(),
    }


def run(
    n: int, threads: int = 8, providers: Sequence[str] = ("postmark", "sendgrid"), repeat: int = 3
) -> list[dict[str, Any]]:
    """Run the benchmark for `n` readers `repeat` times; per provider, the run with the
    median ratio (a shared 2-core machine swings ±15 % between runs)."""
    message = realistic_message()
    recipients = [
        message.recipient(Subscriber(f"reader{i:06d}@example.com", f"Reader {i}")) for i in range(n)
    ]
    rows = []
    for name in providers:
        runs = sorted(
            (bench_one(name, message, recipients, threads) for _ in range(repeat)),
            key=lambda row: row["ratio"],
        )
        row = runs[len(runs) // 2]
        row["ratios"] = [round(r["ratio"], 2) for r in runs]
        rows.append(row)
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="readers (default 100000)")
    parser.add_argument(
        "--threads",
        type=int,
        default=8,
        help="requests in flight (8: the Postmark and SendGrid default)",
    )
    parser.add_argument("--provider", action="append", choices=sorted(CASES))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    for row in run(args.n, args.threads, args.provider or ("postmark", "sendgrid"), args.repeat):
        print(
            f"{row['provider']:9} n={row['messages']} batches={row['batches']} "
            f"threads={row['threads']} body={row['batch_body_mb']:.1f} MB  "
            f"adapter {row['adapter_msgs_per_s']:,.0f} msg/s  "
            f"ceiling {row['ceiling_msgs_per_s']:,.0f} msg/s  "
            f"ratio {row['ratio']:.2f} (runs {row['ratios']})  "
            f"peak RSS {row['peak_rss_mb']:,.0f} MB"
        )


if __name__ == "__main__":
    main()
