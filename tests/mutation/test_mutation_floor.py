"""The mutation floor, cheaply: a seeded sample of each enforced module's mutants (tests/mutation/targets.toml:
`ci_sample` of them, 2 unless the module's tests are slow) run against that module's tests, in under two
minutes on two cores. Fails when fewer than 90% of the sampled mutants that are not recorded as equivalent are
killed. The full audit is `./dev mutate` (README).

The sample is fixed by the seed and the code: the same commit always runs the same mutants."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_runner():
    spec = importlib.util.spec_from_file_location("mutate_runner", ROOT / "scripts" / "mutate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


mutate = _load_runner()


def test_every_module_in_targets_exists_and_names_existing_tests():
    targets = mutate.load_targets()
    assert targets
    for target in targets.values():
        assert (ROOT / target.module).is_file(), target.module
        for test in target.tests:
            assert (ROOT / test).is_file(), f"{target.module}: {test} does not exist"


def test_every_recorded_equivalent_names_a_mutant_that_exists_and_says_why():
    # A stale entry would silently excuse nothing; a missing reason would excuse without saying why.
    equivalents = mutate.load_equivalents()
    targets = mutate.load_targets()
    for module, entries in equivalents.items():
        assert module in targets, f"equivalents for {module}, which targets.toml does not list"
        # Only the functions the entries name are mutated: a key starts with its function's name.
        keys = {m.key for m in mutate.mutants_in(module, {key.split(":", 1)[0] for key in entries})}
        stale = [key for key in entries if key not in keys]
        assert not stale, f"{module}: equivalents that match no mutant any more: {stale}"


def test_mutant_keys_do_not_depend_on_line_numbers(tmp_path, monkeypatch):
    source = (ROOT / "server/taskrouter_gateway/scopes.py").read_text()
    shifted = tmp_path / "server/taskrouter_gateway/scopes.py"
    shifted.parent.mkdir(parents=True)
    shifted.write_text("# one more line\n\n" + source)
    monkeypatch.setattr(mutate, "ROOT", tmp_path)
    keys = [m.key for m in mutate.enumerate_mutants("server/taskrouter_gateway/scopes.py")]
    monkeypatch.setattr(mutate, "ROOT", ROOT)
    assert keys == [m.key for m in mutate.enumerate_mutants("server/taskrouter_gateway/scopes.py")]
    assert len(keys) == len(set(keys))


def test_a_sample_is_fixed_by_its_seed_and_keyed_as_in_the_full_list():
    module = "server/taskrouter_gateway/scopes.py"
    first = [m.key for m in mutate.sample_mutants(module, 5, "ci:x")]
    assert len(first) == 5
    assert first == [m.key for m in mutate.sample_mutants(module, 5, "ci:x")]
    assert first != [m.key for m in mutate.sample_mutants(module, 5, "ci:y")]
    assert set(first) <= {m.key for m in mutate.enumerate_mutants(module)}
    # Keys to leave out are passed over, and the sample is still full.
    others = [m.key for m in mutate.sample_mutants(module, 5, "ci:x", exclude=first[:3])]
    assert len(others) == 5 and not set(others) & set(first[:3])


@pytest.mark.slow
def test_sampled_mutants_of_the_enforced_modules_are_killed(tmp_path):
    equivalents = mutate.load_equivalents()
    jobs = mutate.ci_jobs(mutate.load_targets())
    # Two scratch copies of the tree, side by side: the rest of the suite runs one test at a time, so the second
    # core is free. No baseline run: the rest of the suite runs these tests unmutated.
    reports = mutate.run_in_copies(jobs, workers=2, baseline=False, nice=5, scratch=tmp_path)
    assert sorted(r.module for r in reports) == sorted(t.module for t, _ in jobs)
    assert all(set(r.equivalent) <= set(equivalents.get(r.module, {})) for r in reports)
    killed = sum(r.killed + r.timed_out for r in reports)
    counted = sum(r.counted for r in reports)
    errors = [e for r in reports for e in r.errors]
    assert not errors, mutate.render(reports)
    assert counted and killed / counted >= mutate.FLOOR, mutate.render(reports)

def test_each_mutant_is_the_text_cosmic_ray_itself_would_write():
    # Keys and diffs come from a fast in-place edit of one parsed tree; the run applies the spec with Cosmic
    # Ray's own mutate_code. They must agree for every operator kept, or a key would name another mutant.
    from cosmic_ray.mutating import mutate_code
    from cosmic_ray.plugins import get_operator

    module = "server/taskrouter_gateway/stream/fanout.py"  # 24 of the 34 kept operators occur in it
    parsed = mutate._parse(module)
    first_of_each: dict[str, int] = {}
    for i, site in enumerate(parsed.sites):
        first_of_each.setdefault(site.spec.operator_name, i)
    kinds = {"AddNot", "ExceptionReplacer", "NumberReplacer", "RemoveDecorator", "ZeroIterationForLoop",
             "ReplaceAndWithOr", "ReplaceTrueWithFalse", "ReplaceBreakWithContinue",
             "ReplaceUnaryOperator_Delete_Not", "ReplaceBinaryOperator_Add_Sub", "ReplaceComparisonOperator_Lt_LtE"}
    assert {f"core/{kind}" for kind in kinds} <= set(first_of_each)
    for i in first_of_each.values():
        spec = parsed.sites[i].spec
        expected = mutate_code(parsed.source, get_operator(spec.operator_name)(), spec.occurrence)
        assert mutate._mutated_source(parsed, parsed.sites[i]) == expected, spec.operator_name
    # ... and the tree is put back after each one.
    assert parsed.tree.get_code() == parsed.source


def test_the_ci_sample_takes_one_mutant_per_group_and_the_same_ones_each_time():
    targets = mutate.load_targets()
    jobs = mutate.ci_jobs(targets)
    grouped = [(t, m) for t, m in jobs if t.ci_group is not None]
    groups = {t.ci_group for t in targets.values() if t.enforced and t.ci_group is not None}
    assert groups and sorted(t.ci_group for t, _ in grouped) == sorted(groups)
    assert all(len(m) == 1 for _, m in grouped)
    ungrouped = {t.module for t in targets.values() if t.enforced and t.ci_group is None}
    assert {t.module for t, _ in jobs if t.ci_group is None} == ungrouped
    assert [(t.module, [x.key for x in m]) for t, m in jobs] == [
        (t.module, [x.key for x in m]) for t, m in mutate.ci_jobs(targets)]


def test_the_ci_sample_never_runs_a_mutant_recorded_as_equivalent():
    # An equivalent survivor counts for nothing, so a module (or a group) whose sample drew one would be checked
    # by nothing at all.
    equivalents = mutate.load_equivalents()
    jobs = mutate.ci_jobs(mutate.load_targets())
    assert all(m for _, m in jobs)
    assert not [(t.module, x.key) for t, m in jobs for x in m if x.key in equivalents.get(t.module, {})]
