"""Which labels a piece of text names, asserted or denied: the one reader of label mentions.

Reads and writes nothing. Used by the ``alias`` extraction step (the label sentence of an
answer) and by the ``rules`` judge (the conclusion of an explanation), so a model's answer
and an explanation are read by the same code.

A phrase is a label's name, alias, answer sentence (also without its leading "Yes,"/"No,")
or ``cue`` (task.yaml: wording an explanation uses for the label, e.g. "thwarted
belongingness"). Text is read clause by clause (commas, semicolons, "but", "however"):

- a phrase inside a longer matched phrase does not count ("depression" in "no depression");
- a phrase is *denied* when a negator precedes it in its clause ("there is no indication of
  depression", "does not show any signs of stress", "rather than work") or a negated verb
  follows it ("depression is not evident"); in a two-label task a denied label asserts the
  other one;
- concessive or hedged clauses are skipped ("although …", "whether …", "it is unclear …"),
  and so are assertions softened by a modal ("this can contribute to burdensomeness");
- bare names that are common words ("yes", "no", "none", "other") count only where the text
  states a label outright ("the assigned label would be 'No'").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from imhi.tasks import TaskSpec, normalize

GENERIC = frozenset({"yes", "no", "none", "other", "n a", "na"})
NONE_LABEL = ""  # a multi-label task's "no label applies" (its none_answer), in Mentions.present
_LEADING_YES_NO = re.compile(r"^(yes|no)\s*[,.]\s*", re.I)
_EN_NEG = frozenset({"not", "no", "never", "nor", "neither", "isn", "doesn", "don", "didn", "aren", "wasn",
                     "weren", "hasn", "haven", "cannot", "t", "nothing", "none", "unlikely", "unlike", "contrast",
                     "contrasts", "contrary"})  # deny what follows in their clause (10 words)
_EN_NEAR_NEG = frozenset({"lack", "lacks", "lacking", "absence", "absent", "without", "free", "low", "lower",
                          "little", "minimal", "rather", "instead"})  # deny the next few words only
_EN_SCOPE_END = re.compile(r".*\b(?:if|when|unless|because|since)\b")
_EN_AFTER_NEG = re.compile(r"^(?:\w+ ){0,2}(?:is|are|was|were|seems|appears|remains) (?:not|absent|unlikely)\b"
                           r"|^(?:\w+ ){0,2}(?:isn|aren|wasn|weren) t\b|^(?:is|are) (?:absent|lacking)\b")
_EN_SKIP = re.compile(r"\bwhether\b|"
                      r"\b(?:unclear|uncertain|not (?:possible|clear)|impossible|difficult|hard) to\b|"
                      r"\bcannot be (?:determined|concluded)\b|\bnot enough\b|\binsufficient\b|"
                      r"\bmay or may not\b|\bwithout (?:more|further|additional)\b")
_EN_MODAL = frozenset({"can", "could", "may", "might", "would", "possibly", "potentially", "potential"})
_EN_CLAUSE = re.compile(r"[;:()\n\"“”]|\s[-–—]\s|\b(?=but\b|however\b|although\b|though\b|while\b|whereas\b|"
                        r"yet\b|which\b|rather than\b|instead of\b|except\b|even if\b)", re.I)
_EN_CONCESSIVE = re.compile(r"^\W*(?:although|though|even though|while|whereas|despite|even if|if|unless)\b[^,]*,?",
                            re.I)
_EN_PSEUDO = re.compile(r"\b(?:not only|no doubt|nothing but|not just|no longer)\b")
_ZH_NEG = ("不是", "不属于", "不存在", "不具有", "不具备", "不构成", "不涉及", "不符合", "没有", "并非", "并无",
           "并未", "未见", "未表现", "无明显", "不算", "排除", "不太")
_ZH_AFTER_NEG = re.compile(r"^(?:并)?(?:不明显|不存在|不成立)")
_ZH_SKIP = re.compile(r"^(?:虽然|尽管|如果|假如)|无法(?:确定|判断)|不能确定|难以(?:判断|确定)|是否|不确定|不清楚")
_ZH_CLAUSE = re.compile(r"[，,；;：:（）()\n“”]|(?=但是|但|然而|不过|虽然|尽管)")
_STATE = re.compile(r"\b(?:label|answer|classification|category|choice)(?: for (?:this|the) (?:post|statement))?"
                    r"(?: (?:would|should|could|will|must|might|can))? (?:be|is|of) (?:(?:the|a) )?(\w+(?: \w+){0,5})")


@dataclass(frozen=True)
class Mentions:
    """Labels a text asserts and denies; ``stated`` when it names a label outright."""

    present: frozenset[str] = frozenset()
    absent: frozenset[str] = frozenset()
    stated: bool = False


@dataclass(frozen=True)
class _Table:
    pattern: re.Pattern[str]
    label: dict[str, str]
    negative: frozenset[str]  # phrases that carry their own negation ("no depression")
    other: dict[str, str]  # in a two-label task: each label's counterpart


def flat(text: str) -> str:
    """Normalised text with punctuation as spaces (what phrases are matched against)."""
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", normalize(text))).strip()


def phrases(task: TaskSpec) -> dict[str, str]:
    """Flat phrase → label: names, aliases, answer sentences (and their bodies), cues."""
    pairs = dict(task.alias_table)
    for lab in task.labels:
        if lab.answer:
            pairs.setdefault(normalize(_LEADING_YES_NO.sub("", lab.answer)), lab.name)
        for cue in lab.cues:
            pairs.setdefault(normalize(cue), lab.name)
    if task.multi_label and task.none_answer:
        pairs[normalize(task.none_answer)] = NONE_LABEL
        pairs.update({normalize(c): NONE_LABEL for c in task.none_cues})
    return {flat(a): n for a, n in pairs.items() if flat(a)}


_TABLES: dict[int, tuple[TaskSpec, _Table]] = {}


def _zh(task: TaskSpec) -> bool:
    return task.language == "zh"


def _table(task: TaskSpec) -> _Table:
    """The task's compiled phrase table (built once per task object)."""
    hit = _TABLES.get(id(task))
    if hit is None or hit[0] is not task:
        hit = _TABLES[id(task)] = (task, _build(task))
    return hit[1]


def _build(task: TaskSpec) -> _Table:
    table = phrases(task)
    alts = "|".join(re.escape(p) for p in sorted(table, key=len, reverse=True))
    zh = _zh(task)
    pattern = re.compile(f"(?:{alts})" if zh else rf"(?<!\w)(?:{alts})(?!\w)")
    negs = _ZH_NEG if zh else _EN_NEG | _EN_NEAR_NEG
    negative = frozenset(p for p in table if (any(n in p for n in negs) if zh else negs & set(p.split())))
    names = task.label_names
    other = {names[0]: names[1], names[1]: names[0]} if len(names) == 2 and not task.multi_label else {}
    return _Table(pattern, table, negative, other)


def clauses(task: TaskSpec, text: str) -> list[str]:
    """``text`` cut at semicolons and contrast words (the scope of a negation); a concessive
    clause ("although …,", "while …,") is left out up to its comma: it is not what is asserted."""
    if _zh(task):
        return [c for c in _ZH_CLAUSE.split(text) if c and c.strip()]
    out = [_EN_CONCESSIVE.sub("", c.strip()) for c in _EN_CLAUSE.split(text) if c and c.strip()]
    return [c for c in out if c.strip()]


def _denied(zh: bool, before: str, after: str) -> bool:
    if zh:
        return any(n in before[-6:] for n in _ZH_NEG) or bool(_ZH_AFTER_NEG.match(after))
    words = _EN_SCOPE_END.sub("", _EN_PSEUDO.sub(" ", before)).split()
    return bool(_EN_NEG & set(words[-10:]) or _EN_NEAR_NEG & set(words[-3:]) or _EN_AFTER_NEG.match(after))


def _softened(zh: bool, before: str) -> bool:
    return not zh and bool(_EN_MODAL & set(before.split()[-4:]))


def read(task: TaskSpec, text: str) -> Mentions:
    """The labels ``text`` asserts and denies (see the module docstring)."""
    t = _table(task)
    zh = _zh(task)
    stated = _stated(task, text)
    if stated is not None:
        return Mentions(frozenset([stated]), frozenset(), True)
    present: set[str] = set()
    absent: set[str] = set()
    for clause in clauses(task, text):
        key = flat(clause)
        if (_ZH_SKIP if zh else _EN_SKIP).search(key):
            continue
        for m in t.pattern.finditer(key):
            phrase = m.group(0)
            name = t.label[phrase]
            if not zh and phrase in GENERIC:
                continue
            if phrase not in t.negative and _denied(zh, key[:m.start()], key[m.end():].lstrip()):
                absent.add(name)
            elif phrase in t.negative or not _softened(zh, key[:m.start()]):
                present.add(name)
    for name in list(absent):
        if name in t.other:
            present.add(t.other[name])
    return Mentions(frozenset(present), frozenset(absent - present))


def _stated(task: TaskSpec, text: str) -> str | None:
    """A label stated outright: "the assigned label would be 'No'" (English only)."""
    if _zh(task):
        return None
    m = _STATE.search(flat(text))
    if not m:
        return None
    words = m.group(1).split()
    for n in range(len(words), 0, -1):
        name = task.canonical(" ".join(words[:n]))
        if name is not None:
            return name
    return None
