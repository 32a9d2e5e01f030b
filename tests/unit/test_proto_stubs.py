"""The committed gRPC stubs match the proto (regenerate with `make proto`)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_committed_stubs_are_fresh(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_proto.py"), "--out", str(tmp_path)],
        check=True,
    )
    for name in ("seq2seq_pb2.py", "seq2seq_pb2.pyi", "seq2seq_pb2_grpc.py"):
        committed = (ROOT / "service" / "api" / name).read_text()
        assert committed == (tmp_path / name).read_text(), f"{name} is stale: run `make proto`"
