"""Print the dashboard API's OpenAPI spec: `python -m web.openapi > web/openapi.json`."""

from __future__ import annotations

import json

from appliance.config import Config
from web.app import create_app


def main() -> None:
    spec = create_app(Config.model_validate({})).openapi()
    print(json.dumps(spec, indent=1, ensure_ascii=False, sort_keys=True))


if __name__ == "__main__":
    main()
