"""Active probes inside the authorised scope: discovery, ports, banners, fingerprints, firmware,
default credentials, client isolation, guest/business separation, printer exposure, web-site TLS.

Parsers and checks here are pure; sockets live in `net`, `services`, `udp`, `segments`,
`website` and `creds`; `engine` runs one cycle and `scheduler` runs the jobs.
"""
