"""Every planted leak and bug of ``tests/honesty/mutations.py`` turns its tests red.

For each row of the table the packages are copied to a temporary directory, the leak is
planted there by a text substitution, and the row's tests are run against the copy in a
subprocess; each of them must fail. Two plants run at a time. A row whose text no longer
occurs in the code fails ``test_every_plant_still_applies`` (update the row to plant the
same leak in the new code). See ``docs/design/honesty.md``.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("oof_mutations", Path(__file__).with_name("mutations.py"))
mutations = importlib.util.module_from_spec(_spec)
sys.modules["oof_mutations"] = mutations
_spec.loader.exec_module(mutations)

ROOT = mutations.ROOT
IDS = [m.id for m in mutations.MUTATIONS]


def test_every_plant_still_applies_and_names_tests_that_exist():
    assert len(IDS) == len(set(IDS)), "mutation ids must be unique"
    for m in mutations.MUTATIONS:
        text = (ROOT / m.file).read_text()
        assert text.count(m.old) == 1, f"{m.id}: its text occurs {text.count(m.old)} times in {m.file}"
        assert m.new != m.old
        assert m.tests, f"{m.id}: names no test"
        for t in m.tests:
            path, _, name = t.partition("::")
            source = (ROOT / path).read_text()
            assert re.search(rf"def {re.escape(name.split('[')[0])}\(", source), f"{m.id}: no test {t}"


def test_the_design_page_lists_every_plant():
    page = (ROOT / "docs" / "design" / "honesty.md").read_text()
    missing = [i for i in IDS if f"`{i}`" not in page]
    assert not missing, f"docs/design/honesty.md does not list {missing}"


def test_a_plant_whose_text_is_gone_fails_loudly(tmp_path):
    m = mutations.Mutation("gone", "blend/nested.py", "text that is not in the file", "x",
                           ("tests/honesty/test_leakage.py::test_x",), "nothing")
    with pytest.raises(LookupError, match="occurs 0 times in blend/nested.py"):
        mutations.plant(m, tmp_path / "copy")


@pytest.fixture(scope="module")
def outcomes(request, tmp_path_factory):
    """Run the plants of the selected tests, two at a time, once per module."""
    base = tmp_path_factory.mktemp("mutations")
    copy = mutations.plant(mutations.MUTATIONS[0], base / "check")
    where = mutations.imported_from(copy)
    for pkg, path in where.items():  # the runs test the copy, not the installed packages
        assert Path(path).resolve().is_relative_to(copy.resolve()), f"{pkg} from {path}"
    chosen = [item.callspec.params["mid"] for item in request.session.items
              if getattr(item, "originalname", "") == "test_the_plant_turns_its_tests_red"]
    return mutations.run_all([mutations.get(i) for i in dict.fromkeys(chosen)], base, workers=2)


@pytest.mark.parametrize("mid", IDS)
def test_the_plant_turns_its_tests_red(mid, outcomes):
    outcome = outcomes[mid]
    problems = outcome.problems()
    assert not problems, (f"{mid} ({outcome.mutation.plants}) was not caught:\n"
                          + "\n".join(problems) + "\n" + outcome.output[-3000:])
