"""``cjob-emu serve``: the fake Vertex API (and Cloud Storage) on a local port."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(commands: Any) -> None:
    """Add ``serve`` to the CLI's subcommands."""
    parser = commands.add_parser(
        "serve", help="run the fake Vertex API (and Cloud Storage) on a local port"
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1); any address but loopback is reachable "
        "from other machines and is warned about: the fake API has no authentication",
    )
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one, printed)")
    parser.add_argument("--mode", choices=["simulated", "executor"], default="simulated")
    parser.add_argument("--state-dir", help="keep jobs in DIR so they survive a restart")
    parser.add_argument(
        "--gcs-root",
        help="served as Cloud Storage and the gs:// root of executor jobs "
        "(default ./.cjob-emu/gcs)",
    )
    parser.add_argument(
        "--backend",
        choices=["auto", "docker", "process"],
        default="auto",
        help="for executor-mode jobs",
    )
    parser.add_argument("--work-dir", help="run directories of executor-mode jobs")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM."""
    # imported on use: the server loads the aiplatform types (~1 s; see cli.validate)
    from cjob_emu.fake_api.cli_support import serve

    return serve(
        host=args.host,
        port=args.port,
        mode=args.mode,
        state_dir=args.state_dir,
        backend=args.backend,
        gcs_root=args.gcs_root,
        work_dir=args.work_dir,
    )
