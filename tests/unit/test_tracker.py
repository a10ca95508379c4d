from __future__ import annotations

from dealwire.domain.tracker import build_tracker


def test_signed_over_signers_counts_only_signing_recipients_in_routing_order() -> None:
    view = build_tracker(
        {"status": "sent"},
        [
            {"recipient_id": "3", "recipient_type": "carboncopy", "status": "completed", "routing_order": 3},
            {"recipient_id": "2", "recipient_type": "signer", "status": "sent", "routing_order": 2},
            {"recipient_id": "1", "recipient_type": "signer", "status": "completed", "routing_order": 1},
            {"recipient_id": "4", "recipient_type": "inpersonsigner", "status": "signed", "routing_order": 2},
        ],
    )
    assert view.progress == "2/3 signed"
    assert [r["recipient_id"] for r in view.recipients] == ["1", "2", "4", "3"]


def test_one_recipient_seen_in_json_and_xml_counts_once_newest_state_winning() -> None:
    guid = "7c4e2b19-8d3a-4f6e-b1c5-9a0d2e3f4a5b"
    view = build_tracker(
        {"status": "completed"},
        [
            {
                "recipient_id": "1",
                "recipient_id_guid": guid,
                "status": "delivered",
                "order": "2024-01-01|030|a",
                "recipient_type": "signer",
                "routing_order": 1,
            },
            {
                "recipient_id": guid,
                "recipient_id_guid": guid,
                "status": "completed",
                "order": "2024-01-02|050|b",
                "recipient_type": "signer",
                "routing_order": 1,
            },
        ],
    )
    assert view.progress == "1/1 signed"
    assert view.recipients[0]["status"] == "completed"


def test_recipients_without_a_guid_are_kept_apart() -> None:
    view = build_tracker(
        {}, [{"recipient_id": "1", "status": "sent"}, {"recipient_id": "2", "status": "sent"}]
    )
    assert view.signers == 2
