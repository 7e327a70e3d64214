"""`assay`: the command line made of AssayClient. Every failure is one line on stderr and a documented exit code."""

from __future__ import annotations

import argparse
import json
import os
import sys

from client import commands as cmd
from client import group_commands as groups
from client.api import AssayClient
from client.errors import AssayError
from client.follow import StoppedWatching

EXIT_CODES = """exit codes:
  0  success                      4  not found (or not yours)
  1  refused or failed request    5  the job failed
  2  bad command line             6  the job was cancelled
  3  not logged in / login failed 7  cannot reach the server
  130  interrupted (Ctrl-C); a job that was started keeps running"""

CODE_EXIT = {"UNAUTHENTICATED": cmd.EXIT_AUTH, "NOT_FOUND": cmd.EXIT_NOT_FOUND, "UNREACHABLE": cmd.EXIT_UNREACHABLE}
DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": " "}
JOB_STATUSES = ["QUEUED", "RUNNING", "NEEDS_INPUT", "SUCCEEDED", "FAILED", "CANCELLED"]
# Job kinds are not listed here: the server's JobKind enum is the list (it grows with each domain's declaration), and
# it refuses an unknown one with a typed error.
JOB_KIND_HELP = "a job kind (INGEST, PROFILE, TRAIN, EXPORT ...: the server's JobKind enum)"
DRIFT_METHODS = ["KS", "WASSERSTEIN", "CHI_SQUARE", "JENSEN_SHANNON", "PSI"]
WEBHOOK_EVENTS = ["JOB_FINISHED", "DRIFT_ALERT", "VALIDATION_FAILED", "PIPELINE_RUN_FINISHED", "MODEL_ALIAS_MOVED"]


def add_csv_arguments(p: argparse.ArgumentParser) -> None:
    """How `upload` and `import` read a file: the same CSV options as the API's."""
    p.add_argument("--name")
    p.add_argument(
        "--delimiter",
        type=lambda text: DELIMITER_NAMES.get(text.lower(), text),
        help="one character, or tab, comma, semicolon, pipe, space; detected when absent",
    )
    p.add_argument("--encoding")
    p.add_argument("--header", action=argparse.BooleanOptionalAction, default=None, help="whether row 1 is a header")
    p.add_argument("--na", action="append", metavar="TOKEN", help="a null token (repeatable); replaces the defaults")
    p.add_argument(
        "--bad-lines",
        type=str.upper,
        choices=["PAD", "SKIP", "FAIL"],
        help="lines with another field count than the header (server default PAD)",
    )
    p.add_argument("--sheet", help="the workbook sheet to read (default: the first)")


def build_parser() -> argparse.ArgumentParser:
    # --url and --json are accepted before or after the command; SUPPRESS keeps a sub-command's absent flag
    # from overwriting one given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url", default=argparse.SUPPRESS, help="server URL (default: $ASSAY_URL or http://127.0.0.1:8000)"
    )
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print results as JSON")
    parser = argparse.ArgumentParser(
        prog="assay",
        description="Command line client for an Assay server.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler, help_: str) -> argparse.ArgumentParser:
        sub_parser = sub.add_parser(name, parents=[common], help=help_, description=help_)
        sub_parser.set_defaults(handler=handler)
        return sub_parser

    def group(name: str, help_: str, description: str):
        """A command with actions of its own (`assay models alias ...`); returns the function adding an action."""
        group_parser = sub.add_parser(name, parents=[common], help=help_, description=description)
        actions = group_parser.add_subparsers(dest=f"{name}_command", required=True, metavar="ACTION")

        def action(action_name: str, handler, action_help: str) -> argparse.ArgumentParser:
            action_parser = actions.add_parser(action_name, parents=[common], help=action_help)
            action_parser.set_defaults(handler=handler)
            return action_parser

        return action

    for name in ("login", "register"):
        p = command(name, cmd.login, "log in" if name == "login" else "create an account and log in")
        p.add_argument("--email", required=True)
        p.add_argument("--password", help="default: $ASSAY_PASSWORD, else asked for")
    command("logout", cmd.logout, "forget this server's tokens")

    p = command(
        "upload",
        cmd.upload,
        "upload a data file (CSV, TSV, gzip, workbook, Parquet), follow its ingest, print the dataset",
    )
    p.add_argument("file")
    add_csv_arguments(p)
    p = command(
        "import",
        cmd.import_url,
        "have the server fetch an https:// data file (no upload through this "
        "machine), follow its ingest, print the dataset",
    )
    p.add_argument("file_url", metavar="URL")
    add_csv_arguments(p)

    p = command("datasets", cmd.datasets, "list your datasets, newest first")
    p.add_argument("--search")
    p.add_argument("--first", type=int, default=20)

    p = command("show", cmd.show, "a dataset's columns, types, nulls and alerts")
    p.add_argument("dataset")

    p = command("profile", cmd.profile, "profile a dataset and print the profile")
    p.add_argument("dataset")
    p.add_argument("--plots", action="store_true", help="also draw the PNG plots")
    p.add_argument("--bins", type=int)
    p.add_argument("--stored", action="store_true", help="print the stored profile without profiling again")

    p = command("train", cmd.train, "train a model, follow the job, print the leaderboard")
    p.add_argument("dataset")
    p.add_argument("--target", required=True)
    p.add_argument("--budget", type=float, metavar="SECONDS", help="time budget for comparing and tuning")
    p.add_argument(
        "--algorithm",
        action="append",
        type=str.upper,
        help="limit to these algorithms, e.g. RANDOM_FOREST (repeatable); default AUTO",
    )
    p.add_argument("--name")

    p = command("predict", cmd.predict, "predict every row of a CSV file; CSV with predictions on stdout")
    p.add_argument("model")
    p.add_argument("file")
    p.add_argument(
        "--explain",
        action="store_true",
        help="add each feature's contribution: contrib__<feature> and base_value columns (per class: "
        "contrib__<class>__<feature>, base_value__<class>), as predictDataset writes them",
    )

    p = command("analyze", cmd.analyze, "profile, pick a target (asking if unsure), train and report")
    p.add_argument("dataset")
    p.add_argument("--target")

    p = command("answer", cmd.answer, "answer the question of a job that needs input")
    p.add_argument("job")
    p.add_argument("answer")

    p = command("report", cmd.report, "write an HTML report and print its link")
    p.add_argument("dataset")
    p.add_argument("--model")
    p.add_argument("--open", action="store_true", help="open the report in a browser")

    p = command(
        "compare",
        cmd.compare,
        "compare two dataset versions: print the drift verdict, the drifted columns and the report's link",
    )
    p.add_argument("reference", metavar="REFERENCE", help="the dataset compared against (e.g. last month's)")
    p.add_argument("current", metavar="CURRENT")
    p.add_argument("--column", action="append", help="compare only these columns (repeatable); default: all common")
    p.add_argument("--method", type=str.upper, choices=DRIFT_METHODS, help="one drift test for every column")
    p.add_argument("--threshold", type=float, help="p-value or distance threshold for every column")
    p.add_argument("--open", action="store_true", help="open the report in a browser")

    p = command("jobs", cmd.jobs, "list your jobs, newest first")
    p.add_argument("--status", action="append", type=str.upper, choices=JOB_STATUSES)
    p.add_argument("--kind", action="append", type=str.upper, metavar="KIND", help=JOB_KIND_HELP)
    p.add_argument("--first", type=int, default=20)

    p = command("watch", cmd.watch, "follow a job's live log until it ends (Ctrl-C stops watching, not the job)")
    p.add_argument("job")

    p = command("cancel", cmd.cancel, "cancel a job")
    p.add_argument("job")

    models = group(
        "models",
        "the model registry: register, alias, history",
        "Serve models by name: register versions, move aliases, read who moved what",
    )
    p = models("register", groups.models_register, "register a READY model as the next version of NAME")
    p.add_argument("model", metavar="MODEL_ID")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--description")
    p.add_argument("--tag", action="append", help="repeatable; replaces the name's tags")
    p.add_argument(
        "--allow-signature-change",
        action="store_true",
        help="accept an input signature that differs from the previous version's (recorded)",
    )
    p.add_argument("--comment")
    p = models("alias", groups.models_alias, "point ALIAS of NAME at VERSION (e.g. champion)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("alias", metavar="ALIAS")
    p.add_argument("version", metavar="VERSION", type=int)
    p.add_argument("--comment")
    p = models("history", groups.models_history, "registrations and alias moves of NAME, newest first")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--first", type=int, default=20)

    checks = group(
        "checks",
        "check suites: suggest from a profile, save, run",
        "Draft data checks from a dataset's profile, save them as a suite, and validate datasets with it",
    )
    p = checks("suggest", groups.checks_suggest, "draft checks from DATASET's profile (profile it first)")
    p.add_argument("dataset", metavar="DATASET_ID")
    p.add_argument("-o", "--output", help="write the draft (JSON) to this file, to edit and `checks save`")
    p.add_argument("--save", metavar="NAME", help="save the draft as a suite named NAME at once")
    p = checks("save", groups.checks_save, "save the checks in FILE (JSON) as a suite for DATASET")
    p.add_argument("dataset", metavar="DATASET_ID")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--name", required=True)
    p = checks("run", groups.checks_run, "validate DATASET with SUITE; exit 1 if it fails")
    p.add_argument("dataset", metavar="DATASET_ID")
    p.add_argument("suite", metavar="SUITE_ID")

    hooks = group(
        "webhooks",
        "HTTPS endpoints told about events: list, create, delete, deliveries",
        "Signed JSON to your endpoints when jobs finish, pipeline "
        "runs end, drift is found, validation fails or an alias moves (docs/webhooks.md)",
    )
    p = hooks("list", groups.webhooks_list, "your webhooks, newest first")
    p.add_argument("--first", type=int, default=20)
    p = hooks("create", groups.webhooks_create, "register URL for one or more --event")
    p.add_argument("endpoint", metavar="URL")  # not `url`: that is the server's (--url)
    p.add_argument("--event", action="append", type=str.upper, required=True, choices=WEBHOOK_EVENTS)
    p.add_argument(
        "--job-kind", action="append", type=str.upper, metavar="KIND", help=f"narrow JOB_FINISHED to {JOB_KIND_HELP}"
    )
    p.add_argument(
        "--job-status",
        action="append",
        type=str.upper,
        choices=["SUCCEEDED", "FAILED", "CANCELLED"],
        help="narrow JOB_FINISHED",
    )
    p.add_argument("--secret", help="whsec_... (default: one is made and printed once)")
    p.add_argument("--description")
    p = hooks("delete", groups.webhooks_delete, "remove a webhook and its delivery log")
    p.add_argument("id", metavar="WEBHOOK_ID")
    p = hooks("deliveries", groups.webhooks_deliveries, "a webhook's delivery log, newest first")
    p.add_argument("id", metavar="WEBHOOK_ID")
    p.add_argument("--status", type=str.upper, choices=["PENDING", "DELIVERED", "FAILED"])
    p.add_argument("--first", type=int, default=20)

    p = command(
        "download",
        cmd.download,
        "download a dataset (csv, parquet), a model (joblib, skops, onnx), a report or a comparison's report",
    )
    p.add_argument("id")
    p.add_argument(
        "--format",
        type=str.lower,
        choices=["csv", "parquet", "joblib", "skops", "onnx", "html"],
        help="default: csv for a dataset, joblib for a model",
    )
    p.add_argument("-o", "--output", help="file to write (default: the name, in this directory)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.url, args.json = getattr(args, "url", None), getattr(args, "json", False)  # no set_defaults: the
    # parents' actions are shared objects, so a default set on the top parser would override the sub-command's
    try:
        return args.handler(args, AssayClient(args.url))
    except AssayError as error:
        return fail(args, error.code, str(error), CODE_EXIT.get(error.code, cmd.EXIT_ERROR), error.field)
    except cmd.JobEnded as ended:
        return fail(args, ended.job["status"], str(ended), cmd.JOB_EXIT[ended.job["status"]], job=ended.job)
    except StoppedWatching as stopped:
        print(f"\n{stopped}", file=sys.stderr)
        return cmd.EXIT_INTERRUPTED
    except KeyboardInterrupt:  # before any job started: an upload cut short is discarded by the server
        print("\nInterrupted; nothing was started.", file=sys.stderr)
        return cmd.EXIT_INTERRUPTED
    except BrokenPipeError:  # `assay predict ... | head`: the reader has had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return cmd.EXIT_OK
    except OSError as error:  # a file that cannot be read or written
        return fail(
            args,
            "INVALID_INPUT",
            f"{error.strerror}: {error.filename}" if error.filename else str(error),
            cmd.EXIT_ERROR,
        )
    except Exception as error:  # a bug of ours: still one line; ASSAY_DEBUG=1 shows the traceback
        if os.environ.get("ASSAY_DEBUG"):
            raise
        return fail(args, "INTERNAL", f"Unexpected error: {error!r}", cmd.EXIT_ERROR)


def fail(
    args: argparse.Namespace,
    code: str,
    message: str,
    exit_code: int,
    field: list[str] | None = None,
    job: dict | None = None,
) -> int:
    print(f"assay: {message} [{code}]", file=sys.stderr)
    if args.json:
        print(json.dumps({"error": {"code": code, "message": message, "field": field, "job": job}}))
    return exit_code


def run() -> None:
    sys.exit(main())
