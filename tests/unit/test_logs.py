"""Log redaction: secret keys at any depth, by pattern, and secret-looking values anywhere
(issue 13, finding 6)."""

from ledger.logs import redact

KEY = "gcl_0123456789abcdef_" + "A" * 43


def test_secret_keys_are_redacted_at_any_depth_and_in_any_case():
    line = redact(
        None,
        "info",
        {
            "event": "vendor call",
            "headers": {"Authorization": "Bearer abc", "X-Api-Key": "k", "Accept": "json"},
            "token": "t",
            "webhook_secret": "s",
            "body": [{"card": {"code": "1234"}, "status": "fulfilled"}],
            "error_code": "http_500",
        },
    )
    assert line["headers"] == {
        "Authorization": "[redacted]",
        "X-Api-Key": "[redacted]",
        "Accept": "json",
    }
    assert line["token"] == line["webhook_secret"] == "[redacted]"
    assert line["body"] == [{"card": "[redacted]", "status": "fulfilled"}]
    assert line["error_code"] == "http_500"  # a word that merely contains "code" stays


def test_secret_values_are_redacted_whatever_their_key():
    line = redact(None, "info", {"event": f"refused {KEY}", "note": "whsec_c2VjcmV0c2VjcmV0"})
    assert KEY not in line["event"] and line["event"] == "refused [redacted]"
    assert line["note"] == "[redacted]"


def test_a_deep_or_cyclic_structure_is_cut_short_not_followed_for_ever():
    nested: dict = {}
    nested["self"] = nested
    line = redact(None, "info", {"event": "x", "data": nested})
    depth, cursor = 0, line["data"]
    while isinstance(cursor, dict):
        cursor, depth = cursor["self"], depth + 1
    assert cursor == "[too deep]" and depth <= 10


def test_the_standard_librarys_loggers_print_json_lines_too(capsys):
    """aiohttp logs through `logging` (a handler's crash, the access log): those lines take the
    same processors as ours, redaction included, and are JSON on a pipe."""
    import json
    import logging

    import structlog

    from ledger.logs import configure_logging

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging("info", json=True)
    try:
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("aiohttp.server").exception("Error handling request")
        logging.getLogger("aiohttp.access").info("GET / 200")
    finally:
        root.handlers, root.level = saved[0], saved[1]
        structlog.reset_defaults()
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert [line["logger"] for line in lines] == ["aiohttp.server", "aiohttp.access"]
    assert "ValueError: boom" in lines[0]["exception"] and lines[0]["level"] == "error"
