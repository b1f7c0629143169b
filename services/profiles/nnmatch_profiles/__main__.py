"""`python -m nnmatch_profiles` / `nnmatch-profiles`: run the profiles service."""

from nnmatch.serve import serve
from nnmatch_profiles.bootstrap import build_app
from nnmatch_profiles.settings import ProfilesSettings


def main() -> None:
    settings = ProfilesSettings()
    serve(build_app(settings), settings, settings.port)


if __name__ == "__main__":
    main()
