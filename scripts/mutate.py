"""Mutation testing for the modules that guard callers and events (`./dev mutate`, docs/mutation-testing.md).

    ./dev mutate [module ...]              every mutant of each module (all modules in targets.toml if none)
    ./dev mutate --sample 3 --seed 22 ...  a seeded sample of each module's mutants
    ./dev mutate --list [module ...]       the mutants and their keys, without running anything
    ./dev mutate --ci                      what CI runs: each enforced module's ci_sample, no baseline
    ./dev mutate --jobs 2 ...              modules shared among 2 scratch copies of the tree, run side by side

Cosmic Ray enumerates and applies the mutations (one fresh pytest process per mutant, the module mutated on
disk and restored after); this script picks one replacement per site, runs each module against the tests that
exercise it (tests/mutation/targets.toml), and reports killed, timed-out and surviving mutants. Survivors
listed in tests/mutation/equivalents.toml (keyed by module + function + the mutated text, never by line) are
judged equivalent and do not count; every other survivor is shown with its diff.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import difflib
import json
import os
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ROOT / "tests" / "mutation" / "targets.toml"
EQUIVALENTS = ROOT / "tests" / "mutation" / "equivalents.toml"
OUT = ROOT / ".mutation"
FLOOR = 0.90

# Cosmic Ray offers every replacement of an operator (a + b becomes -, *, /, //, %, **, <<, >>, |, &, ^); one
# per site is kept, the one a slip of the hand would make. The rest mostly die together and cost a pytest run each.
_COMPARE = {"Eq": "NotEq", "NotEq": "Eq", "Lt": "LtE", "LtE": "Lt", "Gt": "GtE", "GtE": "Gt", "Is": "IsNot",
            "IsNot": "Is"}
_BINARY = {"Add": "Sub", "Sub": "Add", "Mul": "Div", "Div": "Mul", "FloorDiv": "Mul", "Mod": "FloorDiv",
           "Pow": "Mul", "LShift": "RShift", "RShift": "LShift", "BitOr": "BitAnd", "BitAnd": "BitOr",
           "BitXor": "BitOr"}
_KEPT = {f"core/ReplaceComparisonOperator_{a}_{b}" for a, b in _COMPARE.items()}
_KEPT |= {f"core/ReplaceBinaryOperator_{a}_{b}" for a, b in _BINARY.items()}
_KEPT |= {"core/ReplaceUnaryOperator_Delete_Not", "core/ReplaceUnaryOperator_Delete_USub",
          "core/ReplaceUnaryOperator_Delete_Invert"}
_KEPT |= {f"core/{name}" for name in (
    "AddNot", "ReplaceTrueWithFalse", "ReplaceFalseWithTrue", "ReplaceAndWithOr", "ReplaceOrWithAnd",
    "ReplaceBreakWithContinue", "ReplaceContinueWithBreak", "ExceptionReplacer", "NumberReplacer",
    "RemoveDecorator", "ZeroIterationForLoop")}


@dataclass
class Mutant:
    module: str  # repository-relative path
    key: str  # "function: before -> after", stable across edits elsewhere in the module
    spec: object  # cosmic_ray.work_item.MutationSpec
    diff: str


@dataclass
class Target:
    module: str
    tests: list[str]
    select: str | None = None  # a pytest -k expression, to leave out slow fuzz tests
    enforced: bool = True  # whether the CI sample holds this module to the floor
    timeout_floor: float = 30.0
    ci_sample: int = 2  # mutants the CI sample runs (test_mutation_floor.py); fewer for modules with slow tests
    ci_group: str | None = None  # modules that share a test list: the CI sample draws one mutant from them all


@dataclass
class Report:
    module: str
    total: int = 0
    killed: int = 0
    timed_out: int = 0
    equivalent: list[str] = field(default_factory=list)
    survived: list[dict[str, str]] = field(default_factory=list)  # not judged equivalent
    errors: list[dict[str, str]] = field(default_factory=list)  # the test run could not be made
    seconds: float = 0.0

    @property
    def counted(self) -> int:
        return self.killed + self.timed_out + len(self.survived)

    @property
    def score(self) -> float:
        return 1.0 if not self.counted else (self.killed + self.timed_out) / self.counted

    def to_json(self) -> dict[str, Any]:
        return self.__dict__ | {"score": self.score}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Report:
        return cls(**{k: v for k, v in data.items() if k != "score"})


def load_targets(path: Path = TARGETS) -> dict[str, Target]:
    data = tomllib.loads(path.read_text())
    targets = {}
    for module, entry in data["modules"].items():
        targets[module] = Target(module, list(entry["tests"]), entry.get("select"), entry.get("enforced", True),
                                 float(entry.get("timeout_floor", 30.0)), int(entry.get("ci_sample", 2)),
                                 entry.get("ci_group"))
    return targets


def load_equivalents(path: Path = EQUIVALENTS) -> dict[str, dict[str, str]]:
    """{module: {key: why}}."""
    if not path.exists():
        return {}
    out: dict[str, dict[str, str]] = {}
    for entry in tomllib.loads(path.read_text()).get("equivalent", []):
        if not entry.get("why", "").strip():
            raise ValueError(f"{path}: equivalent {entry.get('mutant')!r} of {entry.get('module')} has no 'why'")
        out.setdefault(entry["module"], {})[entry["mutant"]] = entry["why"]
    return out


def _annotation_lines(source: str) -> set[tuple[int, int, int, int]]:
    """Spans of type annotations: with `from __future__ import annotations` they are never evaluated, so their
    mutants (`X | None` to `X & None`) are all equivalent."""
    spans = set()
    for node in ast.walk(ast.parse(source)):
        annotations = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            annotations.append(node.returns)
        elif isinstance(node, ast.arg) and node.annotation is not None:
            annotations.append(node.annotation)
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        for ann in annotations:
            spans.add((ann.lineno, ann.col_offset, ann.end_lineno or ann.lineno, ann.end_col_offset or 0))
    return spans


def _inside(pos: tuple[int, int], spans: set[tuple[int, int, int, int]]) -> bool:
    return any((l0, c0) <= pos < (l1, c1) for l0, c0, l1, c1 in spans)


def _normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip())


@dataclass
class _Site:
    """One mutation Cosmic Ray would make: its spec, and the node and position index it applies to."""

    spec: Any  # cosmic_ray.work_item.MutationSpec
    node: Any  # parso node in the module's tree
    index: int


@dataclass
class _Parsed:
    source: str
    tree: Any  # parso module
    sites: list[_Site]


def _parse(module: str) -> _Parsed:
    """The module parsed once, and Cosmic Ray's mutations of it, one replacement per site, outside annotations.

    The specs are the ones Cosmic Ray's `init` makes (same operator order, same occurrence numbering: the n-th
    position of an operator in a pre-order walk), enumerated for the kept operators only; walking all 213 of
    them was most of the cost of listing a module's mutants."""
    from cosmic_ray.ast import ast_nodes, get_ast
    from cosmic_ray.ast.ast_query import ASTQuery
    from cosmic_ray.plugins import get_operator, operator_names
    from cosmic_ray.work_item import MutationSpec

    path = ROOT / module
    source = path.read_text()
    tree = get_ast(source)
    nodes = list(ast_nodes(tree))
    spans = _annotation_lines(source)
    lines = source.splitlines()
    sites = []
    for name in operator_names():
        if name not in _KEPT:
            continue
        operator = get_operator(name)()
        occurrence = 0
        for node in nodes:
            for index, (start, end) in enumerate(operator.mutation_positions(node)):
                spec = MutationSpec(module_path=str(path), operator_name=name, operator_args={},
                                    occurrence=occurrence, start_pos=start, end_pos=end,
                                    definition_name=ASTQuery(node).get_definition_name())
                occurrence += 1
                if _inside(tuple(start), spans):
                    continue
                if name.startswith("core/ReplaceBinaryOperator_Mul_"):
                    line, col = start
                    if lines[line - 1][col + 1 :].lstrip()[:1] in (",", ")"):
                        continue  # the bare `*` of keyword-only parameters, not a multiplication
                sites.append(_Site(spec, node, index))
    return _Parsed(source, tree, sites)


def _mutated_source(parsed: _Parsed, site: _Site) -> str:
    """The module's text with one mutation applied, as Cosmic Ray's mutate_code gives it, without parsing the
    module again: the operator edits the parsed tree in place, the text is read off, and the tree is put back
    (operators change only the node they are given and what lies under it)."""
    from cosmic_ray.ast import ast_nodes
    from cosmic_ray.plugins import get_operator

    node = site.node
    saved = [(n, getattr(n, "children", None), list(getattr(n, "children", ())), getattr(n, "value", None))
             for n in ast_nodes(node)]
    parent = node.parent
    siblings = list(parent.children)
    try:
        replacement = get_operator(site.spec.operator_name)().mutate(node, site.index)
        if replacement is not node:  # a new node, or None: removed (as Cosmic Ray's walk does)
            parent.children = [replacement if c is node else c for c in siblings if replacement is not None or c is not node]
        return parsed.tree.get_code()
    finally:
        parent.children = siblings
        for n, children, items, value in saved:
            if children is not None:
                n.children = children
                children[:] = items
            else:
                n.value = value


def _describe(module: str, parsed: _Parsed, wanted: set[int] | None = None) -> list[Mutant]:
    """Mutants (key and diff) for the sites whose index is in `wanted` (all if None), plus, for a sample, the
    earlier ones of the same function and operator that its key's "#n" depends on."""
    sites, source = parsed.sites, parsed.source
    if wanted is not None:
        groups = {(sites[i].spec.definition_name, sites[i].spec.operator_name) for i in wanted}
        needed = {i for i, s in enumerate(sites) if (s.spec.definition_name, s.spec.operator_name) in groups}
    mutants: list[Mutant] = []
    seen: Counter[str] = Counter()
    for index, site in enumerate(sites):
        if wanted is not None and index not in needed:
            continue
        try:
            mutated = _mutated_source(parsed, site)
        except Exception:  # noqa: BLE001 - e.g. ExceptionReplacer on `except (mod.Error, ...)`
            continue  # an operator that cannot handle this site: no mutant, rather than no run at all
        if mutated == source:
            continue
        diff = list(difflib.unified_diff(source.splitlines(), mutated.splitlines(), module, module, n=1,
                                         lineterm=""))
        before = " / ".join(_normalize(line[1:]) for line in diff[2:] if line.startswith("-"))
        after = " / ".join(_normalize(line[1:]) for line in diff[2:] if line.startswith("+"))
        key = f"{site.spec.definition_name or '<module>'}: {before} -> {after or '(removed)'}"
        seen[key] += 1
        if seen[key] > 1:  # the same text mutated the same way twice in one function: number them in order
            key = f"{key} #{seen[key]}"
        if wanted is None or index in wanted:
            mutants.append(Mutant(module, key, site.spec, "\n".join(diff)))
    return mutants


def enumerate_mutants(module: str) -> list[Mutant]:
    return _describe(module, _parse(module))


def mutants_in(module: str, definitions: set[str]) -> list[Mutant]:
    """The mutants of the named functions or classes ("<module>" for top-level code) only: cheaper than all."""
    parsed = _parse(module)
    wanted = {i for i, s in enumerate(parsed.sites) if (s.spec.definition_name or "<module>") in definitions}
    return _describe(module, parsed, wanted)


def sample_mutants(module: str, count: int, seed: str, parsed: _Parsed | None = None,
                   exclude: Collection[str] = ()) -> list[Mutant]:
    """`count` mutants drawn with a seeded generator, none of them keyed in `exclude`: the same code, seed and
    exclusions always give the same ones."""
    parsed = parsed or _parse(module)
    if count >= len(parsed.sites):  # all of them: one pass, not one per site (each redoes its "#n" group)
        return [m for m in _describe(module, parsed) if m.key not in exclude]
    picked: list[tuple[int, Mutant]] = []
    for index in random.Random(seed).sample(range(len(parsed.sites)), len(parsed.sites)):
        if len(picked) == count:
            break
        picked += [(index, m) for m in _describe(module, parsed, {index}) if m.key not in exclude]
    return [m for _, m in sorted(picked, key=lambda pair: pair[0])]


def ci_sample(target: Target, equivalents: Collection[str] = ()) -> list[Mutant]:
    """The module's mutants the CI check runs: its ci_sample of them (MUTATION_SAMPLE overrides it for every
    module), drawn with a fixed seed so a commit always runs the same ones (MUTATION_SEED draws others), and
    never one recorded as equivalent, which would count for nothing."""
    count = int(os.environ.get("MUTATION_SAMPLE", target.ci_sample))
    return sample_mutants(target.module, count, f"{os.environ.get('MUTATION_SEED', 'ci')}:{target.module}",
                          exclude=equivalents)


def ci_jobs(targets: dict[str, Target]) -> list[tuple[Target, list[Mutant]]]:
    """What the CI check runs: each enforced module's ci_sample; a ci_group (modules whose mutants all run the
    same slow test list) gives one mutant, from a module drawn by its number of mutants, so the group costs one
    run instead of one per module. MUTATION_SAMPLE samples every module, groups or not."""
    enforced = [t for t in targets.values() if t.enforced]
    equivalents = load_equivalents()
    if "MUTATION_SAMPLE" in os.environ:
        return [(t, ci_sample(t, equivalents.get(t.module, {}))) for t in enforced]
    jobs = [(t, ci_sample(t, equivalents.get(t.module, {}))) for t in enforced if t.ci_group is None]
    groups: dict[str, list[Target]] = {}
    for t in enforced:
        if t.ci_group is not None:
            groups.setdefault(t.ci_group, []).append(t)
    seed = os.environ.get("MUTATION_SEED", "ci")
    for name, members in sorted(groups.items()):
        parsed = [_parse(t.module) for t in members]
        pick = random.Random(f"{seed}:{name}").choices(range(len(members)), weights=[len(p.sites) for p in parsed])[0]
        chosen = members[pick]
        jobs.append((chosen, sample_mutants(chosen.module, 1, f"{seed}:{name}:{chosen.module}", parsed[pick],
                                            exclude=equivalents.get(chosen.module, {}))))
    return jobs


def test_command(target: Target) -> str:
    parts = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *target.tests]
    if target.select:
        parts += ["-k", target.select]
    return shlex.join(parts)


class _Backup:
    """A copy of the module beside .mutation/ while it is mutated: a run killed hard (SIGKILL) leaves the file
    mutated, and the next run puts the original back before doing anything."""

    def __init__(self, module: str) -> None:
        self.path = ROOT / module
        self.copy = OUT / "backup" / module

    def __enter__(self) -> _Backup:
        self.copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.path, self.copy)
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.copyfile(self.copy, self.path)
        self.copy.unlink()


def restore_stale_backups() -> list[str]:
    restored = []
    backups = OUT / "backup"
    if backups.is_dir():
        for copy in backups.rglob("*.py"):
            module = copy.relative_to(backups)
            shutil.copyfile(copy, ROOT / module)
            copy.unlink()
            restored.append(str(module))
    return restored


@contextlib.contextmanager
def _in_tree() -> Iterator[None]:
    """Cosmic Ray runs the test command in the current directory with the current environment: both made to
    point at this tree, whichever tree the venv was installed from (PYTHONPATH comes before the editable
    install), so a scratch copy of the repository can be mutated while the working tree stays free."""
    cwd, pythonpath = os.getcwd(), os.environ.get("PYTHONPATH")
    os.chdir(ROOT)
    source_dirs = [str(ROOT / d) for d in ("server", "emulator", "clients/python")]
    os.environ["PYTHONPATH"] = os.pathsep.join(source_dirs + ([pythonpath] if pythonpath else []))
    try:
        yield
    finally:
        os.chdir(cwd)
        if pythonpath is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = pythonpath


def run_module(target: Target, mutants: list[Mutant], equivalents: dict[str, str], *, baseline: bool = True,
               progress=None) -> Report:
    from cosmic_ray.mutating import mutate_and_test
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    report = Report(target.module, total=len(mutants))
    started = time.monotonic()
    command = test_command(target)
    timeout = target.timeout_floor
    if baseline:
        t0 = time.monotonic()
        with _in_tree():
            run = subprocess.run(shlex.split(command), capture_output=True, text=True)
        if run.returncode != 0:
            raise SystemExit(f"{target.module}: its tests fail without any mutation:\n{command}\n{run.stdout[-3000:]}")
        timeout = max(timeout, 3 * (time.monotonic() - t0) + 10)
    with _in_tree(), _Backup(target.module):
        for index, mutant in enumerate(mutants, 1):
            result = mutate_and_test([mutant.spec], command, timeout)
            if result.worker_outcome == WorkerOutcome.NORMAL and result.test_outcome == TestOutcome.SURVIVED:
                if mutant.key in equivalents:
                    report.equivalent.append(mutant.key)
                    verdict = "equivalent"
                else:
                    report.survived.append({"key": mutant.key, "diff": mutant.diff})
                    verdict = "SURVIVED"
            elif result.worker_outcome == WorkerOutcome.NORMAL and result.test_outcome == TestOutcome.KILLED:
                if result.output == "timeout":
                    report.timed_out += 1
                    verdict = "timeout"
                else:
                    report.killed += 1
                    verdict = "killed"
            else:
                report.errors.append({"key": mutant.key, "output": (result.output or "")[-2000:]})
                verdict = f"error ({result.worker_outcome})"
            if progress:
                progress(f"  {Path(target.module).name} [{index}/{len(mutants)}] {verdict:10} {mutant.key}")
    report.seconds = time.monotonic() - started
    return report


def render(reports: list[Report]) -> str:
    lines = [f"{'module':48} {'mutants':>7} {'killed':>6} {'timeout':>7} {'equiv':>5} {'survived':>8} {'score':>6}"]
    for r in reports:
        lines.append(f"{r.module.removeprefix('server/taskrouter_gateway/'):48} {r.total:7} {r.killed:6} "
                     f"{r.timed_out:7} {len(r.equivalent):5} {len(r.survived):8} {r.score:6.1%}")
    for r in reports:
        for survivor in r.survived:
            lines += ["", f"survived in {r.module}: {survivor['key']}", survivor["diff"]]
        for error in r.errors:
            lines += ["", f"could not run in {r.module}: {error['key']}", error["output"]]
    return "\n".join(lines)


def _report_path(module: str) -> Path:
    return OUT / (module.replace("/", "_") + ".json")


def unused_equivalents(module: str, mutants: list[Mutant], equivalents: dict[str, str]) -> list[str]:
    keys = {m.key for m in mutants}
    return [key for key in equivalents if key not in keys]


# What a scratch copy leaves out: caches, installs and outputs, none of which a module's tests read.
_NOT_COPIED = shutil.ignore_patterns(".git", ".venv", "node_modules", ".mutation", "test-output", ".hypothesis",
                                     ".mypy_cache", ".ruff_cache", ".pytest_cache", "__pycache__", "*.egg-info")


def _share(jobs: list[tuple[Target, list[Mutant]]], workers: int) -> list[list[tuple[Target, list[Mutant]]]]:
    """Modules dealt to workers, most mutants first, each to the least loaded: a module stays in one copy."""
    shares: list[list[tuple[Target, list[Mutant]]]] = [[] for _ in range(workers)]
    loads = [0] * workers
    for job in sorted(jobs, key=lambda j: -len(j[1])):
        least = loads.index(min(loads))
        shares[least].append(job)
        loads[least] += len(job[1])
    return [share for share in shares if share]


def run_in_copies(jobs: list[tuple[Target, list[Mutant]]], *, workers: int, baseline: bool, nice: int,
                  scratch: Path) -> list[Report]:
    """Runs the modules' mutants in `workers` scratch copies of this tree at once, one `mutate.py --keys` process
    each: a module is mutated on disk, so two can only run side by side in separate trees."""
    if workers <= 1 or len(jobs) <= 1:
        equivalents = load_equivalents()
        return [run_module(t, m, equivalents.get(t.module, {}), baseline=baseline,
                           progress=lambda line: print(line, file=sys.stderr, flush=True)) for t, m in jobs]
    procs = []
    for n, share in enumerate(_share(jobs, workers)):
        copy = scratch / f"tree{n}"
        shutil.copytree(ROOT, copy, ignore=_NOT_COPIED, symlinks=True)
        keys = scratch / f"keys{n}.json"
        keys.write_text(json.dumps({t.module: [m.key for m in mutants] for t, mutants in share}))
        out = scratch / f"reports{n}.json"
        command = [sys.executable, str(copy / "scripts" / "mutate.py"), "--keys", str(keys), "--json", str(out),
                   "--nice", str(nice)] + ([] if baseline else ["--no-baseline"])
        procs.append((subprocess.Popen(command), out, shlex.join(command)))
    try:
        for proc, _, _ in procs:
            proc.wait()
    except BaseException:
        # Interrupted: each worker puts its module back on SIGTERM; wait for that before the copies go.
        for proc, _, _ in procs:
            proc.terminate()
        for proc, _, _ in procs:
            proc.wait()
        raise
    reports = []
    for proc, out, line in procs:
        if not out.exists():
            raise SystemExit(f"a mutation worker exited {proc.returncode} without a report: {line}")
        reports += [Report.from_json(r) for r in json.loads(out.read_text())]
    order = [t.module for t, _ in jobs]
    return sorted(reports, key=lambda r: order.index(r.module))


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev mutate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help="paths as in tests/mutation/targets.toml, or a unique suffix "
                                                   "(webhook.py, eventlog/log.py); all if none")
    parser.add_argument("--sample", type=int, metavar="N", help="run N seeded mutants per module, not all")
    parser.add_argument("--seed", default="22", help="seed for --sample [default 22]")
    parser.add_argument("--ci", action="store_true",
                        help="the CI check (tests/mutation/test_mutation_floor.py): the enforced modules, each its "
                             "ci_sample of mutants drawn with seed 'ci' (MUTATION_SEED), no baseline run")
    parser.add_argument("--list", action="store_true", help="list the mutants' keys and stop")
    parser.add_argument("--survivors", action="store_true",
                        help="rerun only the mutants that survived the module's last run (.mutation/), e.g. after "
                             "adding tests for them")
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="run modules in N scratch copies of the tree side by side [default 1]")
    parser.add_argument("--no-baseline", dest="baseline", action="store_false",
                        help="skip the unmutated test run that sets each module's timeout")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the reports to FILE")
    parser.add_argument("--keys", type=Path, help=argparse.SUPPRESS)  # {module: [key]}: a --jobs worker's share
    parser.add_argument("--nice", type=int, default=15, help="CPU niceness for the run [default 15]")
    args = parser.parse_args(argv)

    targets = load_targets()
    if args.keys:
        wanted_keys = {module: set(keys) for module, keys in json.loads(args.keys.read_text()).items()}
        names = list(wanted_keys)
    elif args.ci:
        names = args.modules or [m for m, t in targets.items() if t.enforced]
    else:
        names = args.modules or list(targets)
    chosen = []
    for name in names:
        matches = [m for m in targets if m == name or m.endswith("/" + name.lstrip("/"))]
        if len(matches) != 1:
            parser.error(f"{name!r} names {len(matches)} modules of tests/mutation/targets.toml: {', '.join(matches)}")
        chosen.append(targets[matches[0]])
    for module in restore_stale_backups():
        print(f"restored {module} from a run that was killed while it was mutated", file=sys.stderr)
    equivalents = load_equivalents()
    if args.nice:
        os.nice(max(0, args.nice - os.nice(0)))
    # A SIGTERM unwinds like Ctrl-C, so the module being mutated is put back.
    signal.signal(signal.SIGTERM, _interrupt)

    ci_picked = {t.module: m for t, m in ci_jobs({t.module: t for t in chosen})} if args.ci else {}
    jobs: list[tuple[Target, list[Mutant]]] = []
    for target in chosen:
        module_equivalents = equivalents.get(target.module, {})
        if args.keys:
            mutants = [m for m in enumerate_mutants(target.module) if m.key in wanted_keys[target.module]]
        elif args.survivors:
            last = json.loads(_report_path(target.module).read_text())
            again = {s["key"] for s in last["survived"]}
            mutants = [m for m in enumerate_mutants(target.module) if m.key in again]
        elif args.ci:
            mutants = ci_picked.get(target.module, [])
            if not mutants:
                continue
        elif args.sample is not None:
            mutants = sample_mutants(target.module, args.sample, f"{args.seed}:{target.module}")
        else:
            mutants = enumerate_mutants(target.module)
            for key in unused_equivalents(target.module, mutants, module_equivalents):
                print(f"note: {target.module}: equivalent {key!r} matches no mutant any more", file=sys.stderr)
        if args.list:
            for m in mutants:
                mark = " (equivalent)" if m.key in module_equivalents else ""
                print(f"{target.module}: {m.key}{mark}")
            continue
        print(f"[mutate] {target.module}: {len(mutants)} mutants against {' '.join(target.tests)}",
              file=sys.stderr, flush=True)
        jobs.append((target, mutants))
    if args.list:
        return 0
    baseline = args.baseline and not args.ci
    with tempfile.TemporaryDirectory(prefix="mutate-") as scratch:
        reports = run_in_copies(jobs, workers=args.jobs, baseline=baseline, nice=args.nice, scratch=Path(scratch))
    OUT.mkdir(exist_ok=True)
    for report in reports:
        if not args.keys:  # a worker's reports go to its caller, which records them in its own tree
            _report_path(report.module).write_text(json.dumps(report.to_json(), indent=2))
    if args.json:
        args.json.write_text(json.dumps([r.to_json() for r in reports], indent=2))
    if not args.keys:
        print(render(reports))
    below = [r.module for r in reports if r.score < FLOOR or r.errors]
    if below:
        print(f"\nbelow the {FLOOR:.0%} floor (or with runs that failed): {', '.join(below)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
