"""Fill deploy/nginx.conf's three placeholders: what envsubst does, for exactly these names.

    python deploy/render_nginx.py --listen 127.0.0.1:8080 --log-dir /tmp/rnnlab-nginx \\
        127.0.0.1:8501 127.0.0.1:8502 127.0.0.1:8503 > /tmp/rnnlab-nginx/nginx.conf
    nginx -p /tmp/rnnlab-nginx -c /tmp/rnnlab-nginx/nginx.conf -g 'daemon off;'
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

TEMPLATE = Path(__file__).with_name("nginx.conf")


def server_lines(replicas: list[str], max_fails: int = 1, fail_timeout: str = "10s") -> str:
    """One upstream `server` line per replica (host:port), with the passive health check."""
    return "\n        ".join(
        f"server {r} max_fails={max_fails} fail_timeout={fail_timeout};" for r in replicas
    )


def render(listen: str, replicas: list[str], log_dir: str) -> str:
    if not replicas:
        raise ValueError("at least one replica")
    text = TEMPLATE.read_text()
    values = {
        "RNNLAB_LISTEN": listen,
        "RNNLAB_SERVERS": server_lines(replicas),
        "RNNLAB_LOG_DIR": log_dir,
    }
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("replicas", nargs="+", help="host:port of each app replica")
    ap.add_argument("--listen", default="8080", help="nginx's listen address (default 8080)")
    ap.add_argument("--log-dir", default="/var/log/nginx", help="folder of error.log and access.log")
    args = ap.parse_args(argv)
    sys.stdout.write(render(args.listen, args.replicas, args.log_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
