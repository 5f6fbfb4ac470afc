"""Mutation run over the validator and the certificate reader, against tests/unit (a command, not a test).

    .venv/ansible-2.19/bin/python benchmarks/mutation/run.py [--jobs 2] [--only FUNC,FUNC] [--file _ocsp.py]

Each mutant is one small change to plugins/module_utils/_ocsp.py or _x509.py, made on the AST: a
comparison swapped (== !=, < <=, > >=, is / is not, in / not in), `and`/`or` swapped, a `not` dropped,
a constant flipped (True/False, None -> True, 0/1, a small int + 1), a `raise` or `return` value dropped
(`raise ...` -> `pass`, `return X` -> `return None`). Every mutant runs the whole unit suite
(`pytest tests/unit -x`) in a private copy of the repository; a mutant is killed when a test fails.
The table goes to benchmarks/mutation/results.md, with the survivors listed by function, and the
explanations of benchmarks/mutation/explained.txt (why a survivor is harmless) printed next to them.
No dependency beyond the standard library and pytest.
"""

import argparse
import ast
import concurrent.futures
import copy
import datetime
import os
import platform
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FILES = ("plugins/module_utils/_ocsp.py", "plugins/module_utils/_x509.py")
GUARDED = ("validate_response", "_judge", "_find_signer", "_has_ocsp_signing", "_validity_problem", "verify_signature",
           "aia_uris", "must_staple")

_SWAP = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE,
         ast.GtE: ast.Gt, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In}


def _functions(tree):
    """{id(node): name of the innermost enclosing function} for every node."""
    owner = {}

    def walk(node, name):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = node.name
        owner[id(node)] = name
        for child in ast.iter_child_nodes(node):
            walk(child, name)
    walk(tree, "<module>")
    return owner


def _is_docstring(node, parents):
    parent = parents.get(id(node))
    return isinstance(parent, ast.Expr) and isinstance(node.value, str)


def mutation_points(tree):
    """[(node_index, kind, description, lineno)] in a fixed walk order."""
    parents = {}
    for parent in ast.walk(tree):
        for child in ast.iter_child_nodes(parent):
            parents[id(child)] = parent
    points = []
    for index, node in enumerate(ast.walk(tree)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Compare):
            for op_index, op in enumerate(node.ops):
                if type(op) in _SWAP:
                    points.append((index, ("cmp", op_index), "{0} -> {1}".format(
                        type(op).__name__, _SWAP[type(op)].__name__), line))
        elif isinstance(node, ast.BoolOp):
            points.append((index, ("bool",), "and <-> or", line))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            points.append((index, ("not",), "drop not", line))
        elif isinstance(node, ast.Constant) and not _is_docstring(node, parents):
            value = node.value
            if value is True or value is False:
                points.append((index, ("const",), "{0} -> {1}".format(value, not value), line))
            elif value is None and isinstance(parents.get(id(node)), ast.Return):
                points.append((index, ("const",), "return None -> return True", line))
            elif isinstance(value, int) and not isinstance(value, bool) and value < 1000:
                points.append((index, ("const",), "{0} -> {1}".format(value, value + 1), line))
        elif isinstance(node, ast.Raise):
            points.append((index, ("raise",), "drop raise", line))
        elif isinstance(node, ast.Return) and node.value is not None and not (
                isinstance(node.value, ast.Constant) and node.value.value is None):
            points.append((index, ("return",), "return X -> return None", line))
    return points


class _Mutator(ast.NodeTransformer):
    def __init__(self, target, kind):
        self.target, self.kind, self.index = target, kind, -1

    def generic_visit(self, node):
        return super(_Mutator, self).generic_visit(node)

    def visit(self, node):
        self.index += 1
        if self.index != self.target:
            return self.generic_visit(node)
        kind = self.kind
        if kind[0] == "cmp":
            node.ops[kind[1]] = _SWAP[type(node.ops[kind[1]])]()
        elif kind[0] == "bool":
            node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        elif kind[0] == "not":
            return node.operand
        elif kind[0] == "const":
            value = node.value
            if value is True or value is False:
                node.value = not value
            elif value is None:
                node.value = True
            else:
                node.value = value + 1
        elif kind[0] == "raise":
            return ast.Pass()
        elif kind[0] == "return":
            node.value = None
        return node


def _walk_index(tree):
    # ast.walk order (breadth first) differs from NodeTransformer's (depth first): map one to the other.
    order = {id(n): i for i, n in enumerate(ast.walk(tree))}
    depth_first = []

    def visit(node):
        depth_first.append(order[id(node)])
        for child in ast.iter_child_nodes(node):
            visit(child)
    visit(tree)
    return {walk: depth for depth, walk in enumerate(depth_first)}


def mutate(source, point):
    tree = ast.parse(source)
    to_depth = _walk_index(tree)
    index, kind = point[0], point[1]
    mutated = _Mutator(to_depth[index], kind).visit(copy.deepcopy(tree))
    ast.fix_missing_locations(mutated)
    return ast.unparse(mutated)


def _copy_repo(work):
    dest = os.path.join(work, "repo")
    shutil.copytree(REPO, dest, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".cache", "tests/output", "__pycache__", "benchmarks"))
    return dest


def run_suite(repo, timeout=300):
    proc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "tests/unit"],
                          cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, check=False,
                          env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    return proc.returncode


def _worker(args):
    work, relpath, source, point = args
    repo = work
    target = os.path.join(repo, relpath)
    with open(target, "w") as f:
        f.write(mutate(source, point))
    try:
        code = run_suite(repo)
    except subprocess.TimeoutExpired:
        code = -1
    finally:
        with open(target, "w") as f:
            f.write(source)
    return code


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", help="comma-separated function names")
    parser.add_argument("--file", help="only this file (basename)")
    parser.add_argument("--out", default=os.path.join(HERE, "results.md"))
    args = parser.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None

    base = tempfile.mkdtemp(prefix="ocsp-mutation-")
    try:
        copies = [_copy_repo(os.path.join(base, str(i))) for i in range(max(1, args.jobs))]
        if run_suite(copies[0]) != 0:
            raise SystemExit("the unit suite fails without any mutation; fix that first")
        jobs = []
        for relpath in FILES:
            if args.file and os.path.basename(relpath) != args.file:
                continue
            with open(os.path.join(REPO, relpath)) as f:
                source = f.read()
            tree = ast.parse(source)
            owners = _functions(tree)
            nodes = list(ast.walk(tree))
            for point in mutation_points(tree):
                function = owners[id(nodes[point[0]])]
                if only and function not in only:
                    continue
                jobs.append((relpath, source, point, function))
        results = [None] * len(jobs)
        # One repository copy per worker: a mutant is written, the suite runs, the file is restored.
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(copies)) as pool:
            pending = {}
            free = list(copies)
            queue = list(enumerate(jobs))
            while queue or pending:
                while free and queue:
                    i, (relpath, source, point, _fn) = queue.pop(0)
                    repo = free.pop()
                    pending[pool.submit(_worker, (repo, relpath, source, point))] = (i, repo)
                done, _pending = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
                for future in done:
                    i, repo = pending.pop(future)
                    results[i] = future.result()
                    free.append(repo)
                    sys.stderr.write("." if results[i] != 0 else "S")
                    sys.stderr.flush()
        sys.stderr.write("\n")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    write_table(jobs, results, args.out)


def _explanations():
    path = os.path.join(HERE, "explained.txt")
    out = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.strip() and not line.startswith("#"):
                    key, _sep, why = line.rstrip("\n").partition(" | ")
                    out[key.strip()] = why.strip()
    return out


def write_table(jobs, results, out_path):
    explained = _explanations()
    per_file = {}
    survivors = []
    for (relpath, _source, point, function), code in zip(jobs, results):
        name = os.path.basename(relpath)
        stats = per_file.setdefault(name, [0, 0])
        stats[0] += 1
        if code != 0:
            stats[1] += 1
        else:
            key = "{0}:{1}:{2}".format(name, function, point[2])
            survivors.append((name, function, point[3], point[2], explained.get(key, "")))
    lines = ["# Mutation run: the validator and the certificate reader against tests/unit", "",
             "`.venv/ansible-2.19/bin/python benchmarks/mutation/run.py` (see its docstring for the operators).", "",
             "| file | mutants | killed | score |", "|---|---|---|---|"]
    for name, (total, killed) in sorted(per_file.items()):
        lines.append("| `{0}` | {1} | {2} | {3:.0f} % |".format(name, total, killed, 100.0 * killed / max(total, 1)))
    guarded = [s for s in survivors if s[1] in GUARDED]
    lines += ["", "Survivors in the guards of the verdict ({0}): {1}, of which {2} unexplained.".format(
        ", ".join("`{0}`".format(g) for g in GUARDED), len(guarded), len([s for s in guarded if not s[4]])), "",
        "| file | function | line | mutant | why it is harmless |", "|---|---|---|---|---|"]
    for name, function, line, what, why in guarded:
        lines.append("| `{0}` | `{1}` | {2} | {3} | {4} |".format(name, function, line, what, why or "**unexplained**"))
    lines += ["", "Other survivors (outside those guards; many in the probe's network code, which the integration "
              "tests reach):", "", "| file | function | line | mutant |", "|---|---|---|---|"]
    for name, function, line, what, _why in survivors:
        if function not in GUARDED:
            lines.append("| `{0}` | `{1}` | {2} | {3} |".format(name, function, line, what))
    lines += ["", "Measured {0} on {1}, Python {2}.".format(datetime.date.today().isoformat(), platform.machine(),
                                                            platform.python_version())]
    with open(out_path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
