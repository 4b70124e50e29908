"""Tests of capsule/checks/code.py: each check fires on its planted defect, and on nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from capsule.audit import run_checks, static_context
from capsule.checks import CHECKS
from capsule.checks import code as code_checks

from conftest import EXAMPLE, MakeProject

MESSY = Path(__file__).resolve().parent.parent / "projects" / "messy-code"
CODE_CHECKS = tuple(code_checks.CHECKS)

# The defects planted in tests/projects/messy-code/, each marked `# DEFECT <check>` there.
PLANTED = {
    ("absolute-path", "scripts/01_paths.py:13"),
    ("unseeded-random", "scripts/02_random.py:19"),
    ("wall-clock", "scripts/03_time.py:10"),
    ("unordered-iteration", "scripts/04_order.py:16"),
    ("code-does-not-parse", "scripts/05_broken.py:4"),
    ("unseeded-random", "notebooks/06_nb.ipynb:cell 2:1"),
}


def test_every_code_check_is_registered() -> None:
    """The family's checks are in the audit's one table, under their stable ids."""
    assert set(CODE_CHECKS) == {
        "absolute-path",
        "unseeded-random",
        "wall-clock",
        "unordered-iteration",
        "code-does-not-parse",
    }
    for check_id in CODE_CHECKS:
        assert CHECKS[check_id] is code_checks.CHECKS[check_id]


def test_planted_defects_are_marked_in_the_fixture() -> None:
    """Each planted location is a line marked `# DEFECT <check>` (guards the table above)."""
    for check_id, location in PLANTED:
        path, _, rest = location.partition(":")
        if rest.startswith("cell "):
            cell, line = (int(part) for part in rest.removeprefix("cell ").split(":"))
            doc = json.loads((MESSY / path).read_text(encoding="utf-8"))
            code = [c for c in doc["cells"] if c["cell_type"] == "code"]
            text = "".join(code[cell - 1]["source"]).splitlines()[line - 1]
        else:
            text = (MESSY / path).read_text(encoding="utf-8").splitlines()[int(rest) - 1]
        assert f"# DEFECT {check_id}" in text, location


def test_messy_code_gives_exactly_the_planted_defects() -> None:
    """Every check fires on its defect, at the right line, and on no look-alike."""
    findings = run_checks(static_context(MESSY), only=CODE_CHECKS)
    assert {(f.check, f.location) for f in findings} == PLANTED
    assert len(findings) == len(PLANTED)


@pytest.mark.parametrize("check_id", CODE_CHECKS)
def test_each_check_alone_on_messy_code(check_id: str) -> None:
    """Run alone, a check finds its own defects with its severity, a message and a fix."""
    findings = run_checks(static_context(MESSY), only=[check_id])
    assert {(f.check, f.location) for f in findings} == {p for p in PLANTED if p[0] == check_id}
    for finding in findings:
        expected = "error" if check_id == "code-does-not-parse" else "warning"
        assert finding.severity == expected
        assert finding.location in finding.message or check_id == "code-does-not-parse"
        assert finding.fix


def test_messages_name_what_the_author_wrote() -> None:
    """Messages quote the author's own code: the path, the call as written."""
    by_check = {f.check: f for f in run_checks(static_context(MESSY), only=CODE_CHECKS)}
    assert "/home/ana/project/raw.csv" in by_check["absolute-path"].message
    assert "datetime.now()" in by_check["wall-clock"].message
    assert "glob.glob('*.csv')" in by_check["unordered-iteration"].message
    assert "expected ':'" in by_check["code-does-not-parse"].message
    assert by_check["unordered-iteration"].fix == code_checks.FIX_UNORDERED
    assert by_check["wall-clock"].fix == code_checks.FIX_WALL_CLOCK


def test_the_example_has_no_code_findings() -> None:
    """examples/paper_figures seeds everything, sorts, and uses relative paths."""
    assert run_checks(static_context(EXAMPLE), only=CODE_CHECKS) == []


# ── variants, on one-file analyses: (check, source, lines that must fire) ─────────────────

VARIANTS: list[tuple[str, str, set[int]]] = [
    # absolute-path
    ("absolute-path", "from pathlib import Path\np = Path.home() / 'x.csv'\n", {2}),
    ("absolute-path", "import os\np = os.path.expanduser('~/data/x.csv')\n", {2}),
    ("absolute-path", "import os\np = os.path.expanduser(name)\n", {2}),
    ("absolute-path", "import os\np = os.environ['HOME']\nq = os.getenv('HOME')\n", {2, 3}),
    ("absolute-path", "p = r'C:\\Users\\ana\\x.csv'\nq = '\\\\\\\\nas\\\\lab\\\\x.csv'\n", {1, 2}),
    ("absolute-path", "p = f'/home/{user}/x.csv'\nq = open('/data/raw/x.csv')\n", {1, 2}),
    ("absolute-path", "p = '/srv/lab/results'\nq = '/a/b/c.parquet'\n", {1, 2}),
    (
        "absolute-path",
        "'''/home/ana in a docstring'''\na = '/'\nb = '/tmp'\nc = '/api/v1'\nd = 'a/b.csv'\n"
        "e = 'https://x.org/a/b'\nf = r'h:\\d\\d'\ng = '/dev/stdout'\nh = '%Y/%m/%d'\ni = '~'\n",
        set(),
    ),
    # unseeded-random
    ("unseeded-random", "import random\nx = random.choice([1, 2])\n", {2}),
    ("unseeded-random", "from random import shuffle\nshuffle(x)\n", {2}),
    ("unseeded-random", "import random\nx = random.random()\nrandom.seed(0)\n", {2}),
    ("unseeded-random", "import random\nr = random.Random()\n", {2}),
    ("unseeded-random", "import numpy as np\nr = np.random.default_rng()\n", {2}),
    ("unseeded-random", "import numpy as np\nr = np.random.RandomState(None)\n", {2}),
    ("unseeded-random", "from numpy import random\nx = random.rand(3)\n", {2}),
    ("unseeded-random", "import numpy.random as npr\nnpr.shuffle(x)\n", {2}),
    ("unseeded-random", "import sklearn.ensemble as ens\nm = ens.ExtraTreesClassifier()\n", {2}),
    (
        "unseeded-random",
        "from sklearn.model_selection import KFold, train_test_split\n"
        "a = train_test_split(x, y)\nb = KFold(5, shuffle=True)\n"
        "c = train_test_split(x, random_state=None)\n",
        {2, 3, 4},
    ),
    (
        "unseeded-random",
        "import random\nimport numpy as np\nfrom sklearn.linear_model import LogisticRegression\n"
        "from sklearn.model_selection import KFold, train_test_split\n"
        "from sklearn.ensemble import RandomForestClassifier\n"
        "def draw():\n    return random.random()\n"
        "random.seed(0)\nx = random.random()\nr = random.Random(7)\n"
        "g = np.random.default_rng(seed=1)\ny = g.choice(x)\n"
        "m = LogisticRegression()\nk = KFold(5)\ns = train_test_split(x, shuffle=False)\n"
        "f = RandomForestClassifier(**params)\n",
        set(),
    ),
    # wall-clock
    ("wall-clock", "import time\nt = time.time()\nopen('o.txt', 'w').write(str(t))\n", {2}),
    ("wall-clock", "import socket\nh = socket.gethostname()\ndf.to_csv('o.csv')\n", {2}),
    (
        "wall-clock",
        "import time, uuid\nt = time.ctime()\nu = uuid.uuid4()\nfig.savefig('f')\n",
        {2, 3},
    ),
    ("wall-clock", "import datetime\nd = datetime.date.today()\njson.dump(d, f)\n", {2}),
    ("wall-clock", "import json, datetime\nd = datetime.date.today()\njson.dump(d, f)\n", {2}),
    (
        "wall-clock",
        "import time\nt = time.ctime(0)\nu = time.perf_counter()\nopen('o.txt', 'w')\n",
        set(),
    ),
    ("wall-clock", "import time\nt = time.time()\nprint(open('i.txt').read(), t)\n", set()),
    # unordered-iteration
    ("unordered-iteration", "import os\nfor f in os.listdir('.'):\n    print(f)\n", {2}),
    (
        "unordered-iteration",
        "from pathlib import Path\nx = [p for p in Path('.').iterdir()]\n",
        {2},
    ),
    ("unordered-iteration", "x = list({1, 2})\ny = ','.join(set(z))\n", {1, 2}),
    ("unordered-iteration", "import os\nfor i, e in enumerate(os.scandir('.')):\n    pass\n", {2}),
    ("unordered-iteration", "for x in {a for a in y}:\n    pass\n", {1}),
    (
        "unordered-iteration",
        "import os\nfrom pathlib import Path\nfor f in sorted(os.listdir('.')):\n    pass\n"
        "a = 'x' in set(y)\nb = len(set(y))\nc = os.path.join('a', 'b')\n"
        "d = sorted(Path('.').rglob('*'))\ne = [v for v in sorted(set(y))]\n",
        set(),
    ),
    # code-does-not-parse
    ("code-does-not-parse", "x = 1\ny = (\n", {2}),
]


@pytest.mark.parametrize(("check_id", "source", "lines"), VARIANTS)
def test_variants(make_project: MakeProject, check_id: str, source: str, lines: set[int]) -> None:
    """Each variant fires on exactly the expected lines of 01_step.py."""
    root = make_project({"01_step.py": source})
    findings = run_checks(static_context(root), only=[check_id])
    assert {f.location for f in findings} == {f"01_step.py:{line}" for line in lines}


def _notebook(*cells: str) -> str:
    """A minimal notebook (nbformat 4) with these code cells."""
    return json.dumps(
        {
            "cells": [
                {"cell_type": "code", "source": s, "metadata": {}, "outputs": [], "id": str(i)}
                for i, s in enumerate(cells)
            ],
            "metadata": {},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )


def test_notebook_cells_share_imports_and_seeds(make_project: MakeProject) -> None:
    """An import or a seed in an earlier cell counts; a seed in a later cell does not."""
    root = make_project(
        {
            "01_nb.ipynb": _notebook(
                "import numpy as np\nimport random",
                "np.random.seed(0)\na = np.random.rand(2)",
                "b = np.random.randn(2)\nc = random.random()",
                "random.seed(1)",
            )
        }
    )
    findings = run_checks(static_context(root), only=["unseeded-random"])
    assert {f.location for f in findings} == {"01_nb.ipynb:cell 3:2"}


def test_notebook_cell_that_does_not_parse(make_project: MakeProject) -> None:
    """A broken cell is located by its cell and line; magics are not syntax errors."""
    root = make_project({"01_nb.ipynb": _notebook("%matplotlib inline\nx = 1", "y = 2\nz = )")})
    findings = run_checks(static_context(root), only=["code-does-not-parse"])
    assert [(f.location, f.severity) for f in findings] == [("01_nb.ipynb:cell 2:2", "error")]
