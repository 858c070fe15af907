#!/usr/bin/env python3
"""Fails when a public header exposes a lock or an internal container.

Usage: check_public_headers.py DIR          every *.hpp under DIR must be clean
       check_public_headers.py --self-test DIR
                                           the violations found under DIR must be exactly
                                           the lines marked `// expect-violation`

A violation is a data member that users can reach (public
in its class, in a class that is itself public where it is nested) whose type is a lock
(std::mutex and the other standard mutexes, condition variables, pthread locks,
base::Mutex, cpu::IrqSpinLock) or an intrusive container or hook (Boost.Intrusive,
liburcu's wait-free queues). Private members are the class's own business, so a header
may include Boost.Intrusive for a private list (a CPU thread's timers, a wait queue's
waiters): pctx links its objects with it rather than with lists of its own.

This is a small parser for the headers of this project (clang-formatted C++), not a C++
front end: the self-test keeps it honest on the shapes the headers use.
"""

import pathlib
import re
import sys

LOCK = re.compile(
    r"\b(std::(recursive_|timed_|recursive_timed_|shared_|shared_timed_)?mutex"
    r"|std::condition_variable(_any)?|std::(counting|binary)_semaphore"
    r"|pthread_(mutex|rwlock|spinlock|cond)_t|(base::)?Mutex|(cpu::)?IrqSpinLock)\b"
)
CONTAINER = re.compile(
    r"(\bboost::intrusive::|\bbi::|\b(__)?cds_wfcq_(head|tail|node)\b|\bcds_list_head\b"
    r"|\b(list|slist|set|avl_set|unordered_set)_(member|base)_hook\b)"
)
# Thread-safety annotations (GUARDED_BY(mu_) ...), alignas(...) and attributes say nothing
# about a member's type, and their parentheses would make it look like a function.
NOISE = re.compile(
    r"\b[A-Z][A-Z0-9_]+\s*\((?:[^()]|\([^()]*\))*\)|\balignas\s*\([^()]*\)|\[\[.*?\]\]"
)
SKIP_STATEMENT = re.compile(r"^(using|typedef|friend|static_assert|enum|template)\b")
CLASS_HEAD = re.compile(r"^(?:template\s*<.*>\s*)?(class|struct|union)\b(?!.*\()")
BODY_AFTER = {")", "const", "noexcept", "override", "final", "mutable", "{}", "try"}


def strip_comments(text):
    """Blanks comments and literals, keeping line numbers."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + " " * (j - i - 1) + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def tokens(text):
    """(token, line) pairs: identifiers with ::, punctuation, one character each else."""
    pattern = re.compile(r"#[^\n]*|[A-Za-z_]\w*(?:\s*::\s*[A-Za-z_~]\w*)*|::|\S")
    line = 1
    pos = 0
    for m in pattern.finditer(text):
        line += text.count("\n", pos, m.start())
        pos = m.start()
        tok = m.group(0)
        if tok.startswith("#"):
            continue  # preprocessor lines
        yield re.sub(r"\s+", "", tok), line


class Parser:
    def __init__(self, toks):
        self.toks = list(toks)
        self.i = 0
        self.found = []  # (line, why)
        self.aliases = {}  # a name this header gives a lock or container type: "lock"/"container"

    def skip_braces(self):
        """At a '{': moves past its matching '}'."""
        depth = 0
        while self.i < len(self.toks):
            tok = self.toks[self.i][0]
            self.i += 1
            if tok == "{":
                depth += 1
            elif tok == "}":
                depth -= 1
                if depth == 0:
                    return

    def scope(self, kind, access, reachable):
        """Parses statements until the closing '}' of this scope (or the end)."""
        stmt = []
        while self.i < len(self.toks):
            tok, line = self.toks[self.i]
            if tok == "}":
                self.i += 1
                return
            if tok in ("public", "private", "protected") and self.peek(1) == ":":
                if kind == "class":
                    access = tok
                self.i += 2
                stmt = []
                continue
            if tok == ";":
                self.i += 1
                self.alias(stmt)
                if kind == "class":
                    self.member(stmt, access == "public" and reachable)
                stmt = []
                continue
            if tok == "{":
                head = " ".join(t for t, _ in stmt)
                if CLASS_HEAD.match(NOISE.sub("", head)) and not head.startswith("enum"):
                    self.i += 1
                    keyword = re.sub(r"^template\s*<.*?>\s*", "", head).split()[0]
                    is_class = keyword == "class"
                    inner_public = access == "public" or kind != "class"
                    self.scope("class", "private" if is_class else "public",
                               reachable and inner_public)
                    stmt.append(("{}", line))
                    continue
                if head.startswith("namespace") or head.startswith("extern"):
                    self.i += 1
                    self.scope("namespace", "public", True)
                    stmt = []
                    continue
                last = stmt[-1][0] if stmt else ""
                self.skip_braces()
                if last in BODY_AFTER and "(" in head:
                    stmt = []  # a function body: no ';' follows
                else:
                    stmt.append(("{}", line))  # an initializer, an enum's list
                continue
            stmt.append((tok, line))
            self.i += 1

    def peek(self, k):
        j = self.i + k
        return self.toks[j][0] if j < len(self.toks) else ""

    def alias(self, stmt):
        m = re.match(r"using (\w+) = (.*)", " ".join(t for t, _ in stmt))
        if m and LOCK.search(m.group(2)):
            self.aliases[m.group(1)] = "lock"
        elif m and CONTAINER.search(m.group(2)):
            self.aliases[m.group(1)] = "container"

    def member(self, stmt, public):
        if not stmt or not public:
            return
        text = NOISE.sub("", " ".join(t for t, _ in stmt))
        if SKIP_STATEMENT.match(text) or re.search(r"\boperator\b", text):
            return
        # A '(' outside template arguments makes it a function declaration.
        angle = 0
        for ch in text.split("=")[0]:
            if ch == "<":
                angle += 1
            elif ch == ">":
                angle = max(0, angle - 1)
            elif ch == "(" and angle == 0:
                return
        # Parameter lists inside template arguments (std::function<void(std::mutex&)>) name
        # no member's type.
        text = re.sub(r"\([^()]*\)", "", text.split("=")[0])
        line = stmt[-1][1]
        named = {self.aliases.get(word) for word in re.findall(r"\w+", text)}
        if LOCK.search(text) or "lock" in named:
            self.found.append((line, f"a public lock member: {text.strip()}"))
        elif CONTAINER.search(text) or "container" in named:
            self.found.append((line, f"a public intrusive container or hook: {text.strip()}"))


def check(path):
    text = path.read_text()
    found = []
    p = Parser(tokens(strip_comments(text)))
    p.scope("namespace", "public", True)
    return found + p.found


def main(argv):
    self_test = argv[1:2] == ["--self-test"]
    root = pathlib.Path(argv[-1])
    headers = sorted(root.rglob("*.hpp"))
    if not headers:
        print(f"no headers under {root}")
        return 2
    bad = 0
    for h in headers:
        found = check(h)
        if self_test:
            expected = {n for n, line in enumerate(h.read_text().splitlines(), 1)
                        if "expect-violation" in line}
            got = {n for n, _ in found}
            for n in sorted(expected - got):
                print(f"{h}:{n}: a violation the check missed")
            for n in sorted(got - expected):
                print(f"{h}:{n}: flagged, but clean: " +
                      "; ".join(why for m, why in found if m == n))
            bad += len(expected ^ got)
        else:
            for n, why in found:
                print(f"{h}:{n}: {why}; make it private, or move the type to src/")
            bad += len(found)
    if bad:
        return 1
    print(f"{len(headers)} headers checked: {'as expected' if self_test else 'clean'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
