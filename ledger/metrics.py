"""The service's Prometheus metrics, on prometheus_client: one registry for this process, with
the process and Python collectors, the counters and histograms the code updates, and gauges set
at scrape time from the database (ledger.http.routes.ops)."""

from __future__ import annotations

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)

# Latency buckets in seconds: from a cached replay (~1 ms) to a slow vendor (sync budget 3 s).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Registry:
    """The metrics, registered on their own registry (not the library's global one), so a
    second registry in one process (tests build many apps) never collides."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            self.registry.register(collector)
        on = {"registry": self.registry}
        self.appends = Counter("ledger_events_appended", "Events appended to the log", **on)
        self.requests = Histogram(
            "ledger_http_request_seconds",
            "HTTP request latency by route, method and status",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            **on,
        )
        self.webhook_rejections = Counter(
            "ledger_webhook_rejections",
            "Webhooks refused, by vendor and failed check (malformed_webhook: signed, unreadable)",
            ["vendor", "check"],
            **on,
        )
        self.webhook_refusals_unkept = Counter(
            "ledger_webhook_refusals_unkept",
            "Refused webhooks answered but not kept in the inbox: past the vendor's budget",
            ["vendor"],
            **on,
        )
        self.vendor_calls = Counter(
            "ledger_vendor_calls", "Vendor attempts by outcome", ["vendor", "outcome"], **on
        )
        self.webhooks = Counter(
            "ledger_webhooks",
            "Webhooks accepted, by vendor and outcome",
            ["vendor", "outcome"],
            **on,
        )
        self.worker_restarts = Counter(
            "ledger_worker_restarts", "Background workers restarted after a crash", ["worker"], **on
        )
        # Where each follower's lease is: 1 on the node holding it. A node that dies hands them
        # over within POLL_INTERVAL_S of its sessions closing (docs/operations.md, "Fleet").
        self.leases_held = Gauge(
            "ledger_lease_held", "Follower leases this node holds (1) or not (0)", ["lease"], **on
        )
        self.lease_acquisitions = Counter(
            "ledger_lease_acquisitions", "Follower leases taken by this node", ["lease"], **on
        )
        self.replica_lag_seconds = Gauge(
            "ledger_read_replica_lag_seconds",
            "How far READ_DATABASE_URL is behind the primary (-1: unknown or unreachable)",
            **on,
        )
        self.replica_serving = Gauge(
            "ledger_read_replica_serving", "1 while finance reads go to the replica", **on
        )
        self.finance_reads = Counter(
            "ledger_finance_reads", "Finance reads by the database serving them", ["source"], **on
        )
        self.projection_lag_events = Gauge(
            "ledger_projection_lag_events",
            "Events appended but not yet applied, per projection",
            ["projection"],
            **on,
        )
        self.projection_lag_seconds = Gauge(
            "ledger_projection_lag_seconds",
            "Age of the oldest event not yet applied, per projection",
            ["projection"],
            **on,
        )
        self.breaker_state = Gauge(
            "ledger_vendor_breaker_state",
            "Each vendor's circuit breaker: 1 for the state it is in, 0 for the others",
            ["vendor", "state"],
            **on,
        )
        self.pending_orders = Gauge(
            "ledger_orders_pending", "Orders not yet fulfilled, failed or refunded", **on
        )
        self.oldest_pending_seconds = Gauge(
            "ledger_oldest_pending_order_age_seconds",
            "Age of the oldest pending order (0 when none is pending)",
            **on,
        )

        self.webhook_deliveries = Counter(
            "ledger_webhook_deliveries",
            "Merchant webhook delivery attempts, by outcome (delivered, failed, given_up)",
            ["outcome"],
            **on,
        )
        self.webhook_queue_depth = Gauge(
            "ledger_webhook_queue_depth", "Merchant webhook deliveries not yet delivered", **on
        )
        self.webhook_oldest_undelivered_seconds = Gauge(
            "ledger_webhook_oldest_undelivered_seconds",
            "Age of the oldest undelivered merchant webhook event (0 when none waits)",
            **on,
        )

    def value(self, name: str, **labels: str) -> float:
        """One sample's current value (0 before its first), as a scrape would read it."""
        return self.registry.get_sample_value(name, labels) or 0.0


METRICS = Registry()
