"""`officeguard catalog update FILE|URL` and `officeguard catalog show` (#18): the
end-of-support catalog that OS verdicts are made against. Opt-in: nothing is fetched unless the
user names a URL here."""

from __future__ import annotations

import argparse
from pathlib import Path

from appliance.cli.common import EXIT_OK, CliError
from appliance.cli.common import print_json as _print_json
from appliance.config import Config


def _fetch(source: str) -> bytes | None:
    from appliance import catalogs

    if source.startswith(("http://", "https://")):
        import urllib.error  # here, not at import: every command builds this parser
        import urllib.request

        if source.startswith("http://"):
            raise CliError(f"{source}: only https URLs are fetched")
        try:
            with urllib.request.urlopen(source, timeout=30) as r:  # noqa: S310  (https only)
                return bytes(r.read(catalogs.LIMIT))
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise CliError(f"{source}: HTTP {exc.code}") from exc
        except OSError as exc:
            raise CliError(f"{source}: {exc}") from exc
    p = Path(source)
    if not p.exists():
        return None
    try:
        return p.read_bytes()[:catalogs.LIMIT]
    except OSError as exc:
        raise CliError(f"{source}: {exc.strerror or exc}") from exc


def cmd_catalog(args: argparse.Namespace, config: Config) -> int:
    # imported here: the parser is built by every command, `officeguard web` too, and the
    # catalogs' signature check loads the cryptography library (about 10 MB)
    from appliance import catalogs

    if args.action == "update":
        if not args.source:
            raise CliError("catalog update needs a catalog FILE or https URL")
        try:
            doc = catalogs.update(config.data_dir, args.source, _fetch, args.sha256 or "",
                                  args.kind)
        except catalogs.CatalogRefused as exc:
            raise CliError(f"{args.source}: refused, the installed catalog is unchanged: "
                           f"{exc}") from exc
        was = doc["previous_as_of"] or ("none" if args.kind == "kev" else "the packaged one")
        what = (f"{doc['entries']} KEV entries" if args.kind == "kev"
                else f"{doc['products']} products")
        msg = (f"{args.kind} catalog of {doc['as_of']} installed ({what}, verified by "
               f"{doc['verified_by']}; was {was})")
    else:
        doc = catalogs.show(config.data_dir)
        k = doc["kev"]
        msg = f"end-of-support catalog of {doc['as_of']} from {doc['path']}\n" + "\n".join(
            f"  {p}: {n} releases" for p, n in doc["products"].items()) + (
            f"\nCISA KEV {k['version']} of {k['released']}: {k['entries']} entries" if k
            else "\nCISA KEV: not installed (officeguard catalog update FILE --kind kev)")
    if args.json:
        _print_json(doc)
    else:
        print(msg)
    return EXIT_OK
