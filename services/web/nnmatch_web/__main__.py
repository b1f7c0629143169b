"""`python -m nnmatch_web` / `nnmatch-web`: run the web pages."""

from nnmatch.serve import serve
from nnmatch_web.bootstrap import build_app
from nnmatch_web.settings import WebSettings


def main() -> None:
    settings = WebSettings()
    serve(build_app(settings), settings, settings.port)


if __name__ == "__main__":
    main()
