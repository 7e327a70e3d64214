"""`python -m server`: serve on ASSAY_HOST:ASSAY_PORT (what `make run` does)."""
import logging

import uvicorn

from server.app import create_app
from server.settings import Settings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info",
                timeout_graceful_shutdown=15)


if __name__ == "__main__":
    main()
