"""What `GET /metrics` reports, in Prometheus' text format: requests, queue, batch, tokens/s, latency."""

from __future__ import annotations

import collections
import threading


class Metrics:
    """Counters kept by the HTTP side; the engine's own figures are read when rendering."""

    def __init__(self, keep: int = 2000):
        self._lock = threading.Lock()
        self.requests: collections.Counter = collections.Counter()  # (route, status) -> count
        self.latencies: collections.deque = collections.deque(maxlen=keep)  # seconds of recent successful requests
        self.rejected = 0  # refused because the queue was full

    def record(self, route: str, status: int, seconds: float | None = None) -> None:
        with self._lock:
            self.requests[(route, status)] += 1
            if seconds is not None and status < 400:
                self.latencies.append(seconds)

    def percentile(self, q: float) -> float:
        with self._lock:
            values = sorted(self.latencies)
        if not values:
            return 0.0
        return values[min(len(values) - 1, int(q * len(values)))]

    def render(self, engine) -> str:
        lines = [
            "# HELP sam_queue_length Requests waiting for room in the batch.",
            "# TYPE sam_queue_length gauge",
            f"sam_queue_length {engine.queued}",
            "# HELP sam_batch_size Windows decoding in the batch now.",
            "# TYPE sam_batch_size gauge",
            f"sam_batch_size {engine.batch_size}",
            "# HELP sam_max_batch_size The most windows in the batch (--max-batch).",
            "# TYPE sam_max_batch_size gauge",
            f"sam_max_batch_size {engine.max_batch}",
            "# HELP sam_generated_tokens_total Tokens generated since start.",
            "# TYPE sam_generated_tokens_total counter",
            f"sam_generated_tokens_total {engine.tokens_total}",
            "# HELP sam_decode_steps_total Decode steps of the batch since start.",
            "# TYPE sam_decode_steps_total counter",
            f"sam_decode_steps_total {engine.steps_total}",
            "# HELP sam_windows_admitted_total Audio windows encoded and prefilled into the batch since start.",
            "# TYPE sam_windows_admitted_total counter",
            f"sam_windows_admitted_total {engine.windows_admitted_total}",
            "# HELP sam_tokens_per_second Tokens generated a second over the last 10 s.",
            "# TYPE sam_tokens_per_second gauge",
            f"sam_tokens_per_second {engine.tokens_per_second():.3f}",
            "# HELP sam_rejected_total Requests refused because the queue was full.",
            "# TYPE sam_rejected_total counter",
            f"sam_rejected_total {self.rejected}",
            "# HELP sam_request_latency_seconds Latency of recent successful requests.",
            "# TYPE sam_request_latency_seconds summary",
        ]
        for q in (0.5, 0.9, 0.99):
            lines.append(f'sam_request_latency_seconds{{quantile="{q}"}} {self.percentile(q):.6f}')
        with self._lock:
            lines.append(f"sam_request_latency_seconds_count {len(self.latencies)}")
            lines += ["# HELP sam_requests_total Requests answered, by route and status.",
                      "# TYPE sam_requests_total counter"]
            for (route, status), n in sorted(self.requests.items()):
                lines.append(f'sam_requests_total{{route="{route}",status="{status}"}} {n}')
        return "\n".join(lines) + "\n"
