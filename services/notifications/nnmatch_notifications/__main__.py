"""`python -m nnmatch_notifications` / `nnmatch-notifications`: run the notifications service."""

from nnmatch.serve import serve
from nnmatch_notifications.bootstrap import build_app
from nnmatch_notifications.settings import NotificationsSettings


def main() -> None:
    settings = NotificationsSettings()
    serve(build_app(settings), settings, settings.port)


if __name__ == "__main__":
    main()
