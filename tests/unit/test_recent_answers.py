"""The templates' per-container cache: an answer is kept for its seconds, and only so many are kept."""

from __future__ import annotations

from dealwire.api.templates import Recent


def test_an_answer_is_kept_for_its_seconds_and_the_oldest_go_first() -> None:
    now = [0.0]
    kept: Recent[str] = Recent(60, 2, lambda: now[0])
    kept.put("a", "A")
    now[0] = 59.9
    assert kept.get("a") == "A"
    now[0] = 60
    assert kept.get("a") is None
    for key in ("a", "b", "c"):
        kept.put(key, key.upper())
    assert (kept.get("a"), kept.get("b"), kept.get("c")) == (None, "B", "C")
