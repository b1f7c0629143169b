"""`python -m nnmatch_matching` / `nnmatch-matching`: run the matching service."""

from nnmatch.serve import serve
from nnmatch_matching.bootstrap import build_app
from nnmatch_matching.settings import MatchingSettings


def main() -> None:
    settings = MatchingSettings()
    serve(build_app(settings), settings, settings.port)


if __name__ == "__main__":
    main()
