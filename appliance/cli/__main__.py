"""`python -m appliance.cli`: the same command as `officeguard`."""

from appliance.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
