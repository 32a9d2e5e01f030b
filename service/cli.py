"""The `s2s` command: serve, convert, and client calls (translate, summarize, models).

Client commands talk to a running server (``--target host:port``) through `service.client`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
import types
import typing
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from service.client import DEFAULT_TARGET, ClientError, Connection, Seq2SeqClient
from service.types import DecodingOptions, GenerationResult, Segmentation, StreamEvent, Truncation


def _serve_parser(sub: Any) -> None:
    """`s2s serve` flags, one per setting (see `service.config`): the help text and default
    come from the field, the environment variable is ``S2S_<NAME>``."""
    from service.config import ENV_PREFIX, Settings

    p = sub.add_parser(
        "serve",
        help="run the gRPC server",
        description="Run the gRPC server. Every flag has an environment variable "
        f"{ENV_PREFIX}<NAME> (e.g. {ENV_PREFIX}PORT); flags win over the environment.",
    )
    klasses: list[Any] = [Settings, *Settings.sections().values()]
    for klass in klasses:
        hints = typing.get_type_hints(klass)
        for f in dataclasses.fields(klass):
            if "help" not in f.metadata:
                continue  # a nested section (limits, batching, ...), listed on its own
            kind = hints[f.name]
            if isinstance(kind, types.UnionType):  # an optional value: Path | None
                kind = next(a for a in typing.get_args(kind) if a is not type(None))
            flag = f.metadata.get("flag", "--" + f.name.replace("_", "-"))
            default = f.default if f.default is not dataclasses.MISSING else None
            shown = default
            helptext = f"{f.metadata['help']} (default {shown}; env {ENV_PREFIX}{f.name.upper()})"
            kwargs: dict[str, Any] = {"dest": f.name, "help": helptext, "default": None}
            if kind is bool:
                kwargs["action"] = argparse.BooleanOptionalAction
            elif typing.get_origin(kind) is typing.Literal:
                kwargs["choices"] = typing.get_args(kind)
            else:
                kwargs["type"] = kind
            p.add_argument(flag, **kwargs)


TOKEN_ENV = "S2S_TOKEN"


def _add_connection_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", default=DEFAULT_TARGET, help="server address host:port")
    p.add_argument("--tls", action="store_true", help="speak TLS (system roots unless --ca)")
    p.add_argument("--ca", type=Path, help="PEM CA for the server certificate (implies --tls)")
    p.add_argument("--cert", type=Path, help="PEM client certificate, for mutual TLS")
    p.add_argument("--key", type=Path, help="PEM key of --cert")
    p.add_argument("--server-name", help="name the server certificate must carry, if not the host")
    p.add_argument(
        "--token-file",
        type=Path,
        help=f"file holding a bearer token (or set {TOKEN_ENV}; never put a token in argv)",
    )


def _connection(args: argparse.Namespace) -> Connection:
    token = os.environ.get(TOKEN_ENV) or None
    if args.token_file is not None:
        token = args.token_file.read_text().strip()
    return Connection(
        tls=args.tls,
        ca=args.ca,
        cert=args.cert,
        key=args.key,
        token=token,
        server_name=args.server_name,
    )


def _add_client_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "texts",
        nargs="*",
        help="texts; if none, all of stdin is one text (a document: its layout is kept)",
    )
    p.add_argument(
        "--lines", action="store_true", help="with stdin: each non-empty line is its own text"
    )
    p.add_argument(
        "--stream", action="store_true", help="print each text's output as it is decoded"
    )
    _add_connection_args(p)
    p.add_argument("--model", help="model name (default: routed by task and languages)")
    p.add_argument("--timeout", type=float, default=60.0, help="deadline in seconds")
    p.add_argument("--beam", dest="beam_size", type=int, help="beam size (1 = greedy)")
    p.add_argument("--max-length", type=int, help="max output tokens")
    p.add_argument("--min-length", type=int, help="min output tokens")
    p.add_argument("--length-penalty", type=float)
    p.add_argument("--repetition-penalty", type=float)
    p.add_argument("--no-repeat-ngram-size", type=int)
    p.add_argument("--n-best", dest="num_hypotheses", type=int, help="hypotheses per text")
    p.add_argument("--temperature", dest="sampling_temperature", type=float)
    p.add_argument("--top-k", dest="sampling_top_k", type=int, help="sample from top k (1 = off)")
    p.add_argument("--top-p", dest="sampling_top_p", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument(
        "--scores",
        dest="return_scores",
        action="store_true",
        default=None,
        help="print hypothesis scores",
    )
    p.add_argument("--json", action="store_true", help="print the whole response as JSON")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="s2s", description="gRPC translation and summarisation service (seq2seq models)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)

    sub.add_parser(
        "convert",
        help="convert a checkpoint into a servable model dir (s2s convert --help)",
        add_help=False,
    )

    translate = sub.add_parser("translate", help="translate texts with a running server")
    translate.add_argument(
        "--from",
        dest="source",
        default="",
        help="source language (default: detected for each text)",
    )
    translate.add_argument("--to", dest="target_language", required=True, help="target language")
    translate.add_argument(
        "--segmentation",
        choices=[m.value for m in Segmentation],
        help="auto: translate sentence by sentence, keeping the layout; none: send texts whole "
        "(default: the model's)",
    )
    _add_client_args(translate)

    summarize = sub.add_parser("summarize", help="summarise texts with a running server")
    summarize.add_argument("--language", default="", help="language of the texts (default en)")
    summarize.add_argument(
        "--truncation",
        choices=[m.value for m in Truncation],
        help="head: keep the beginning of an over-long text; none: refuse it "
        "(default: the model's)",
    )
    _add_client_args(summarize)

    models = sub.add_parser("models", help="list the models a running server serves")
    _add_connection_args(models)
    models.add_argument("--timeout", type=float, default=30.0)
    models.add_argument("--json", action="store_true")

    health = sub.add_parser("health", help="exit 0 if a server reports SERVING (probe)")
    _add_connection_args(health)
    health.add_argument("--timeout", type=float, default=5.0)
    health.add_argument("--service", default="", help="service name ('' = the whole server)")

    token = sub.add_parser("token", help="make a bearer token and its line for --auth-tokens-file")
    token.add_argument("name", help="who the token is for (shown in the server's logs)")
    token.add_argument("--rate", type=float, help="requests per second allowed (default: any)")
    token.add_argument("--methods", help="RPCs allowed, e.g. Translate,ListModels (default: all)")

    return parser


def _options(args: argparse.Namespace) -> DecodingOptions:
    names = DecodingOptions.__dataclass_fields__
    given = {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
    return DecodingOptions(**given)


def _texts(args: argparse.Namespace) -> list[str]:
    if args.texts:
        return list(args.texts)
    if args.lines:
        return [line.rstrip("\n") for line in sys.stdin if line.strip()]
    return [sys.stdin.read()]


def _print_text(text: str) -> None:
    """A text as it is, ending with exactly the line break(s) it has (at least one)."""
    print(text, end="" if text.endswith("\n") else "\n")


def _print_result(result: GenerationResult, args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return
    detailed = bool(args.return_scores) or (args.num_hypotheses or 1) > 1
    for item in result.results:
        if not detailed:
            _print_text(item.text)
            continue
        for rank, hyp in enumerate(item.hypotheses, 1):
            score = f"{hyp.score:.4f}" if hyp.score is not None else "-"
            print(f"{rank}\t{score}\t{hyp.text.rstrip()}")
        print()


def _run_client(args: argparse.Namespace) -> int:
    try:
        connection = _connection(args)
        with Seq2SeqClient(args.target, timeout=args.timeout, connection=connection) as client:
            if args.command == "models":
                models = client.list_models()
                if args.json:
                    print(json.dumps([asdict(m) for m in models], indent=2, default=str))
                for m in models if not args.json else []:
                    languages = set(m.translation_languages)
                    pairs = ", ".join(
                        [f"{s}→{t}" for s, t in m.translation_pairs if s not in languages]
                        + ([f"any two of {len(languages)} languages"] if languages else [])
                    )
                    summ = ", ".join(m.summarization_languages)
                    print(
                        f"{m.name}\t{m.family}\t{m.engine}/{m.device}/{m.compute_type}\t"
                        f"translate: {pairs or '-'}\tsummarize: {summ or '-'}\t"
                        f"{'ready' if m.ready else 'not ready'}\t{m.revision[:19]}"
                    )
                return 0
            texts = _texts(args)
            call, positional, keywords = _generation_call(client, texts, args)
            if args.stream:
                _print_stream(call[1](*positional, **keywords), args)
                return 0
            result = call[0](*positional, **keywords)
            _print_result(result, args)
            return 0
    except ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        for field, description in exc.field_violations:  # those the bounded message left out
            if f"{field}: {description}" not in exc.message:
                print(f"  {field}: {description}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:  # unreadable certificate or token files
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _generation_call(
    client: Seq2SeqClient, texts: list[str], args: argparse.Namespace
) -> tuple[tuple[Callable[..., Any], Callable[..., Any]], list[Any], dict[str, Any]]:
    """The (unary, streamed) client calls for the command, and their arguments."""
    keywords: dict[str, Any] = {"model": args.model, "options": _options(args)}
    if args.command == "translate":
        if args.segmentation:
            keywords["segmentation"] = Segmentation(args.segmentation)
        calls = (client.translate, client.translate_stream)
        return calls, [texts, args.source, args.target_language], keywords
    keywords["language"] = args.language
    if args.truncation:
        keywords["truncation"] = Truncation(args.truncation)
    return (client.summarize, client.summarize_stream), [texts], keywords


def _print_stream(events: Iterator[StreamEvent], args: argparse.Namespace) -> None:
    """Each piece as it arrives; with --json one JSON object per message."""
    for event in events:
        if args.json:
            message: dict[str, Any] = {"index": event.index, "delta": event.delta}
            if event.result is not None:
                message["result"] = event.result.to_dict()
            print(json.dumps(message, ensure_ascii=False), flush=True)
            continue
        sys.stdout.write(event.delta)
        if event.result is not None and not event.result.text.endswith("\n"):
            sys.stdout.write("\n")
        sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["convert"]:
        return _convert(argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "health":
        return _health(args)
    if args.command == "token":
        return _token(args)
    return _run_client(args)


def _convert(argv: list[str]) -> int:
    """`s2s convert`: the converters are imported only here, so serving never loads them."""
    try:
        from converters.cli import add_convert_arguments, run_convert
    except ImportError as exc:  # the serving image ships converters/ but not their extras
        print(
            f"error: s2s convert needs the convert extra: pip install 'seq2seq-serve[convert]' "
            f"({exc})",
            file=sys.stderr,
        )
        return 2
    parser = argparse.ArgumentParser(prog="s2s convert")
    add_convert_arguments(parser)
    return int(run_convert(parser.parse_args(argv)))


def _token(args: argparse.Namespace) -> int:
    """A new random token for the caller, and the line (name and SHA-256) for the server's
    tokens file; the server never sees the token itself."""
    import secrets

    from service.auth import hash_token

    token = secrets.token_urlsafe(32)
    options = [f"rate={args.rate:g}"] if args.rate else []
    options += [f"methods={args.methods}"] if args.methods else []
    print(f"# the token (give it to {args.name}; it is not stored anywhere):")
    print(token)
    print("# the line for --auth-tokens-file:")
    print(" ".join([args.name, hash_token(token), *options]))
    return 0


def _health(args: argparse.Namespace) -> int:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with _connection(args).channel(args.target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(
                health_pb2.HealthCheckRequest(service=args.service), timeout=args.timeout
            )
        except grpc.RpcError as exc:
            print(f"unhealthy: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    print(status)
    return 0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 1


def _serve(args: argparse.Namespace) -> int:
    from service.config import Settings, SettingsError
    from service.logging import configure_logging
    from service.server import StartupError, serve

    flags = {k: v for k, v in vars(args).items() if k != "command"}
    try:
        settings = Settings.build(flags)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    try:
        finished = asyncio.run(serve(settings))
    except StartupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        _exit_now(2)
    if not finished:
        # An engine call (beam search cannot be interrupted) or a model load is still running
        # on a worker thread; interpreter shutdown would wait for it, past the grace period.
        _exit_now(0)
    return 0


def _exit_now(code: int) -> typing.NoReturn:
    """Exit without waiting for worker threads (after flushing what was written)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
