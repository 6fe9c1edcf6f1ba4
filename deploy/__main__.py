"""`python -m deploy {deploy,destroy,package} --stage <stage>` (the Makefile's deploy targets);
`python -m deploy dlq ...` is `python -m deploy.dlq ...` (dead-letter queues, docs/operations.md)."""

from __future__ import annotations

import argparse
import sys

from deploy import dlq, flow, prerequisites


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["dlq"]:
        return dlq.main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m deploy", description=__doc__)
    parser.add_argument("command", choices=["deploy", "destroy", "package"])
    parser.add_argument("--stage", required=True, help="stage name, e.g. dev or prod (not local)")
    parser.add_argument("--sender-email", help="address emails are sent from (required to deploy): it or its"
                                               " domain must be a verified SES identity in the region")
    parser.add_argument("--confirm", help=f"destroy of a protected stage ({', '.join(sorted(flow.PROTECTED_STAGES))}):"
                                          " the typed confirmation 'destroy <stage>' (asked for when omitted)")
    args = parser.parse_args(argv)
    if args.stage == "local":
        parser.error("the local stage is the emulator's (make dev), not a deployable stage")
    if args.command == "deploy":
        try:
            flow.deploy(args.stage, sender_email=args.sender_email)
        except prerequisites.PrerequisiteError as missing:
            print(f"refused: {missing}", file=sys.stderr)
            return 2
    elif args.command == "destroy":
        confirmation = args.confirm
        if confirmation is None and flow.is_protected(args.stage) and sys.stdin.isatty():
            confirmation = input(f"Stage {args.stage} holds customers' data. Type "
                                 f"'{flow.destroy_confirmation(args.stage)}' to destroy it: ").strip()
        try:
            flow.destroy(args.stage, confirmation=confirmation)
        except flow.NotConfirmed as refused:
            print(f"refused: {refused}", file=sys.stderr)
            return 2
    else:
        flow.package(args.stage)
    return 0


if __name__ == "__main__":
    sys.exit(main())
