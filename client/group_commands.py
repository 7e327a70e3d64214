"""The commands with actions of their own: `assay models ...`, `assay checks ...`, `assay webhooks ...`.

Like client/commands.py's, one function per action: call the client, print, return the exit code."""

from __future__ import annotations

import json
import sys
from argparse import Namespace
from pathlib import Path

from client import render
from client.api import AssayClient
from client.commands import EXIT_ERROR, EXIT_OK, finish_job, output


def models_register(args: Namespace, client: AssayClient) -> int:
    payload = client.register_model(
        args.model,
        args.name,
        description=args.description,
        tags=args.tag,
        allowSignatureChange=args.allow_signature_change,
        comment=args.comment,
    )
    version = payload["version"]
    output(
        args,
        payload,
        f"Registered {version['reference']} (model {version['model']['id']})"
        + (" with a changed input signature" if version["allowSignatureChange"] else ""),
    )
    return EXIT_OK


def models_alias(args: Namespace, client: AssayClient) -> int:
    payload = client.set_model_alias(args.name, args.alias, args.version, args.comment)
    before = payload["event"]["fromVersion"]
    output(
        args,
        payload,
        f"{payload['alias']['reference']} -> version {payload['alias']['version']}"
        + (f" (was {before})" if before is not None else " (new alias)"),
    )
    return EXIT_OK


def models_history(args: Namespace, client: AssayClient) -> int:
    shown = client.model_history(args.name, first=args.first)
    events = [edge["node"] for edge in shown["history"]["edges"]]
    aliases = ", ".join(f"{a['alias']} -> {a['version']}" for a in shown["aliases"]) or "none"
    human = f"{shown['name']}: {shown['latestVersion']} version(s); aliases: {aliases}\n" + render.history_table(events)
    output(args, shown, human)
    return EXIT_OK


def _check_input(check: dict) -> dict:
    """A check as the server shows it, as createCheckSuite takes it: unset rules left out."""
    given = {key: value for key, value in check.items() if value is not None}
    if isinstance(given.get("drift"), dict):
        given["drift"] = {key: value for key, value in given["drift"].items() if value is not None}
    return given


def checks_suggest(args: Namespace, client: AssayClient) -> int:
    """Print (or write to --output) the draft checks, ready to edit; --save NAME saves them as a suite at once."""
    draft = client.suggest_checks(args.dataset)
    checks = [_check_input(check) for check in draft["checks"]]
    if args.save:
        suite = client.create_check_suite(args.dataset, args.save, checks)["suite"]
        output(args, suite, f"Saved suite {suite['id']} ({suite['name']}) with {len(suite['checks'])} check(s)")
        return EXIT_OK
    text = json.dumps(checks, indent=2)
    if args.output:
        Path(args.output).write_text(text + "\n")
        print(
            f"Wrote {len(checks)} suggested check(s) to {args.output}; edit them, then "
            f"`assay checks save {args.dataset} {args.output} --name NAME`",
            file=sys.stderr,
        )
        return EXIT_OK
    print(text)
    return EXIT_OK


def checks_save(args: Namespace, client: AssayClient) -> int:
    checks = json.loads(Path(args.file).read_text())
    suite = client.create_check_suite(args.dataset, args.name, checks)["suite"]
    output(args, suite, f"Saved suite {suite['id']} ({suite['name']}) with {len(suite['checks'])} check(s)")
    return EXIT_OK


def checks_run(args: Namespace, client: AssayClient) -> int:
    """Validate DATASET with SUITE, following the job's log; exit 1 when the verdict is FAILED (for scripts and CI)."""
    started = client.validate_dataset(args.dataset, args.suite)
    finish_job(args, client, started["job"])
    validation = client.validation(started["validation"]["id"])
    rows = (
        [
            r["column"] or "(table)",
            r["rule"],
            "pass" if r["passed"] else ("warn" if r["onFail"] == "WARN" else "FAIL"),
            render.number(r["observed"]) if not isinstance(r["observed"], (dict, list)) else json.dumps(r["observed"]),
            r["expected"],
            ", ".join(map(str, r["examples"])),
        ]
        for r in validation["results"]
    )
    human = (
        f"Validation {validation['id']}: {validation['status']} ({validation['failedCount']} of "
        f"{len(validation['results'])} check(s) failed)\n"
        + render.table(rows, ["column", "rule", "result", "observed", "expected", "examples"])
    )
    output(args, validation, human)
    return EXIT_OK if validation["passed"] else EXIT_ERROR


def webhooks_list(args: Namespace, client: AssayClient) -> int:
    shown = client.webhooks(first=args.first)
    output(args, shown, render.webhooks_table([edge["node"] for edge in shown["edges"]]))
    return EXIT_OK


def webhooks_create(args: Namespace, client: AssayClient) -> int:
    options = {
        key: value
        for key, value in {
            "secret": args.secret,
            "jobKinds": args.job_kind,
            "jobStatuses": args.job_status,
            "description": args.description,
        }.items()
        if value is not None
    }
    payload = client.create_webhook(args.endpoint, args.event, **options)
    human = f"Created webhook {payload['webhook']['id']} for {', '.join(payload['webhook']['events'])}"
    if payload["secret"]:
        human += f"\nSecret (shown once; verify deliveries with it): {payload['secret']}"
    output(args, payload, human)
    return EXIT_OK


def webhooks_delete(args: Namespace, client: AssayClient) -> int:
    payload = client.delete_webhook(args.id)
    output(args, payload, f"Deleted webhook {payload['webhook']['id']} ({payload['webhook']['url']})")
    return EXIT_OK


def webhooks_deliveries(args: Namespace, client: AssayClient) -> int:
    shown = client.webhook_deliveries(args.id, first=args.first, status=args.status)
    log = shown["deliveries"]
    output(
        args,
        shown,
        f"{shown['url']}: {log['totalCount']} delivery(ies)\n"
        + render.deliveries_table([edge["node"] for edge in log["edges"]]),
    )
    return EXIT_OK
