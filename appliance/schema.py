"""The database schema as named migrations, applied in order, each exactly once.

Add a migration by appending to MIGRATIONS; never edit one that has shipped.
"""

from __future__ import annotations

MIGRATIONS: tuple[tuple[str, str], ...] = (
    (
        "0001_core",
        """
        CREATE TABLE meta (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        ) STRICT;

        -- One row per (IP, MAC) pair seen as an ARP sender: the arpwatch table.
        CREATE TABLE stations (
            ip          TEXT NOT NULL,
            mac         TEXT NOT NULL,
            vendor      TEXT,
            randomized  INTEGER NOT NULL DEFAULT 0,
            first_seen  REAL NOT NULL,
            last_seen   REAL NOT NULL,
            frames      INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (ip, mac)
        ) STRICT;
        CREATE INDEX stations_mac ON stations (mac);
        CREATE INDEX stations_last_seen ON stations (last_seen);

        -- Sensor events, merged while the same event repeats (count, last_ts).
        CREATE TABLE events (
            id       INTEGER PRIMARY KEY,
            kind     TEXT NOT NULL,
            sensor   TEXT NOT NULL,
            ts       REAL NOT NULL,
            last_ts  REAL NOT NULL,
            count    INTEGER NOT NULL DEFAULT 1,
            subject  TEXT NOT NULL,
            detail   TEXT NOT NULL DEFAULT '{}'
        ) STRICT;
        CREATE INDEX events_ts ON events (ts);
        CREATE INDEX events_kind_subject ON events (kind, subject, last_ts);

        CREATE TABLE findings (
            id          INTEGER PRIMARY KEY,
            rule        TEXT NOT NULL,
            measure     TEXT NOT NULL,
            severity    TEXT NOT NULL
                        CHECK (severity IN ('info','low','medium','high','critical')),
            subject     TEXT NOT NULL,
            status      TEXT NOT NULL
                        CHECK (status IN ('open','acknowledged','resolved','reopened')),
            title_ja    TEXT NOT NULL,
            title_en    TEXT NOT NULL,
            first_seen  REAL NOT NULL,
            last_seen   REAL NOT NULL,
            count       INTEGER NOT NULL DEFAULT 1,
            evidence    TEXT NOT NULL DEFAULT '{}',
            updated_at  REAL NOT NULL,
            UNIQUE (rule, subject)
        ) STRICT;
        CREATE INDEX findings_status ON findings (status, severity);
        CREATE INDEX findings_measure ON findings (measure);

        CREATE TABLE finding_history (
            id          INTEGER PRIMARY KEY,
            finding_id  INTEGER NOT NULL REFERENCES findings (id),
            ts          REAL NOT NULL,
            change      TEXT NOT NULL,
            status      TEXT NOT NULL,
            severity    TEXT NOT NULL,
            actor       TEXT NOT NULL DEFAULT 'agent',
            note        TEXT NOT NULL DEFAULT ''
        ) STRICT;
        CREATE INDEX finding_history_finding ON finding_history (finding_id, ts);

        -- Alerts waiting for the MQTT publisher; written in the finding's transaction.
        CREATE TABLE outbox (
            id          INTEGER PRIMARY KEY,
            alert_id    TEXT NOT NULL UNIQUE,
            created_at  REAL NOT NULL,
            topic       TEXT NOT NULL,
            payload     TEXT NOT NULL,
            sent_at     REAL
        ) STRICT;
        CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;
        """,
    ),
    (
        "0002_wifi",
        """
        -- One row per BSSID that sent beacons or probe responses (fake flood APs excluded).
        CREATE TABLE access_points (
            bssid            TEXT PRIMARY KEY,
            ssid             TEXT NOT NULL,
            ssid_hex         TEXT NOT NULL,
            hidden           INTEGER NOT NULL,
            channel          INTEGER,
            frequency_mhz    INTEGER,
            band             TEXT,
            security         TEXT NOT NULL,
            akm              TEXT NOT NULL DEFAULT '[]',
            pairwise         TEXT NOT NULL DEFAULT '[]',
            group_cipher     INTEGER,
            pmf              TEXT NOT NULL,
            privacy          INTEGER NOT NULL,
            wps              TEXT,
            vendor           TEXT,
            randomized       INTEGER NOT NULL DEFAULT 0,
            country          TEXT,
            tx_power_dbm     INTEGER,
            phy              TEXT NOT NULL DEFAULT '[]',
            rssi_min         INTEGER,
            rssi_max         INTEGER,
            rssi_sum         INTEGER NOT NULL DEFAULT 0,
            rssi_n           INTEGER NOT NULL DEFAULT 0,
            rssi_last        INTEGER,
            beacons          INTEGER NOT NULL DEFAULT 0,
            probe_responses  INTEGER NOT NULL DEFAULT 0,
            malformed_frames INTEGER NOT NULL DEFAULT 0,
            profiles         TEXT NOT NULL DEFAULT '[]',
            channels_seen    TEXT NOT NULL DEFAULT '[]',
            first_seen       REAL NOT NULL,
            last_seen        REAL NOT NULL
        ) STRICT;
        CREATE INDEX access_points_ssid ON access_points (ssid);
        CREATE INDEX access_points_last_seen ON access_points (last_seen);

        -- Signal of the facility's own BSSIDs per minute, for charts and leakage evidence.
        CREATE TABLE rssi_minutes (
            bssid   TEXT NOT NULL,
            minute  INTEGER NOT NULL,
            min     INTEGER NOT NULL,
            max     INTEGER NOT NULL,
            sum     INTEGER NOT NULL,
            n       INTEGER NOT NULL,
            PRIMARY KEY (bssid, minute)
        ) STRICT;

        -- Leakage survey sessions (3-3): a labelled measurement at one place.
        CREATE TABLE surveys (
            id          INTEGER PRIMARY KEY,
            label       TEXT NOT NULL,
            location    TEXT NOT NULL DEFAULT 'outside',
            started_at  REAL NOT NULL,
            ends_at     REAL,
            stopped_at  REAL,
            source      TEXT NOT NULL DEFAULT 'live',
            threshold_dbm REAL NOT NULL
        ) STRICT;

        CREATE TABLE survey_samples (
            survey_id  INTEGER NOT NULL REFERENCES surveys (id),
            bssid      TEXT NOT NULL,
            ssid       TEXT NOT NULL,
            min        INTEGER NOT NULL,
            max        INTEGER NOT NULL,
            sum        INTEGER NOT NULL,
            n          INTEGER NOT NULL,
            PRIMARY KEY (survey_id, bssid)
        ) STRICT;
        """,
    ),
    (
        "0003_compliance",
        """
        -- A person's statement about one check of one measure (check '*': the whole measure),
        -- with the evidence files behind it. Never updated: a newer row supersedes.
        CREATE TABLE attestations (
            id           INTEGER PRIMARY KEY,
            framework    TEXT NOT NULL,
            measure      TEXT NOT NULL,
            check_id     TEXT NOT NULL,
            result       TEXT NOT NULL CHECK (result IN ('pass','fail','not_applicable')),
            actor        TEXT NOT NULL,
            note         TEXT NOT NULL DEFAULT '',
            attested_at  REAL NOT NULL,
            attested_on  TEXT NOT NULL,
            valid_days   INTEGER NOT NULL CHECK (valid_days > 0)
        ) STRICT;
        CREATE INDEX attestations_measure ON attestations (framework, measure, check_id, id);

        -- Evidence files are stored by content (evidence/<sha256>); the name is only data.
        CREATE TABLE evidence (
            id              INTEGER PRIMARY KEY,
            attestation_id  INTEGER NOT NULL REFERENCES attestations (id),
            name            TEXT NOT NULL,
            sha256          TEXT NOT NULL,
            size            INTEGER NOT NULL,
            added_at        REAL NOT NULL
        ) STRICT;
        CREATE INDEX evidence_attestation ON evidence (attestation_id);
        """,
    ),
    (
        "0004_mqtt",
        """
        -- How the publisher routed an alert: 'alert' (published alone), 'digest' (info level or
        -- over a rate limit: sent in the next digest). NULL until the publisher looked at it.
        ALTER TABLE outbox ADD COLUMN route TEXT;
        ALTER TABLE outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;

        -- Test alerts (1-3: the incident contact chain works): when asked, when the broker
        -- acknowledged it.
        CREATE TABLE alert_tests (
            id            INTEGER PRIMARY KEY,
            alert_id      TEXT NOT NULL UNIQUE,
            requested_at  REAL NOT NULL,
            requested_by  TEXT NOT NULL,
            delivered_at  REAL,
            broker        TEXT NOT NULL,
            error         TEXT
        ) STRICT;
        """,
    ),
    (
        "0005_exports",
        """
        -- Inspector exports written (one folder each, manifest signed with Ed25519).
        CREATE TABLE exports (
            id               INTEGER PRIMARY KEY,
            period           TEXT NOT NULL,
            period_start     REAL NOT NULL,
            period_end       REAL NOT NULL,
            path             TEXT NOT NULL,
            created_at       REAL NOT NULL,
            manifest_sha256  TEXT NOT NULL,
            removed_at       REAL
        ) STRICT;
        CREATE INDEX exports_period ON exports (period);
        """,
    ),
    (
        "0006_probes",
        """
        -- One row per probe cycle: what ran, what it covered, what it refused.
        CREATE TABLE probe_runs (
            id           INTEGER PRIMARY KEY,
            started_at   REAL NOT NULL,
            finished_at  REAL NOT NULL,
            jobs         TEXT NOT NULL,
            scope        TEXT NOT NULL,
            hosts        INTEGER NOT NULL,
            open_ports   INTEGER NOT NULL,
            checks       TEXT NOT NULL,
            coverage     TEXT NOT NULL,
            refused      TEXT NOT NULL DEFAULT '[]',
            errors       TEXT NOT NULL DEFAULT '[]',
            packets      INTEGER NOT NULL DEFAULT 0
        ) STRICT;
        CREATE INDEX probe_runs_started ON probe_runs (started_at);

        -- The probed inventory: one row per address, with the evidence of each field.
        CREATE TABLE devices (
            ip               TEXT PRIMARY KEY,
            mac              TEXT NOT NULL DEFAULT '',
            vendor           TEXT NOT NULL DEFAULT '',
            model            TEXT NOT NULL DEFAULT '',
            firmware         TEXT NOT NULL DEFAULT '',
            class            TEXT NOT NULL DEFAULT 'other',
            firmware_status  TEXT NOT NULL DEFAULT 'unknown',
            evidence         TEXT NOT NULL DEFAULT '{}',
            first_seen       REAL NOT NULL,
            last_seen        REAL NOT NULL
        ) STRICT;

        CREATE TABLE device_ports (
            ip          TEXT NOT NULL,
            port        INTEGER NOT NULL,
            proto       TEXT NOT NULL CHECK (proto IN ('tcp', 'udp')),
            service     TEXT NOT NULL DEFAULT '',
            product     TEXT NOT NULL DEFAULT '',
            version     TEXT NOT NULL DEFAULT '',
            banner      TEXT NOT NULL DEFAULT '',
            first_seen  REAL NOT NULL,
            last_seen   REAL NOT NULL,
            PRIMARY KEY (ip, port, proto)
        ) STRICT;

        -- Services the manager approved per device (4-③); others raise a finding.
        CREATE TABLE probe_baseline (
            ip           TEXT NOT NULL,
            port         INTEGER NOT NULL,
            proto        TEXT NOT NULL,
            approved_by  TEXT NOT NULL,
            approved_at  REAL NOT NULL,
            PRIMARY KEY (ip, port, proto)
        ) STRICT;

        -- JVN iPedia advisories imported from MyJVN (URL or file).
        CREATE TABLE advisories (
            id           TEXT PRIMARY KEY,
            title        TEXT NOT NULL,
            url          TEXT NOT NULL,
            published    TEXT NOT NULL,
            cvss         REAL,
            severity     TEXT NOT NULL,
            products     TEXT NOT NULL,
            imported_at  REAL NOT NULL
        ) STRICT;
        """,
    ),
    (
        "0007_web",
        """
        -- Dashboard accounts: none exists until the first-run setup creates the admin.
        CREATE TABLE users (
            id             INTEGER PRIMARY KEY,
            username       TEXT NOT NULL UNIQUE,
            password_hash  TEXT NOT NULL,
            role           TEXT NOT NULL CHECK (role IN ('admin', 'viewer', 'inspector')),
            created_at     REAL NOT NULL,
            disabled       INTEGER NOT NULL DEFAULT 0
        ) STRICT;

        -- Sessions by the SHA-256 of their token (the token itself lives only in the cookie).
        CREATE TABLE sessions (
            token_sha256  TEXT PRIMARY KEY,
            user_id       INTEGER NOT NULL REFERENCES users (id),
            csrf          TEXT NOT NULL,
            created_at    REAL NOT NULL,
            expires_at    REAL NOT NULL,
            last_seen     REAL NOT NULL
        ) STRICT;

        -- Failed logins, for rate limiting and lockout.
        CREATE TABLE login_failures (
            id        INTEGER PRIMARY KEY,
            username  TEXT NOT NULL,
            ip        TEXT NOT NULL,
            ts        REAL NOT NULL
        ) STRICT;
        CREATE INDEX login_failures_user ON login_failures (username, ts);
        CREATE INDEX login_failures_ip ON login_failures (ip, ts);

        -- Who did what in the dashboard.
        CREATE TABLE audit (
            id      INTEGER PRIMARY KEY,
            ts      REAL NOT NULL,
            actor   TEXT NOT NULL,
            action  TEXT NOT NULL,
            detail  TEXT NOT NULL DEFAULT ''
        ) STRICT;
        """,
    ),
    (
        "0008_dashboard_indexes",
        """
        -- The findings page reads severity by severity, newest first; the overview reads the
        -- last day's history.
        CREATE INDEX findings_sev_seen ON findings (severity, last_seen DESC, id DESC);
        CREATE INDEX finding_history_ts ON finding_history (ts);
        """,
    ),
    (
        "0009_i18_os",
        """
        -- What each probed device runs (#18): OS, release and build, where it was read, and the
        -- end-of-support verdict with the catalog date it was made against. Rental PCs carry
        -- their registered label.
        CREATE TABLE device_os (
            ip             TEXT PRIMARY KEY,
            mac            TEXT NOT NULL DEFAULT '',
            rental_label   TEXT NOT NULL DEFAULT '',
            family         TEXT NOT NULL DEFAULT '',
            name           TEXT NOT NULL DEFAULT '',
            version        TEXT NOT NULL DEFAULT '',
            source         TEXT NOT NULL DEFAULT '',
            eol            TEXT NOT NULL DEFAULT '',
            status         TEXT NOT NULL DEFAULT 'unknown',
            catalog_as_of  TEXT NOT NULL DEFAULT '',
            evidence       TEXT NOT NULL DEFAULT '{}',
            last_seen      REAL NOT NULL
        ) STRICT;

        -- OS family / device class hints the LAN sensor heard (DHCP, mDNS, LLMNR, NetBIOS), with
        -- the packet fields that said so.
        CREATE TABLE passive_hints (
            mac           TEXT NOT NULL,
            source        TEXT NOT NULL,
            ip            TEXT NOT NULL DEFAULT '',
            family        TEXT NOT NULL DEFAULT '',
            device_class  TEXT NOT NULL DEFAULT '',
            hostname      TEXT NOT NULL DEFAULT '',
            evidence      TEXT NOT NULL DEFAULT '{}',
            first_seen    REAL NOT NULL,
            last_seen     REAL NOT NULL,
            PRIMARY KEY (mac, source)
        ) STRICT;

        -- Rental PCs registered on the dashboard (those in the config file's [[rental_pcs]]
        -- count too); the agent reads both at the start of each probe cycle.
        CREATE TABLE rental_pcs (
            id            INTEGER PRIMARY KEY,
            label         TEXT NOT NULL UNIQUE,
            mac           TEXT NOT NULL DEFAULT '',
            ip            TEXT NOT NULL DEFAULT '',
            edition       TEXT NOT NULL DEFAULT '',
            esu_until     TEXT NOT NULL DEFAULT '',
            esu_evidence  TEXT NOT NULL DEFAULT '',
            added_by      TEXT NOT NULL,
            added_at      REAL NOT NULL
        ) STRICT;
        """,
    ),
    (
        "0010_i17_history_recorded_at",
        """
        -- When a change was recorded (ts is when it happened in the capture): a capture of
        -- last month ingested now is a change of today for "what changed since yesterday".
        ALTER TABLE finding_history ADD COLUMN recorded_at REAL;
        UPDATE finding_history SET recorded_at = ts;
        CREATE INDEX finding_history_recorded ON finding_history (recorded_at);
        """,
    ),
    (
        "0011_i15_commands",
        """
        -- The dashboard asks, the agent acts: a request from the web (probe now, a test alert,
        -- a survey start/stop, an export) waits here until the agent takes it, runs it with its
        -- own capabilities and network, and records the outcome.
        CREATE TABLE commands (
            id            INTEGER PRIMARY KEY,
            kind          TEXT NOT NULL,
            args          TEXT NOT NULL DEFAULT '{}',
            requested_by  TEXT NOT NULL,
            requested_at  REAL NOT NULL,
            state         TEXT NOT NULL DEFAULT 'pending'
                          CHECK (state IN ('pending', 'running', 'done', 'failed')),
            started_at    REAL,
            finished_at   REAL,
            outcome       TEXT NOT NULL DEFAULT '{}'
        ) STRICT;
        CREATE INDEX commands_state ON commands (state, id);
        """,
    ),
)
