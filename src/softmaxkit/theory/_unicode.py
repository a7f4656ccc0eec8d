# ruff: noqa: RUF001  (the Unicode letters and signs are the point of this module)
"""The derivations' LaTeX as plain Unicode text, for a terminal.

Covers the LaTeX the six results are written in (fractions, sums, sub- and
superscripts, hats, Greek letters, relations, ``cases``); a fraction becomes
``a/b`` with brackets where either side is more than one term, a sub- or
superscript uses the Unicode small characters where every character has one
(``x_i`` as ``xᵢ``, ``^2`` as ``²``) and ``_(...)`` / ``^(...)`` otherwise.

Examples
--------
>>> to_unicode(r"\\frac{e^{x_i + C}}{\\sum_{k=1}^{K} e^{x_k + C}}")
'e^(xᵢ + C)/(∑ₖ₌₁ᴷ e^(xₖ + C))'
>>> to_unicode(r"\\frac{\\partial L}{\\partial z_j} = \\hat y_j - y_j")
'∂L/∂zⱼ = ŷⱼ - yⱼ'
>>> to_unicode(r"J = \\operatorname{diag}(s) - s s^\\top")
'J = diag(s) - s sᵀ'
"""

from __future__ import annotations

import re
import unicodedata

SYMBOLS = {
    "partial": "∂",
    "sum": "∑",
    "prod": "∏",
    "sigma": "σ",
    "delta": "δ",
    "alpha": "α",
    "beta": "β",
    "lambda": "λ",
    "epsilon": "ε",
    "mu": "μ",
    "tau": "τ",
    "infty": "∞",
    "top": "ᵀ",
    "cdot": "·",
    "times": "×",
    "le": "≤",
    "leq": "≤",
    "ge": "≥",
    "geq": "≥",
    "ne": "≠",
    "neq": "≠",
    "approx": "≈",
    "implies": "⟹",
    "iff": "⟺",
    "Rightarrow": "⇒",
    "rightarrow": "→",
    "to": "→",
    "forall": "∀",
    "in": "∈",
    "dots": "…",
    "ldots": "…",
    "cdots": "⋯",
    "log": "log",
    "ln": "ln",
    "exp": "exp",
    "max": "max",
    "min": "min",
    "|": "‖",
    ",": " ",
    ";": " ",
    ":": " ",
    " ": " ",
    "quad": "  ",
    "qquad": "    ",
    "left": "",
    "right": "",
    "{": "{",
    "}": "}",
}
WRAPPERS = {"operatorname", "mathrm", "text", "mathit", "textrm", "mathbf"}
BLACKBOARD = {"R": "ℝ", "N": "ℕ", "Z": "ℤ", "Q": "ℚ", "C": "ℂ"}
SUB = dict(zip("0123456789+-=()aehijklmnoprstuvx", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ", strict=True))
SUP = dict(
    zip("0123456789+-=()inKT", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁱⁿᴷᵀ", strict=True)
)  # only those that read unambiguously


class _Reader:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def group(self) -> str:
        """The next argument: a braced group, a command, or one character, as text."""
        while self.peek() == " ":
            self.i += 1
        c = self.peek()
        if c == "{":
            return to_unicode(self.raw_group())
        if c == "\\":
            return self.command()
        self.i += 1
        return c

    def raw_group(self) -> str:
        """The next argument as written: a braced group's inside, or one character."""
        while self.peek() == " ":
            self.i += 1
        if self.peek() != "{":
            self.i += 1
            return self.s[self.i - 1]
        depth, start = 0, self.i
        while self.i < len(self.s):
            ch = self.s[self.i]
            depth += ch == "{"
            depth -= ch == "}"
            self.i += 1
            if depth == 0:
                break
        return self.s[start + 1 : self.i - 1]

    def command(self) -> str:
        self.i += 1  # the backslash
        start = self.i
        if self.peek().isalpha():
            while self.peek().isalpha():
                self.i += 1
        else:
            self.i += 1
        name = self.s[start : self.i]
        if name in ("frac", "tfrac", "dfrac"):
            return _fraction(self.group(), self.group())
        if name == "hat":
            return _hat(self.group())
        if name in WRAPPERS:
            return self.group()
        if name == "mathbb":
            letter = self.group()
            return BLACKBOARD.get(letter, letter)
        if name == "begin":
            env = self.raw_group()
            end = self.s.index(f"\\end{{{env}}}", self.i)
            body, self.i = self.s[self.i : end], end + len(f"\\end{{{env}}}")
            return _cases(body) if env == "cases" else f"[{to_unicode(body).strip(' ;')}]"
        if name == "\\":
            return "; "
        return SYMBOLS.get(name, name)


def _plain(text: str) -> bool:
    """One term: no space or operator at the top level outside brackets."""
    depth = 0
    for ch in text.strip():
        depth += ch in "([{"
        depth -= ch in ")]}"
        if depth == 0 and ch in " +-=·/":
            return False
    return True


def _fraction(num: str, den: str) -> str:
    num = num if _plain(num) else f"({num})"
    den = den if _plain(den) else f"({den})"
    return f"{num}/{den}"


def _hat(text: str) -> str:
    return text + "\u0302" if len(text) == 1 else f"hat({text})"


def _script(text: str, table: dict[str, str], mark: str) -> str:
    if text and all(ch in table or ch in table.values() for ch in text):
        return "".join(table.get(ch, ch) for ch in text)
    return f"{mark}{text}" if len(text) == 1 or text.isalnum() else f"{mark}({text})"


def _cases(body: str) -> str:
    rows = [r.strip() for r in body.split("\\\\") if r.strip()]
    parts = []
    for row in rows:
        value, _, condition = row.partition("&")
        parts.append(f"{to_unicode(value.strip())} if {to_unicode(condition.strip())}")
    return "{ " + "; ".join(parts) + " }"


def to_unicode(latex: str) -> str:
    """``latex`` as readable Unicode text (no backslash commands left)."""
    r = _Reader(latex)
    out: list[str] = []
    while r.i < len(r.s):
        c = r.peek()
        if c == "\\":
            out.append(r.command())
        elif c == "_":
            r.i += 1
            out.append(_script(r.group(), SUB, "_"))
        elif c == "^":
            r.i += 1
            out.append(_script(r.group(), SUP, "^"))
        elif c == "{":
            out.append(r.group())
        elif c == "}":
            r.i += 1
        elif c == "&":
            r.i += 1
            out.append(" ")
        else:
            out.append(c)
            r.i += 1
    text = re.sub(" +", " ", "".join(out))
    return unicodedata.normalize("NFC", text.replace("∂ ", "∂"))  # y + hat as one ŷ
