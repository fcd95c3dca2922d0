"""A parser for OCI IAM policy statements, just deep enough for the IAM rules.

Grammar (case-insensitive keywords):
    Allow|Endorse|Admit <subject> to <verb> <resource-type> | {PERM, ...} [in <location>] [where <conditions>]
    Define ...                              (an alias: grants nothing)
    <conditions> = <lhs> =|!= <value> | all {<cond>, ...} | any {<cond>, ...}

Quoted strings and Terraform interpolations (`${...}`, which may hold spaces and quotes) are atomic,
so a keyword inside a group name or an expression is never mistaken for grammar. Anything the
parser does not understand raises `PolicySyntaxError`: rules treat an unparsed statement as
unverifiable rather than guess.
"""

from __future__ import annotations

from dataclasses import dataclass

VERBS = frozenset({"inspect", "read", "use", "manage"})
GRANTS = frozenset({"allow", "endorse", "admit"})


class PolicySyntaxError(ValueError):
    """A statement this parser cannot read."""


@dataclass(frozen=True)
class Token:
    kind: str  # word | quoted | group | comma | op
    text: str  # for quoted: the content; for group: the text between the braces

    def is_word(self, *values: str) -> bool:
        return self.kind == "word" and self.text.lower() in values


@dataclass(frozen=True)
class Condition:
    lhs: str  # lower-cased variable, e.g. target.bucket.name
    op: str  # = or !=
    value: Token


@dataclass(frozen=True)
class Where:
    mode: str  # all | any (a single condition reads as all)
    conditions: tuple[Condition, ...]


@dataclass(frozen=True)
class Statement:
    action: str  # allow | endorse | admit | define (lower-cased)
    subject: tuple[Token, ...] = ()
    verb: str = ""  # lower-cased; empty for a permission list
    resource_type: str = ""  # lower-cased; empty for a permission list
    permissions: tuple[str, ...] = ()  # upper-cased
    location: tuple[Token, ...] = ()  # tokens after `in`, empty when there is no `in`
    where: Where | None = None


def _skip_quoted(text: str, i: int) -> int:
    """Index just past the string literal starting at text[i]."""
    quote, i = text[i], i + 1
    while i < len(text):
        if text.startswith("${", i):
            i = _skip_braces(text, i)
        elif text[i] == "\\":
            i += 2
        elif text[i] == quote:
            return i + 1
        else:
            i += 1
    raise PolicySyntaxError("unterminated quoted string")


def _skip_braces(text: str, i: int) -> int:
    """Index just past the brace block opening at text[i] (`{...}` or `${...}`), braces balanced."""
    i, depth = text.index("{", i) + 1, 1
    while i < len(text):
        char = text[i]
        if char in "'\"":
            i = _skip_quoted(text, i)
            continue
        depth += {"{": 1, "}": -1}.get(char, 0)
        i += 1
        if depth == 0:
            return i
    raise PolicySyntaxError("unbalanced braces")


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif char in "'\"":
            end = _skip_quoted(text, i)
            tokens.append(Token("quoted", text[i + 1 : end - 1]))
            i = end
        elif char == "{":
            end = _skip_braces(text, i)
            tokens.append(Token("group", text[i + 1 : end - 1]))
            i = end
        elif char == "}":
            raise PolicySyntaxError("unbalanced braces")
        elif char == ",":
            tokens.append(Token("comma", ","))
            i += 1
        elif text.startswith("!=", i) or char == "=":
            op = "!=" if char == "!" else "="
            tokens.append(Token("op", op))
            i += len(op)
        else:
            start = i
            while i < len(text) and not text[i].isspace() and text[i] not in "'\",={}" and not text.startswith("!=", i):
                i = _skip_braces(text, i) if text.startswith("${", i) else i + 1
            tokens.append(Token("word", text[start:i]))
    return tokens


def _split_commas(tokens: list[Token]) -> list[list[Token]]:
    parts: list[list[Token]] = [[]]
    for token in tokens:
        if token.kind == "comma":
            parts.append([])
        else:
            parts[-1].append(token)
    return parts


def _index_of_word(tokens: list[Token], word: str, start: int = 0) -> int:
    return next((i for i in range(start, len(tokens)) if tokens[i].is_word(word)), -1)


def _condition(tokens: list[Token]) -> Condition:
    if (
        len(tokens) != 3
        or tokens[0].kind != "word"
        or tokens[1].kind != "op"
        or tokens[2].kind not in ("word", "quoted")
    ):
        raise PolicySyntaxError(f"cannot read condition {' '.join(t.text for t in tokens)!r}")
    return Condition(tokens[0].text.lower(), tokens[1].text, tokens[2])


def _where(tokens: list[Token]) -> Where:
    if len(tokens) == 2 and tokens[0].is_word("all", "any") and tokens[1].kind == "group":
        inner = tokenize(tokens[1].text)
        if any(t.kind == "group" for t in inner):
            raise PolicySyntaxError("nested condition groups")
        return Where(tokens[0].text.lower(), tuple(_condition(part) for part in _split_commas(inner)))
    return Where("all", (_condition(tokens),))


def _grant(tokens: list[Token]) -> tuple[str, str, tuple[str, ...], int]:
    """verb, resource type, permissions, and how many tokens they took."""
    if tokens and tokens[0].kind == "group":
        names = _split_commas(tokenize(tokens[0].text))
        if not names or any(len(n) != 1 or n[0].kind != "word" for n in names):
            raise PolicySyntaxError("cannot read permission list")
        return "", "", tuple(n[0].text.upper() for n in names), 1
    if len(tokens) >= 2 and tokens[0].is_word(*VERBS) and tokens[1].kind == "word":
        return tokens[0].text.lower(), tokens[1].text.lower(), (), 2
    raise PolicySyntaxError("expected '<verb> <resource-type>' or '{PERMISSION, ...}' after 'to'")


def parse(text: str) -> Statement:
    """Parse one statement, or raise PolicySyntaxError saying what could not be read."""
    tokens = tokenize(text)
    if not tokens or tokens[0].kind != "word":
        raise PolicySyntaxError("a statement starts with Allow, Endorse, Admit or Define")
    action = tokens[0].text.lower()
    if action == "define":
        return Statement(action)
    if action not in GRANTS:
        raise PolicySyntaxError(f"unknown statement keyword {tokens[0].text!r}")
    to = _index_of_word(tokens, "to", 2)
    if to < 0:
        raise PolicySyntaxError("no 'to' after the subject")
    rest = tokens[to + 1 :]
    verb, resource_type, permissions, used = _grant(rest)
    rest = rest[used:]
    where_at = _index_of_word(rest, "where")
    clause, conditions = (rest, []) if where_at < 0 else (rest[:where_at], rest[where_at + 1 :])
    if clause and not clause[0].is_word("in"):
        raise PolicySyntaxError(f"unexpected {clause[0].text!r} where 'in' or 'where' should be")
    if len(clause) == 1:
        raise PolicySyntaxError("nothing after 'in'")
    if where_at >= 0 and not conditions:
        raise PolicySyntaxError("empty 'where' clause")
    return Statement(
        action=action,
        subject=tuple(tokens[1:to]),
        verb=verb,
        resource_type=resource_type,
        permissions=permissions,
        location=tuple(clause[1:]),
        where=_where(conditions) if conditions else None,
    )
