"""Tests of capsule/checks/secrets.py: files that look like secrets, data without checksums.

Real-looking keys are assembled at run time from pieces, so that no file of capsule's own
repository trips a secret scanner.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from capsule.audit import run_checks, static_context, with_run
from capsule.checks import CHECKS, RunFacts
from capsule.checks.secrets import CHECKS as SECRET_CHECKS
from capsule.checks.secrets import SECRET_FIX, secret_files, secret_in_text
from capsule.model import Activity, Provenance, Usage
from capsule.plan import load

from conftest import MakeProject

MESSY_ENV = Path(__file__).resolve().parent.parent / "projects" / "messy-env"
IDS = tuple(SECRET_CHECKS)

ALNUM = "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC2eF4hJ6kL80"  # 40 characters, letters and digits
GITHUB_TOKEN = "gh" + "p_" + ALNUM[:36]
AWS_KEY_ID = "AK" + "IA" + "Q3EGRTYUIOPLKJHG"
AWS_SECRET = ALNUM[:20] + "/" + ALNUM[20:39]
GOOGLE_KEY = "AI" + "za" + ALNUM[:35]
SLACK_TOKEN = "xo" + "xb-" + "1234567890-" + ALNUM[:24]
PRIVATE_KEY = "-----BEGIN " + "OPENSSH PRIVATE KEY-----"
PGP_KEY = "-----BEGIN PGP " + "PRIVATE KEY BLOCK-----"


def messy(tmp_path: Path) -> Path:
    """A copy of the messy-env analysis."""
    return Path(shutil.copytree(MESSY_ENV, tmp_path / "messy-env"))


def findings(root: Path, run: RunFacts | None = None) -> list[tuple[str, str]]:
    """(check, location) of the secret checks' findings on the analysis at root."""
    context = static_context(root)
    if run is not None:
        context = with_run(context, run)
    return sorted((f.check, f.location) for f in run_checks(context, only=IDS))


def test_registered() -> None:
    assert set(IDS) == {"secret-file", "data-not-checksummed"}
    assert all(CHECKS[check_id] is SECRET_CHECKS[check_id] for check_id in IDS)


def test_messy_env_static(tmp_path: Path) -> None:
    root = messy(tmp_path)
    assert findings(root) == [
        ("data-not-checksummed", "data/private/patients.csv"),
        ("secret-file", ".env"),
    ]
    found = {f.check: f for f in run_checks(static_context(root), only=IDS)}
    assert found["secret-file"].severity == "error"
    assert found["secret-file"].fix == SECRET_FIX.format(path=".env")
    assert found["data-not-checksummed"].severity == "info"
    assert "data/**" in found["data-not-checksummed"].message


def test_messy_env_with_run(tmp_path: Path) -> None:
    run = RunFacts(
        provenance=Provenance(
            activities=(Activity(id="02_model/p1", step="02_model", argv=("python",)),),
            used=(
                Usage("02_model/p1", "/srv/shared/cohort.parquet", 1, external=True),
                Usage("02_model/p1", "/srv/shared/cohort.parquet", 2, external=True),
                Usage("02_model/p1", "/etc/hosts", 3, external=True),
                Usage("02_model/p1", "/opt/py/lib/site-packages/sklearn/iris.csv", 4, True),
                Usage("02_model/p1", "data/raw/cohort.csv", 5),
            ),
            generated=(),
        ),
        outputs=(),
    )
    assert findings(messy(tmp_path), run) == [
        ("data-not-checksummed", "/srv/shared/cohort.parquet"),
        ("data-not-checksummed", "data/private/patients.csv"),
        ("secret-file", ".env"),
    ]


def test_allowed_by_name_in_capsule_toml(tmp_path: Path) -> None:
    root = messy(tmp_path)
    toml = root / "capsule.toml"
    toml.write_text(
        toml.read_text()
        .replace('exclude = ["data/private/**", "*.log"]', "exclude = []")
        .replace("[files]\n", '[files]\nallow_secrets = [".env"]\n')
    )
    plan = load(root)
    assert plan.allow_secrets == (".env",)
    found = run_checks(static_context(root, plan), only=["secret-file"])
    assert found == []


def test_excluded_secret_is_not_reported(make_project: MakeProject) -> None:
    root = make_project(
        {
            "capsule.toml": '[files]\nexclude = ["keys/**"]\n[[steps]]\nscript = "main.py"\n',
            "main.py": "x = 1\n",
            "keys/id_rsa": PRIVATE_KEY + "\n",
        }
    )
    assert findings(root) == []


@pytest.mark.parametrize(
    "rel",
    [
        ".env",
        "config/.env.production",
        "id_rsa",
        "home/.ssh/id_ed25519",
        "server.key",
        "client.p12",
        "cert.pfx",
        "credentials.json",
        "gcp/service-account-prod.json",
        ".netrc",
        ".pgpass",
        "home/.aws/credentials",
        ".aws/credentials",
    ],
)
def test_secret_names(tmp_path: Path, rel: str) -> None:
    (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / rel).write_text("nothing to see\n")
    (found,) = secret_files(tmp_path, [rel], ())
    assert (found.check, found.severity, found.location) == ("secret-file", "error", rel)


@pytest.mark.parametrize(
    "rel",
    [".env.example", ".env.sample", "id_rsa.pub", "environment.yml", "keys.py", "credentials.md"],
)
def test_names_that_are_not_secrets(tmp_path: Path, rel: str) -> None:
    (tmp_path / rel).write_text("API_KEY=\n")
    assert secret_files(tmp_path, [rel], ()) == []


def test_pem_certificate_is_not_a_secret_but_a_pem_key_is(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text(
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    )
    (tmp_path / "me.pem").write_text("header\n" + "-----BEGIN RSA " + "PRIVATE KEY-----\nMIIE\n")
    found = secret_files(tmp_path, ["ca.pem", "me.pem"], ())
    assert [f.location for f in found] == ["me.pem:2"]


@pytest.mark.parametrize(
    ("text", "line", "kind"),
    [
        (f"x = 1\n{PRIVATE_KEY}\n", 2, "a private key"),
        (f"\n\n{PGP_KEY}\n", 3, "a PGP private key"),
        (f"token = '{GITHUB_TOKEN}'\n", 1, "a GitHub token"),
        (f"SLACK={SLACK_TOKEN}\n", 1, "a Slack token"),
        (f"key: {GOOGLE_KEY}\n", 1, "a Google API key"),
        (f"aws_secret_access_key = {AWS_SECRET}\n", 1, "an AWS secret access key"),
        (
            f"[p]\nid = {AWS_KEY_ID}\nsecret = {AWS_SECRET}\n",
            2,
            "an AWS access key with its secret",
        ),
        (f'API_KEY = "{ALNUM[:24]}"\n', 1, "an API key or secret key"),
        (f"x\nsecret_key: '{ALNUM[5:30]}'\n", 2, "an API key or secret key"),
    ],
)
def test_secret_contents(text: str, line: int, kind: str) -> None:
    assert secret_in_text(text) == (line, kind)


@pytest.mark.parametrize(
    "text",
    [
        "Set AWS_ACCESS_KEY_ID (it starts with AKIA) and AWS_SECRET_ACCESS_KEY.\n",
        "id = AKIAIOSFODNN7EXAMPLE\nsecret = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
        f"id = {AWS_KEY_ID}\n",  # an access key id alone is not a credential
        'API_KEY = "your-api-key-goes-here-please"\n',
        'api_key = "xxxxxxxxxxxxxxxxxxxxxxxxxxxx"\n',
        "GITHUB_TOKEN=ghp_your_token_here\n",
        "aws_secret_access_key = <your secret>\n",
        "private_key = load('key.pem')\n",
    ],
)
def test_look_alikes(text: str) -> None:
    assert secret_in_text(text) is None


def test_content_location_and_binary_and_large(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text(f"# Notes\n\nuse {GITHUB_TOKEN}\n")
    (tmp_path / "blob.bin").write_bytes(b"\0\1" + GITHUB_TOKEN.encode())
    (tmp_path / "big.txt").write_text("x" * (1 << 20) + GITHUB_TOKEN)
    found = secret_files(tmp_path, ["big.txt", "blob.bin", "notes.md"], ())
    assert [(f.location, f.message) for f in found] == [
        ("notes.md:3", "notes.md contains what looks like a GitHub token")
    ]


def test_allowed_globs(tmp_path: Path) -> None:
    (tmp_path / "a.pem").write_text("x\n")
    (tmp_path / "b.pem").write_text("x\n")
    assert [f.location for f in secret_files(tmp_path, ["a.pem", "b.pem"], ["a.pem"])] == ["b.pem"]
    assert secret_files(tmp_path, ["a.pem", "b.pem"], ["*.pem"]) == []


def test_no_exclude_no_static_data_finding(make_project: MakeProject) -> None:
    root = make_project({"01_a.py": "x = 1\n", "data/a.csv": "x\n"})
    assert findings(root) == []


def test_example_has_no_secrets() -> None:
    example = Path(__file__).resolve().parent.parent.parent / "examples" / "paper_figures"
    assert run_checks(static_context(example), only=IDS) == []
