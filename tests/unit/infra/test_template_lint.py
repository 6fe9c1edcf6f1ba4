"""infra/lint.py: the template checkers' findings against infra/lint-skips.yaml (make lint runs the real tools)."""

from __future__ import annotations

from infra import lint

QUEUE = lint.Finding("checkov", "CKV_AWS_27", "PaymentsQueue", "infra/template.yaml", "SQS encrypted")
DLQ = lint.Finding("cfn-lint", "ES6000", "PaymentsDeadLetterQueue", "infra/template.yaml", "no RedrivePolicy")
REASON = "a reason long enough to say why"


def test_accepted_findings_pass_and_anything_else_fails():
    skips = [{"tool": "checkov", "check": "CKV_AWS_27", "resources": ["*"], "reason": REASON},
             {"tool": "cfn-lint", "check": "ES6000", "resources": ["PaymentsDeadLetterQueue"], "reason": REASON}]
    assert lint.problems([QUEUE, DLQ], skips) == []
    other = lint.Finding("cfn-lint", "ES6000", "PaymentsQueue", "infra/template.yaml", "no RedrivePolicy")
    assert lint.problems([QUEUE, DLQ, other], skips) == [f"unexpected: {other}"]  # named resources only


def test_an_entry_without_a_reason_or_matching_nothing_fails():
    skips = [{"tool": "checkov", "check": "CKV_AWS_27", "resources": ["*"], "reason": "because"},
             {"tool": "checkov", "check": "CKV_AWS_999", "resources": ["*"], "reason": REASON},
             {"tool": "cfn-lint", "check": "ES6000", "resources": ["PaymentsDeadLetterQueue", "Gone"],
              "reason": REASON}]
    assert lint.problems([QUEUE, DLQ], skips) == [
        "infra/lint-skips.yaml: checkov CKV_AWS_27 has no reason",
        "infra/lint-skips.yaml: checkov CKV_AWS_999 matches no finding any more: remove it",
        "infra/lint-skips.yaml: cfn-lint ES6000 lists Gone, which has no such finding",
    ]


def test_every_entry_of_the_skip_file_names_its_tool_check_resources_and_reason():
    skips = lint.load_skips()
    assert skips
    for skip in skips:
        assert skip["tool"] in ("checkov", "cfn-lint") and skip["check"] and skip["resources"], skip
        assert len(skip["reason"].split()) >= 15, skip["check"]
