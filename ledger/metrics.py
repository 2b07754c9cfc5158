"""A small Prometheus text-format registry: counters, gauges and latency histograms.

Hand-rolled rather than a dependency: the service needs a handful of series and the text
format is stable and simple.
"""

from __future__ import annotations

from collections import defaultdict

# Latency buckets in seconds: from a cached replay (~1 ms) to a slow vendor (sync budget 3 s).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    if not pairs:
        return ""
    inner = ",".join(f'{k}="{v.replace(chr(92), "/").replace(chr(34), chr(39))}"' for k, v in pairs)
    return "{" + inner + "}"


class Counter:
    def __init__(self, name: str, help_text: str) -> None:
        self.name, self.help = name, help_text
        self.values: dict[tuple[tuple[str, str], ...], float] = defaultdict(float)

    def inc(self, amount: float = 1, **labels: str) -> None:
        self.values[tuple(sorted(labels.items()))] += amount

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        lines += [f"{self.name}{_labels(k)} {v:g}" for k, v in sorted(self.values.items())]
        return lines


class Histogram:
    def __init__(self, name: str, help_text: str, buckets: tuple[float, ...] = LATENCY_BUCKETS):
        self.name, self.help, self.buckets = name, help_text, buckets
        self.series: dict[tuple[tuple[str, str], ...], list[float]] = {}

    def observe(self, value: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        # counts per bucket, then +Inf count, then sum
        data = self.series.setdefault(key, [0.0] * (len(self.buckets) + 2))
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                data[i] += 1
        data[-2] += 1
        data[-1] += value

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        for key, data in sorted(self.series.items()):
            for bound, count in zip(self.buckets, data, strict=False):
                lines.append(f"{self.name}_bucket{_labels((*key, ('le', f'{bound:g}')))} {count:g}")
            lines.append(f"{self.name}_bucket{_labels((*key, ('le', '+Inf')))} {data[-2]:g}")
            lines.append(f"{self.name}_count{_labels(key)} {data[-2]:g}")
            lines.append(f"{self.name}_sum{_labels(key)} {data[-1]:g}")
        return lines


class Registry:
    def __init__(self) -> None:
        self.appends = Counter("ledger_events_appended_total", "Events appended to the log")
        self.requests = Histogram("ledger_http_request_seconds", "HTTP request latency by route")
        self.webhook_rejections = Counter(
            "ledger_webhook_rejections_total", "Webhooks refused, by vendor and failed check"
        )
        self.vendor_calls = Counter("ledger_vendor_calls_total", "Vendor attempts by outcome")
        self.webhooks = Counter("ledger_webhooks_total", "Webhooks accepted, by vendor and outcome")
        self.worker_restarts = Counter(
            "ledger_worker_restarts_total", "Background workers restarted after a crash"
        )

    def render(self, extra: list[str] | None = None) -> str:
        """The text exposition; `extra` carries gauges computed at scrape time (lag)."""
        lines: list[str] = []
        metrics = (self.appends, self.requests, self.webhooks, self.webhook_rejections)
        for metric in (*metrics, self.vendor_calls, self.worker_restarts):
            lines += metric.render()
        lines += extra or []
        return "\n".join(lines) + "\n"


def gauge_lines(
    name: str, help_text: str, samples: list[tuple[dict[str, str], float]]
) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
    for labels, value in samples:
        lines.append(f"{name}{_labels(tuple(sorted(labels.items())))} {value:g}")
    return lines


METRICS = Registry()
