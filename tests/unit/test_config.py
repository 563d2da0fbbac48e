from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from postroom import config
from postroom.config import ConfigError


def test_defaults_are_the_embedded_mode() -> None:
    cfg = config.load()
    assert cfg.store.backend == "sqlite" and cfg.server.data_dir == "./var"
    assert cfg.smtp.trusted_networks == [] and cfg.server.plaintext_auth_networks == []
    assert (cfg.smtp.mx.port, cfg.imap.imaps.port, cfg.minger.port) == (25, 993, 4069)
    assert not cfg.minger.enabled
    assert cfg.pop3.autologout == 600 and not cfg.pop3.apop and cfg.multipop.enabled


def test_example_lists_every_key_and_loads_back(tmp_path: Path) -> None:
    text = config.example()
    path = tmp_path / "example.toml"
    path.write_text(text)
    assert config.load(path) == config.load()
    data = tomllib.loads(text)
    assert set(data) == {"server", "store", "login", "tls", "limits", "smtp", "imap", "pop3",
                         "multipop", "odmr", "minger", "pipeline", "greylisting", "dnsbl",
                         "screening", "dkim", "batv", "dns", "log", "mailauth", "web",
                         "acme", "sieve", "cluster", "blobs"}
    assert "# Start this listener." in text


def test_set_overrides() -> None:
    cfg = config.load(None, ["minger.enabled=true", "server.port_offset=10000",
                             "server.listen=[\"::1\"]", "log.level=debug", "smtp.mx.port=2525",
                             "server.hostname=mx.example.com"])
    assert cfg.minger.enabled and cfg.server.port_offset == 10000
    assert cfg.server.listen == ["::1"] and cfg.smtp.mx.port == 2525
    assert cfg.server.hostname == "mx.example.com"


@pytest.mark.parametrize("override,message", [
    ("server.bogus=1", "server.bogus: unknown key"),
    ("server.port_offset=abc", "server.port_offset: expected `int`"),
    ("limits.connections_per_ip=0", "limits.connections_per_ip: expected `int` >= 1"),
    ("store.backend=mysql", "store.backend: invalid enum value 'mysql'"),
    ("pop3.autologout=60", "pop3.autologout: expected `float` >= 600"),
    ("multipop.max_concurrent=0", "multipop.max_concurrent: expected `int` >= 1"),
    ("nonsense", "expected KEY=VALUE")])
def test_errors_name_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        config.load(None, [override])
    assert message in str(exc.value)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        config.load(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[server\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(bad)
    typo = tmp_path / "typo.toml"
    typo.write_text("[imap.imap]\nportt = 1\n")
    with pytest.raises(ConfigError, match=r"imap\.imap\.portt: unknown key"):
        config.load(typo)


def test_every_error_is_reported_with_its_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[server]\nport_offset = "x"\nlisten = ["nowhere"]\n'
                   '[store]\nbackend = "mysql"\n[limits]\nconnections_per_ip = 0\n'
                   '[smtp]\ntrusted_networks = ["10.0.0.0/33"]\n[imap.imap]\nportt = 1\n')
    with pytest.raises(ConfigError) as exc:
        config.load(bad)
    problems = exc.value.problems
    assert len(problems) == 6, problems  # every one: four of type, two of the rules
    assert all(p.startswith(f"{bad}: ") for p in problems)
    text = "\n".join(problems)
    assert "server.port_offset: expected `int`" in text
    assert "store.backend: invalid enum value 'mysql'; one of: sqlite, postgresql" in text
    assert "limits.connections_per_ip: expected `int` >= 1" in text
    assert "imap.imap.portt: unknown key" in text
    assert "smtp.trusted_networks: '10.0.0.0/33' is not a network" in text
    bad.write_text('[server]\nlisten = ["nowhere"]\nplaintext_auth_networks = ["bad"]\n'
                   '[smtp]\ntrusted_networks = ["10.0.0.0/33"]\n[tls]\ncert = "/x.pem"\n')
    with pytest.raises(ConfigError) as exc:
        config.load(bad)
    text = "\n".join(exc.value.problems)
    assert "smtp.trusted_networks: '10.0.0.0/33' is not a network" in text
    assert "server.plaintext_auth_networks: 'bad' is not a network" in text
    assert "server.listen: 'nowhere' is not an IP address" in text
    assert "tls.key: required when tls.cert is set" in text


def test_the_machine_checks_name_the_file_and_what_is_wrong(tmp_path: Path) -> None:
    from postroom.net.tls import ensure_self_signed

    cert, key = ensure_self_signed(tmp_path / "a", "a.example")
    other_cert, _ = ensure_self_signed(tmp_path / "b", "b.example")
    missing = tmp_path / "missing.pem"
    cases = [
        ([f"tls.cert={missing}", f"tls.key={key}"], f"tls.cert: {missing}: no such file"),
        ([f"tls.cert={other_cert}", f"tls.key={key}"], "is not the private key"),
        ([f"tls.cert={key}", f"tls.key={key}"], "holds no PEM certificate"),
        (['server.listen=["192.0.2.99"]'], "192.0.2.99 is not an address of this machine"),
    ]
    for overrides, needle in cases:
        cfg = config.load(None, overrides)
        with pytest.raises(ConfigError) as exc:
            config.check_environment(cfg)
        assert needle in str(exc.value), (overrides, exc.value.problems)
    config.check_environment(config.load(None, [f"tls.cert={cert}", f"tls.key={key}"]))


def test_filter_sections_are_checked() -> None:
    """The greylisting, DNSBL and screening keys (docs/screening.md) are validated like the
    rest: a dnsbl check needs zones, zones must be DNS names, networks must parse."""
    cfg = config.load(None, ['pipeline.checks=["size", "smuggling", "greylist", "dnsbl"]',
                             'dnsbl.zones=[{zone = "zen.spamhaus.org", weight = 10}, '
                             '{zone = "list.dnswl.org", weight = -5}]',
                             "greylisting.delay=120", "screening.auth_failures=5"])
    assert [z.weight for z in cfg.dnsbl.zones] == [10, -5]
    assert cfg.greylisting.delay == 120 and cfg.screening.auth_failures == 5
    assert cfg.screening.exempt_networks == ["127.0.0.0/8", "::1/128"]
    with pytest.raises(config.ConfigError, match="needs at least one zone"):
        config.load(None, ['pipeline.checks=["size", "smuggling", "dnsbl"]'])
    with pytest.raises(config.ConfigError, match="is not a DNS zone name"):
        config.load(None, ['dnsbl.zones=[{zone = "not a zone"}]'])
    with pytest.raises(config.ConfigError, match=r"greylisting\.exempt_networks"):
        config.load(None, ['greylisting.exempt_networks=["nonsense"]'])


def test_cluster_and_shared_blobs_need_postgresql() -> None:
    with pytest.raises(config.ConfigError) as err:
        config.load(None, ["cluster.enabled=true", 'blobs.backend="postgresql"'])
    text = str(err.value)
    assert "cluster.enabled: needs store.backend" in text
    assert 'blobs.backend: "postgresql" keeps blobs' in text
    with pytest.raises(config.ConfigError, match=r"blobs\.s3: endpoint, bucket"):
        config.load(None, ['blobs.backend="s3"'])
    cfg = config.load(None, ['store.backend="postgresql"', 'store.dsn="postgresql://x@h/d"',
                             "cluster.enabled=true", 'blobs.backend="postgresql"'])
    assert cfg.cluster.enabled and cfg.cluster.lease_seconds == 60
