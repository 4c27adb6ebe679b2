"""One scheduler wake-up in a process of its own: `python -m tests.delivery.tick_process CONFIG_JSON NOW [--die]`.

With --die the process SIGKILLs itself after a delivery was sent and before its outcome is recorded (kill -9 at
the worst moment), so the test can check what the next process does."""
from __future__ import annotations

import json
import os
import signal
import sys
from datetime import datetime
from typing import Any


def main() -> None:
    from admin_app import create_app
    from flask_activity.delivery import deliverer

    config, now = json.loads(sys.argv[1]), datetime.fromisoformat(sys.argv[2])
    if "--die" in sys.argv:
        def die(*_: Any, **__: Any) -> None:
            os.kill(os.getpid(), signal.SIGKILL)

        deliverer.record = die  # type: ignore[assignment]
    app = create_app(config)
    with app.app_context():
        made = deliverer.tick(now)
        print(json.dumps([[d.channel, d.status, d.key] for d in made]))


if __name__ == "__main__":
    main()
