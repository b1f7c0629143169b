"""`python -m nnmatch.devauth`: the dev signing key and JWKS, and dev tokens, without the tooling.

The compose stack's `dev-auth` container runs this from the service image (which carries no
tooling) to create the key the services trust; `--member`/`--hub`/`--operator` also prints a
token. Only a setup that trusts the dev JWKS accepts these tokens.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from nnmatch.auth import DevTokens, Role
from nnmatch.profile import MEMBER_ID_PATTERN

DEFAULT_DIR = Path(os.environ.get("NNMATCH_STATE_DIR", ".nnmatch")) / "auth"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nnmatch.devauth",
        description="Create the dev signing key and JWKS (if missing); print a dev token.",
    )
    who = parser.add_mutually_exclusive_group()
    who.add_argument("--member", metavar="ID", help="a member token: sub = this member id")
    who.add_argument("--hub", metavar="ID", help="a hub token for this hub id")
    who.add_argument("--operator", action="store_true", help="an operator token")
    parser.add_argument("--ttl", type=int, default=3600, help="token lifetime in seconds")
    parser.add_argument(
        "--dir", type=Path, default=DEFAULT_DIR, help=f"key directory (default {DEFAULT_DIR})"
    )
    args = parser.parse_args(argv)
    subject = args.member or args.hub
    if subject is not None and not re.fullmatch(MEMBER_ID_PATTERN, subject):
        parser.error("ids are 1-64 of letters, digits, _ and -")
    if not 60 <= args.ttl <= 30 * 86400:
        parser.error("--ttl is between 60 s and 30 days")
    tokens = DevTokens(args.dir, ttl_s=args.ttl)  # creates the key and JWKS the first time
    if args.member:
        print(tokens.token(Role.MEMBER, args.member))
    elif args.hub:
        print(tokens.token(Role.HUB, args.hub))
    elif args.operator:
        print(tokens.token(Role.OPERATOR))
    else:
        print(f"dev JWKS ready in {args.dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
